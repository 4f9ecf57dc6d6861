//! Step 2 of a worksharing loop: the construct's start. The thread's loop state (libomp's
//! bounds, stride and last-chunk flags; pyomp's dispatcher's slots), its runtime id, and the
//! taskgroup of a loop that makes tasks; and `LoopCodegen`, everything the later steps
//! lower the loop's markers with.

use crate::abi;
use crate::calls::thread_id;
use crate::ir::{self, Builder, Value};
use crate::lower::loop_markers::loop_state;
use crate::raise::TeamErrors;
use llvm_sys::core::*;
use llvm_sys::prelude::*;

/// The loop's per-thread state, allocated at the start of the construct.
pub struct State {
    pub lb: Value,
    pub ub: Value,
    pub stride: Value,
    pub last: Value,
    /// The flag the runtime writes on each dispatch_next; `last` keeps it once set (a later
    /// call that finds no more work may write 0 again).
    pub last_chunk: Value,
    pub started: Value,
    /// i32, ordered loops: set once the thread raised; it then skips the bodies of its
    /// remaining iterations but still passes their ordered turns on.
    pub skip: Value,
}

/// The state of a loop run by pyomp's dispatcher (see crate::runtime): a team's dispatched
/// loop. Its start is emitted by init.rs, its chunks by next.rs.
pub struct OwnDispatch {
    /// i64 shared by the team: iterations handed out so far.
    pub next: Value,
    /// The thread's LoopState ({i64 x 4}), zeroed when it enters the region.
    pub state: Value,
    /// (kind, chunk, tid, nth) for pyomp_loop_next, computed at the loop's start.
    pub args: std::cell::Cell<Option<[Value; 4]>>,
    /// i32 slots omp_get_schedule writes (schedule(runtime)).
    pub sched_slots: [Value; 2],
}

impl OwnDispatch {
    /// Dispatched loops of a team use pyomp's dispatcher (crate::runtime), whose state
    /// lives in the team's region; orphaned, static and ordered loops do not (None).
    pub fn for_loop(
        ctx: LLVMContextRef,
        team: Option<&TeamErrors>,
        is_static: bool,
        id: u64,
    ) -> Option<Self> {
        match (team, is_static) {
            (Some(errors), false) => Some(OwnDispatch::create(ctx, errors, id)),
            _ => None,
        }
    }

    fn create(ctx: LLVMContextRef, team: &TeamErrors, id: u64) -> Self {
        unsafe {
            let i64t = LLVMInt64TypeInContext(ctx);
            let next = team.shared_slot(ctx, i64t, &format!("next.{id}"));
            let state = loop_state(ctx, team, id);
            let b = Builder::new(ctx);
            b.at_start(team.entry);
            let i32t = LLVMInt32TypeInContext(ctx);
            let sched_slots = [
                b.alloca(i32t, "omp.sched.kind"),
                b.alloca(i32t, "omp.sched.chunk"),
            ];
            OwnDispatch {
                next,
                state,
                args: std::cell::Cell::new(None),
                sched_slots,
            }
        }
    }
}

/// What the markers of one loop are lowered with.
pub struct LoopCodegen<'a> {
    /// An orphaned dispatched loop: libomp's dispatch calls go through team_frame.rs.
    pub wrapped: bool,
    /// pyomp's dispatcher, for a dispatched loop of a team.
    pub own: Option<&'a OwnDispatch>,
    /// (omp_get_thread_num, omp_get_num_threads) taken once per team region: a team's
    /// static loops compute their bounds themselves.
    pub team_ids: Option<(Value, Value)>,
    /// A cancellable loop's flag (set once the loop is cancelled).
    pub cancel_flag: Option<Value>,
    /// The enclosing parallel region's failure record (None for an orphaned loop).
    pub team: Option<&'a TeamErrors>,
    pub b: &'a Builder,
    pub module: LLVMModuleRef,
    pub ctx: LLVMContextRef,
    pub ident: Value,
    pub gtid: Value,
    pub s: &'a State,
    pub sched: u64,
    pub is_static: bool,
    /// The loop has the `ordered` clause.
    pub ordered: bool,
    /// The trip count (the init marker's operand).
    pub n: Value,
    /// The profiler's flag as read at the loop's start (crate::profile::instrument).
    pub prof_gate: Value,
}

/// Allocates the thread's loop state at the start of the construct (`shape_entry`), takes
/// its runtime id, and opens its taskgroup when tasks are made in the loop. Returns
/// (state, gtid); `b` is left after what it emitted.
pub fn emit_construct_start(
    b: &Builder,
    module: LLVMModuleRef,
    shape_entry: LLVMBasicBlockRef,
    team: Option<&TeamErrors>,
    ident: Value,
    has_tasks: bool,
) -> (State, Value) {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let (i32t, i64t) = unsafe { (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx)) };
    b.at_start(shape_entry);
    let state = State {
        lb: b.alloca(i64t, "omp.lb"),
        ub: b.alloca(i64t, "omp.ub"),
        stride: b.alloca(i64t, "omp.stride"),
        last: b.alloca(i32t, "omp.last.flag"),
        last_chunk: b.alloca(i32t, "omp.last.chunk"),
        started: b.alloca(i32t, "omp.started"),
        skip: b.alloca(i32t, "omp.skip"),
    };
    // The thread's runtime id, once per team region (its entry dominates the loop, even
    // when the loop sits in a loop of the region), else at the construct's start; either
    // dominates every use, including exception paths that leave before the loop starts.
    let gtid = match team {
        Some(errors) => crate::calls::thread_id_at(errors.entry, module, ident),
        None => thread_id(b, module, ident),
    };
    // Tasks created in the loop may write to the thread's private copies (a reduction's,
    // through in_reduction): each thread's loop is a taskgroup, ended before the copies
    // are combined and released (this keeps `nowait`: it waits only for its own tasks).
    if has_tasks {
        let (f, fty) = abi::runtime_fn(module, "__kmpc_taskgroup");
        b.call(fty, f, &[ident, gtid], "");
    }
    (state, gtid)
}

/// `v` as an i64 (sign-extended or truncated).
pub fn to_i64(b: &Builder, ctx: LLVMContextRef, v: Value) -> Value {
    unsafe {
        let i64t = LLVMInt64TypeInContext(ctx);
        let width = LLVMGetIntTypeWidth(LLVMTypeOf(v));
        let n = ir::cstr("omp.i64");
        match width.cmp(&64) {
            std::cmp::Ordering::Less => LLVMBuildSExt(b.raw, v, i64t, n.as_ptr()),
            std::cmp::Ordering::Greater => LLVMBuildTrunc(b.raw, v, i64t, n.as_ptr()),
            std::cmp::Ordering::Equal => v,
        }
    }
}
