//! Step 5 of a worksharing loop: the iteration markers of an ordered loop.
//!
//! ```text
//! pyomp.loop.skip(id, lo, k)      whether the thread raised: then it runs no more bodies
//!                                 but still ends each of its iterations; also records the
//!                                 iteration number its `ordered` block waits for
//! pyomp.loop.iteration_end(id)    the iteration's ordered turn passes on if its `ordered`
//!                                 block did not pass it (pyomp_ordered_end, or libomp's
//!                                 __kmpc_dispatch_fini_8)
//! ```

use crate::abi;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Builder, Value};
use crate::lower::loop_markers::{is_integer, ordered_slots};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;

use super::state::{to_i64, LoopCodegen};

/// Replaces each skip marker by "the thread raised" (its skip flag), after recording the
/// iteration number for pyomp's ordered turns. Returns the block of the last one: where an
/// iteration's body starts.
pub fn lower_skip_markers(
    g: &LoopCodegen,
    skip_markers: Vec<Value>,
    id: u64,
) -> PassResult<Option<LLVMBasicBlockRef>> {
    let (b, ctx) = (g.b, g.ctx);
    let i32t = unsafe { LLVMInt32TypeInContext(ctx) };
    let mut body_start = None;
    for skip in skip_markers {
        body_start = Some(ir::parent_block(skip));
        b.before(skip);
        // pyomp's ordered turns: the iteration number its `ordered` block waits for, kept
        // in the team's region (a team's loop) or in its frame (an orphaned ordered loop)
        match (g.team, g.own.is_some()) {
            (Some(errors), true) => {
                let (_, iter_slot, passed) = ordered_slots(ctx, errors, id);
                b.store(iteration_number(b, ctx, skip, id)?, iter_slot);
                b.store(unsafe { LLVMConstInt(i32t, 0, 0) }, passed);
            }
            (None, _) if g.ordered => {
                let iter = iteration_number(b, ctx, skip, id)?;
                let (f, fty) = abi::runtime_fn(g.module, "pyomp_orphan_iteration");
                b.call(fty, f, &[iter], "");
            }
            _ => {}
        }
        let flag = b.load(i32t, g.s.skip, "omp.skip.v");
        let yes = unsafe {
            LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntNE,
                flag,
                LLVMConstInt(i32t, 0, 0),
                ir::cstr("omp.skip.body").as_ptr(),
            )
        };
        unsafe { LLVMReplaceAllUsesWith(skip, yes) };
        ir::erase(skip);
    }
    Ok(body_start)
}

/// Replaces each iteration-end marker by the end of the iteration's ordered turn. Returns
/// the block of the last one: where a thread of an ordered loop goes after raising.
pub fn lower_iteration_end_markers(
    g: &LoopCodegen,
    end_markers: Vec<Value>,
    id: u64,
) -> Option<LLVMBasicBlockRef> {
    let (b, module) = (g.b, g.module);
    let mut iteration_end = None;
    for end in end_markers {
        iteration_end = Some(ir::parent_block(end));
        b.before(end);
        match (g.team, g.own) {
            (Some(errors), Some(own)) => {
                let (ticket, iter_slot, passed) = ordered_slots(g.ctx, errors, id);
                let i64t = unsafe { LLVMInt64TypeInContext(g.ctx) };
                let iter = b.load(i64t, iter_slot, "omp.iter.v");
                let (f, fty) = abi::runtime_fn(module, "pyomp_ordered_end");
                let args = [
                    ticket,
                    own.state,
                    iter,
                    passed,
                    errors.status,
                    errors.cancelled,
                ];
                b.call(fty, f, &args, "");
            }
            _ => {
                let (f, fty) = abi::runtime_fn(module, "__kmpc_dispatch_fini_8");
                if g.wrapped {
                    let (end, ety) = abi::runtime_fn(module, "pyomp_orphan_iteration_end");
                    b.call(ety, end, &[f, g.ident, g.gtid], "");
                } else {
                    b.call(fty, f, &[g.ident, g.gtid], "");
                }
            }
        }
        ir::erase(end);
    }
    iteration_end
}

/// The iteration number (i64) a skip marker `pyomp.loop.skip(id, lo, k)` stands at: its
/// chunk's start plus its place in the chunk.
fn iteration_number(b: &Builder, ctx: LLVMContextRef, skip: Value, id: u64) -> PassResult<Value> {
    let args = ir::call_args(skip);
    let [_, lo, k] = args[..] else {
        return Err(PassError::Internal {
            message: format!("loop {id}: the skip marker takes (id, lo, k)"),
        });
    };
    if !is_integer(lo) || !is_integer(k) {
        return Err(PassError::Internal {
            message: format!("loop {id}: the skip marker's lo and k are integers"),
        });
    }
    let (lo, k) = (to_i64(b, ctx, lo), to_i64(b, ctx, k));
    Ok(unsafe { LLVMBuildAdd(b.raw, lo, k, ir::cstr("omp.iter.v").as_ptr()) })
}
