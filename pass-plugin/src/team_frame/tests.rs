//! The team frame protocol's tests: threads that raise, stop and meet orphaned barriers
//! in every order the gate allows (see ../team_frame.rs).

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
        pyomp_team_enter(
            f.as_mut_ptr(),
            passed,
            stopped,
            gate,
            ptr::null(),
            ptr::null(),
        );
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
                        loops: ptr::null(),
                        claimed: 0,
                        current: -1,
                        kind: 0,
                        chunk: 0,
                        n: 0,
                        tid: 0,
                        nth: 1,
                        iter: 0,
                        passed_turn: 0,
                        states: [const { std::mem::MaybeUninit::uninit() }; ORPHAN_LOOPS],
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

static LIBOMP_CALLS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn fake_schedule(kind: *mut i32, chunk: *mut i32) {
    *kind = 2;
    *chunk = 4;
}

unsafe extern "C" fn fake_init(_: *const c_void, _: i32, _: i32, _: i64, _: i64, _: i64, _: i64) {
    LIBOMP_CALLS.fetch_add(1, SeqCst);
}

unsafe extern "C" fn fake_next(
    _: *const c_void,
    _: i32,
    _: *mut i32,
    _: *mut i64,
    _: *mut i64,
    _: *mut i64,
) -> i32 {
    LIBOMP_CALLS.fetch_add(1, SeqCst);
    0
}

/// Runs one orphaned loop of `n` iterations (dynamic, chunk 3) on this thread's frame;
/// returns the iterations it got, and whether one of its chunks was flagged last.
unsafe fn run_loop(key: usize, n: i64) -> (Vec<i64>, bool) {
    let ident = key as *const c_void;
    pyomp_orphan_dispatch_init(
        fake_init,
        ident,
        0,
        35 | (1 << 29),
        0,
        n - 1,
        1,
        3,
        0,
        2,
        fake_schedule,
    );
    let (mut last, mut lb, mut ub, mut st) = (0, 0, 0, 0);
    let (mut got, mut was_last) = (Vec::new(), false);
    while pyomp_orphan_dispatch_next(fake_next, ident, 0, &mut last, &mut lb, &mut ub, &mut st) != 0
    {
        got.extend(lb..=ub);
        was_last |= last != 0;
    }
    (got, was_last)
}

#[test]
fn orphaned_dynamic_loops_share_the_teams_table_and_cover_each_iteration_once() {
    let (stopped, gate) = (AtomicU32::new(u32::MAX), AtomicU64::new(0));
    let table: Vec<AtomicI64> = (0..LOOP_TABLE_WORDS).map(|_| AtomicI64::new(0)).collect();
    let mut passed = [0u32; 2];
    let before = LIBOMP_CALLS.load(SeqCst);
    // two "threads" of one team take turns on the same frames' table
    let mut frames: Vec<Box<TeamFrame>> = passed
        .iter_mut()
        .map(|p| {
            let mut f = Box::new(std::mem::MaybeUninit::<TeamFrame>::uninit());
            unsafe {
                pyomp_team_enter(
                    f.as_mut_ptr(),
                    p,
                    &stopped,
                    &gate,
                    ptr::null(),
                    table.as_ptr(),
                );
                TOP.set(ptr::null_mut());
                Box::from_raw(Box::into_raw(f).cast())
            }
        })
        .collect();
    let mut all = Vec::new();
    let mut lasts = 0;
    for (k, f) in frames.iter_mut().enumerate() {
        TOP.set(&mut **f);
        // (one after the other: the first takes every chunk, the second finds none left)
        let (got, last) = unsafe { run_loop(0x1000, 20) };
        assert!(k == 0 || got.is_empty());
        all.extend(got);
        lasts += usize::from(last);
    }
    TOP.set(ptr::null_mut());
    all.sort_unstable();
    assert_eq!(all, (0..20).collect::<Vec<_>>());
    assert_eq!(lasts, 1, "one chunk ends the loop");
    assert_eq!(
        LIBOMP_CALLS.load(SeqCst),
        before,
        "libomp is not used in a region"
    );
    // the construct's second execution in the run starts where the first ended
    TOP.set(&mut *frames[0]);
    let (got, _) = unsafe { run_loop(0x1000, 5) };
    assert_eq!(got, (0..5).collect::<Vec<_>>());
    // more constructs than the table holds: libomp's
    for key in 1..=ORPHAN_LOOPS {
        unsafe { run_loop(0x2000 + key, 1) };
    }
    assert!(LIBOMP_CALLS.load(SeqCst) > before);
    TOP.set(ptr::null_mut());
    // outside any region: libomp's
    let before = LIBOMP_CALLS.load(SeqCst);
    unsafe { run_loop(0x1000, 5) };
    assert_eq!(LIBOMP_CALLS.load(SeqCst), before + 2);
}
