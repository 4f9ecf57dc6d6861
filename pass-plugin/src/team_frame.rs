//! Barriers in called functions ("orphaned" `barrier`, `for`, `single`, `sections`): which
//! team they belong to, and how a thread that raised meets them.
//!
//! raise.rs counts the barriers a thread passes in its region, so that when a team mate
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
//! Outside any pyomp region (a function called from plain Python) the stack is empty and
//! an orphaned barrier is libomp's barrier alone (and copyprivate libomp's).

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering::SeqCst};

/// The status an orphaned construct returns when its thread must leave the region: a
/// team mate stopped before the barrier it just met (or, in a region without barriers of
/// its own, before the barrier it was about to enter). Numba's callers pass any status
/// other than 0 (ok) and -2 (none) up unchanged; the region that receives it leaves
/// without recording a failure of its own. Numba uses -1 to -3.
pub const LEAVE_STATUS: i32 = -100;

/// `TeamFrame`'s size in 8-byte words (the pass allocates it as `[5 x i64]`).
pub const FRAME_WORDS: u64 = 5;

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
) {
    frame.write(TeamFrame {
        prev: TOP.get(),
        passed,
        stopped_at,
        gate,
        broadcast,
    });
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
    if !may_enter(frame) {
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
    passed: *const u32,
    stopped_at: *const AtomicU32,
    gate: *const AtomicU64,
    barrier: Barrier,
    ident: *const c_void,
    gtid: i32,
) {
    let passed = *passed;
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

/// The functions above, for the JIT's symbol table.
pub fn symbols() -> Vec<(&'static str, usize)> {
    vec![
        ("pyomp_team_enter", pyomp_team_enter as *const () as usize),
        ("pyomp_team_exit", pyomp_team_exit as *const () as usize),
        (
            "pyomp_orphan_barrier",
            pyomp_orphan_barrier as *const () as usize,
        ),
        ("pyomp_team_stop", pyomp_team_stop as *const () as usize),
        (
            "pyomp_orphan_copyprivate",
            pyomp_orphan_copyprivate as *const () as usize,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Barrier as StdBarrier};

    /// Whether the thread passed, in a called function, the barrier where a stopped team mate
    /// met its team (it must leave without meeting another barrier). 0 outside any region.
    ///
    /// # Safety
    /// The frames on the stack are live.
    unsafe fn passed_a_stop(frame: &TeamFrame) -> bool {
        (*frame.stopped_at).load(SeqCst) < *frame.passed
    }

    static BARRIERS: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn counting_barrier(_: *const c_void, _: i32) {
        BARRIERS.fetch_add(1, SeqCst);
    }

    /// A frame for a region with slots `stopped` and `gate` (its start value: 0, or
    /// `MEETS_AT_END`).
    fn frame(passed: &mut u32, stopped: &AtomicU32, gate: &AtomicU64) -> Box<TeamFrame> {
        let mut f = Box::new(std::mem::MaybeUninit::<TeamFrame>::uninit());
        unsafe {
            pyomp_team_enter(f.as_mut_ptr(), passed, stopped, gate, ptr::null());
            Box::from_raw(Box::into_raw(f).cast())
        }
    }

    /// `pyomp_team_stop` for the thread of `f`.
    unsafe fn stop(f: &TeamFrame) {
        pyomp_team_stop(
            f.passed,
            f.stopped_at,
            f.gate,
            counting_barrier,
            ptr::null(),
            0,
        );
    }

    #[test]
    fn the_frame_is_the_size_the_pass_allocates() {
        assert_eq!(std::mem::size_of::<TeamFrame>() as u64, FRAME_WORDS * 8);
        assert_eq!(std::mem::align_of::<TeamFrame>(), 8);
    }

    #[test]
    fn without_a_region_an_orphaned_barrier_is_the_runtime_one() {
        let before = BARRIERS.load(SeqCst);
        let leave = unsafe { pyomp_orphan_barrier(counting_barrier, ptr::null(), 0) };
        assert_eq!(leave, 0);
        assert!(BARRIERS.load(SeqCst) > before);
    }

    #[test]
    fn barriers_count_on_the_innermost_frame_and_see_a_stop_before_them() {
        let (stopped, gate) = (AtomicU32::new(u32::MAX), AtomicU64::new(MEETS_AT_END));
        let mut passed = 0u32;
        let mut f = frame(&mut passed, &stopped, &gate);
        unsafe {
            assert_eq!(pyomp_orphan_barrier(counting_barrier, ptr::null(), 0), 0);
            assert_eq!(*f.passed, 1);
            // a team mate stops having passed 1 barrier: leave after the next one
            stopped.store(1, SeqCst);
            assert!(!passed_a_stop(&f));
            assert_eq!(pyomp_orphan_barrier(counting_barrier, ptr::null(), 0), 1);
            assert!(passed_a_stop(&f));
            pyomp_team_exit(&mut *f);
        }
        assert!(TOP.get().is_null());
    }

    #[test]
    fn without_a_final_barrier_a_stop_closes_the_gate_or_attends_the_open_barrier() {
        // the stop comes first: nobody enters the next orphaned barrier
        let (stopped, gate) = (AtomicU32::new(u32::MAX), AtomicU64::new(0));
        let mut passed = 0u32;
        let mut f = frame(&mut passed, &stopped, &gate);
        unsafe {
            stop(&f);
            assert_eq!(stopped.load(SeqCst), 0);
            assert_eq!(pyomp_orphan_barrier(counting_barrier, ptr::null(), 0), 1);
            pyomp_team_exit(&mut *f);
        }
        // the barrier opens first: the stopping thread attends it
        let (stopped, gate) = (AtomicU32::new(u32::MAX), AtomicU64::new(0));
        let mut passed = 0u32;
        let mut f = frame(&mut passed, &stopped, &gate);
        unsafe {
            assert!(may_enter(&f));
            assert_eq!(gate.load(SeqCst), 1 << 1);
            let before = BARRIERS.load(SeqCst);
            stop(&f);
            assert!(BARRIERS.load(SeqCst) > before);
            pyomp_team_exit(&mut *f);
        }
    }

    #[test]
    fn racing_threads_agree_on_the_gate() {
        // One thread stops while the others try to open barrier 1: either all of them
        // enter (and the stopper attends) or none does.
        for _ in 0..200 {
            let stopped = Arc::new(AtomicU32::new(u32::MAX));
            let gate = Arc::new(AtomicU64::new(0));
            let start = Arc::new(StdBarrier::new(4));
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (stopped, gate, start) = (stopped.clone(), gate.clone(), start.clone());
                    std::thread::spawn(move || {
                        let mut passed = 0u32;
                        let f = TeamFrame {
                            prev: ptr::null_mut(),
                            passed: &mut passed,
                            stopped_at: &*stopped,
                            gate: &*gate,
                            broadcast: ptr::null(),
                        };
                        start.wait();
                        if t == 0 {
                            unsafe { stop(&f) };
                            // attended iff the gate had opened barrier 1 first
                            gate.load(SeqCst) >> 1 >= 1
                        } else {
                            unsafe { may_enter(&f) }
                        }
                    })
                })
                .collect();
            let results: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert!(
                results.iter().all(|&r| r == results[0]),
                "threads disagree: {results:?}"
            );
        }
    }
}
