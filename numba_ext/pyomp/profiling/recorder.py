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
    order = np.lexsort((-records["end"].astype(np.int64), records["start"], records["thread"]))
    records = records[order]
    return (records, {site: parse_site(src) for site, src in sites},
            _name_threads(threads, known_threads), stopped_at - started_at)


def join_waits(records):
    """The waits at each region's join, derived: a thread waits from the end of its body
    to the end of the region on the encountering thread (the join barrier is libomp's
    own, inside __kmpc_fork_call, so no call of ours wraps it). Kind "join wait"."""
    regions = records[np.isin(records["kind"], [KIND["parallel"], KIND["teams"]])]
    bodies = records[records["kind"] == KIND["body"]]
    bodies = bodies[np.argsort(bodies["start"], kind="stable")]
    # A worker released by the join barrier may start other work (another Python
    # thread's team, an outer region's next step) before the encountering thread records
    # the region's end: its wait ends there.
    starts = {t: np.sort(records["start"][records["thread"] == t])
              for t in np.unique(records["thread"])}
    waits = []
    for r in regions:
        lo, hi = np.searchsorted(bodies["start"], [r["start"], r["end"]], side="left")
        inside = bodies[lo:hi]
        inside = inside[(inside["end"] <= r["end"]) & (inside["site"] == r["site"])
                        & (inside["a"] == r["a"])]
        for b in inside:
            later = starts[b["thread"]]
            k = np.searchsorted(later, b["end"], side="left")
            end = min(r["end"], later[k]) if k < len(later) else r["end"]
            waits.append((b["thread"], KIND["join wait"], r["site"], b["end"], end, 0, 0))
    return np.array(waits, dtype=RECORD)


def python_thread_names():
    """{native id: name} of the Python threads alive now."""
    import threading
    return {t.native_id: t.name for t in threading.enumerate()}


def _name_threads(threads, known):
    """Python's name for a thread it knew at the start or knows at the end (MainThread,
    Thread-1, ...); a thread that has ended since (a Python thread joined before the
    profile stopped: OpenMP's workers live as long as the process); else the OpenMP
    worker it is."""
    known = {**known, **python_thread_names()}
    named, workers = [], 0
    for index, native_id, _main in sorted(threads):
        name = known.get(native_id)
        if name is None and _has_ended(native_id):
            name = f"thread {native_id} (ended)"
        elif name is None:
            workers += 1
            name = f"OpenMP worker {workers}"
        named.append(Thread(index, native_id, name))
    return named


def _has_ended(native_id):
    import os
    tasks = "/proc/self/task"
    return os.path.isdir(tasks) and not os.path.exists(f"{tasks}/{native_id}")
