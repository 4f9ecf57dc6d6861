//! Exceptions raised inside a region propagate to the caller after the region.
//!
//! Numba's calling convention returns a status (0 ok, -1 Python error, >= 1 user
//! exception) and stores an exception-info pointer through the function's second
//! parameter. Inside a region each thread gets its own exception-info slot; its `ret`s become
//! "record the first failure (atomic compare-and-swap on a shared status), then leave the
//! region", so every thread still reaches the join. After the join the caller re-raises:
//! it stores the recorded exception info and returns the recorded status.

use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Builder, Value};
use crate::region::Shape;
use llvm_sys::core::*;
use llvm_sys::{LLVMAtomicOrdering, LLVMIntPredicate};

/// The shared slots a team records its first failure in.
#[derive(Debug, Clone, Copy)]
pub struct ErrorSlot {
    pub status: Value,
    pub excinfo: Value,
}

/// Numba's excinfo parameter: `i32 @f(ptr %retptr, ptr %excinfo, ...)`.
fn excinfo_param(func: Value) -> PassResult<Value> {
    unsafe {
        let fty = LLVMGlobalGetValueType(func);
        let i32t = LLVMInt32TypeInContext(LLVMGetTypeContext(fty));
        if LLVMCountParams(func) < 2 || LLVMGetReturnType(fty) != i32t {
            return Err(PassError::Internal {
                message: format!(
                    "{} does not follow Numba's calling convention",
                    ir::name_of(func)
                ),
            });
        }
        Ok(LLVMGetParam(func, 1))
    }
}

/// Rewrites the region's `ret`s; returns the slot to check after the join, or None when the
/// region cannot raise (then no check is emitted at all).
pub fn redirect_returns(
    ctx: llvm_sys::prelude::LLVMContextRef,
    func: Value,
    region_blocks: &mut Vec<Block>,
    rets: &[Value],
    shape: &Shape,
    alloc_block: Block,
) -> PassResult<Option<ErrorSlot>> {
    if rets.is_empty() {
        return Ok(None);
    }
    let excinfo = excinfo_param(func)?;
    let (entry, tail, pre) = (shape.entry, shape.tail(), shape.pre());
    let b = Builder::new(ctx);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        b.at_start(alloc_block);
        let slot = ErrorSlot {
            status: b.alloca(i32t, "omp.err.status"),
            excinfo: b.alloca(ptr, "omp.err.excinfo"),
        };
        // Reset before every execution of the region (it may sit in a loop).
        b.before(ir::terminator(pre).expect("pre block ends in a branch"));
        b.store(LLVMConstInt(i32t, 0, 0), slot.status);
        // Each thread writes its exception info to a private slot, not the shared parameter.
        b.at_start(entry);
        let private = b.alloca(ptr, "omp.excinfo.private");
        b.store(LLVMConstNull(ptr), private);
        ir::replace_uses_in(excinfo, private, region_blocks);
        for &ret in rets {
            let code = ir::operands(ret)
                .first()
                .copied()
                .ok_or_else(|| PassError::Internal {
                    message: "void return inside a Numba function region".into(),
                })?;
            let block = ir::parent_block(ret);
            let record =
                LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.record").as_ptr());
            b.before(ret);
            let pair = LLVMBuildAtomicCmpXchg(
                b.raw,
                slot.status,
                LLVMConstInt(i32t, 0, 0),
                code,
                LLVMAtomicOrdering::LLVMAtomicOrderingSequentiallyConsistent,
                LLVMAtomicOrdering::LLVMAtomicOrderingSequentiallyConsistent,
                0,
            );
            let won = LLVMBuildExtractValue(b.raw, pair, 1, ir::cstr("omp.err.first").as_ptr());
            b.cond_br(won, record, tail);
            ir::erase(ret);
            b.at_end(record);
            let info = b.load(ptr, private, "omp.err.info");
            b.store(info, slot.excinfo);
            b.br(tail);
            region_blocks.push(record);
            let _ = block;
        }
        Ok(Some(slot))
    }
}

/// After the join (at `join`'s terminator, which continues to `end`): if a thread failed,
/// store its exception info and return its status from the enclosing function.
pub fn reraise_after(
    ctx: llvm_sys::prelude::LLVMContextRef,
    func: Value,
    join: Block,
    end: Block,
    slot: ErrorSlot,
) -> PassResult<()> {
    let excinfo = excinfo_param(func)?;
    let b = Builder::new(ctx);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        let raise = LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.reraise").as_ptr());
        let term = ir::terminator(join).expect("join block ends in a branch");
        b.before(term);
        let status = b.load(i32t, slot.status, "omp.err.status.v");
        let failed = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntNE,
            status,
            LLVMConstInt(i32t, 0, 0),
            ir::cstr("omp.err.failed").as_ptr(),
        );
        b.cond_br(failed, raise, end);
        ir::erase(term);
        b.at_end(raise);
        let info = b.load(ptr, slot.excinfo, "omp.err.info.v");
        b.store(info, excinfo);
        b.ret(status);
    }
    Ok(())
}
