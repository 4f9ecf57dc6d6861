//! A team's failure record (`TeamErrors`): the team-shared status, exception info and
//! stop slots, the thread's private ones, and the blocks a failing or stopping thread goes
//! to; the checks a thread makes against it (has a team mate stopped?).

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
pub(super) fn excinfo_param(func: Value) -> PassResult<Value> {
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
