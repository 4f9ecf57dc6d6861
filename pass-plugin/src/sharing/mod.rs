//! Implements each variable's data-sharing attribute on the allocas Numba gave it.
//!
//! The front end decided per Python variable (explicit clause or default rule) and passed
//! the variable's value to the markers; a value loaded from an alloca names that alloca.
//! Here, before outlining:
//! - shared, written in the region: left alone; CodeExtractor passes the alloca's address;
//! - shared, only read: loaded once before the region and passed by value (no aliasing
//!   loads in the outlined loop: the same code as serial Numba);
//! - private / firstprivate / reduction: a new alloca in the region (one per thread after
//!   outlining), zeroed / copied (and increfed) / set to the operator's identity; at the
//!   region's end private copies are released and reductions combined into the original;
//! - any other alloca only used inside the region (Numba temporaries, variables that only
//!   live there) is privatised the same way, so no thread sees another's temporaries.
//!
//! lookup.rs finds each variable's storage and where it is used; copies.rs makes, fills,
//! copies out and releases the private copies; this module decides per variable.

mod copies;
mod lookup;

pub use lookup::{alloca_behind, find_alloca};

use crate::abi;
use crate::calls::call_helper2;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Builder, Value};
use crate::markers::{MarkedRegion, Sharing, VarSpec};
use crate::reduction;
use crate::region::Shape;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMOpcode;

use copies::{
    copy_out_if_last, first_value_copy, pass_by_value, private_copy, release_at_end,
    section_bounds, LastFlag,
};
use lookup::{in_blocks, is_try_state, used_outside, written_in};

/// One decision, as explain-able text: (variable, attribute, reason).
pub type Decision = (String, String, String);

pub struct Applied {
    pub decisions: Vec<Decision>,
    /// Blocks made inside the region (a reduction's compare-and-swap loop): an outlined
    /// region's block list must take them in.
    pub added: Vec<Block>,
}

/// Where the attributes apply.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// A region that will be outlined and run by a team; private copies are released in
    /// block `release` (after the end code, where threads that leave early go too).
    Parallel { release: Block },
    /// A construct inside a team's region (not outlined): only its clauses apply; `last`
    /// is the i32 flag the runtime sets on the thread that runs the sequentially last
    /// iteration of a loop (for lastprivate).
    Worksharing { last: Option<Value> },
    /// A task (outlined, run later by some thread): firstprivate values are captured when
    /// the task is created; shared variables are always passed by address. `last`: a
    /// taskloop's chunk task, the bool (taken at creation) true for the loop's last chunk.
    Task { last: Option<Value> },
}

/// What one region's data sharing is applied with.
struct Site<'a> {
    module: LLVMModuleRef,
    ctx: LLVMContextRef,
    b: &'a Builder,
    r: &'a MarkedRegion,
    shape: &'a Shape,
    /// The region's blocks.
    region: &'a [Block],
    mode: Mode,
}

impl Site<'_> {
    /// Where private copies are released. (Asked each time: a lastprivate copy-out before
    /// it changes the tail.)
    fn release_block(&self) -> Block {
        match self.mode {
            Mode::Parallel { release } => release,
            _ => self.shape.tail(),
        }
    }
}

/// Applies the data-sharing attributes of region `r` (see the module doc).
/// `team_shared`: allocas the pass made for the whole team (error slots); never privatised.
pub fn apply(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
    region: &[Block],
    team_shared: &[Value],
    mode: Mode,
) -> PassResult<Applied> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let b = Builder::new(ctx);
    let site = Site {
        module,
        ctx,
        b: &b,
        r,
        shape,
        region,
        mode,
    };
    let blocks_before = ir::blocks(func);
    let mut handled: Vec<Value> = team_shared.to_vec();
    let mut decisions = Vec::new();
    for spec in &r.payload.vars {
        decisions.push((
            spec.name.clone(),
            format!("{:?}", spec.sharing).to_lowercase(),
            spec.why.clone(),
        ));
        let Some(alloca) = find_alloca(func, r, spec) else {
            continue; // an SSA value: passed by value, nothing to privatise
        };
        handled.push(alloca);
        apply_var(&site, spec, alloca)?;
    }
    if !matches!(mode, Mode::Worksharing { .. }) {
        privatise_region_locals(&site, func, &handled);
    }
    let added = ir::blocks(func)
        .into_iter()
        .filter(|b| !blocks_before.contains(b))
        .collect();
    Ok(Applied { decisions, added })
}

/// The attribute of one variable (`spec`, stored in `alloca`).
fn apply_var(site: &Site, spec: &VarSpec, alloca: Value) -> PassResult<()> {
    let Site {
        module,
        b,
        shape,
        region,
        mode,
        ..
    } = *site;
    let ty = ir::allocated_type(alloca);
    match spec.sharing {
        // the thread's own variable; the `single` lowering broadcasts into it
        Sharing::Copyprivate => {}
        Sharing::Shared => {
            if matches!(mode, Mode::Parallel { .. }) && !written_in(alloca, region) {
                pass_by_value(b, alloca, ty, shape, region);
            }
        }
        Sharing::Private | Sharing::Lastprivate => private_var(site, spec, alloca, ty),
        Sharing::Firstprivate => {
            let copy = first_value_copy(b, module, alloca, ty, shape, region, spec, mode);
            release_at_end(b, module, copy, spec, site.release_block());
        }
        Sharing::Reduction => reduction_var(site, spec, alloca, ty)?,
    }
    Ok(())
}

/// A private or lastprivate variable: the thread's copy (a first value where it needs
/// one), copied out by the thread that ran the last iteration, released at the end.
fn private_var(site: &Site, spec: &VarSpec, alloca: Value, ty: LLVMTypeRef) {
    let Site {
        module,
        ctx,
        b,
        shape,
        region,
        mode,
        ..
    } = *site;
    let copy = if spec.first || spec.array_init.is_some() {
        first_value_copy(b, module, alloca, ty, shape, region, spec, mode)
    } else {
        let copy = private_copy(b, alloca, ty, shape, region, &spec.name);
        b.store(unsafe { LLVMConstNull(ty) }, copy);
        copy
    };
    let last = match mode {
        Mode::Worksharing { last } => last.map(LastFlag::RuntimeSlot),
        Mode::Task { last } => last.map(LastFlag::Value),
        Mode::Parallel { .. } => None,
    };
    if let (Sharing::Lastprivate, Some(last)) = (spec.sharing, last) {
        copy_out_if_last(ctx, module, alloca, copy, ty, last, spec, shape);
    }
    release_at_end(b, module, copy, spec, site.release_block());
}

/// A reduction variable: the thread's copy starts at the operator's identity and is
/// combined into the original at the end (an array: a private array from Numba's helper,
/// combined element-wise).
fn reduction_var(site: &Site, spec: &VarSpec, alloca: Value, ty: LLVMTypeRef) -> PassResult<()> {
    let Site {
        module,
        ctx,
        b,
        r,
        shape,
        region,
        ..
    } = *site;
    let op = spec.op.as_deref().unwrap_or("+");
    if let (Some(init), Some(combine)) = (&spec.red_init, &spec.red_combine) {
        let copy = private_copy(b, alloca, ty, shape, region, &spec.name);
        b.store(unsafe { LLVMConstNull(ty) }, copy);
        let bounds = section_bounds(b, r, spec);
        call_helper2(b, module, init, alloca, copy, &bounds);
        reduction::combine_arrays_at_end(b, module, r, shape, combine, alloca, copy, &bounds);
        release_at_end(b, module, copy, spec, site.release_block());
        return Ok(());
    }
    let kind = spec.ty.clone().unwrap_or(crate::markers::TypeInfo::Other);
    if !reduction::stored_as(&kind, ty) {
        return Err(PassError::Internal {
            message: format!(
                "region {}: reduction variable '{}' is {kind:?} in the marker, \
                 not what its storage holds",
                r.payload.id, spec.name
            ),
        });
    }
    let identity = reduction::identity(ctx, op, &kind, ty)
        .ok_or_else(|| r.error(reduction::unsupported(op, spec)))?;
    let copy = private_copy(b, alloca, ty, shape, region, &spec.name);
    b.store(identity, copy);
    reduction::combine_at_end(b, module, r, shape, op, &kind, ty, alloca, copy)
        .ok_or_else(|| r.error(reduction::unsupported(op, spec)))?;
    Ok(())
}

/// An outlined region's own allocas (Numba temporaries, region-local variables: used only
/// in the region) get a private copy each; `handled` are the ones already decided.
fn privatise_region_locals(site: &Site, func: Value, handled: &[Value]) {
    let Site {
        b,
        r,
        shape,
        region,
        ..
    } = *site;
    let markers = [r.enter, r.exit];
    let entry = ir::blocks(func)[0];
    for alloca in ir::instructions(entry)
        .into_iter()
        .filter(|&i| ir::opcode(i) == LLVMOpcode::LLVMAlloca)
    {
        if handled.contains(&alloca)
            || ir::name_of(alloca).starts_with("omp.team.")
            || !ir::users(alloca).iter().any(|&u| in_blocks(u, region))
        {
            continue;
        }
        // Numba's try depth (see `is_try_state`) is per thread even where the function
        // uses it outside the region too.
        if !used_outside(alloca, region, &markers) || is_try_state(alloca) {
            let ty = ir::allocated_type(alloca);
            let copy = private_copy(b, alloca, ty, shape, region, &ir::name_of(alloca));
            b.store(unsafe { LLVMConstNull(ty) }, copy);
        }
    }
}

/// (omp_get_thread_num(), omp_get_num_threads()) taken once at the start of `entry` (a
/// team region's first block) and reused by every construct of the region.
pub fn team_ids_at(entry: Block, module: LLVMModuleRef) -> (Value, Value) {
    ids_at(entry, module, ("omp_get_thread_num", "omp_get_num_threads"))
}

/// (omp_get_team_num(), omp_get_num_teams()) at a teams region's entry: what a
/// `distribute` loop divides its iterations by.
pub fn league_ids_at(entry: Block, module: LLVMModuleRef) -> (Value, Value) {
    ids_at(entry, module, ("omp_get_team_num", "omp_get_num_teams"))
}

fn ids_at(entry: Block, module: LLVMModuleRef, names: (&str, &str)) -> (Value, Value) {
    // (only calls made here, named after the function: not a user's call in that block)
    let find = |name: &str| {
        ir::instructions(entry).into_iter().find(|&i| {
            ir::called_name(i).as_deref() == Some(name) && ir::name_of(i).starts_with(name)
        })
    };
    let b = Builder::new(unsafe { LLVMGetModuleContext(module) });
    let get = |name: &str| {
        find(name).unwrap_or_else(|| {
            b.at_start(entry);
            let (f, fty) = abi::runtime_fn(module, name);
            b.call(fty, f, &[], name)
        })
    };
    (get(names.0), get(names.1))
}
