//! The profiler's recorder: what instrumented code calls while `pyomp.profile` runs.
//!
//! Compiled code tests `pyomp_profile_on` (one relaxed load and a branch) before each call
//! here, so with profiling off nothing below runs. Each thread keeps its own log: a stack
//! of open intervals (begin pushes, end pops the matching one) and a chain of fixed blocks
//! of finished records that only it appends to; a block's length is published with a
//! release store, so the collector reads a consistent prefix without stopping anyone. The
//! only lock is the registry of logs, taken once per thread and by the collector.
//!
//! Generations: `start` bumps the generation; a thread whose log belongs to an older one
//! empties it before recording (only its owner touches it), and the collector reads only
//! logs of the current generation. Profiles do not overlap (`start` fails while one runs).

use std::cell::{RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::clock;

/// 1 while a profile records; read by compiled code (registered with the JIT by name).
#[no_mangle]
pub static pyomp_profile_on: AtomicU32 = AtomicU32::new(0);

static GENERATION: AtomicU64 = AtomicU64::new(0);
/// The next thread's index: only counts up, so no two threads share a track even after
/// the logs of ended threads are dropped.
static NEXT_INDEX: AtomicU32 = AtomicU32::new(0);
static REGISTRY: Mutex<Vec<Arc<ThreadLog>>> = Mutex::new(Vec::new());
/// The clocks as read at the current profile's start (clock.rs).
static STARTED: Mutex<clock::Reading> = Mutex::new(clock::Reading { ticks: 0, ns: 0 });

/// One finished interval, as Python reads it (`pyomp.profiling.recorder.RECORD`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record {
    pub thread: u32,
    pub kind: u32,
    /// The construct's `ident_t` (its `psource` names file, function, line, column).
    pub site: u64,
    pub start: u64,
    pub end: u64,
    /// Kind-specific: a chunk's first iteration and its end (exclusive); a task's id.
    pub a: i64,
    pub b: i64,
}

/// What an interval is (the `kind` of a record; `pyomp.profiling.kinds` names them).
pub mod kind {
    pub const PARALLEL: u32 = 0;
    pub const BODY: u32 = 1;
    pub const LOOP: u32 = 2;
    pub const CHUNK: u32 = 3;
    pub const BARRIER: u32 = 4;
    pub const CRITICAL_WAIT: u32 = 5;
    pub const CRITICAL: u32 = 6;
    pub const SINGLE: u32 = 7;
    pub const MASTER: u32 = 8;
    pub const ORDERED_WAIT: u32 = 9;
    pub const ORDERED: u32 = 10;
    pub const TASK: u32 = 11;
    pub const TASK_CREATE: u32 = 12;
    pub const TASKWAIT: u32 = 13;
    pub const TASKGROUP_WAIT: u32 = 14;
    pub const LOCK_WAIT: u32 = 15;
    /// A `teams` construct's league, forked by `__kmpc_fork_teams` (its bodies are BODY).
    pub const TEAMS: u32 = 16;
}

const BLOCK: usize = 4096;

struct Block {
    records: [UnsafeCell<MaybeUninit<Record>>; BLOCK],
    len: AtomicUsize,
    next: AtomicPtr<Block>,
}

impl Block {
    fn new() -> Box<Block> {
        Box::new(Block {
            records: [const { UnsafeCell::new(MaybeUninit::uninit()) }; BLOCK],
            len: AtomicUsize::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
        })
    }
}

struct Open {
    kind: u32,
    site: u64,
    start: u64,
    a: i64,
    b: i64,
}

/// A thread's log. Written only by its thread; `head`'s chain read by the collector.
struct ThreadLog {
    index: u32,
    native_id: u64,
    generation: AtomicU64,
    head: *mut Block,
    /// Owner only: the block appended to, and the open intervals.
    tail: UnsafeCell<*mut Block>,
    stack: UnsafeCell<Vec<Open>>,
}

// SAFETY: the owner thread alone appends and resets (tail, stack, the blocks' records
// past `len`); others read the published prefix of the chain (see the module's comment).
unsafe impl Send for ThreadLog {}
unsafe impl Sync for ThreadLog {}

impl ThreadLog {
    fn new(index: u32) -> ThreadLog {
        let head = Box::into_raw(Block::new());
        ThreadLog {
            index,
            native_id: native_thread_id(),
            generation: AtomicU64::new(GENERATION.load(Ordering::Acquire)),
            head,
            tail: UnsafeCell::new(head),
            stack: UnsafeCell::new(Vec::new()),
        }
    }

    /// Owner only: forget an older generation's records and open intervals.
    unsafe fn reset_if_stale(&self) {
        let current = GENERATION.load(Ordering::Acquire);
        if self.generation.load(Ordering::Relaxed) == current {
            return;
        }
        (*self.stack.get()).clear();
        let mut next = (*self.head).next.swap(ptr::null_mut(), Ordering::AcqRel);
        while !next.is_null() {
            let block = Box::from_raw(next);
            next = block.next.load(Ordering::Acquire);
        }
        (*self.head).len.store(0, Ordering::Release);
        *self.tail.get() = self.head;
        self.generation.store(current, Ordering::Release);
    }

    /// Owner only.
    unsafe fn push(&self, r: Record) {
        let mut tail = *self.tail.get();
        let mut len = (*tail).len.load(Ordering::Relaxed);
        if len == BLOCK {
            let fresh = Box::into_raw(Block::new());
            (*tail).next.store(fresh, Ordering::Release);
            *self.tail.get() = fresh;
            tail = fresh;
            len = 0;
        }
        (*(*tail).records[len].get()).write(r);
        (*tail).len.store(len + 1, Ordering::Release);
    }

    /// Any thread: the published records.
    fn collect(&self, into: &mut Vec<Record>) {
        let mut block = self.head;
        while !block.is_null() {
            // SAFETY: blocks of the current generation are freed only by the owner's
            // reset, which waits for a newer generation (after the collector is done).
            unsafe {
                let b = &*block;
                let len = b.len.load(Ordering::Acquire);
                for cell in &b.records[..len] {
                    into.push((*cell.get()).assume_init());
                }
                block = b.next.load(Ordering::Acquire);
            }
        }
    }
}

impl Drop for ThreadLog {
    /// The last owner is the registry dropping an ended thread's log (under its lock) or
    /// the thread itself after that: nobody reads the chain any more.
    fn drop(&mut self) {
        let mut block = self.head;
        while !block.is_null() {
            // SAFETY: the chain's blocks came from Box::into_raw and are freed once
            let b = unsafe { Box::from_raw(block) };
            block = b.next.load(Ordering::Acquire);
        }
    }
}

thread_local! {
    static LOG: RefCell<Option<Arc<ThreadLog>>> = const { RefCell::new(None) };
}

fn now() -> u64 {
    clock::ticks()
}

/// Runs `f` on this thread's log (registered on first use), reset to the current generation.
fn with_log(f: impl FnOnce(&ThreadLog)) {
    let _ = LOG.try_with(|cell| {
        let mut slot = cell.borrow_mut();
        let log = slot.get_or_insert_with(|| {
            let mut all = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            let log = Arc::new(ThreadLog::new(NEXT_INDEX.fetch_add(1, Ordering::Relaxed)));
            all.push(log.clone());
            log
        });
        // SAFETY: this thread owns its log
        unsafe { log.reset_if_stale() };
        f(log);
    });
}

/// Acquire: a thread that sees the flag on also sees the generation `start` set before it.
fn recording() -> bool {
    pyomp_profile_on.load(Ordering::Acquire) != 0
}

/// Opens an interval of `kind` at `site` when `active` is nonzero (a `single`'s winner).
#[no_mangle]
pub extern "C" fn pyomp_prof_begin(kind: u32, site: *const u8, active: i64, a: i64) {
    if active == 0 || !recording() {
        return;
    }
    let start = now();
    with_log(|log| {
        // SAFETY: owner only
        let stack = unsafe { &mut *log.stack.get() };
        stack.push(Open {
            kind,
            site: site as u64,
            start,
            a,
            b: 0,
        });
    });
}

/// Closes the innermost open interval of `kind` at `site`, and any opened after it that
/// were left open (a chunk whose loop raised); without one, nothing.
#[no_mangle]
pub extern "C" fn pyomp_prof_end(kind: u32, site: *const u8) {
    if !recording() {
        return;
    }
    let end = now();
    with_log(|log| unsafe { close(log, kind, site as u64, end) });
}

/// Owner only.
unsafe fn close(log: &ThreadLog, kind: u32, site: u64, end: u64) {
    let stack = &mut *log.stack.get();
    let Some(at) = stack.iter().rposition(|o| o.kind == kind && o.site == site) else {
        return;
    };
    while stack.len() > at {
        let o = stack.pop().expect("checked length");
        log.push(Record {
            thread: log.index,
            kind: o.kind,
            site: o.site,
            start: o.start,
            end,
            a: o.a,
            b: o.b,
        });
    }
}

/// A worksharing loop handed this thread its next chunk, iterations `lo..hi` when `more`
/// is nonzero: the thread's previous chunk of this loop ends, the new one starts. (`gate`,
/// the loop's reading of the flag at its start, guarded the call: see instrument.rs.)
#[no_mangle]
pub extern "C" fn pyomp_prof_chunk(site: *const u8, more: i64, lo: i64, hi: i64, _gate: u32) {
    if !recording() {
        return;
    }
    let t = now();
    with_log(|log| unsafe {
        let stack = &mut *log.stack.get();
        if matches!(stack.last(), Some(o) if o.kind == kind::CHUNK && o.site == site as u64) {
            close(log, kind::CHUNK, site as u64, t);
        }
        if more != 0 {
            let stack = &mut *log.stack.get();
            stack.push(Open {
                kind: kind::CHUNK,
                site: site as u64,
                start: t,
                a: lo,
                b: hi,
            });
        }
    });
}

/// Starts a profile: a new generation, recording on; the time it started, in ns of the
/// monotonic clock (None if a profile is recording already).
pub fn start() -> Option<u64> {
    let mut all = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    if recording() {
        return None;
    }
    // Logs of threads that ended (only the registry holds them) go, their indexes kept.
    all.retain(|log| Arc::strong_count(log) > 1);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    let started = clock::read();
    *STARTED.lock().unwrap_or_else(|e| e.into_inner()) = started;
    pyomp_profile_on.store(1, Ordering::Release);
    Some(started.ns)
}

/// What a profile recorded, with the threads that recorded it and the time it ended.
pub struct Collected {
    pub records: Vec<Record>,
    /// (index, native thread id)
    pub threads: Vec<(u32, u64)>,
    pub stopped_at: u64,
}

/// Stops the profile and collects every thread's records of this generation.
pub fn stop() -> Collected {
    let all = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    pyomp_profile_on.store(0, Ordering::Release);
    let stopped = clock::read();
    let current = GENERATION.load(Ordering::Acquire);
    let mut records = Vec::new();
    let mut threads = Vec::new();
    for log in all.iter() {
        if log.generation.load(Ordering::Acquire) != current {
            continue;
        }
        let before = records.len();
        log.collect(&mut records);
        if records.len() > before {
            threads.push((log.index, log.native_id));
        }
    }
    let started = *STARTED.lock().unwrap_or_else(|e| e.into_inner());
    for r in &mut records {
        r.start = clock::to_ns(r.start, started, stopped);
        r.end = clock::to_ns(r.end, started, stopped);
    }
    Collected {
        records,
        threads,
        stopped_at: stopped.ns,
    }
}

/// The source of a site: its `ident_t`'s psource (`;file;function;line;column;;`).
///
/// # Safety
/// `site` is an `ident_t` of code still loaded (sites are read when the profile stops).
pub unsafe fn site_source(site: u64) -> String {
    if site == 0 {
        return String::new();
    }
    let psource = *((site as usize + 16) as *const *const std::os::raw::c_char);
    crate::ir::c_name(psource)
}

/// The kernel's thread id, which Python's `threading.get_native_id()` also gives.
fn native_thread_id() -> u64 {
    #[cfg(target_os = "linux")]
    {
        crate::runtime::os_thread_id() as u64
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// The functions above, for the JIT's symbol table.
pub fn symbols() -> Vec<(&'static str, usize)> {
    let mut all = entry_points![pyomp_prof_begin, pyomp_prof_end, pyomp_prof_chunk];
    all.push((
        "pyomp_profile_on",
        &pyomp_profile_on as *const AtomicU32 as usize,
    ));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(n: u8) -> *const u8 {
        n as usize as *const u8
    }

    #[test]
    fn intervals_nest_chunks_follow_and_an_abandoned_one_is_closed_by_its_parent() {
        // One test owns the global recorder (tests run in parallel threads).
        assert!(start().is_some());
        assert!(start().is_none(), "a second profile while one runs");
        pyomp_prof_begin(kind::BODY, site(1), 1, 0);
        pyomp_prof_begin(kind::SINGLE, site(2), 0, 0); // lost the single: nothing
        pyomp_prof_begin(kind::LOOP, site(3), 1, 0);
        pyomp_prof_chunk(site(3), 1, 0, 4, 1);
        pyomp_prof_chunk(site(3), 1, 8, 12, 1);
        pyomp_prof_chunk(site(3), 0, 0, 0, 1);
        pyomp_prof_end(kind::LOOP, site(3));
        pyomp_prof_begin(kind::LOOP, site(3), 1, 0);
        pyomp_prof_chunk(site(3), 1, 4, 8, 1); // raised: neither chunk nor loop closed
        pyomp_prof_end(kind::CRITICAL, site(9)); // never opened: nothing
        pyomp_prof_end(kind::BODY, site(1));
        let got = stop();
        let kinds: Vec<(u32, i64, i64)> = got.records.iter().map(|r| (r.kind, r.a, r.b)).collect();
        assert_eq!(
            kinds,
            vec![
                (kind::CHUNK, 0, 4),
                (kind::CHUNK, 8, 12),
                (kind::LOOP, 0, 0),
                (kind::CHUNK, 4, 8),
                (kind::LOOP, 0, 0),
                (kind::BODY, 0, 0),
            ]
        );
        assert!(got
            .records
            .iter()
            .all(|r| r.start <= r.end && r.end <= got.stopped_at));
        assert_eq!(got.threads.len(), 1);
        // Off: nothing recorded (the same generation, collected again, is unchanged);
        // a new profile starts empty.
        pyomp_prof_begin(kind::BODY, site(1), 1, 0);
        pyomp_prof_end(kind::BODY, site(1));
        // (times differ: ticks convert by the readings at each stop)
        let what = |rs: &[Record]| {
            rs.iter()
                .map(|r| (r.kind, r.site, r.a, r.b))
                .collect::<Vec<_>>()
        };
        assert_eq!(what(&stop().records), what(&got.records));
        assert!(start().is_some());
        for i in 0..(BLOCK as i64 + 10) {
            pyomp_prof_chunk(site(4), 1, i, i + 1, 1);
        }
        pyomp_prof_chunk(site(4), 0, 0, 0, 1);
        let got = stop();
        assert_eq!(got.records.len(), BLOCK + 10, "records span blocks");
        assert_eq!(got.records.last().map(|r| r.a), Some(BLOCK as i64 + 9));
    }
}
