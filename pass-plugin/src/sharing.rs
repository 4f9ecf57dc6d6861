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

use crate::abi;
use crate::calls::{call_helper, call_helper2};
use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Builder, Value};
use crate::markers::{MarkedRegion, Sharing, VarSpec};
use crate::reduction;
use crate::region::Shape;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMOpcode;

/// One decision, as explain-able text: (variable, attribute, reason).
pub type Decision = (String, String, String);

/// The alloca a marker operand was loaded from. Numba packs a call's `*args` into a tuple
/// and unpacks it for the callee, so an operand may be `extractvalue (insertvalue ...), i`:
/// follow the chain to the value inserted at `i`.
pub fn alloca_behind(v: Value) -> Option<Value> {
    if !ir::is_instruction(v) {
        return None;
    }
    let v = if ir::opcode(v) == LLVMOpcode::LLVMExtractValue {
        inserted_value(v)?
    } else {
        v
    };
    if !ir::is_instruction(v) {
        return None;
    }
    let ptr = match ir::opcode(v) {
        LLVMOpcode::LLVMLoad => ir::operands(v)[0],
        LLVMOpcode::LLVMAlloca => return Some(v),
        _ => return None,
    };
    (ir::is_instruction(ptr) && ir::opcode(ptr) == LLVMOpcode::LLVMAlloca).then_some(ptr)
}

fn inserted_value(extract: Value) -> Option<Value> {
    let index = unsafe {
        if LLVMGetNumIndices(extract) != 1 {
            return None;
        }
        *LLVMGetIndices(extract)
    };
    let mut agg = ir::operands(extract)[0];
    while ir::is_instruction(agg) && ir::opcode(agg) == LLVMOpcode::LLVMInsertValue {
        let i = unsafe { (LLVMGetNumIndices(agg) == 1).then(|| *LLVMGetIndices(agg)) }?;
        if i == index {
            return Some(ir::operands(agg)[1]);
        }
        agg = ir::operands(agg)[0];
    }
    None
}

pub fn find_alloca(func: Value, r: &MarkedRegion, spec: &VarSpec) -> Option<Value> {
    if let Some(v) = spec
        .operand
        .and_then(|i| r.enter_operands.get(i))
        .and_then(|&v| alloca_behind(v))
    {
        return Some(v);
    }
    if let Some(v) = r
        .exit_operands
        .iter()
        .find(|(n, _)| *n == spec.name)
        .and_then(|(_, v)| alloca_behind(*v))
    {
        return Some(v);
    }
    // A variable that exists only inside the region has no marker operand: Numba names
    // its alloca after it.
    let entry = ir::blocks(func)[0];
    ir::instructions(entry)
        .into_iter()
        .find(|&i| ir::opcode(i) == LLVMOpcode::LLVMAlloca && ir::name_of(i) == spec.name)
}

fn in_blocks(inst: Value, blocks: &[Block]) -> bool {
    ir::is_instruction(inst) && blocks.contains(&ir::parent_block(inst))
}

/// A store of a constant zero in the entry block: how Numba initialises every alloca.
fn is_zero_init(inst: Value, alloca: Value) -> bool {
    unsafe {
        ir::opcode(inst) == LLVMOpcode::LLVMStore
            && ir::parent_block(inst) == ir::parent_block(alloca)
            && LLVMGetOperand(inst, 1) == alloca
            && LLVMIsNull(LLVMGetOperand(inst, 0)) != 0
    }
}

/// Uses of `alloca` that matter outside the region: not its zero initialisation, and not
/// loads whose only users are the markers (those vanish with the markers).
fn used_outside(alloca: Value, region: &[Block], markers: &[Value]) -> bool {
    ir::users(alloca).into_iter().any(|u| {
        if in_blocks(u, region) || is_zero_init(u, alloca) {
            return false;
        }
        if ir::opcode(u) == LLVMOpcode::LLVMLoad {
            let users = ir::users(u);
            return !users.iter().all(|x| markers.contains(x));
        }
        true
    })
}

fn written_in(alloca: Value, region: &[Block]) -> bool {
    ir::users(alloca)
        .into_iter()
        .any(|u| in_blocks(u, region) && ir::opcode(u) != LLVMOpcode::LLVMLoad)
}

pub struct Applied {
    pub decisions: Vec<Decision>,
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
    let markers = [r.enter, r.exit];
    // (asked each time: a lastprivate copy-out before it changes the tail)
    let release = || match mode {
        Mode::Parallel { release } => release,
        _ => shape.tail(),
    };
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
        let ty = ir::allocated_type(alloca);
        match spec.sharing {
            // the thread's own variable; the `single` lowering broadcasts into it
            Sharing::Copyprivate => {}
            Sharing::Shared => {
                if matches!(mode, Mode::Parallel { .. }) && !written_in(alloca, region) {
                    pass_by_value(&b, alloca, ty, shape, region);
                }
            }
            Sharing::Private | Sharing::Lastprivate => {
                let copy = if spec.first || spec.array_init.is_some() {
                    first_value_copy(&b, module, alloca, ty, shape, region, spec, mode)
                } else {
                    let copy = private_copy(&b, alloca, ty, shape, region, &spec.name);
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
                release_at_end(&b, module, copy, spec, release());
            }
            Sharing::Firstprivate => {
                let copy = first_value_copy(&b, module, alloca, ty, shape, region, spec, mode);
                release_at_end(&b, module, copy, spec, release());
            }
            Sharing::Reduction => {
                let op = spec.op.as_deref().unwrap_or("+");
                if let (Some(init), Some(combine)) = (&spec.red_init, &spec.red_combine) {
                    // An array: a private array from Numba's helper, combined element-wise.
                    let copy = private_copy(&b, alloca, ty, shape, region, &spec.name);
                    b.store(unsafe { LLVMConstNull(ty) }, copy);
                    let bounds = section_bounds(&b, r, spec);
                    call_helper2(&b, module, init, alloca, copy, &bounds);
                    reduction::combine_arrays_at_end(
                        &b, module, r, shape, combine, alloca, copy, &bounds,
                    );
                    release_at_end(&b, module, copy, spec, release());
                    continue;
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
                let copy = private_copy(&b, alloca, ty, shape, region, &spec.name);
                b.store(identity, copy);
                reduction::combine_at_end(&b, module, r, shape, op, &kind, ty, alloca, copy)
                    .ok_or_else(|| r.error(reduction::unsupported(op, spec)))?;
            }
        }
    }
    if matches!(mode, Mode::Worksharing { .. }) {
        return Ok(Applied { decisions });
    }
    // Allocas only the region uses (Numba temporaries, region-local variables).
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
            let copy = private_copy(&b, alloca, ty, shape, region, &ir::name_of(alloca));
            b.store(unsafe { LLVMConstNull(ty) }, copy);
        }
    }
    Ok(Applied { decisions })
}

/// Numba's `try` depth: one alloca per function (`try_state`, from its calling
/// convention's `_get_try_state`), counted up and down by the `try` blocks; while it is
/// nonzero, an error status returned by a called function is kept for the `except` rather
/// than returned. The depth belongs to the code that runs: a region's thread (or task)
/// starts at zero (a region is never inside a `try` of its function: Numba does not follow
/// a `try` around a `with`), and one thread's `try` must not change another's.
fn is_try_state(alloca: Value) -> bool {
    let name = ir::name_of(alloca);
    let numbered = |rest: &str| {
        rest.is_empty()
            || rest
                .strip_prefix('.')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
    };
    name.strip_prefix("try_state").is_some_and(numbered)
        && unsafe {
            LLVMGetTypeKind(ir::allocated_type(alloca))
                == llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind
        }
}

/// A new alloca at the start of the region (outlining moves it into the outlined function),
/// replacing `alloca` inside the region; the builder is left right after it.
fn private_copy(
    b: &Builder,
    alloca: Value,
    ty: LLVMTypeRef,
    shape: &Shape,
    region: &[Block],
    name: &str,
) -> Value {
    b.at_start(shape.entry);
    let copy = b.alloca_like(alloca, ty, &format!("{name}.private"));
    ir::replace_uses_in(alloca, copy, region);
    // Position after the alloca for the initialisation the caller emits.
    unsafe { LLVMPositionBuilderBefore(b.raw, LLVMGetNextInstruction(copy)) };
    copy
}

fn pass_by_value(b: &Builder, alloca: Value, ty: LLVMTypeRef, shape: &Shape, region: &[Block]) {
    b.before(ir::terminator(shape.pre()).expect("pre block ends in a branch"));
    let v = b.load(ty, alloca, &format!("{}.shared", ir::name_of(alloca)));
    for u in ir::users(alloca) {
        if in_blocks(u, region) && ir::opcode(u) == LLVMOpcode::LLVMLoad {
            unsafe { LLVMReplaceAllUsesWith(u, v) };
            ir::erase(u);
        }
    }
}

/// An array section's bounds as i64 (`reduction(op: a[lo:hi])`), from the enter marker.
fn section_bounds(b: &Builder, r: &MarkedRegion, spec: &VarSpec) -> Vec<Value> {
    let Some(section) = &spec.section else {
        return Vec::new();
    };
    section
        .iter()
        .filter_map(|&i| r.enter_operands.get(i).copied())
        .map(|v| unsafe {
            let ctx = LLVMGetTypeContext(LLVMTypeOf(v));
            LLVMBuildIntCast2(
                b.raw,
                v,
                LLVMInt64TypeInContext(ctx),
                1,
                ir::cstr("omp.section.bound").as_ptr(),
            )
        })
        .collect()
}

/// A private copy that starts with the original's value (holding a reference of its own),
/// or, for an array named in a clause, with the new array Numba's `array_init` helper
/// makes from the original: a task captures it when it is created, other regions make it
/// when they start.
#[allow(clippy::too_many_arguments)]
fn first_value_copy(
    b: &Builder,
    module: LLVMModuleRef,
    alloca: Value,
    ty: LLVMTypeRef,
    shape: &Shape,
    region: &[Block],
    spec: &VarSpec,
    mode: Mode,
) -> Value {
    if matches!(mode, Mode::Task { .. }) {
        let at = Builder::new(unsafe { LLVMGetModuleContext(module) });
        at.before(ir::terminator(shape.pre()).expect("pre block ends in a branch"));
        let v = match &spec.array_init {
            Some(init) => new_array_at_creation(&at, module, alloca, ty, init, spec),
            None => {
                let v = at.load(ty, alloca, &format!("{}.captured", spec.name));
                if let Some(incref) = &spec.incref {
                    call_helper(&at, module, incref, alloca);
                }
                v
            }
        };
        let copy = private_copy(b, alloca, ty, shape, region, &spec.name);
        b.store(v, copy);
        return copy;
    }
    let copy = private_copy(b, alloca, ty, shape, region, &spec.name);
    if let Some(init) = &spec.array_init {
        b.store(unsafe { LLVMConstNull(ty) }, copy);
        call_helper2(b, module, init, alloca, copy, &[]);
        return copy;
    }
    let v = b.load(ty, alloca, &format!("{}.in", spec.name));
    b.store(v, copy);
    if let Some(incref) = &spec.incref {
        call_helper(b, module, incref, copy);
    }
    copy
}

/// At the builder's position (a task's creation): the new array `init` makes from the
/// original, through a slot in the creating function's entry block.
fn new_array_at_creation(
    at: &Builder,
    module: LLVMModuleRef,
    alloca: Value,
    ty: LLVMTypeRef,
    init: &str,
    spec: &VarSpec,
) -> Value {
    let entry = ir::blocks(ir::parent_function(ir::parent_block(alloca)))[0];
    let slot_builder = Builder::new(unsafe { LLVMGetModuleContext(module) });
    slot_builder.at_start(entry);
    let slot = slot_builder.alloca(ty, &format!("{}.array.new", spec.name));
    at.store(unsafe { LLVMConstNull(ty) }, slot);
    call_helper2(at, module, init, alloca, slot, &[]);
    at.load(ty, slot, &format!("{}.captured", spec.name))
}

/// Releases a private copy of a reference-counted value at the end of the region (in
/// block `at`).
fn release_at_end(b: &Builder, module: LLVMModuleRef, copy: Value, spec: &VarSpec, at: Block) {
    if let Some(decref) = &spec.decref {
        b.before(ir::terminator(at).expect("the release block ends in a branch"));
        call_helper(b, module, decref, copy);
    }
}

/// Who ran the sequentially last iteration, for lastprivate.
#[derive(Clone, Copy)]
enum LastFlag {
    /// A loop's i32 slot the runtime (or pyomp's dispatcher) sets, read at the end.
    RuntimeSlot(Value),
    /// A taskloop's chunk task: an integer (bool) taken when the task was created.
    Value(Value),
}

/// At the end of a worksharing construct, the thread that ran the last iteration stores
/// its private value into the original (which takes over the reference the copy held;
/// the other threads' copies are released).
#[allow(clippy::too_many_arguments)]
fn copy_out_if_last(
    ctx: LLVMContextRef,
    module: LLVMModuleRef,
    original: Value,
    copy: Value,
    ty: LLVMTypeRef,
    last: LastFlag,
    spec: &VarSpec,
    shape: &Shape,
) {
    let b = Builder::new(ctx);
    let tail = shape.tail();
    let then = ir::if_then_at_end(ctx, tail, |b| unsafe {
        let flag = match last {
            LastFlag::RuntimeSlot(slot) => b.load(LLVMInt32TypeInContext(ctx), slot, "omp.last"),
            LastFlag::Value(v) => v,
        };
        let flag_ty = ir::type_of(flag);
        LLVMBuildICmp(
            b.raw,
            llvm_sys::LLVMIntPredicate::LLVMIntNE,
            flag,
            LLVMConstNull(flag_ty),
            ir::cstr("omp.is.last").as_ptr(),
        )
    });
    b.before(ir::terminator(then).expect("then block ends in a branch"));
    if let Some(decref) = &spec.decref {
        call_helper(&b, module, decref, original);
    }
    let v = b.load(ty, copy, &format!("{}.last", spec.name));
    b.store(v, original);
    if spec.decref.is_some() {
        // the original took the copy's reference: the release that follows finds nothing
        b.store(unsafe { LLVMConstNull(ty) }, copy);
    }
}

/// (omp_get_thread_num(), omp_get_num_threads()) taken once at the start of `entry` (a
/// team region's first block) and reused by every construct of the region.
pub fn team_ids_at(entry: Block, module: LLVMModuleRef) -> (Value, Value) {
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
    (get("omp_get_thread_num"), get("omp_get_num_threads"))
}
