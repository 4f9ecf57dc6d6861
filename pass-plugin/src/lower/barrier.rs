//! The team's barriers as the constructs emit them: a plain barrier inside the team's
//! region, or, in a function the region calls, one counted on the caller's team
//! (crate::team_frame) after which a thread told to leave returns at once.

use crate::abi;
use crate::ir::{self, Block, Builder, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;

/// A barrier every thread of the team reaches; a cancellation barrier for an orphaned
/// cancellable loop (whose `cancel for` is libomp's, ended by that barrier). A team's
/// barriers are plain: a thread that stops early meets its team at the next one (raise/).
pub fn emit_barrier(
    b: &Builder,
    module: LLVMModuleRef,
    ident: Value,
    gtid: Value,
    cancellable: bool,
) {
    let name = if cancellable {
        "__kmpc_cancel_barrier"
    } else {
        "__kmpc_barrier"
    };
    let (f, fty) = abi::runtime_fn(module, name);
    b.call(fty, f, &[ident, gtid], "");
}

/// A barrier outside any parallel region of this function (an orphaned construct; the
/// region is in a caller): crate::team_frame counts it on the team of the region the thread
/// is in, and when a team mate stopped before it the function returns
/// `team_frame::LEAVE_STATUS` at once (its callers pass it up to the region, which
/// leaves). Emitted before `at`, which then starts the block returned (after the barrier).
/// `barrier` names the runtime's barrier to call (`__kmpc_cancel_barrier` for an orphaned
/// cancellable loop: it also ends libomp's cancellation of the loop; its result is not
/// needed).
pub fn emit_orphan_barrier(
    module: LLVMModuleRef,
    func: Value,
    ident: Value,
    gtid: Value,
    at: Value,
    barrier: &str,
) -> Block {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let b = Builder::new(ctx);
    b.before(at);
    let (barrier, _) = abi::runtime_fn(module, barrier);
    let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_barrier");
    let told = b.call(fty, f, &[barrier, ident, gtid], "omp.orphan.leave");
    leave_if_told(module, func, told)
}

/// After `told` (a crate::team_frame call's "leave the region" flag): if set, return
/// `team_frame::LEAVE_STATUS` (after releasing the function's variables, see
/// lower::release_on_leave); else go on in the block returned (the rest of `told`'s).
pub fn leave_if_told(module: LLVMModuleRef, func: Value, told: Value) -> Block {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let b = Builder::new(ctx);
    let after = ir::split_before(unsafe { LLVMGetNextInstruction(told) }, "omp.after.barrier");
    let block = ir::parent_block(told);
    let branch = ir::terminator(block).expect("split leaves a branch");
    b.before(branch);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let go_on = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntEQ,
            told,
            LLVMConstInt(i32t, 0, 0),
            ir::cstr("omp.go.on").as_ptr(),
        );
        let leave = LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.orphan.leave").as_ptr());
        b.cond_br(go_on, after, leave);
        ir::erase(branch);
        b.at_end(leave);
        // (the releases go in once every region of the function is lowered: see
        // lower::release_on_leave)
        b.ret(LLVMConstInt(
            i32t,
            crate::team_frame::LEAVE_STATUS as u64,
            1,
        ));
    }
    after
}
