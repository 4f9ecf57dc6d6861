//! Step 7 of a worksharing loop: its end. (Its first two parts, the fini markers and the
//! construct's end block, come before step 6, whose copy-out goes in that block.)
//!
//! ```text
//! pyomp.loop.fini(id)   static:  __kmpc_for_static_fini (an orphaned loop's)
//!                       other:   __kmpc_dispatch_deinit (libomp's dispatcher)
//! end of the construct: the taskgroup of its tasks ends; a thread that raised comes here
//!                       (an ordered loop's passing on its remaining turns first); then
//!                       __kmpc_barrier unless nowait; after the barrier every thread
//!                       leaves the region if one of them raised.
//! ```
//! (Reductions are combined and lastprivate copied out at the construct's end by
//! sharing/, see private_copies.rs.)

use crate::abi;
use crate::error::PassResult;
use crate::ir::{self, Builder, Value};
use crate::lower::barrier::{emit_barrier, emit_orphan_barrier};
use crate::raise::{self, TeamErrors};
use crate::region::Shape;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;

use super::state::LoopCodegen;

/// An orphaned loop's failure record, in this function: only the thread that raised
/// leaves (others finish the construct normally).
pub fn orphan_failure_record(
    ctx: LLVMContextRef,
    func: Value,
    shape: &Shape,
    blocks: &[LLVMBasicBlockRef],
) -> PassResult<TeamErrors> {
    TeamErrors::create(
        ctx,
        func,
        ir::blocks(func)[0],
        shape.pre(),
        shape.entry,
        blocks,
        [shape.end; 3],
    )
}

/// Replaces each fini marker by the end of the runtime's loop (nothing for pyomp's
/// dispatcher and for a team's static loop, which keep no runtime state).
pub fn lower_fini_markers(g: &LoopCodegen, fini_markers: Vec<Value>) {
    let (b, module) = (g.b, g.module);
    for fini in fini_markers {
        if g.own.is_none() && !(g.is_static && g.team_ids.is_some()) {
            b.before(fini);
            let name = if g.is_static {
                "__kmpc_for_static_fini"
            } else {
                "__kmpc_dispatch_deinit"
            };
            let (f, fty) = abi::runtime_fn(module, name);
            if g.wrapped {
                let (wrapper, wty) = abi::runtime_fn(module, "pyomp_orphan_dispatch_fini");
                b.call(wty, wrapper, &[f, g.ident, g.gtid], "");
            } else {
                b.call(fty, f, &[g.ident, g.gtid], "");
            }
        }
        ir::erase(fini);
    }
}

/// The construct's end, a block of its own (the last block of the construct may hold user
/// code), where a thread that raised inside the loop still comes; the loop's taskgroup ends
/// there. Returns the block.
pub fn split_construct_end(g: &LoopCodegen, shape: &Shape, has_tasks: bool) -> LLVMBasicBlockRef {
    let first_tail = ir::split_before(
        ir::terminator(shape.tail()).expect("tail ends in a branch"),
        "omp.construct.end",
    );
    if has_tasks {
        g.b.before(ir::terminator(first_tail).expect("construct end ends in a branch"));
        let (f, fty) = abi::runtime_fn(g.module, "__kmpc_end_taskgroup");
        g.b.call(fty, f, &[g.ident, g.gtid], "");
    }
    first_tail
}

/// Where the loop's raising paths (`rets`) go: to the construct's end (`first_tail`); in an
/// ordered loop, from an iteration's body (`body_start`..`iteration_end`), first to the
/// end of the iteration with the skip flag set, so the thread passes the ordered turns of
/// its remaining iterations on and its team mates do not wait forever for them. (A raise
/// before the loop starts, say in its bounds, goes straight to the end.)
pub fn route_raises(
    g: &LoopCodegen,
    func: Value,
    rets: &[Value],
    errors: &TeamErrors,
    first_tail: LLVMBasicBlockRef,
    (body_start, iteration_end): (Option<LLVMBasicBlockRef>, Option<LLVMBasicBlockRef>),
) -> PassResult<()> {
    let (b, ctx) = (g.b, g.ctx);
    let in_body = match (iteration_end, body_start) {
        (Some(end), Some(start)) if g.ordered => ir::reachable_without(start, end),
        _ => Vec::new(),
    };
    let (from_body, elsewhere): (Vec<Value>, Vec<Value>) = rets
        .iter()
        .partition(|&&ret| in_body.contains(&ir::parent_block(ret)));
    if let (false, Some(end)) = (from_body.is_empty(), iteration_end) {
        let skip_rest = unsafe {
            LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.ordered.skip").as_ptr())
        };
        b.at_end(skip_rest);
        let i32t = unsafe { LLVMInt32TypeInContext(ctx) };
        b.store(unsafe { LLVMConstInt(i32t, 1, 0) }, g.s.skip);
        b.br(end);
        raise::redirect_returns(ctx, func, &from_body, errors, skip_rest, g.team.is_some())?;
    }
    raise::redirect_returns(ctx, func, &elsewhere, errors, first_tail, g.team.is_some())?;
    Ok(())
}

/// The barrier at the end of a loop without `nowait`. `gtid` (computed at the construct's
/// start) dominates the whole construct. A team's loop ends at a plain barrier (a team mate
/// that stopped elsewhere meets the team here, see raise/; `cancel for` is pyomp's flag);
/// an orphaned loop at a barrier counted on the caller's team (team_frame.rs), or,
/// cancellable, at a cancellation barrier, which ends libomp's cancellation of the loop.
/// Returns the construct's last block (a new one after an orphaned barrier).
pub fn emit_end_barrier(
    g: &LoopCodegen,
    func: Value,
    shape: &Shape,
    cancellable: bool,
) -> LLVMBasicBlockRef {
    let b = g.b;
    let mut last_tail = shape.tail();
    let end = ir::terminator(last_tail).expect("tail ends in a branch");
    b.before(end);
    if g.team.is_none() {
        let barrier = if cancellable {
            "__kmpc_cancel_barrier"
        } else {
            "__kmpc_barrier"
        };
        last_tail = emit_orphan_barrier(g.module, func, g.ident, g.gtid, end, barrier);
        b.before(end);
    } else {
        emit_barrier(b, g.module, g.ident, g.gtid, false);
    }
    if let Some(flag) = g.cancel_flag {
        let i32t = unsafe { LLVMInt32TypeInContext(g.ctx) };
        b.store(unsafe { LLVMConstInt(i32t, 0, 0) }, flag);
    }
    last_tail
}

/// After the construct's last block (`last_tail`): whether a thread that raised leaves the
/// region. With a barrier (`nowait` unset) all threads agree whether a thread stopped
/// before it and leave together; without one, only a thread that raised in the loop goes
/// to the region's end (it meets its team there; it must not run more of the region). An
/// orphaned loop re-raises in the thread that raised (`record`: its own failure record).
pub fn leave_if_raised(
    g: &LoopCodegen,
    func: Value,
    shape: &Shape,
    last_tail: LLVMBasicBlockRef,
    record: &TeamErrors,
    nowait: bool,
    can_raise: bool,
) -> PassResult<()> {
    let ctx = g.ctx;
    match g.team {
        Some(errors) if !nowait => {
            raise::branch_if_failed(ctx, last_tail, errors, errors.leave_path)
        }
        Some(errors) if can_raise => {
            let i32t = unsafe { LLVMInt32TypeInContext(ctx) };
            let b = Builder::new(ctx);
            let branch = ir::terminator(last_tail).expect("tail ends in a branch");
            b.before(branch);
            let flag = b.load(i32t, errors.stopped_self(ctx), "omp.stopped.self.v");
            let stopped = unsafe {
                LLVMBuildICmp(
                    b.raw,
                    LLVMIntPredicate::LLVMIntNE,
                    flag,
                    LLVMConstInt(i32t, 0, 0),
                    ir::cstr("omp.raised").as_ptr(),
                )
            };
            b.cond_br(stopped, errors.end_code, shape.end);
            ir::erase(branch);
        }
        Some(_) => {}
        None if can_raise => raise::reraise_after(ctx, func, last_tail, shape.end, record, None)?,
        None => {}
    }
    Ok(())
}
