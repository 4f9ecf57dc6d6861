//! `task`: the outlined region runs as an explicit task of the runtime.
//!
//! ```text
//!   %task = __kmpc_omp_task_alloc(@ident, %gtid, flags, 40 + sizeof(args), 0, @f.omp_task_entry)
//!   store { inputs... } at %task + 40            ; captured when the task is created
//!   __kmpc_omp_task(@ident, %gtid, %task)        ; if(c) false: begin_if0; entry; complete_if0
//! @f.omp_task_entry(i32 %gtid, ptr %task): unpack the inputs, call @f(inputs...), ret 0
//! ```
//! The inputs are what CodeExtractor found: firstprivate values loaded at creation
//! (sharing::Mode::Task), addresses of shared variables, and the failure record of the
//! team (or of the function, for a task outside any parallel region of it). A task that
//! raises records the first failure there and ends; the team re-raises after its region, a
//! function with such tasks waits for its child tasks at each return and re-raises then.

mod spawn;
mod taskloop;

pub use taskloop::lower_taskloop;

use crate::abi;
use crate::calls::thread_id;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Builder, Value};
use crate::markers::MarkedRegion;
use crate::raise::{self, TeamErrors};
use crate::region::{self, Shape};
use crate::sharing;
use crate::{outline, sharing::Mode};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMOpcode;

use super::RegionReport;

pub fn lower_task(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
    alloc_block: Block,
    errors: &TeamErrors,
    replaces: Value,
) -> PassResult<RegionReport> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    // The task's end (releases, lastprivate) in a block of its own, which a body that
    // raised jumps to: the body's last block may hold user code after a call that raised
    // (Numba merges blocks once it inlines a helper), which must not run then.
    let tail = ir::split_before(
        ir::terminator(shape.tail()).expect("tail ends in a branch"),
        "omp.task.end",
    );
    let blocks = region::blocks(r, shape)?;
    // The task's own exception slot (it may run on any thread, at any time).
    let b = Builder::new(ctx);
    b.at_start(shape.entry);
    let ptr = unsafe { LLVMPointerTypeInContext(ctx, 0) };
    let slot = b.alloca(ptr, "omp.task.excinfo");
    b.store(unsafe { LLVMConstNull(ptr) }, slot);
    ir::replace_uses_in(replaces, slot, &blocks);
    let mine = TeamErrors {
        private: slot,
        ..*errors
    };
    let rets = region::returns(&blocks);
    let can_raise = !rets.is_empty();
    let mut all = blocks.clone();
    all.extend(raise::redirect_returns(
        ctx, func, &rets, &mine, tail, false,
    )?);
    let team_shared = errors.team_slots();
    let last = match r.payload.clauses.last {
        Some(i) => Some(*r.enter_operands.get(i).ok_or_else(|| PassError::Internal {
            message: format!(
                "task {}: no operand {i} for its lastprivate flag",
                r.payload.id
            ),
        })?),
        None => None,
    };
    let mode = Mode::Task { last };
    let applied = sharing::apply(module, func, r, shape, &all, &team_shared, mode)?;
    let all = region::blocks(r, shape)?;
    let out = outline::extract(&all, alloc_block, &format!("omp.task.{}", r.payload.id))?;
    spawn::emit_task(module, r, out.function, out.call)?;
    let sharing = applied.decisions;
    Ok(RegionReport::outlined(
        r,
        func,
        out.function,
        sharing,
        can_raise,
    ))
}

/// A function that creates tasks outside any parallel region of its own keeps their
/// failure record in its frame: at each of its returns it first waits for its child tasks
/// (they may still use the frame), then re-raises a task's exception.
pub fn function_record(ctx: LLVMContextRef, func: Value) -> TeamErrors {
    let entry = ir::blocks(func)[0];
    let b = Builder::new(ctx);
    b.at_start(entry);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        let status = b.alloca(i32t, "omp.tasks.status");
        let excinfo = b.alloca(ptr, "omp.tasks.excinfo");
        let cancelled = b.alloca(i32t, "omp.tasks.cancelled");
        let loop_cancelled = b.alloca(i32t, "omp.tasks.loop.cancelled");
        let stopped_at = b.alloca(i32t, "omp.tasks.stopped.at");
        let gate = b.alloca(LLVMInt64TypeInContext(ctx), "omp.tasks.gate");
        for slot in [status, cancelled, loop_cancelled] {
            b.store(LLVMConstInt(i32t, 0, 0), slot);
        }
        b.store(LLVMConstAllOnes(i32t), stopped_at);
        b.store(LLVMConstNull(ptr), excinfo);
        TeamErrors {
            status,
            excinfo,
            private: excinfo,
            leave: entry,
            end_code: entry,
            leave_path: entry,
            entry,
            cancelled,
            loop_cancelled,
            pre: entry,
            stopped_at,
            gate,
        }
    }
}

/// Before each `ret` of `func`: wait for the child tasks, then return a task's failure.
pub fn wait_at_returns(module: LLVMModuleRef, func: Value, record: &TeamErrors) -> PassResult<()> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let rets: Vec<Value> = ir::blocks(func)
        .into_iter()
        .filter_map(ir::terminator)
        .filter(|&t| ir::opcode(t) == LLVMOpcode::LLVMRet)
        .collect();
    let ident = abi::ident(module, "", &ir::name_of(func), 0, 0);
    for ret in rets {
        let b = Builder::new(ctx);
        b.before(ret);
        let gtid = thread_id(&b, module, ident);
        let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_taskwait");
        b.call(fty, f, &[ident, gtid], "");
        // a normal return becomes the first failed task's status, if any
        let block = ir::parent_block(ret);
        let end = ir::split_before(ret, "omp.tasks.done");
        raise::reraise_after(ctx, func, block, end, record, None)?;
    }
    Ok(())
}
