"""Our schema of the Chrome trace event format, the subset pyomp.profile writes (the format:
https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU; Perfetto
and chrome://tracing read it), checked with jsonschema; then what a schema cannot say:
each thread's complete events nest, each flow starts before it ends."""

import jsonschema

_BASE = {"pid": {"type": "integer", "minimum": 0}, "tid": {"type": "integer", "minimum": 0}}
_TIME = {"type": "number", "minimum": 0}

COMPLETE = {
    "type": "object",
    "required": ["name", "cat", "ph", "ts", "dur", "pid", "tid", "args"],
    "properties": {
        **_BASE, "name": {"type": "string", "minLength": 1}, "cat": {"type": "string"},
        "ph": {"const": "X"}, "ts": _TIME, "dur": _TIME,
        "args": {"type": "object", "required": ["file", "line", "function", "directive"],
                 "properties": {"file": {"type": "string"}, "line": {"type": "integer"},
                                "function": {"type": "string"},
                                "directive": {"type": "string"},
                                "iterations": {"type": "array", "items": {"type": "integer"},
                                               "minItems": 2, "maxItems": 2},
                                "trip count": {"type": "integer"},
                                "task": {"type": "string", "pattern": "^0x[0-9a-f]+$"}}},
    },
    "additionalProperties": False,
}
METADATA = {
    "type": "object",
    "required": ["name", "ph", "pid", "tid", "args"],
    "properties": {
        **_BASE, "ph": {"const": "M"},
        "name": {"enum": ["process_name", "thread_name", "thread_sort_index"]},
        "args": {"type": "object", "minProperties": 1,
                 "properties": {"name": {"type": "string"}, "sort_index": {"type": "integer"}},
                 "additionalProperties": False},
    },
    "additionalProperties": False,
}
FLOW = {
    "type": "object",
    "required": ["name", "cat", "ph", "id", "pid", "tid", "ts"],
    "properties": {**_BASE, "name": {"type": "string"}, "cat": {"type": "string"},
                   "ph": {"enum": ["s", "f"]}, "id": {"type": "integer"}, "ts": _TIME,
                   "bp": {"const": "e"}},
    "additionalProperties": False,
}
TRACE = {
    "type": "object",
    "required": ["traceEvents"],
    "properties": {
        "traceEvents": {"type": "array", "items": {"oneOf": [COMPLETE, METADATA, FLOW]}},
        "displayTimeUnit": {"enum": ["ms", "ns"]},
        "otherData": {"type": "object"},
    },
    "additionalProperties": False,
}


_EPS = 1e-9  # float rounding of microseconds with three decimals, not a nanosecond


def check_trace(trace):
    jsonschema.validate(trace, TRACE)
    events = trace["traceEvents"]
    by_thread = {}
    for e in events:
        if e["ph"] == "X":
            by_thread.setdefault((e["pid"], e["tid"]), []).append(e)
    for slices in by_thread.values():
        slices.sort(key=lambda e: (e["ts"], -e["dur"]))
        ends = []
        for e in slices:
            end = e["ts"] + e["dur"]
            while ends and ends[-1] <= e["ts"] + _EPS:
                ends.pop()
            assert not ends or end <= ends[-1] + _EPS, f"slice overlaps its parent: {e}"
            ends.append(end)
    flows = {}
    for e in events:
        if e["ph"] in "sf":
            flows.setdefault(e["id"], {})[e["ph"]] = e
    for pair in flows.values():
        assert set(pair) == {"s", "f"} and pair["s"]["ts"] <= pair["f"]["ts"]
