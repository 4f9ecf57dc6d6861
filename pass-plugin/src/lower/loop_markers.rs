//! What a worksharing loop shares with the constructs around and inside it: the front
//! end's loop markers (numba_ext/pyomp/loops.py) and how to find them, the team slots
//! of a loop and of its `ordered` blocks, and an orphaned loop's cancellation flag.

use crate::error::{PassError, PassResult};
use crate::ir::{self, Builder, Value};
use crate::raise::TeamErrors;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMTypeKind;

pub const INIT: &str = "pyomp.loop.init";
pub const NEXT: &str = "pyomp.loop.next";
pub const FINI: &str = "pyomp.loop.fini";
pub const SKIP: &str = "pyomp.loop.skip";
pub const ITERATION_END: &str = "pyomp.loop.iteration_end";
/// `(id, owns)`: a composite distribute's loop; only the team whose block holds the last
/// iteration copies lastprivate variables out (numba_ext/pyomp/leagues.py).
pub const LAST_OWNER: &str = "pyomp.loop.last_owner";

pub fn marker_calls(blocks: &[LLVMBasicBlockRef], name: &str, id: u64) -> Vec<Value> {
    let mut out = Vec::new();
    for &b in blocks {
        for inst in ir::instructions(b) {
            // A marker whose first operand is not a constant id is left in place, where
            // check_no_markers reports it.
            if ir::called_name(inst).as_deref() == Some(name)
                && ir::call_args(inst).first().is_some_and(|&arg| unsafe {
                    !LLVMIsAConstantInt(arg).is_null() && LLVMConstIntGetZExtValue(arg) == id
                })
            {
                out.push(inst);
            }
        }
    }
    out
}

pub fn is_integer(v: Value) -> bool {
    unsafe { LLVMGetTypeKind(ir::type_of(v)) == LLVMTypeKind::LLVMIntegerTypeKind }
}

/// The trip count operand of a `pyomp.loop.init(id, n)` marker (an integer).
pub fn trip_count(init: Value, id: u64) -> PassResult<Value> {
    match ir::call_args(init)[..] {
        [_, n] if is_integer(n) => Ok(n),
        _ => Err(PassError::Internal {
            message: format!("loop {id}: the init marker takes (id, n), n an integer"),
        }),
    }
}

/// The thread's LoopState of loop `id` (crate::runtime), at the team region's start.
pub fn loop_state(ctx: LLVMContextRef, team: &TeamErrors, id: u64) -> Value {
    let ty = unsafe { LLVMArrayType2(LLVMInt64TypeInContext(ctx), 4) };
    team.thread_slot(ctx, ty, &format!("omp.loop.state.{id}"))
}

/// What an ordered loop `id` of a team and its `ordered` block share: (the team's turn
/// counter, the thread's current iteration number, whether its block passed the turn on).
pub fn ordered_slots(ctx: LLVMContextRef, team: &TeamErrors, id: u64) -> (Value, Value, Value) {
    unsafe {
        let (i32t, i64t) = (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx));
        (
            team.shared_slot(ctx, i64t, &format!("ticket.{id}")),
            team.thread_slot(ctx, i64t, &format!("omp.iter.{id}")),
            team.thread_slot(ctx, i32t, &format!("omp.passed.{id}")),
        )
    }
}

/// The cancellation flag of an orphaned loop (no team record to hold it): an i32 in the
/// function's entry, one per loop, made by whichever of the loop and its `cancel` is
/// lowered first.
pub fn orphan_cancel_flag(func: Value, id: u64) -> Value {
    let name = format!("omp.loop.cancelled.{id}");
    let entry = ir::blocks(func)[0];
    if let Some(found) = ir::instructions(entry)
        .into_iter()
        .find(|&i| ir::opcode(i) == llvm_sys::LLVMOpcode::LLVMAlloca && ir::name_of(i) == name)
    {
        return found;
    }
    unsafe {
        let ctx = LLVMGetTypeContext(LLVMTypeOf(func));
        let i32t = LLVMInt32TypeInContext(ctx);
        let b = Builder::new(ctx);
        b.at_start(entry);
        let flag = b.alloca(i32t, &name);
        b.store(LLVMConstInt(i32t, 0, 0), flag);
        flag
    }
}
