//! A parallel region's body, before parallel.rs forks it: its failure record and end code
//! (combine, final barrier, releases), where its raising paths go, its data sharing, and
//! its outlining; after the join, the re-raise.
//!
//! Invariants: the failure record is made before any region inside is lowered (they record
//! failures in it); a thread that stops meets its team at the final barrier when the region
//! has barriers of its own or tasks (`set_meets_at_end`, read by team_frame.rs); the team's
//! tasks are waited for before the end code combines and releases the private copies.

use crate::error::PassResult;
use crate::ir::{self, Block, Value};
use crate::markers::MarkedRegion;
use crate::raise::{self, TeamErrors};
use crate::region::{self, Shape};
use crate::{outline, sharing};
use llvm_sys::core::*;
use llvm_sys::prelude::*;

use super::nesting::Node;
use super::{barrier, parallel, RegionReport};

/// The failure record of parallel region `n`, and the blocks of its end code: the region's
/// end code goes in a block of its own (before `leave`), where a thread that raised jumps:
/// the body's last block may hold user code after the call that raised (Numba merges
/// blocks once it inlines a helper). Then the releases of the thread's private copies
/// (where threads that leave early go too), then the way out.
pub fn failure_record(ctx: LLVMContextRef, func: Value, n: &Node) -> PassResult<TeamErrors> {
    let tail_branch = ir::terminator(n.shape.tail()).expect("tail ends in a branch");
    let end_code = ir::split_before(tail_branch, "omp.end.code");
    let end_branch = ir::terminator(end_code).expect("split leaves a branch");
    let leave_path = ir::split_before(end_branch, "omp.release");
    let release_branch = ir::terminator(leave_path).expect("split leaves a branch");
    let leave = ir::split_before(release_branch, "omp.leave");
    let blocks = region::blocks(&n.r, &n.shape)?;
    TeamErrors::create(
        ctx,
        func,
        n.alloc_block,
        n.shape.pre(),
        n.shape.entry,
        &blocks,
        [end_code, leave_path, leave],
    )
}

/// Lowers parallel region `n` (the regions inside it are lowered already); `outer` is the
/// enclosing team's failure record.
pub fn lower_parallel(
    module: LLVMModuleRef,
    func: Value,
    n: &Node,
    outer: Option<&TeamErrors>,
) -> PassResult<RegionReport> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let (r, shape) = (&n.r, &n.shape);
    let errors = n.errors.expect("parallel regions have a failure record");
    let end_code = errors.end_code;
    let after_combine = split_end_code(ctx, r, shape, &errors)?;
    // Recomputed: inner regions lowered before this one replaced or added blocks.
    let mut blocks = region::blocks(r, shape)?;
    let body = Shape {
        end: after_combine,
        ..*shape
    };
    log::debug!(
        "parallel {}: leave {} end_code {}",
        r.payload.id,
        ir::block_name(errors.leave),
        ir::block_name(end_code)
    );
    let rets = region::returns(&blocks);
    let final_barrier = needs_final_barrier(n, &rets, end_code);
    let end_barrier = EndBarrier {
        module,
        func,
        r,
        errors: &errors,
        may_be_gone: calls_out(&blocks),
    };
    let added = raise::redirect_returns(ctx, func, &rets, &errors, end_code, true)?;
    blocks.extend(added);
    // A task created in the region may still run when its creator reaches the end (after
    // `master`, `single nowait`, ...), and may write to the thread's private variables (a
    // reduction's copy through in_reduction, a `shared` one): the team first waits for its
    // tasks at the final barrier, placed before the end code combines and releases them
    // (Clang leaves this to the join barrier, after the outlined function has returned and
    // its frame is gone). Without tasks the final barrier, when needed, comes after it.
    if n.has_tasks {
        blocks.extend(end_barrier.emit_before_end(end_code));
    }
    let can_raise = !rets.is_empty() || records_used(&errors);
    let release = released_on_failure(func, r, outer.is_none() && !n.in_task);
    let applied = apply_team_sharing(module, func, r, &body, &blocks, &errors)?;
    blocks.extend(applied.added.iter().copied());
    if final_barrier && !n.has_tasks {
        blocks.extend(end_barrier.emit_before_end(after_combine));
    }
    // A thread that stops meets its team at the end (team_frame.rs); barriers in
    // functions the region calls count on the thread's frame.
    errors.set_meets_at_end(final_barrier || n.has_tasks);
    if calls_out(&blocks) {
        errors.enter_frame(module);
    }
    let suffix = format!("omp.parallel.{}", r.payload.id);
    let out = outline::extract(&blocks, n.alloc_block, &suffix)?;
    let once_per_call = outer.is_none() && !n.in_task;
    let join = parallel::emit_fork(module, r, &out, n.alloc_block, once_per_call)?;
    if can_raise {
        match outer {
            Some(_) => raise::reraise_after(ctx, func, join, shape.end, &errors, outer)?,
            None => raise::reraise_after_releasing(ctx, func, join, shape.end, &errors, &release)?,
        }
    }
    let sharing = applied.decisions;
    Ok(RegionReport::outlined(
        r,
        func,
        out.function,
        sharing,
        can_raise,
    ))
}

/// The region's data sharing: the team's own slots are shared; a thread's private copies
/// are released on the leave path, where threads that leave early go too.
fn apply_team_sharing(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    body: &Shape,
    blocks: &[Block],
    errors: &TeamErrors,
) -> PassResult<sharing::Applied> {
    let team_shared = errors.team_slots();
    let mode = sharing::Mode::Parallel {
        release: errors.leave_path,
    };
    sharing::apply(module, func, r, body, blocks, &team_shared, mode)
}

/// A thread that raises outside the constructs inside (or in a `for nowait`, or is
/// cancelled) stops: it skips the barriers left in the body and meets its team mates at a
/// final barrier, after which they leave too, as they would after any barrier it meets
/// them at (see raise/; only needed when there are such barriers). Constructs inside
/// that send a stopping thread to the end code made it a second predecessor.
fn needs_final_barrier(n: &Node, rets: &[Value], end_code: Block) -> bool {
    let stops_inside = region::preds_of(end_code).len() > 1;
    n.has_barriers && (!rets.is_empty() || n.cancels || stops_inside)
}

/// The final barrier of a team region's end code.
struct EndBarrier<'a> {
    module: LLVMModuleRef,
    func: Value,
    r: &'a MarkedRegion,
    errors: &'a TeamErrors,
    /// A thread that passed, in a called function, the barrier where a stopped team mate
    /// met the team, and went on (a `try` there caught the leave status), skips the end's
    /// barriers: nobody else comes (team_frame.rs).
    may_be_gone: bool,
}

impl EndBarrier<'_> {
    /// A barrier at the end of `block`; returns the block the "gone" check split off,
    /// which belongs to the region.
    fn emit_before_end(&self, block: Block) -> Option<Block> {
        let (module, func) = (self.module, self.func);
        let ctx = unsafe { LLVMGetModuleContext(module) };
        let loc = &self.r.payload.loc;
        let split = self
            .may_be_gone
            .then(|| raise::skip_if_gone(ctx, block, self.errors));
        let ident = crate::abi::ident(module, &loc.file, &ir::name_of(func), loc.line, loc.column);
        let b = ir::Builder::new(ctx);
        b.before(ir::terminator(split.unwrap_or(block)).expect("end code ends in a branch"));
        let gtid = crate::calls::thread_id(&b, module, ident);
        barrier::emit_barrier(&b, module, ident, gtid, false);
        split
    }
}

/// What a failure that leaves the function releases: the function's reference-counted
/// variables the region uses; only for an `outermost` region (not inside another outlined
/// region: a team or a task there goes on using them).
fn released_on_failure(func: Value, r: &MarkedRegion, outermost: bool) -> Vec<(Value, String)> {
    if !outermost {
        return Vec::new();
    }
    let given_a_value = r.fresh.iter().filter_map(|(name, decref)| {
        let (_, v) = r.exit_operands.iter().find(|(n, _)| n == name)?;
        Some((sharing::alloca_behind(*v)?, decref.clone()))
    });
    r.payload
        .vars
        .iter()
        .filter_map(|spec| Some((sharing::find_alloca(func, r, spec)?, spec.decref.clone()?)))
        .chain(given_a_value)
        .collect()
}

/// Whether `blocks` call a function that may be user code (and so may hold an orphaned
/// construct's barrier): anything but the OpenMP runtime, pyomp's and Numba's runtime
/// helpers and LLVM intrinsics.
fn calls_out(blocks: &[Block]) -> bool {
    // (pyomp's runtime API as Numba compiles it: `pyomp.runtime.api`'s wrappers)
    const RUNTIME: [&str; 7] = [
        "__kmpc_",
        "omp_",
        "pyomp_",
        "pyomp.",
        "llvm.",
        "NRT_",
        "_ZN5pyomp7runtime",
    ];
    blocks.iter().flat_map(|&b| ir::instructions(b)).any(|i| {
        ir::opcode(i) == llvm_sys::LLVMOpcode::LLVMCall
            && ir::called_name(i).is_none_or(|name| !RUNTIME.iter().any(|p| name.starts_with(p)))
    })
}

/// Lays out the region's end code: the wait for tasks, if any (`end_code`); reductions
/// combined, unless a thread failed (a thread that raised may have released its copies),
/// in a block of their own (`omp.combine`); the final barrier, if needed (the block
/// returned, `omp.after.combine`); the releases (`leave_path`). Seen as a shape, the body
/// ends at the block returned, so the combines go in the one before it.
fn split_end_code(
    ctx: LLVMContextRef,
    r: &MarkedRegion,
    shape: &Shape,
    errors: &TeamErrors,
) -> PassResult<Block> {
    let end_code = errors.end_code;
    let combine = ir::split_before(
        ir::terminator(end_code).expect("end code ends in a branch"),
        "omp.combine",
    );
    let after_combine = ir::split_before(
        ir::terminator(combine).expect("split leaves a branch"),
        "omp.after.combine",
    );
    let may_fail = !region::returns(&region::blocks(r, shape)?).is_empty() || records_used(errors);
    if !may_fail {
        return Ok(after_combine);
    }
    let b = ir::Builder::new(ctx);
    let branch = ir::terminator(end_code).expect("split leaves a branch");
    b.before(branch);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let status = b.load(i32t, errors.status, "omp.err.status.v");
        // (other threads write it atomically)
        LLVMSetOrdering(
            status,
            llvm_sys::LLVMAtomicOrdering::LLVMAtomicOrderingMonotonic,
        );
        LLVMSetAlignment(status, 4);
        let ok = LLVMBuildICmp(
            b.raw,
            llvm_sys::LLVMIntPredicate::LLVMIntEQ,
            status,
            LLVMConstInt(i32t, 0, 0),
            ir::cstr("omp.ok").as_ptr(),
        );
        b.cond_br(ok, combine, after_combine);
    }
    ir::erase(branch);
    Ok(after_combine)
}

/// Whether anything (an inner construct) records failures in this team's status.
fn records_used(errors: &TeamErrors) -> bool {
    ir::users(errors.status)
        .into_iter()
        .any(|u| ir::opcode(u) == llvm_sys::LLVMOpcode::LLVMAtomicCmpXchg)
}
