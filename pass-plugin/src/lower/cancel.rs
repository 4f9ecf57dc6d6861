//! `cancel` and `cancellation point` for parallel, for and sections.
//!
//! The front end checked that each stands directly in the construct it cancels, so jumping
//! to that construct's end leaves nothing half done:
//!
//! ```text
//! cancel parallel [if(c)]:   if (c && omp_get_cancellation()) { team.cancelled = 1;
//!                                                               stop; goto end }
//! cancel for / sections:     if (c && omp_get_cancellation()) { team.loop_cancelled = 1;
//!                                                               goto the loop's dispatch }
//! cancellation point parallel:        if (team failed or cancelled) { stop; goto end }
//! cancellation point for / sections:  if (team.loop_cancelled) goto the loop's dispatch
//! ```
//! `end` is the team region's end code, with the final barrier where the thread meets its
//! team mates ("stop" records where it left, so they leave after the barrier they meet it
//! at: see raise/). An orphaned `cancel for` (no team record) is libomp's `__kmpc_cancel`,
//! ended by the loop's cancellation barrier. A cancellable
//! loop is always dispatched by the runtime, and its dispatch, once the flag is set, takes
//! the rest of the thread's chunks without running them: libomp's dispatch buffers are
//! only recycled when every thread has seen the end of the loop (Clang jumps past it and a
//! later loop reuses a stale buffer: wrong results with libomp 19). The loop then ends at
//! its barrier, after which its flag is cleared.
//! Cancellation points read pyomp's own flags rather than `__kmpc_cancellationpoint`,
//! which aborts the process when the pending cancellation is of another kind (a loop's
//! cancellation point while an exception cancels the region).

use crate::abi;
use crate::calls::thread_id;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Builder, Value};
use crate::markers::MarkedRegion;
use crate::raise::TeamErrors;
use crate::region::Shape;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;

use super::{loop_markers, RegionReport};

/// What a cancel construct cancels: its kind (parallel, for, sections) and the runtime's
/// code for it, where a cancelled thread goes (`target`), and the flag that tells the team.
struct Cancelled {
    kind: &'static str,
    code: u64,
    target: Block,
    flag: Option<Value>,
}

/// Lowers a `cancel` or `cancellation point` region `r` in place; `team` is the enclosing
/// parallel region's failure record (None when orphaned).
pub fn lower_cancel(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
    team: Option<TeamErrors>,
) -> PassResult<RegionReport> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let cancelled = what_is_cancelled(func, r, team.as_ref())?;
    let first = ir::instructions(shape.entry)[0];
    let body = ir::split_before(first, "omp.body");
    let b = Builder::new(ctx);
    let entry_branch = ir::terminator(shape.entry).expect("entry ends in a branch");
    b.before(entry_branch);
    match r.payload.construct.as_str() {
        "cancel" => emit_cancel(&b, module, func, r, team.as_ref(), &cancelled, body),
        _ => emit_cancellation_point(&b, func, team.as_ref(), &cancelled, body),
    }
    ir::erase(entry_branch);
    Ok(RegionReport::in_place(r, func, Vec::new(), false))
}

/// The construct that `r` cancels, where a cancelled thread goes and its flag.
fn what_is_cancelled(
    func: Value,
    r: &MarkedRegion,
    team: Option<&TeamErrors>,
) -> PassResult<Cancelled> {
    let (kind, code) = match r.payload.clauses.cancel.as_deref().unwrap_or("parallel") {
        "parallel" => ("parallel", 1),
        "for" => ("for", 2),
        "sections" => ("sections", 3),
        other => return Err(r.error(format!("cannot cancel '{other}'"))),
    };
    if kind == "parallel" {
        let team = team.ok_or_else(|| r.error("`cancel parallel` outside a parallel region"))?;
        let (target, flag) = (team.end_code, Some(team.cancelled));
        return Ok(Cancelled {
            kind,
            code,
            target,
            flag,
        });
    }
    let id = r
        .payload
        .clauses
        .binds
        .ok_or_else(|| r.error("cancel without the construct it cancels"))?;
    let blocks = ir::blocks(func);
    let next = loop_markers::marker_calls(&blocks, loop_markers::NEXT, id);
    let &next = next.first().ok_or_else(|| PassError::Internal {
        message: format!("the loop {id} a cancel binds to has no dispatch"),
    })?;
    // Back to the loop's dispatch, which, seeing the flag, drains this thread's share
    // of the loop from the runtime (see worksharing/next.rs) and ends the loop.
    let flag = match team {
        Some(t) => t.loop_cancelled,
        None => loop_markers::orphan_cancel_flag(func, id),
    };
    Ok(Cancelled {
        kind,
        code,
        target: ir::parent_block(next),
        flag: Some(flag),
    })
}

/// `cancel` (if its `if` clause holds): a team's sets pyomp's flag when cancellation is on
/// (libomp's would change what its barriers do); an orphaned one asks `__kmpc_cancel`.
/// A thread that cancelled goes to the target; else on to the `body`.
fn emit_cancel(
    b: &Builder,
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    team: Option<&TeamErrors>,
    c: &Cancelled,
    body: Block,
) {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let loc = &r.payload.loc;
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let new_block =
            |name: &str| LLVMAppendBasicBlockInContext(ctx, func, ir::cstr(name).as_ptr());
        let ident = abi::ident(module, &loc.file, &ir::name_of(func), loc.line, loc.column);
        let call_bb = new_block("omp.cancel");
        let condition = r
            .payload
            .clauses
            .if_
            .and_then(|i| r.enter_operands.get(i))
            .map(|&c| ir::truth(b, c));
        match condition {
            Some(c) => b.cond_br(c, call_bb, body),
            None => b.br(call_bb),
        };
        b.at_end(call_bb);
        let done = if team.is_some() {
            let (f, fty) = abi::runtime_fn(module, "omp_get_cancellation");
            b.call(fty, f, &[], "omp.cancel")
        } else {
            let gtid = thread_id(b, module, ident);
            let (f, fty) = abi::runtime_fn(module, "__kmpc_cancel");
            let code = LLVMConstInt(i32t, c.code, 0);
            b.call(fty, f, &[ident, gtid, code], "omp.cancel")
        };
        let took = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntNE,
            done,
            LLVMConstInt(i32t, 0, 0),
            ir::cstr("omp.cancelled").as_ptr(),
        );
        let leave_bb = new_block("omp.cancel.leave");
        b.cond_br(took, leave_bb, body);
        b.at_end(leave_bb);
        if let Some(flag) = c.flag {
            b.store(LLVMConstInt(i32t, 1, 0), flag);
        }
        if let (Some(team), "parallel") = (team, c.kind) {
            team.note_stop(b);
        }
        b.br(c.target);
    }
}

/// `cancellation point`: a thread of a cancelled team (or loop) goes to the target; else
/// on to the `body`.
fn emit_cancellation_point(
    b: &Builder,
    func: Value,
    team: Option<&TeamErrors>,
    c: &Cancelled,
    body: Block,
) {
    let ctx = unsafe { LLVMGetTypeContext(LLVMTypeOf(func)) };
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        match (c.kind, team, c.flag) {
            ("parallel", Some(team), _) => {
                let stop = team.must_leave(b);
                let stop_bb = LLVMAppendBasicBlockInContext(
                    ctx,
                    func,
                    ir::cstr("omp.cancellation.stop").as_ptr(),
                );
                b.cond_br(stop, stop_bb, body);
                b.at_end(stop_bb);
                team.note_stop(b);
                b.br(c.target);
            }
            (_, _, Some(flag)) => {
                let v = b.load(i32t, flag, "omp.loop.cancelled.v");
                let stop = LLVMBuildICmp(
                    b.raw,
                    LLVMIntPredicate::LLVMIntNE,
                    v,
                    LLVMConstInt(i32t, 0, 0),
                    ir::cstr("omp.stop").as_ptr(),
                );
                b.cond_br(stop, c.target, body);
            }
            _ => {
                b.br(body);
            }
        }
    }
}
