//! pyomp's own worksharing-loop dispatcher, called by the code the pass emits.
//!
//! libomp hands out dynamic and guided chunks from per-team buffers that are recycled only
//! when every thread of the team has finished the loop. A thread that leaves early (an
//! exception, `cancel`) leaves a buffer half used, and a later loop of a later parallel
//! region that reuses it gets wrong iterations or hangs (Clang-compiled C included:
//! libomp 19 with `cancel for` on a dynamic loop). pyomp keeps the dispatch state of a
//! loop in the enclosing parallel region's own frame instead, zeroed each time the region
//! starts, so nothing carries over between regions:
//!
//! - `next`, shared by the team: the iteration count handed out so far by this loop
//!   construct, over all its executions in this region (it only grows);
//! - a `LoopState` per thread: where this execution's iterations start in that count.
//!
//! Chunks are claimed by compare-and-swap, never past the end, so when a thread finds the
//! loop exhausted `next` is exactly the end, and the next execution of the construct
//! starts there. A cancelled loop is exhausted at once (`pyomp_loop_cancel`).

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

/// Per thread and loop construct; zeroed when the thread enters the region.
#[repr(C)]
#[derive(Debug, Default)]
pub struct LoopState {
    /// Where this execution's iterations start in the construct's count.
    base: i64,
    /// Its trip count.
    n: i64,
    /// Static schedules: chunks taken so far in this execution.
    taken: i64,
    /// Iterations of all executions so far (the next execution's base).
    total: i64,
}

impl LoopState {
    /// Where the current execution's iterations start in the construct's count.
    pub fn base(&self) -> i64 {
        self.base
    }
}

/// Schedule codes the pass emits; a runtime schedule passes omp_get_schedule's kind + 16.
pub const STATIC: i32 = 0;
pub const STATIC_CHUNKED: i32 = 1;
pub const DYNAMIC: i32 = 2;
pub const GUIDED: i32 = 3;
pub const OMP_KIND: i32 = 16;

/// Starts one execution of the loop construct, `n` iterations.
///
/// # Safety
/// `state` points to this thread's LoopState for the construct.
#[no_mangle]
pub unsafe extern "C" fn pyomp_loop_start(state: *mut LoopState, n: i64) {
    let st = &mut *state;
    let n = n.max(0);
    st.base = st.total;
    st.n = n;
    st.taken = 0;
    st.total += n;
}

/// The thread's next chunk `[lo, hi)` of iteration numbers (0-based); 0 when none is left.
///
/// # Safety
/// `next` points to the team's shared counter of the construct, `state` to this thread's
/// LoopState, `lo` and `hi` to writable i64s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn pyomp_loop_next(
    next: *const AtomicI64,
    state: *mut LoopState,
    kind: i32,
    chunk: i64,
    tid: i32,
    nth: i32,
    lo: *mut i64,
    hi: *mut i64,
) -> i32 {
    let st = &mut *state;
    let next = &*next;
    let (kind, chunk) = resolve(kind, chunk);
    let (n, nth, tid) = (st.n, i64::from(nth.max(1)), i64::from(tid.max(0)));
    let found = match kind {
        STATIC => {
            // one contiguous block per thread, sizes differing by at most one
            if st.taken > 0 {
                None
            } else {
                st.taken = 1;
                let (q, r) = (n / nth, n % nth);
                let start = tid * q + tid.min(r);
                let size = q + i64::from(tid < r);
                (size > 0).then_some((start, start + size))
            }
        }
        STATIC_CHUNKED => {
            // chunks dealt round-robin in thread order
            let start = (tid + st.taken * nth) * chunk;
            st.taken += 1;
            (start < n).then(|| (start, (start + chunk).min(n)))
        }
        _ => claim(next, st, kind == GUIDED, chunk, nth),
    };
    match found {
        Some((a, b)) => {
            *lo = a;
            *hi = b;
            1
        }
        None => {
            *lo = 0;
            *hi = 0;
            0
        }
    }
}

/// Ends the loop for every thread: no more chunks are handed out in this execution.
///
/// # Safety
/// As for `pyomp_loop_next`.
#[no_mangle]
pub unsafe extern "C" fn pyomp_loop_cancel(next: *const AtomicI64, state: *mut LoopState) {
    let st = &*state;
    (*next).fetch_max(st.base + st.n, Ordering::AcqRel);
}

/// `ordered` turns of a team's loop: a counter shared by the team (the iteration count, in
/// the construct's count, whose turn it is), as monotonic as `next`.
///
/// Waits for iteration `iter`'s turn; returns 1 instead when the team failed or its region
/// was cancelled meanwhile (a thread that raised before the loop never takes its turns:
/// without this its team mates would wait forever).
///
/// # Safety
/// `ticket` points to the construct's turn counter, `state` to this thread's LoopState,
/// `status` and `cancelled` to the team's failure and cancellation flags.
#[no_mangle]
pub unsafe extern "C" fn pyomp_ordered_wait(
    ticket: *const AtomicI64,
    state: *const LoopState,
    iter: i64,
    status: *const AtomicI32,
    cancelled: *const AtomicI32,
) -> i32 {
    let want = (*state).base + iter;
    let mut spins = 0u32;
    loop {
        if (*ticket).load(Ordering::Acquire) == want {
            return 0;
        }
        if (*status).load(Ordering::Relaxed) != 0 || (*cancelled).load(Ordering::Relaxed) != 0 {
            return 1;
        }
        // spin briefly (the turn usually comes soon), then let other threads run: teams
        // may be larger than the machine
        spins += 1;
        if spins < 200 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Passes the turn on after iteration `iter`.
///
/// # Safety
/// As for `pyomp_ordered_wait`.
#[no_mangle]
pub unsafe extern "C" fn pyomp_ordered_pass(
    ticket: *const AtomicI64,
    state: *const LoopState,
    iter: i64,
) {
    (*ticket).store((*state).base + iter + 1, Ordering::Release);
}

/// The end of iteration `iter`: if its `ordered` block did not run (`*passed` == 0), the
/// thread still waits for the iteration's turn and passes it on.
///
/// # Safety
/// As for `pyomp_ordered_wait`; `passed` points to the thread's i32 flag.
#[no_mangle]
pub unsafe extern "C" fn pyomp_ordered_end(
    ticket: *const AtomicI64,
    state: *const LoopState,
    iter: i64,
    passed: *const i32,
    status: *const AtomicI32,
    cancelled: *const AtomicI32,
) {
    if *passed == 0 && pyomp_ordered_wait(ticket, state, iter, status, cancelled) == 0 {
        pyomp_ordered_pass(ticket, state, iter);
    }
}

/// (code, chunk >= 1) with a runtime schedule's omp_sched_t kind mapped to ours.
fn resolve(kind: i32, chunk: i64) -> (i32, i64) {
    if kind < OMP_KIND {
        return (kind, chunk.max(1));
    }
    // omp_sched_static = 1, dynamic = 2, guided = 3, auto = 4; the monotonic modifier is
    // the top bit (gone after the mask)
    match ((kind - OMP_KIND) & 0xff, chunk) {
        (1, c) if c > 0 => (STATIC_CHUNKED, c),
        (2, c) => (DYNAMIC, c.max(1)),
        (3, c) => (GUIDED, c.max(1)),
        _ => (STATIC, 1),
    }
}

/// Dynamic: the next `chunk` iterations; guided: a share of what is left (at least
/// `chunk`), as GCC's libgomp sizes it.
fn claim(
    next: &AtomicI64,
    st: &LoopState,
    guided: bool,
    chunk: i64,
    nth: i64,
) -> Option<(i64, i64)> {
    let end = st.base + st.n;
    let mut old = next.load(Ordering::Relaxed);
    loop {
        if old >= end {
            return None;
        }
        // a team of one takes what is left at once (as libomp does for a serialized
        // team): the same iterations in the same order, one claim instead of one per chunk
        let size = if nth == 1 {
            end - old
        } else if guided {
            ((end - old + nth - 1) / nth).max(chunk)
        } else {
            chunk
        };
        let new = (old + size).min(end);
        match next.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return Some((old - st.base, new - st.base)),
            Err(seen) => old = seen,
        }
    }
}

/// What a task of `size` bytes (after libomp's own header) asks `__kmpc_omp_task_alloc`
/// for: on a thread that must not own libomp's task memory, more than libomp's per-thread
/// free lists take (blocks of up to 64 cache lines: 8 KB with 128-byte lines), so the
/// block comes from, and goes back to, the general allocator.
///
/// Why: a thread that frees a task another thread allocated keeps the block in a list
/// for that owner and hands the list back later. When the owner is a root thread that
/// ends (a Python thread that called a pyomp function: libomp unregisters it and frees its
/// memory pools and thread record), its former workers still hold such lists, and the next
/// hand-back writes into freed memory: a segfault or `Assertion failure at
/// kmp_alloc.cpp(2236)` in a later task region (LLVM libomp 19 and 21, the same in C with
/// pthreads). The process's main thread never ends before the process, and libomp's
/// workers are never freed before it either: only other root threads pay (about 25 ns and
/// 8 KB per live task). Dependence nodes take the same lists and are not covered.
///
/// `level` and `ancestor` are libomp's `omp_get_level` and `omp_get_ancestor_thread_num`:
/// a root is thread 0 at every level (a worker is not at the outermost one). The answer
/// is the thread's for its whole life, so it is asked once per thread.
///
/// # Safety
/// `level` and `ancestor` must be libomp's functions of those names (or behave alike).
#[no_mangle]
pub unsafe extern "C" fn pyomp_task_alloc_size(
    size: i64,
    level: unsafe extern "C" fn() -> i32,
    ancestor: unsafe extern "C" fn(i32) -> i32,
) -> i64 {
    thread_local! {
        static PADS: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
    }
    let pads = PADS.with(|p| match p.get() {
        Some(known) => known,
        None => {
            let known = !is_main_thread() && (1..=level()).all(|l| ancestor(l) == 0);
            p.set(Some(known));
            known
        }
    });
    if pads {
        size.max(OUTSIDE_FREE_LISTS)
    } else {
        size
    }
}

/// More than the largest block libomp's per-thread free lists take (64 cache lines of up
/// to 128 bytes), with room to spare.
const OUTSIDE_FREE_LISTS: i64 = 8192 + 256;

#[cfg(target_os = "linux")]
fn is_main_thread() -> bool {
    extern "C" {
        fn getpid() -> i32;
    }
    // SAFETY: a plain system call without arguments
    os_thread_id() == i64::from(unsafe { getpid() })
}

/// The kernel's id of the calling thread (Linux's gettid).
#[cfg(target_os = "linux")]
pub(crate) fn os_thread_id() -> i64 {
    extern "C" {
        fn syscall(number: i64, ...) -> i64;
    }
    // The system call, not glibc's gettid(): that wrapper is glibc 2.30's, and the wheel is
    // linked against glibc 2.28 (ci/build-wheel.sh).
    #[cfg(target_arch = "x86_64")]
    const SYS_GETTID: i64 = 186;
    #[cfg(target_arch = "aarch64")]
    const SYS_GETTID: i64 = 178;
    // SAFETY: a plain system call without arguments
    unsafe { syscall(SYS_GETTID) }
}

// (untested here: no macOS machine builds pyomp yet; README, "Install")
#[cfg(target_os = "macos")]
fn is_main_thread() -> bool {
    extern "C" {
        fn pthread_main_np() -> i32;
    }
    // SAFETY: no arguments, no state
    unsafe { pthread_main_np() != 0 }
}

/// The functions above, for the JIT's symbol table (registered by `import pyomp`).
pub fn symbols() -> Vec<(&'static str, usize)> {
    entry_points![
        pyomp_task_alloc_size,
        pyomp_loop_start,
        pyomp_loop_next,
        pyomp_loop_cancel,
        pyomp_ordered_wait,
        pyomp_ordered_pass,
        pyomp_ordered_end,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        state: &mut LoopState,
        next: &AtomicI64,
        kind: i32,
        chunk: i64,
        tid: i32,
        nth: i32,
    ) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let (mut lo, mut hi) = (0, 0);
        while unsafe { pyomp_loop_next(next, state, kind, chunk, tid, nth, &mut lo, &mut hi) } != 0
        {
            out.push((lo, hi));
        }
        out
    }

    #[test]
    fn dynamic_chunks_cover_each_execution_and_the_next_starts_clean() {
        let next = AtomicI64::new(0);
        let mut st = LoopState::default();
        for n in [10, 0, 7, 1] {
            unsafe { pyomp_loop_start(&mut st, n) };
            let chunks = run(&mut st, &next, DYNAMIC, 3, 0, 1);
            let covered: i64 = chunks.iter().map(|(a, b)| b - a).sum();
            assert_eq!(covered, n);
            assert!(chunks.iter().all(|&(a, b)| 0 <= a && a < b && b <= n));
        }
        assert_eq!(next.load(Ordering::Relaxed), 18);
    }

    #[test]
    fn a_team_of_one_claims_the_whole_rest_at_once() {
        let next = AtomicI64::new(0);
        let mut st = LoopState::default();
        for kind in [DYNAMIC, GUIDED] {
            unsafe { pyomp_loop_start(&mut st, 10) };
            assert_eq!(run(&mut st, &next, kind, 1, 0, 1), [(0, 10)]);
        }
        unsafe { pyomp_loop_start(&mut st, 10) };
        assert_eq!(run(&mut st, &next, DYNAMIC, 1, 0, 2).len(), 10);
    }

    #[test]
    fn static_blocks_and_round_robin_chunks() {
        let next = AtomicI64::new(0);
        let blocks: Vec<_> = (0..3)
            .map(|t| {
                let mut st = LoopState::default();
                unsafe { pyomp_loop_start(&mut st, 10) };
                run(&mut st, &next, STATIC, 0, t, 3)
            })
            .collect();
        assert_eq!(blocks, [vec![(0, 4)], vec![(4, 7)], vec![(7, 10)]]);
        let mut st = LoopState::default();
        unsafe { pyomp_loop_start(&mut st, 10) };
        assert_eq!(
            run(&mut st, &next, STATIC_CHUNKED, 2, 1, 2),
            [(2, 4), (6, 8)]
        );
    }

    #[test]
    fn guided_chunks_shrink_and_cancel_exhausts() {
        let next = AtomicI64::new(0);
        let mut st = LoopState::default();
        unsafe { pyomp_loop_start(&mut st, 100) };
        let chunks = run(&mut st, &next, GUIDED, 2, 0, 4);
        assert_eq!(chunks[0], (0, 25));
        assert!(chunks
            .windows(2)
            .all(|w| w[1].1 - w[1].0 <= w[0].1 - w[0].0));
        unsafe { pyomp_loop_start(&mut st, 50) };
        unsafe { pyomp_loop_cancel(&next, &mut st) };
        assert!(run(&mut st, &next, DYNAMIC, 1, 0, 4).is_empty());
        assert_eq!(next.load(Ordering::Relaxed), 150);
    }

    #[test]
    fn ordered_turns_follow_the_construct_count_and_give_up_on_failure() {
        let ticket = AtomicI64::new(0);
        let (ok, failed, cancelled) = (AtomicI32::new(0), AtomicI32::new(1), AtomicI32::new(0));
        let mut st = LoopState::default();
        unsafe {
            pyomp_loop_start(&mut st, 3);
            for iter in 0..3 {
                assert_eq!(pyomp_ordered_wait(&ticket, &st, iter, &ok, &cancelled), 0);
                pyomp_ordered_pass(&ticket, &st, iter);
            }
            // the next execution starts where this one ended
            pyomp_loop_start(&mut st, 2);
            let passed = 0;
            pyomp_ordered_end(&ticket, &st, 0, &passed, &ok, &cancelled);
            assert_eq!(ticket.load(Ordering::Relaxed), 4);
            // a turn that never comes: give up once the team failed
            assert_eq!(
                pyomp_ordered_wait(&ticket, &st, 1 + 5, &failed, &cancelled),
                1
            );
        }
    }

    #[test]
    fn runtime_kinds_map_to_ours() {
        assert_eq!(resolve(OMP_KIND + 1, 0), (STATIC, 1));
        assert_eq!(resolve(OMP_KIND + 1, 5), (STATIC_CHUNKED, 5));
        assert_eq!(resolve(OMP_KIND + 2, 0), (DYNAMIC, 1));
        assert_eq!(resolve(OMP_KIND + 3, 4), (GUIDED, 4));
        assert_eq!(resolve(OMP_KIND + 4, 0), (STATIC, 1));
    }
}
