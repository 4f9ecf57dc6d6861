"""The native recorder (pass-plugin/src/profile/record.rs), as Python sees it: start,
stop, and the records read into a NumPy array."""

from dataclasses import dataclass

import numpy as np

from .sites import parse_site

#: The kinds of interval a profile records, by their number in `Profile.intervals["kind"]`
#: (pass-plugin/src/profile/record.rs's `kind` constants; "join wait" is derived).
KINDS = ("parallel", "body", "loop", "chunk", "barrier", "critical wait", "critical",
         "single", "master", "ordered wait", "ordered", "task", "task create", "taskwait",
         "taskgroup wait", "lock wait", "teams", "join wait")
KIND = {name: i for i, name in enumerate(KINDS)}
#: The kinds that are a thread waiting (the timeline hatches them).
WAITS = frozenset({"barrier", "critical wait", "ordered wait", "taskwait", "taskgroup wait",
                   "lock wait", "join wait"})

# record.rs's `Record` (repr(C)); times in ns of the recorder's monotonic clock
RECORD = np.dtype([("thread", "<u4"), ("kind", "<u4"), ("site", "<u8"), ("start", "<u8"),
                   ("end", "<u8"), ("a", "<i8"), ("b", "<i8")])


@dataclass(frozen=True)
class Thread:
    """A thread that recorded: `index` is its track in the trace and timeline."""
    index: int
    native_id: int
    name: str


def _pass():
    from .. import _pass as ext
    return ext


def start():
    """Starts recording; the start time (ns), or None when a profile records already."""
    return _pass().profile_start()


def stop(started_at, known_threads):
    """Stops recording: (intervals with times from `started_at`, {site: Site}, [Thread],
    duration in ns); `known_threads`: python_thread_names() at the start."""
    raw, threads, sites, stopped_at = _pass().profile_stop()
    records = np.frombuffer(raw, RECORD).copy()
    records["start"] -= np.minimum(records["start"], started_at)
    records["end"] -= np.minimum(records["end"], started_at)
    records = np.concatenate([records, join_waits(records)])
    # thread, then start, then the longer first; on a tie the later recorded first: a
    # thread records an interval when it closes, so an enclosing one after what it holds
    later_first = -np.arange(len(records))
    order = np.lexsort((later_first, -records["end"].astype(np.int64), records["start"],
                        records["thread"]))
    records = records[order]
    return (records, {site: parse_site(src) for site, src in sites},
            _name_threads(threads, known_threads, _initial_threads(records)),
            stopped_at - started_at)


def join_waits(records):
    """The waits at each region's join, derived: a thread waits from the end of its body
    to the end of the region on the encountering thread (the join barrier is libomp's
    own, inside __kmpc_fork_call, so no call of ours wraps it). Kind "join wait"."""
    regions = records[np.isin(records["kind"], [KIND["parallel"], KIND["teams"]])]
    bodies = records[records["kind"] == KIND["body"]]
    bodies = bodies[np.argsort(bodies["start"], kind="stable")]
    by_thread = {}
    for t in np.unique(records["thread"]):
        mine = records[records["thread"] == t]
        by_thread[t] = mine[np.argsort(mine["start"], kind="stable")]
    waits = []
    for r in regions:
        lo, hi = np.searchsorted(bodies["start"], [r["start"], r["end"]], side="left")
        inside = bodies[lo:hi]
        inside = inside[(inside["end"] <= r["end"]) & (inside["site"] == r["site"])
                        & (inside["a"] == r["a"])]
        for b in inside:
            end = _wait_ends(by_thread[b["thread"]], b["end"], r["end"])
            waits.append((b["thread"], KIND["join wait"], r["site"], b["end"], end, 0, 0))
    return np.array(waits, dtype=RECORD)


def _wait_ends(mine, start, region_end):
    """Where a thread's wait at a join, from `start`, ends: at the region's end, or before
    that where the thread starts other work (a worker released by the join barrier may
    join another Python thread's team, or an outer region's next step, before the
    encountering thread records the region's end). Tasks it runs while it waits (libomp
    runs queued tasks in the join barrier) are inside the wait, not after it."""
    tasks_until = start
    for j in range(np.searchsorted(mine["start"], start, side="left"), len(mine)):
        s = mine["start"][j]
        if s >= region_end:
            break
        if mine["kind"][j] == KIND["task"]:
            tasks_until = max(tasks_until, mine["end"][j])
        elif s >= tasks_until:
            return s
    return region_end


def python_thread_names():
    """{native id: name} of the Python threads alive now."""
    import threading
    return {t.native_id: t.name for t in threading.enumerate()}


def _initial_threads(records):
    """The threads that forked a region outside any region body of theirs: Python's
    threads (OpenMP's workers fork only inside a body: nested regions)."""
    initial = set()
    forks = records[np.isin(records["kind"], [KIND["parallel"], KIND["teams"]])]
    bodies = records[records["kind"] == KIND["body"]]
    for t in np.unique(forks["thread"]):
        mine, theirs = bodies[bodies["thread"] == t], forks[forks["thread"] == t]
        for f in theirs:
            if not np.any((mine["start"] <= f["start"]) & (f["end"] <= mine["end"])):
                initial.add(int(t))
                break
    return initial


def _name_threads(threads, known, initial):
    """Python's name for a thread it knew at the start or knows at the end (MainThread,
    Thread-1, ...); `Python thread <id>` for another that forked regions of its own (one
    that started and ended while the profile recorded); else the OpenMP worker it is."""
    known = {**known, **python_thread_names()}
    named, workers = [], 0
    for index, native_id in sorted(threads):
        name = known.get(native_id)
        if name is None and index in initial:
            name = f"Python thread {native_id}"
        elif name is None:
            workers += 1
            name = f"OpenMP worker {workers}"
        named.append(Thread(index, native_id, name))
    return named
