//! Exceptions raised inside a region propagate to the caller after the region.
//!
//! Numba's calling convention returns a status (0 ok, -1 Python error, >= 1 user
//! exception) and stores an exception-info pointer through the function's second
//! parameter. For each parallel region the pass makes a team-shared status and info slot
//! (reset before the fork) and gives each thread a private info slot in place of the
//! parameter. A `ret` inside the region becomes "record the first failure (atomic
//! compare-and-swap on the status), then leave": to the region's end code (its final
//! barrier), or, inside a worksharing construct, to the construct's end so the thread still
//! reaches its barrier. After the join the caller re-raises: it stores the recorded info
//! and returns the status.
//!
//! Barriers: a thread that stops early (raises, `cancel parallel`, or a cancellation point
//! that sees the team stop) skips the barriers left in the region body, so its team mates
//! must skip exactly one fewer barrier than they would pass. Every thread counts the team
//! barriers it has passed in the region (a per-thread slot); a thread that stops records
//! its count in the team's `stopped_at` (atomic minimum) before it meets its team at the
//! next barrier (the construct's or the region's final one). After each barrier a thread
//! leaves the region iff `stopped_at < its count`: that holds after exactly the barrier
//! where the first stopping thread arrives, for every thread at once (a thread that stops
//! after a barrier records that barrier's count, so a slow team mate still leaving that
//! barrier does not mistake it for the stop). Barriers are libomp's plain ones (they run
//! tasks while waiting); libomp's own cancellation (`__kmpc_cancel`, whose cancellation
//! barrier adds barriers of its own when the request comes between its two phases) is not
//! used by a team's code. Barriers in functions the region calls are counted too, at run
//! time (crate::team_frame), on the same per-thread count.

use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Builder, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMContextRef, LLVMTypeRef};
use llvm_sys::{LLVMAtomicOrdering, LLVMIntPredicate};

/// A team's failure record.
#[derive(Debug, Clone, Copy)]
pub struct TeamErrors {
    /// i32, shared by the team: 0 or the first failing thread's status.
    pub status: Value,
    /// ptr, shared by the team: the first failing thread's exception info.
    pub excinfo: Value,
    /// ptr, one per thread: where Numba's code stores exception info inside the region.
    pub private: Value,
    /// The region's last block (`br %end`).
    pub leave: Block,
    /// The first block of the region's end code, where a thread that stops goes (it meets
    /// its team at the final barrier, if any, from there).
    pub end_code: Block,
    /// The block before `leave` where the thread's private copies are released: where
    /// threads that leave together go, past the region's own end code (reductions and the
    /// final barrier), which runs before it.
    pub leave_path: Block,
    /// The region's first block (dominates it all): where per-thread values computed once
    /// per region go, e.g. the thread's runtime id.
    pub entry: Block,
    /// i32, shared by the team: set by a thread whose `cancel parallel` took effect (before
    /// it meets the team at a barrier, so every thread sees it after).
    pub cancelled: Value,
    /// i32, shared by the team: set by a thread whose `cancel for` / `cancel sections`
    /// took effect; `cancellation point for` reads it; cleared after the loop's barrier.
    pub loop_cancelled: Value,
    /// The block before the fork, where team-shared slots are reset for each execution.
    pub pre: Block,
    /// i32, shared by the team: the least count of barriers passed by a thread when it
    /// stopped (see the module doc); u32::MAX while none has.
    pub stopped_at: Value,
    /// i64, shared by the team: crate::team_frame's gate for barriers in called functions;
    /// zero before each execution.
    pub gate: Value,
}

impl TeamErrors {
    /// The record's team-wide slots: data sharing never privatises them.
    pub fn team_slots(&self) -> [Value; 6] {
        [
            self.status,
            self.excinfo,
            self.cancelled,
            self.loop_cancelled,
            self.stopped_at,
            self.gate,
        ]
    }

    /// A new team-shared slot of type `ty`, zeroed before each execution of the region.
    /// Its name starts with "omp.team." so data sharing never privatises it.
    pub fn shared_slot(&self, ctx: LLVMContextRef, ty: LLVMTypeRef, name: &str) -> Value {
        let full = format!("omp.team.{name}");
        if let Some(found) = find_alloca(ir::parent_block(self.status), &full) {
            return found;
        }
        let b = Builder::new(ctx);
        b.at_start(ir::parent_block(self.status));
        let slot = b.alloca(ty, &full);
        b.before(ir::terminator(self.pre).expect("pre block ends in a branch"));
        b.store(unsafe { LLVMConstNull(ty) }, slot);
        slot
    }

    /// A per-thread slot named `name` at the start of the region (zeroed when the thread
    /// enters it), made by whichever construct asks first.
    pub fn thread_slot(&self, ctx: LLVMContextRef, ty: LLVMTypeRef, name: &str) -> Value {
        if let Some(found) = find_alloca(self.entry, name) {
            return found;
        }
        let b = Builder::new(ctx);
        b.at_start(self.entry);
        let slot = b.alloca(ty, name);
        b.store(unsafe { LLVMConstNull(ty) }, slot);
        slot
    }
}

fn find_alloca(block: Block, name: &str) -> Option<Value> {
    ir::instructions(block)
        .into_iter()
        .find(|&i| ir::opcode(i) == llvm_sys::LLVMOpcode::LLVMAlloca && ir::name_of(i) == name)
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

impl TeamErrors {
    /// Slots in `alloc_block` (outside the region), reset at the end of `pre`; the private
    /// slot at the start of `entry`, replacing the parameter in `region_blocks`; `ends` are
    /// the region's end code, the block where its private copies are released and its last
    /// block (for an orphaned construct's record, the block after it, three times).
    pub fn create(
        ctx: LLVMContextRef,
        func: Value,
        alloc_block: Block,
        pre: Block,
        entry: Block,
        region_blocks: &[Block],
        ends: [Block; 3],
    ) -> PassResult<Self> {
        let [end_code, leave_path, leave] = ends;
        let param = excinfo_param(func)?;
        let b = Builder::new(ctx);
        unsafe {
            let i32t = LLVMInt32TypeInContext(ctx);
            let ptr = LLVMPointerTypeInContext(ctx, 0);
            b.at_start(alloc_block);
            let status = b.alloca(i32t, "omp.err.status");
            let excinfo = b.alloca(ptr, "omp.err.excinfo");
            let cancelled = b.alloca(i32t, "omp.cancelled");
            let loop_cancelled = b.alloca(i32t, "omp.loop.cancelled");
            let stopped_at = b.alloca(i32t, "omp.err.stopped.at");
            let i64t = LLVMInt64TypeInContext(ctx);
            let gate = b.alloca(i64t, "omp.team.gate");
            // Reset before every execution of the region (it may sit in a loop).
            b.before(ir::terminator(pre).expect("pre block ends in a branch"));
            for flag in [status, cancelled, loop_cancelled] {
                b.store(LLVMConstInt(i32t, 0, 0), flag);
            }
            b.store(LLVMConstInt(i64t, 0, 0), gate);
            b.store(LLVMConstAllOnes(i32t), stopped_at);
            b.at_start(entry);
            let private = b.alloca(ptr, "omp.excinfo.private");
            b.store(LLVMConstNull(ptr), private);
            ir::replace_uses_in(param, private, region_blocks);
            // A team's threads keep the Python exceptions they set (object mode) for the
            // caller (crate::pyerr); an orphaned construct's thread is the caller's own.
            if end_code != leave_path || leave_path != leave {
                let slot = crate::pyerr::team_slot(ctx, alloc_block, pre);
                crate::pyerr::keep_exceptions(LLVMGetGlobalParent(func), region_blocks, slot);
            }
            Ok(TeamErrors {
                status,
                excinfo,
                private,
                leave,
                end_code,
                leave_path,
                entry,
                cancelled,
                loop_cancelled,
                pre,
                stopped_at,
                gate,
            })
        }
    }

    /// i32 per thread: 1 once this thread stopped (raised) in this run of the region: it
    /// runs no more of the region's code after the construct it raised in.
    pub fn stopped_self(&self, ctx: LLVMContextRef) -> Value {
        let i32t = unsafe { LLVMInt32TypeInContext(ctx) };
        self.thread_slot(ctx, i32t, "omp.stopped.self")
    }

    /// i32 per thread: the team barriers this thread has passed in this run of the region.
    pub fn barriers_passed(&self, ctx: LLVMContextRef) -> Value {
        let i32t = unsafe { LLVMInt32TypeInContext(ctx) };
        self.thread_slot(ctx, i32t, "omp.barriers.passed")
    }

    /// The thread's crate::team_frame::TeamFrame for the region (filled in when the thread
    /// enters it, see `enter_frame`; only regions that call functions have one).
    pub fn frame(&self, ctx: LLVMContextRef) -> Value {
        unsafe {
            let ty = LLVMArrayType2(LLVMInt64TypeInContext(ctx), crate::team_frame::FRAME_WORDS);
            self.thread_slot(ctx, ty, "omp.team.frame")
        }
    }

    /// At the builder: this thread stops before its next team barrier (it goes to the end
    /// of a construct or region and meets its team mates at the barrier there): record how
    /// many barriers it passed, so after that barrier they all leave (see the module doc);
    /// in a region without a final barrier, the runtime meets the team at a barrier in a
    /// called function they already entered (crate::team_frame).
    pub fn note_stop(&self, b: &Builder) {
        unsafe {
            let ctx = LLVMGetTypeContext(LLVMTypeOf(self.status));
            let module = LLVMGetGlobalParent(LLVMGetBasicBlockParent(self.entry));
            // the thread's id taken here, on this rare path, not at every region start
            let ident = crate::abi::ident(module, "", &ir::name_of(self.func()), 0, 0);
            let gtid = crate::calls::thread_id(b, module, ident);
            let (barrier, _) = crate::abi::runtime_fn(module, "__kmpc_barrier");
            let (f, fty) = crate::abi::runtime_fn(module, "pyomp_team_stop");
            let args = [
                self.barriers_passed(ctx),
                self.stopped_at,
                self.gate,
                barrier,
                ir::operands(gtid)[0],
                gtid,
            ];
            b.call(fty, f, &args, "");
        }
    }

    /// Whether this is a team's record (a parallel region's), not an orphaned construct's
    /// or the function's tasks' (whose three end blocks are one block).
    pub fn is_team(&self) -> bool {
        self.end_code != self.leave_path || self.leave_path != self.leave
    }

    fn func(&self) -> Value {
        unsafe { LLVMGetBasicBlockParent(self.entry) }
    }

    /// `meets_at_end`: a thread that stops always meets its team at a barrier at the
    /// region's end (crate::team_frame::MEETS_AT_END, in the gate's value before the fork).
    pub fn set_meets_at_end(&self, meets_at_end: bool) {
        if !meets_at_end {
            return;
        }
        for user in ir::users(self.gate) {
            if ir::opcode(user) == llvm_sys::LLVMOpcode::LLVMStore
                && ir::parent_block(user) == self.pre
            {
                unsafe {
                    let i64t = LLVMTypeOf(LLVMGetOperand(user, 0));
                    let flag = LLVMConstInt(i64t, crate::team_frame::MEETS_AT_END, 0);
                    LLVMSetOperand(user, 0, flag);
                }
            }
        }
    }

    /// At the start of the region: push the thread's frame (crate::team_frame), so
    /// barriers in functions the region calls count on this region's team. At the start
    /// of `leave`: pop it.
    pub fn enter_frame(&self, module: llvm_sys::prelude::LLVMModuleRef) {
        unsafe {
            let ctx = LLVMGetModuleContext(module);
            let frame = self.frame(ctx);
            let passed = self.barriers_passed(ctx);
            // after the slots' zero initialisation (each right after its alloca), at the
            // start of the block, before any code of the region
            let order = ir::instructions(self.entry);
            let last = [(frame, 1), (passed, 1)]
                .iter()
                .filter_map(|&(v, after)| Some(order.iter().position(|&i| i == v)? + after))
                .max()
                .unwrap_or(0);
            let b = Builder::new(ctx);
            b.before(order[last + 1]);
            let (f, fty) = crate::abi::runtime_fn(module, "pyomp_team_enter");
            let args = [
                frame,
                passed,
                self.stopped_at,
                self.gate,
                self.shared_slot(ctx, LLVMPointerTypeInContext(ctx, 0), "broadcast"),
                self.shared_slot(
                    ctx,
                    LLVMArrayType2(
                        LLVMInt64TypeInContext(ctx),
                        crate::team_frame::LOOP_TABLE_WORDS,
                    ),
                    "orphan.loops",
                ),
            ];
            b.call(fty, f, &args, "");
            b.before(ir::instructions(self.leave)[0]);
            let (f, fty) = crate::abi::runtime_fn(module, "pyomp_team_exit");
            b.call(fty, f, &[frame], "");
        }
    }
}

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
                let stop =
                    LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.stop").as_ptr());
                let leave =
                    LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.err.leave").as_ptr());
                let gone = team.gone(&b);
                let told = LLVMBuildICmp(
                    b.raw,
                    LLVMIntPredicate::LLVMIntEQ,
                    code,
                    LLVMConstInt(i32t, crate::team_frame::LEAVE_STATUS as u64, 1),
                    ir::cstr("omp.err.told").as_ptr(),
                );
                let out = LLVMBuildOr(b.raw, gone, told, ir::cstr("omp.err.out").as_ptr());
                b.cond_br(out, leave, stop);
                added.extend(free_dynamic_excinfo(
                    ctx,
                    func,
                    leave,
                    code,
                    team.private,
                    team.leave_path,
                ));
                added.push(stop);
                b.at_end(stop);
                team.note_stop(&b);
                b.store(LLVMConstInt(i32t, 1, 0), team.stopped_self(ctx));
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

impl TeamErrors {
    /// i1 (at the builder): this thread passed the barrier where a stopped team mate met
    /// the team (`stopped_at` < its count): it must leave without meeting another.
    pub fn gone(&self, b: &Builder) -> Value {
        unsafe {
            let ctx = LLVMGetTypeContext(LLVMTypeOf(self.status));
            let i32t = LLVMInt32TypeInContext(ctx);
            let passed = b.load(i32t, self.barriers_passed(ctx), "omp.barriers.v");
            let stopped = b.load(i32t, self.stopped_at, "omp.stopped.at.v");
            LLVMSetOrdering(stopped, LLVMAtomicOrdering::LLVMAtomicOrderingMonotonic);
            LLVMSetAlignment(stopped, 4);
            LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntULT,
                stopped,
                passed,
                ir::cstr("omp.err.gone").as_ptr(),
            )
        }
    }

    /// i1: whether the team failed or its region was cancelled (at the builder).
    pub fn must_leave(&self, b: &Builder) -> Value {
        unsafe {
            let ctx = LLVMGetTypeContext(LLVMTypeOf(self.status));
            let i32t = LLVMInt32TypeInContext(ctx);
            let status = b.load(i32t, self.status, "omp.err.status.v");
            let cancelled = b.load(i32t, self.cancelled, "omp.cancelled.v");
            let either = LLVMBuildOr(b.raw, status, cancelled, ir::cstr("omp.stop").as_ptr());
            LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntNE,
                either,
                LLVMConstInt(i32t, 0, 0),
                ir::cstr("omp.leave").as_ptr(),
            )
        }
    }
}

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
