"""The Chrome trace event format (what Perfetto and chrome://tracing open): one track per
thread, a complete ("X") event per interval, nested as the thread ran them, and a flow
arrow from each task's creation to the thread that ran it.

Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
(times in microseconds)."""

import os

import numpy as np

from .recorder import KIND, KINDS, WAITS

PID = 1


def _us(ns):
    return round(int(ns) / 1e3, 3)


def _name(kind, site):
    """A slice's name: the directive, with the part of it a body, loop or chunk is, or the
    wait it is."""
    construct = site.directive or site.label
    if kind in ("body", "loop", "chunk"):
        return f"{construct} ({kind})"
    if kind in WAITS or kind == "task create":
        return f"{kind}: {construct}"
    return construct


def _args(kind, row, site):
    args = {"file": site.file, "line": site.line, "function": site.function,
            "directive": site.directive}
    if kind == "chunk":
        args["iterations"] = [int(row["a"]), int(row["b"])]
    elif kind == "loop":
        args["trip count"] = int(row["a"])
    elif kind in ("task", "task create"):
        args["task"] = hex(int(row["a"]))
    return args


def chrome_trace(prof):
    iv = prof._recorded()
    events = [{"name": "process_name", "ph": "M", "pid": PID, "tid": 0,
               "args": {"name": f"pyomp ({os.path.basename(_program())})"}}]
    for t in prof.threads:
        events.append({"name": "thread_name", "ph": "M", "pid": PID, "tid": t.index,
                       "args": {"name": f"{t.name} (tid {t.native_id})"}})
        events.append({"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": t.index,
                       "args": {"sort_index": t.index}})
    for row in iv:
        kind, site = KINDS[row["kind"]], prof.sites[int(row["site"])]
        # the end rounded as the start is, so a slice ends inside the one that holds it
        start, end = _us(row["start"]), _us(row["end"])
        events.append({"name": _name(kind, site), "cat": kind, "ph": "X", "pid": PID,
                       "tid": int(row["thread"]), "ts": start, "dur": round(end - start, 3),
                       "args": _args(kind, row, site)})
    events.extend(_task_flows(iv))
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"producer": "pyomp.profile", "duration_ms": prof.duration_ns / 1e6}}


def _task_flows(iv):
    """An arrow from each task's creation to its run: the n-th creation of a task address
    pairs with its n-th run (libomp reuses a finished task's memory)."""
    creations = iv[iv["kind"] == KIND["task create"]]
    runs = iv[iv["kind"] == KIND["task"]]
    runs = runs[np.argsort(runs["start"], kind="stable")]
    creations = creations[np.argsort(creations["start"], kind="stable")]
    pending = {}
    for r in runs:
        pending.setdefault(int(r["a"]), []).append(r)
    flows, next_id = [], 1
    for c in creations:
        queue = pending.get(int(c["a"]))
        if not queue:
            continue
        r = queue.pop(0)
        for ph, row in (("s", c), ("f", r)):
            event = {"name": "task", "cat": "task flow", "ph": ph, "id": next_id, "pid": PID,
                     "tid": int(row["thread"]), "ts": _us(row["start"])}
            if ph == "f":
                event["bp"] = "e"
            flows.append(event)
        next_id += 1
    return flows


def _program():
    import sys
    return sys.argv[0] if sys.argv and sys.argv[0] else "python"
