//! Orphaned worksharing loops on pyomp's dispatcher (crate::runtime), with their state in
//! the thread's frame (see ../team_frame.rs): the team's table of loops keyed by the loop's
//! ident, libomp's dispatch calls taken over while the thread is in a pyomp region (and
//! passed on to libomp outside one), and the ordered turns of an orphaned ordered loop.

use super::{DispatchFini, DispatchInit, DispatchNext, GetSchedule, TeamFrame, ORPHAN_LOOPS, TOP};
use crate::runtime::{pyomp_loop_next, pyomp_loop_start, LoopState};
use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, Ordering::SeqCst};

/// libomp's schedule types pyomp's dispatcher runs for an orphaned loop (the static ones
/// reach it in a cancellable loop, which is dispatched).
const SCHED_STATIC_CHUNKED: i32 = 33;
const SCHED_ORDERED: i32 = 32;
const SCHED_STATIC: i32 = 34;
const SCHED_DYNAMIC_CHUNKED: i32 = 35;
const SCHED_GUIDED_CHUNKED: i32 = 36;
const SCHED_RUNTIME: i32 = 37;
const SCHED_AUTO: i32 = 38;
const SCHED_MODIFIERS: i32 = (1 << 29) | (1 << 30);

/// The table entry of the loop with `key` in this run of the region (claimed by the first
/// thread to reach the loop), with the thread's state in it ready; None when the table is
/// full.
unsafe fn claim(frame: &mut TeamFrame, key: i64) -> Option<usize> {
    let keys = std::slice::from_raw_parts(frame.loops, ORPHAN_LOOPS);
    let index =
        keys.iter()
            .position(|slot| match slot.compare_exchange(0, key, SeqCst, SeqCst) {
                Ok(_) => true,
                Err(seen) => seen == key,
            })?;
    if frame.claimed & (1 << index) == 0 {
        frame.states[index].write(LoopState::default());
        frame.claimed |= 1 << index;
    }
    Some(index)
}

/// An orphaned dispatched loop starts (`__kmpc_dispatch_init_8`'s arguments, after libomp's
/// `init`, then the thread's number, the team's size and `omp_get_schedule`): a loop of a
/// pyomp region runs on pyomp's dispatcher (a runtime schedule read from the ICV, auto as
/// static), one outside any region on libomp's.
///
/// # Safety
/// `init` is `__kmpc_dispatch_init_8`; the frames on the stack are live.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn pyomp_orphan_dispatch_init(
    init: DispatchInit,
    ident: *const c_void,
    gtid: i32,
    schedule: i32,
    lb: i64,
    ub: i64,
    st: i64,
    chunk: i64,
    tid: i32,
    nth: i32,
    get_schedule: GetSchedule,
) {
    let top = TOP.get();
    // (an ordered loop's kmp_ord_* type is the plain one + 32)
    let plain = match schedule & !SCHED_MODIFIERS {
        s if s > SCHED_ORDERED + SCHED_STATIC_CHUNKED - 1 => s - SCHED_ORDERED,
        s => s,
    };
    let mut chunk = chunk;
    let kind = match plain {
        SCHED_STATIC_CHUNKED => Some(crate::runtime::STATIC_CHUNKED),
        SCHED_STATIC | SCHED_AUTO => Some(crate::runtime::STATIC),
        SCHED_DYNAMIC_CHUNKED => Some(crate::runtime::DYNAMIC),
        SCHED_GUIDED_CHUNKED => Some(crate::runtime::GUIDED),
        SCHED_RUNTIME if !top.is_null() => {
            // the run-sched ICV; pyomp_loop_next maps omp_sched_t kinds (+ OMP_KIND)
            let (mut k, mut c) = (0i32, 0i32);
            get_schedule(&mut k, &mut c);
            chunk = i64::from(c);
            Some(crate::runtime::OMP_KIND + (k & 0x7fff_ffff))
        }
        _ => None,
    };
    if let (false, Some(kind), 0, 1) = (top.is_null(), kind, lb, st) {
        let frame = &mut *top;
        if let Some(i) = claim(frame, ident as i64) {
            frame.current = i as i64;
            frame.kind = i64::from(kind);
            frame.chunk = chunk;
            frame.n = ub + 1;
            frame.tid = i64::from(tid.max(0));
            frame.nth = i64::from(nth.max(1));
            pyomp_loop_start(frame.states[i].as_mut_ptr(), ub + 1);
            return;
        }
    }
    if !top.is_null() {
        (*top).current = -1;
    }
    init(ident, gtid, schedule, lb, ub, st, chunk);
}

/// The thread's next chunk of its orphaned loop, as `__kmpc_dispatch_next_8` (after libomp's
/// `next`): 0 when none is left, else the inclusive bounds and whether it ends the loop.
///
/// # Safety
/// `next` is `__kmpc_dispatch_next_8`; the pointers are writable; the loop was started by
/// `pyomp_orphan_dispatch_init` on this thread.
#[no_mangle]
pub unsafe extern "C" fn pyomp_orphan_dispatch_next(
    next: DispatchNext,
    ident: *const c_void,
    gtid: i32,
    last: *mut i32,
    lb: *mut i64,
    ub: *mut i64,
    st: *mut i64,
) -> i32 {
    let top = TOP.get();
    if top.is_null() || (*top).current < 0 {
        return next(ident, gtid, last, lb, ub, st);
    }
    let frame = &mut *top;
    let i = frame.current as usize;
    let counter = frame.loops.add(ORPHAN_LOOPS + i);
    let (mut lo, mut hi) = (0i64, 0i64);
    let got = pyomp_loop_next(
        counter,
        frame.states[i].as_mut_ptr(),
        frame.kind as i32,
        frame.chunk,
        frame.tid as i32,
        frame.nth as i32,
        &mut lo,
        &mut hi,
    );
    if got != 0 {
        *lb = lo;
        *ub = hi - 1;
        *st = 1;
        *last = i32::from(hi == frame.n);
    }
    got
}

/// The thread's orphaned loop on pyomp's dispatcher, if it runs one.
unsafe fn own_loop() -> Option<(&'static mut TeamFrame, usize)> {
    let top = TOP.get();
    if top.is_null() || (*top).current < 0 {
        return None;
    }
    let i = (*top).current as usize;
    Some((&mut *top, i))
}

/// The turn counter of the frame's loop `i`.
unsafe fn ticket(frame: &TeamFrame, i: usize) -> &AtomicI64 {
    &*frame.loops.add(2 * ORPHAN_LOOPS + i)
}

/// Waits for the turn of the frame's current iteration; false instead when a thread of
/// the team stopped (it may never take its turns).
unsafe fn wait_turn(frame: &TeamFrame, i: usize) -> bool {
    let want = (*frame.states[i].as_ptr()).base() + frame.iter;
    let mut spins = 0u32;
    loop {
        if ticket(frame, i).load(SeqCst) == want {
            return true;
        }
        if (*frame.stopped_at).load(SeqCst) != u32::MAX {
            return false;
        }
        spins += 1;
        if spins < 200 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

unsafe fn pass_turn(frame: &mut TeamFrame, i: usize) {
    let next = (*frame.states[i].as_ptr()).base() + frame.iter + 1;
    ticket(frame, i).store(next, SeqCst);
    frame.passed_turn = 1;
}

/// An orphaned ordered loop's iteration `iter` (0-based in this execution) starts.
///
/// # Safety
/// The frames on the stack are live.
#[no_mangle]
pub unsafe extern "C" fn pyomp_orphan_iteration(iter: i64) {
    if let Some((frame, _)) = own_loop() {
        frame.iter = iter;
        frame.passed_turn = 0;
    }
}

/// An `ordered` block of an orphaned loop starts (after libomp's `__kmpc_ordered`):
/// waits for the iteration's turn; 1 to skip the block (a team mate stopped).
///
/// # Safety
/// `ordered` is `__kmpc_ordered`; the frames on the stack are live.
#[no_mangle]
pub unsafe extern "C" fn pyomp_orphan_ordered_enter(
    ordered: DispatchFini,
    ident: *const c_void,
    gtid: i32,
) -> i32 {
    match own_loop() {
        Some((frame, i)) => i32::from(!wait_turn(frame, i)),
        None => {
            ordered(ident, gtid);
            0
        }
    }
}

/// An `ordered` block of an orphaned loop ends (after libomp's `__kmpc_end_ordered`).
///
/// # Safety
/// `end_ordered` is `__kmpc_end_ordered`; the frames on the stack are live.
#[no_mangle]
pub unsafe extern "C" fn pyomp_orphan_ordered_exit(
    end_ordered: DispatchFini,
    ident: *const c_void,
    gtid: i32,
) {
    match own_loop() {
        Some((frame, i)) => pass_turn(frame, i),
        None => end_ordered(ident, gtid),
    }
}

/// An orphaned ordered loop's iteration ends (after libomp's `__kmpc_dispatch_fini_8`): if
/// its `ordered` block did not pass the turn on, the thread waits for it and passes it.
///
/// # Safety
/// `fini` is `__kmpc_dispatch_fini_8`; the frames on the stack are live.
#[no_mangle]
pub unsafe extern "C" fn pyomp_orphan_iteration_end(
    fini: DispatchFini,
    ident: *const c_void,
    gtid: i32,
) {
    match own_loop() {
        Some((frame, i)) => {
            if frame.passed_turn == 0 && wait_turn(frame, i) {
                pass_turn(frame, i);
            }
        }
        None => fini(ident, gtid),
    }
}

/// The end of the thread's orphaned dispatched loop (after libomp's `fini`).
///
/// # Safety
/// `fini` is `__kmpc_dispatch_deinit`; the frames on the stack are live.
#[no_mangle]
pub unsafe extern "C" fn pyomp_orphan_dispatch_fini(
    fini: DispatchFini,
    ident: *const c_void,
    gtid: i32,
) {
    let top = TOP.get();
    if top.is_null() || (*top).current < 0 {
        fini(ident, gtid);
        return;
    }
    (*top).current = -1;
}
