//! Barriers in called functions ("orphaned" `barrier`, `for`, `single`, `sections`): which
//! team they belong to, and how a thread that raised meets them.
//!
//! raise/ counts the barriers a thread passes in its region, so that when a team mate
//! stops early (raises, is cancelled) every thread leaves after the same barrier. A barrier
//! in a function the region calls is not in the region's code; the pass cannot count it
//! there. Instead each thread, on entering a parallel region, pushes a `TeamFrame` on a
//! thread-local stack: pointers to its barrier count and to the team's stop record. An
//! orphaned barrier goes through `pyomp_orphan_barrier`, which counts it on the innermost
//! frame and tells the caller to leave the region (an error status up the call chain, see
//! `LEAVE_STATUS`) once a team mate stopped before it.
//!
//! A region whose own code has barriers (or tasks) ends with a barrier every thread meets,
//! a thread that stopped included (the gate's `MEETS_AT_END` bit, set before the fork); an
//! orphaned barrier then pairs with that one like a lexical barrier does. A region without barriers of its own has no such
//! final barrier (it would cost every run of the region a barrier), so a thread that stops
//! there must not leave a team mate waiting in an orphaned barrier. The team's `gate` word
//! decides, in one atomic order, between "the next orphaned barrier has started" (the
//! first thread to reach it opens it) and "a thread stopped" (set by the stopping thread):
//! - opened first: the stopping thread attends that barrier too (`pyomp_team_stop` waits at
//!   it), after which its team mates see the stop and leave;
//! - stopped first: no thread enters another orphaned barrier; each leaves instead.
//!
//! An orphaned `single copyprivate` broadcasts through the team's slot in the frame between
//! two such barriers (libomp's `__kmpc_copyprivate` has barriers of its own, uncounted).
//!
//! An orphaned dynamic or guided loop (loops.rs) runs on pyomp's dispatcher
//! (crate::runtime) with its state in the frame (the team's `next` counter in a small table
//! of the region, keyed by the loop's ident; the thread's `LoopState` in its frame), as a
//! team's own loops do:
//! libomp's dispatch buffers outlive the region, and one a thread never finished (it left
//! early, or never reached the loop) makes a later loop hang.
//!
//! Outside any pyomp region (a function called from plain Python) the stack is empty and
//! an orphaned barrier is libomp's barrier alone (and copyprivate libomp's).

mod loops;

pub use loops::{
    pyomp_orphan_dispatch_fini, pyomp_orphan_dispatch_init, pyomp_orphan_dispatch_next,
    pyomp_orphan_iteration, pyomp_orphan_iteration_end, pyomp_orphan_ordered_enter,
    pyomp_orphan_ordered_exit,
};

use crate::runtime::LoopState;
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering::SeqCst};

/// The status an orphaned construct returns when its thread must leave the region: a
/// team mate stopped before the barrier it just met (or, in a region without barriers of
/// its own, before the barrier it was about to enter). Numba's callers pass any status
/// other than 0 (ok) and -2 (none) up unchanged; the region that receives it leaves
/// without recording a failure of its own. Numba uses -1 to -3.
pub const LEAVE_STATUS: i32 = -100;

/// How many orphaned dispatched loop constructs one run of a region can give pyomp's
/// dispatcher (more fall back to libomp's).
pub const ORPHAN_LOOPS: usize = 4;

/// `TeamFrame`'s size in 8-byte words (the pass allocates it as `[31 x i64]`).
pub const FRAME_WORDS: u64 = 15 + 4 * ORPHAN_LOOPS as u64;

/// The team's table of orphaned loops, in 8-byte words: ORPHAN_LOOPS keys, then as many
/// `next` counters, then as many ordered turn counters (zeroed before the fork).
pub const LOOP_TABLE_WORDS: u64 = 3 * ORPHAN_LOOPS as u64;

/// The gate's bit saying that a thread that stops always meets its team at a barrier at
/// the region's end (the region has barriers or tasks of its own): set in the value the
/// gate starts each run with.
pub const MEETS_AT_END: u64 = 1 << 63;

/// `__kmpc_barrier(ident, gtid)`.
type Barrier = unsafe extern "C" fn(*const c_void, i32);
/// A copyprivate copy function: `copy(destination data, source data)`.
type CopyFn = unsafe extern "C" fn(*mut c_void, *mut c_void);
/// `__kmpc_copyprivate(ident, gtid, size, data, copy, chosen)`.
type CopyPrivate = unsafe extern "C" fn(*const c_void, i32, usize, *mut c_void, CopyFn, i32);
/// `__kmpc_dispatch_init_8(ident, gtid, schedule, lb, ub, st, chunk)`.
type DispatchInit = unsafe extern "C" fn(*const c_void, i32, i32, i64, i64, i64, i64);
/// `__kmpc_dispatch_next_8(ident, gtid, &last, &lb, &ub, &st)`.
type DispatchNext =
    unsafe extern "C" fn(*const c_void, i32, *mut i32, *mut i64, *mut i64, *mut i64) -> i32;
/// `__kmpc_dispatch_deinit(ident, gtid)`.
type DispatchFini = unsafe extern "C" fn(*const c_void, i32);
/// `omp_get_schedule(&kind, &chunk)`.
type GetSchedule = unsafe extern "C" fn(*mut i32, *mut i32);

/// One per thread and parallel region, in the outlined function's frame.
#[repr(C)]
pub struct TeamFrame {
    prev: *mut TeamFrame,
    /// The thread's count of team barriers passed in this run of the region.
    passed: *mut u32,
    /// The team's least count of barriers passed by a thread when it stopped (u32::MAX
    /// while none has).
    stopped_at: *const AtomicU32,
    /// The team's gate (module doc): bit 0 "a thread stopped", bits 1-62 the number of
    /// the latest orphaned barrier opened, bit 63 `MEETS_AT_END`.
    gate: *const AtomicU64,
    /// The team's slot where an orphaned `single copyprivate` publishes its data.
    broadcast: *const AtomicPtr<c_void>,
    /// The team's table of orphaned loops (`LOOP_TABLE_WORDS`).
    loops: *const AtomicI64,
    /// Bit i: `states[i]` was zeroed in this run of the region.
    claimed: u64,
    /// The orphaned loop the thread runs: its index in the table, or -1 (libomp's).
    current: i64,
    /// Its schedule (crate::runtime's kind), chunk, trip count, the thread's number and
    /// the team's size.
    kind: i64,
    chunk: i64,
    n: i64,
    tid: i64,
    nth: i64,
    /// An ordered loop: the iteration the thread runs, and whether its `ordered` block
    /// passed the turn on.
    iter: i64,
    passed_turn: i64,
    states: [std::mem::MaybeUninit<LoopState>; ORPHAN_LOOPS],
}

thread_local! {
    static TOP: Cell<*mut TeamFrame> = const { Cell::new(ptr::null_mut()) };
}

/// At the start of a parallel region (every thread): the thread's frame for the region.
///
/// # Safety
/// `frame` is writable and outlives the matching `pyomp_team_exit`; the other pointers
/// stay valid as long as the frame is on the stack.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn pyomp_team_enter(
    frame: *mut TeamFrame,
    passed: *mut u32,
    stopped_at: *const AtomicU32,
    gate: *const AtomicU64,
    broadcast: *const AtomicPtr<c_void>,
    loops: *const AtomicI64,
) {
    // Field by field, through raw pointers (no reference to memory not yet initialised);
    // the loop states are written when first used: most regions have no orphaned loop.
    use std::ptr::addr_of_mut;
    addr_of_mut!((*frame).prev).write(TOP.get());
    addr_of_mut!((*frame).passed).write(passed);
    addr_of_mut!((*frame).stopped_at).write(stopped_at);
    addr_of_mut!((*frame).gate).write(gate);
    addr_of_mut!((*frame).broadcast).write(broadcast);
    addr_of_mut!((*frame).loops).write(loops);
    addr_of_mut!((*frame).claimed).write(0);
    addr_of_mut!((*frame).current).write(-1);
    addr_of_mut!((*frame).kind).write(0);
    addr_of_mut!((*frame).chunk).write(0);
    addr_of_mut!((*frame).n).write(0);
    addr_of_mut!((*frame).tid).write(0);
    addr_of_mut!((*frame).iter).write(0);
    addr_of_mut!((*frame).passed_turn).write(0);
    addr_of_mut!((*frame).nth).write(1);
    TOP.set(frame);
}

/// At the end of the region (every way out): pops the thread's frame.
///
/// # Safety
/// `frame` was pushed by `pyomp_team_enter` on this thread.
#[no_mangle]
pub unsafe extern "C" fn pyomp_team_exit(frame: *mut TeamFrame) {
    TOP.set((*frame).prev);
}

/// An orphaned barrier: 1 if the thread must leave its region (return `LEAVE_STATUS`), 0
/// to go on. `barrier` is the runtime's barrier, called with `ident` and `gtid`.
///
/// # Safety
/// `barrier` is `__kmpc_barrier`; the frames on the stack are live.
#[no_mangle]
pub unsafe extern "C" fn pyomp_orphan_barrier(
    barrier: Barrier,
    ident: *const c_void,
    gtid: i32,
) -> i32 {
    let top = TOP.get();
    if top.is_null() {
        barrier(ident, gtid);
        return 0;
    }
    i32::from(counted_barrier(&*top, barrier, ident, gtid))
}

/// A barrier of the frame's team, counted: whether the thread must leave the region.
unsafe fn counted_barrier(
    frame: &TeamFrame,
    barrier: Barrier,
    ident: *const c_void,
    gtid: i32,
) -> bool {
    // a thread that already passed the barrier where a stopped team mate met the team (and
    // went on: a `try` caught its leave status) must not wait where nobody comes
    if (*frame.stopped_at).load(SeqCst) < *frame.passed || !may_enter(frame) {
        return true;
    }
    barrier(ident, gtid);
    *frame.passed += 1;
    (*frame.stopped_at).load(SeqCst) < *frame.passed
}

/// An orphaned `single copyprivate`: the chosen thread's `data` (an array of pointers to
/// its variables) reaches the others' `copy` between two counted barriers. 1 if the thread
/// must leave its region, as `pyomp_orphan_barrier`.
///
/// # Safety
/// `barrier` is `__kmpc_barrier`, `copyprivate` `__kmpc_copyprivate`; `data` holds
/// `size` bytes of pointers `copy` understands; the frames on the stack are live.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn pyomp_orphan_copyprivate(
    barrier: Barrier,
    copyprivate: CopyPrivate,
    ident: *const c_void,
    gtid: i32,
    size: i64,
    data: *mut c_void,
    copy: CopyFn,
    chosen: i32,
) -> i32 {
    let top = TOP.get();
    if top.is_null() {
        copyprivate(ident, gtid, size as usize, data, copy, chosen);
        return 0;
    }
    let frame = &*top;
    if chosen != 0 {
        (*frame.broadcast).store(data, SeqCst);
    }
    if counted_barrier(frame, barrier, ident, gtid) {
        return 1;
    }
    if chosen == 0 {
        copy(data, (*frame.broadcast).load(SeqCst));
    }
    i32::from(counted_barrier(frame, barrier, ident, gtid))
}

/// Whether the thread may enter its next orphaned barrier (module doc).
unsafe fn may_enter(frame: &TeamFrame) -> bool {
    let gate = &*frame.gate;
    let next = u64::from(*frame.passed) + 1;
    let mut seen = gate.load(SeqCst);
    if seen & MEETS_AT_END != 0 {
        return true;
    }
    loop {
        if seen & 1 != 0 {
            return false;
        }
        if seen >> 1 >= next {
            return true;
        }
        match gate.compare_exchange(seen, next << 1, SeqCst, SeqCst) {
            Ok(_) => return true,
            Err(now) => seen = now,
        }
    }
}

/// A thread of the region stops (it raised, or `cancel parallel` took effect) and goes to
/// the region's end: records how many barriers it passed (`passed`, the thread's count, in
/// the team's `stopped_at`) and, in a region without a final barrier, attends the orphaned
/// barrier its team mates already opened, if any (`barrier(ident, gtid)`).
///
/// # Safety
/// The pointers are the thread's and its team's slots of the region; `barrier` is
/// `__kmpc_barrier`.
#[no_mangle]
pub unsafe extern "C" fn pyomp_team_stop(
    passed: *mut u32,
    stopped_at: *const AtomicU32,
    gate: *const AtomicU64,
    barrier: Barrier,
    ident: *const c_void,
    gtid: i32,
) {
    let count = passed;
    let passed = *count;
    (*stopped_at).fetch_min(passed, SeqCst);
    let gate = &*gate;
    let mut seen = gate.load(SeqCst);
    if seen & MEETS_AT_END != 0 {
        return;
    }
    loop {
        if seen >> 1 > u64::from(passed) {
            // the team's next barrier has started: meet them there (they leave after it)
            barrier(ident, gtid);
            *count += 1;
            return;
        }
        if seen & 1 != 0 {
            return;
        }
        match gate.compare_exchange(seen, seen | 1, SeqCst, SeqCst) {
            Ok(_) => return,
            Err(now) => seen = now,
        }
    }
}

/// The functions above and loops.rs's, for the JIT's symbol table.
pub fn symbols() -> Vec<(&'static str, usize)> {
    entry_points![
        pyomp_team_enter,
        pyomp_team_exit,
        pyomp_orphan_barrier,
        pyomp_team_stop,
        pyomp_orphan_copyprivate,
        pyomp_orphan_dispatch_init,
        pyomp_orphan_dispatch_next,
        pyomp_orphan_dispatch_fini,
        pyomp_orphan_iteration,
        pyomp_orphan_ordered_enter,
        pyomp_orphan_ordered_exit,
        pyomp_orphan_iteration_end,
    ]
}

#[cfg(test)]
mod tests;
