//! Where a failing thread goes: a `ret` inside a region becomes "record the first failure,
//! then go on to the construct's or the region's end"; after each team barrier, whether to
//! leave (a team mate stopped before it).

use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Builder, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::LLVMContextRef;
use llvm_sys::{LLVMAtomicOrdering, LLVMIntPredicate};

use super::record::TeamErrors;

/// Rewrites `rets` (inside a region) into: record the first failure, then branch to
/// `target`. With `stops` (a thread of `team` that goes to the next barrier it meets its
/// team at: the end of its construct or region), the thread also records where it stopped
/// (`TeamErrors::note_stop`), so its team mates leave after that barrier; unless the
/// status comes from a called function whose barrier told the thread to leave (a team
/// mate stopped before it: `team_frame::LEAVE_STATUS`, or the count says so), in which
/// case the thread leaves the region at once (`leave_path`), recording nothing.
/// Returns the blocks it added (they belong to the region).
pub fn redirect_returns(
    ctx: LLVMContextRef,
    func: Value,
    rets: &[Value],
    team: &TeamErrors,
    target: Block,
    stops: bool,
) -> PassResult<Vec<Block>> {
    let b = Builder::new(ctx);
    let mut added = Vec::new();
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        for &ret in rets {
            let code = ir::operands(ret)
                .first()
                .copied()
                .ok_or_else(|| PassError::Internal {
                    message: "void return inside a Numba function region".into(),
                })?;
            let record =
                LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.record").as_ptr());
            b.before(ret);
            if stops {
                added.extend(leave_or_stop(&b, ctx, func, team, code));
            }
            let pair = LLVMBuildAtomicCmpXchg(
                b.raw,
                team.status,
                LLVMConstInt(i32t, 0, 0),
                code,
                LLVMAtomicOrdering::LLVMAtomicOrderingSequentiallyConsistent,
                LLVMAtomicOrdering::LLVMAtomicOrderingSequentiallyConsistent,
                0,
            );
            let won = LLVMBuildExtractValue(b.raw, pair, 1, ir::cstr("omp.err.first").as_ptr());
            let lost = LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.lost").as_ptr());
            b.cond_br(won, record, lost);
            ir::erase(ret);
            b.at_end(record);
            let info = b.load(ptr, team.private, "omp.err.info");
            b.store(info, team.excinfo);
            b.br(target);
            added.push(record);
            added.extend(free_dynamic_excinfo(
                ctx,
                func,
                lost,
                code,
                team.private,
                target,
            ));
        }
    }
    Ok(added)
}

/// At the builder (a thread of `team` whose status is `code`): leave the region at once
/// (to `leave_path`, recording nothing) when a team mate stopped before it or a called
/// function's barrier told it to; else note where it stopped and go on (the builder is
/// left at the end of the new "stop" block). Returns the blocks it added.
unsafe fn leave_or_stop(
    b: &Builder,
    ctx: LLVMContextRef,
    func: Value,
    team: &TeamErrors,
    code: Value,
) -> Vec<Block> {
    let i32t = LLVMInt32TypeInContext(ctx);
    let stop = LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.stop").as_ptr());
    let leave = LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.leave").as_ptr());
    let gone = team.gone(b);
    let told = LLVMBuildICmp(
        b.raw,
        LLVMIntPredicate::LLVMIntEQ,
        code,
        LLVMConstInt(i32t, crate::team_frame::LEAVE_STATUS as u64, 1),
        ir::cstr("omp.err.told").as_ptr(),
    );
    let out = LLVMBuildOr(b.raw, gone, told, ir::cstr("omp.err.out").as_ptr());
    b.cond_br(out, leave, stop);
    let mut added = free_dynamic_excinfo(ctx, func, leave, code, team.private, team.leave_path);
    added.push(stop);
    b.at_end(stop);
    team.note_stop(b);
    b.store(LLVMConstInt(i32t, 1, 0), team.stopped_self(ctx));
    added
}

/// At the end of `at` (a thread whose failure was not the first one recorded): releases
/// its exception info if Numba allocated it (a dynamic exception, `raise E(runtime
/// values)`: the `excinfo` struct and the struct of argument values, both from
/// `NRT_Allocate`, which the winner's info is freed by when it is raised), then goes to
/// `target`. Returns the blocks it added, `at` first.
fn free_dynamic_excinfo(
    ctx: LLVMContextRef,
    func: Value,
    at: Block,
    code: Value,
    private: Value,
    target: Block,
) -> Vec<Block> {
    let b = Builder::new(ctx);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        let zero = LLVMConstInt(i32t, 0, 0);
        // Numba's excinfo_t: {pickled bytes, size, dynamic args, unwrap fn, alloc flag}
        let mut fields = [ptr, i32t, ptr, ptr, i32t];
        let excinfo_t = LLVMStructTypeInContext(ctx, fields.as_mut_ptr(), 5, 0);
        let check =
            LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.lost.check").as_ptr());
        let free = LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.lost.free").as_ptr());
        b.at_end(at);
        let user = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntSGT,
            code,
            zero,
            ir::cstr("omp.err.user").as_ptr(),
        );
        let info = b.load(ptr, private, "omp.err.lost.info");
        let some = LLVMBuildIsNotNull(b.raw, info, ir::cstr("omp.err.some").as_ptr());
        let both = LLVMBuildAnd(b.raw, user, some, ir::cstr("omp.err.has.info").as_ptr());
        b.cond_br(both, check, target);
        b.at_end(check);
        let flag_at = LLVMBuildStructGEP2(
            b.raw,
            excinfo_t,
            info,
            4,
            ir::cstr("omp.err.flag.at").as_ptr(),
        );
        let flag = b.load(i32t, flag_at, "omp.err.flag");
        let dynamic = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntSGT,
            flag,
            zero,
            ir::cstr("omp.err.dynamic").as_ptr(),
        );
        b.cond_br(dynamic, free, target);
        b.at_end(free);
        let module = LLVMGetGlobalParent(func);
        let mut params = [ptr];
        let free_ty = LLVMFunctionType(LLVMVoidTypeInContext(ctx), params.as_mut_ptr(), 1, 0);
        let mut nrt_free = LLVMGetNamedFunction(module, ir::cstr("NRT_Free").as_ptr());
        if nrt_free.is_null() {
            nrt_free = LLVMAddFunction(module, ir::cstr("NRT_Free").as_ptr(), free_ty);
        }
        let args_at = LLVMBuildStructGEP2(
            b.raw,
            excinfo_t,
            info,
            2,
            ir::cstr("omp.err.args.at").as_ptr(),
        );
        let args = b.load(ptr, args_at, "omp.err.args");
        b.call(free_ty, nrt_free, &[args], "");
        b.call(free_ty, nrt_free, &[info], "");
        b.br(target);
        vec![at, check, free]
    }
}

/// Replaces `block`'s terminator (`br %next`), right after a team barrier, with: count
/// the barrier; if a thread stopped before it (`stopped_at` < the count: the barrier was
/// where the stopping thread met its team), go to `failed`. Every thread of the team takes
/// the same branch (see the module doc); a failure recorded after the barrier (by a thread
/// that passed it normally) is seen at the next one.
pub fn branch_if_failed(ctx: LLVMContextRef, block: Block, team: &TeamErrors, failed: Block) {
    let b = Builder::new(ctx);
    let term = ir::terminator(block).expect("block ends in a branch");
    let next = ir::successors(block)[0];
    b.before(term);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let slot = team.barriers_passed(ctx);
        let passed = b.load(i32t, slot, "omp.barriers.v");
        let passed = LLVMBuildAdd(
            b.raw,
            passed,
            LLVMConstInt(i32t, 1, 0),
            ir::cstr("omp.barriers.next").as_ptr(),
        );
        b.store(passed, slot);
        let stopped = b.load(i32t, team.stopped_at, "omp.stopped.at.v");
        LLVMSetOrdering(stopped, LLVMAtomicOrdering::LLVMAtomicOrderingMonotonic);
        LLVMSetAlignment(stopped, 4);
        let bad = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntULT,
            stopped,
            passed,
            ir::cstr("omp.leave").as_ptr(),
        );
        b.cond_br(bad, failed, next);
    }
    ir::erase(term);
}

/// Splits `block` before its terminator and, in `block`, sends a thread that passed the
/// barrier where a stopped team mate met the team (`stopped_at` < its count) to
/// `team.leave_path`; returns the new block (where the rest, e.g. a barrier, goes).
pub fn skip_if_gone(ctx: LLVMContextRef, block: Block, team: &TeamErrors) -> Block {
    let term = ir::terminator(block).expect("block ends in a branch");
    let rest = ir::split_before(term, "omp.not.gone");
    let branch = ir::terminator(block).expect("split leaves a branch");
    let b = Builder::new(ctx);
    b.before(branch);
    b.cond_br(team.gone(&b), team.leave_path, rest);
    ir::erase(branch);
    rest
}
