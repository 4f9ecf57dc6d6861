//! After the region: the caller re-raises the recorded failure (stores its exception info
//! and returns its status).

use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Builder, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::LLVMContextRef;
use llvm_sys::LLVMIntPredicate;

use super::record::{excinfo_param, TeamErrors};

/// After the join (at `join`'s terminator, which continues to `end`): if a thread failed,
/// store its exception info and return its status from the enclosing function. Inside an
/// enclosing team's region the info goes to that team's private slot (`outer`), where the
/// enclosing region's own handling of the `ret` expects it.
pub fn reraise_after(
    ctx: LLVMContextRef,
    func: Value,
    join: Block,
    end: Block,
    team: &TeamErrors,
    outer: Option<&TeamErrors>,
) -> PassResult<()> {
    let param = match outer {
        Some(o) => o.private,
        None => excinfo_param(func)?,
    };
    // the team's Python exception, if its threads kept one (crate::pyerr)
    let own = team
        .is_team()
        .then(|| crate::pyerr::find_slot(ir::parent_block(team.status)));
    if let Some(Some(slot)) = own {
        let outer_slot = outer.and_then(|o| crate::pyerr::find_slot(ir::parent_block(o.status)));
        crate::pyerr::settle_after_join(
            unsafe { LLVMGetGlobalParent(func) },
            join,
            team.status,
            slot,
            outer_slot,
        );
    }
    ret_if_failed(
        ctx,
        func,
        join,
        end,
        team.status,
        Some((team.excinfo, param)),
    );
    Ok(())
}

/// `reraise_after` for a region whose failure leaves the function: before returning, the
/// path releases `release` (allocas of the function with their Numba decref helpers) and
/// clears them, as the `del`s Numba put before its raise would have (the front end strips
/// those of shared variables from the region: a thread must not release what its team
/// mates still use), and as the `del`s after the region, which the return skips, would.
pub fn reraise_after_releasing(
    ctx: LLVMContextRef,
    func: Value,
    join: Block,
    end: Block,
    team: &TeamErrors,
    release: &[(Value, String)],
) -> PassResult<()> {
    reraise_after(ctx, func, join, end, team, None)?;
    if release.is_empty() {
        return Ok(());
    }
    let next = ir::successors(join);
    let raise = next
        .into_iter()
        .find(|&s| s != end)
        .ok_or_else(|| PassError::Internal {
            message: "the re-raise after a region has no block".into(),
        })?;
    let b = Builder::new(ctx);
    b.before(ir::terminator(raise).expect("the re-raise ends in a ret"));
    let module = unsafe { LLVMGetGlobalParent(func) };
    for (alloca, decref) in release {
        crate::calls::call_helper(&b, module, decref, *alloca);
        b.store(
            unsafe { LLVMConstNull(ir::allocated_type(*alloca)) },
            *alloca,
        );
    }
    Ok(())
}

/// Replaces `block`'s terminator (`br %next`) with: if the i32 at `status` is nonzero,
/// (copy the exception info `from` -> `to`, then) return it from `func`; else go on.
pub fn ret_if_failed(
    ctx: LLVMContextRef,
    func: Value,
    block: Block,
    next: Block,
    status: Value,
    info: Option<(Value, Value)>,
) {
    let b = Builder::new(ctx);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        let raise = LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.reraise").as_ptr());
        let term = ir::terminator(block).expect("block ends in a branch");
        b.before(term);
        let code = b.load(i32t, status, "omp.err.status.v");
        let zero = LLVMConstInt(i32t, 0, 0);
        let failed = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntNE,
            code,
            zero,
            ir::cstr("omp.err.failed").as_ptr(),
        );
        b.cond_br(failed, raise, next);
        ir::erase(term);
        b.at_end(raise);
        if let Some((from, to)) = info {
            let v = b.load(ptr, from, "omp.err.info.v");
            b.store(v, to);
        }
        b.ret(code);
    }
}
