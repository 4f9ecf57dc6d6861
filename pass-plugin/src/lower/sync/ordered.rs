//! `ordered` blocks of a worksharing loop: each thread runs its iteration's block in
//! iteration order. A team's loop takes pyomp's turns (crate::runtime), an orphaned one the
//! turns team_frame.rs keeps (pyomp's inside a pyomp region, libomp's outside).

use crate::abi;
use crate::ir::{self, Block, Builder, Value};
use crate::lower::loop_markers::{loop_state, ordered_slots};
use crate::profile::instrument;
use crate::profile::record::kind;
use crate::raise::TeamErrors;
use crate::region::Shape;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;

use super::body::demote_body_values;

/// A team loop's `ordered` block on pyomp's turns (crate::runtime): wait for this
/// iteration's turn (or skip the block once the team failed), run the block, pass the
/// turn on and note it so the iteration's end does not pass it again.
pub fn own_ordered(
    module: LLVMModuleRef,
    func: Value,
    shape: &Shape,
    blocks: &[Block],
    (team, ident): (&TeamErrors, Value),
    loop_id: u64,
) {
    let _ = func;
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let (ticket, iter_slot, passed) = ordered_slots(ctx, team, loop_id);
    let state = loop_state(ctx, team, loop_id);
    let i64t = unsafe { LLVMInt64TypeInContext(ctx) };
    take_turns(
        module,
        (shape, blocks),
        ident,
        |b| {
            let iter = b.load(i64t, iter_slot, "omp.iter.v");
            let (f, fty) = abi::runtime_fn(module, "pyomp_ordered_wait");
            let args = [ticket, state, iter, team.status, team.cancelled];
            b.call(fty, f, &args, "omp.ordered.gave.up")
        },
        |b| {
            let iter = b.load(i64t, iter_slot, "omp.iter.v");
            let (f, fty) = abi::runtime_fn(module, "pyomp_ordered_pass");
            b.call(fty, f, &[ticket, state, iter], "");
            b.store(
                unsafe { LLVMConstInt(LLVMInt32TypeInContext(ctx), 1, 0) },
                passed,
            );
        },
    );
}

/// An orphaned loop's `ordered` block on the turns team_frame.rs keeps: wait for the
/// iteration's turn (or skip the block once a team mate stopped), run the block, pass the
/// turn on.
pub fn orphan_ordered(
    module: LLVMModuleRef,
    shape: &Shape,
    blocks: &[Block],
    ident: Value,
    gtid: Value,
) {
    take_turns(
        module,
        (shape, blocks),
        ident,
        |b| {
            let (ordered, _) = abi::runtime_fn(module, "__kmpc_ordered");
            let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_ordered_enter");
            b.call(fty, f, &[ordered, ident, gtid], "omp.ordered.gave.up")
        },
        |b| {
            let (end_ordered, _) = abi::runtime_fn(module, "__kmpc_end_ordered");
            let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_ordered_exit");
            b.call(fty, f, &[end_ordered, ident, gtid], "");
        },
    );
}

/// An `ordered` block between `wait` (an i32: nonzero to skip the block) at its start and
/// `pass` at its end; the profiler sees the wait and the block (`ident`: the construct).
fn take_turns(
    module: LLVMModuleRef,
    (shape, blocks): (&Shape, &[Block]),
    ident: Value,
    wait: impl FnOnce(&Builder) -> Value,
    pass: impl FnOnce(&Builder),
) {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let b = Builder::new(ctx);
    demote_body_values(shape, blocks);
    let entry_branch = ir::terminator(shape.entry).expect("entry ends in a branch");
    let body = ir::successors(shape.entry)[0];
    instrument::emit_begin(module, entry_branch, kind::ORDERED_WAIT, ident, None, None);
    b.before(entry_branch);
    let gave_up = wait(&b);
    let zero = unsafe { LLVMConstInt(LLVMInt32TypeInContext(ctx), 0, 0) };
    let icmp =
        |p, name: &str| unsafe { LLVMBuildICmp(b.raw, p, gave_up, zero, ir::cstr(name).as_ptr()) };
    let skip = icmp(LLVMIntPredicate::LLVMIntNE, "omp.ordered.skip");
    let runs = icmp(LLVMIntPredicate::LLVMIntEQ, "omp.ordered.runs");
    instrument::emit_end(module, entry_branch, kind::ORDERED_WAIT, ident);
    instrument::emit_begin(module, entry_branch, kind::ORDERED, ident, Some(runs), None);
    b.before(entry_branch);
    b.cond_br(skip, shape.end, body);
    ir::erase(entry_branch);
    let tail_branch = ir::terminator(shape.tail()).expect("tail ends in a branch");
    instrument::emit_end(module, tail_branch, kind::ORDERED, ident);
    b.before(tail_branch);
    pass(&b);
}
