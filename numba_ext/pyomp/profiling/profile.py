"""`pyomp.profile`: record what each thread did in pyomp's constructs while a block runs.

    with pyomp.profile() as prof:
        f(...)
    prof.save("trace.json")      # Chrome / Perfetto trace, one track per thread
    print(prof.summary())        # a table per construct
    prof.plot("timeline.png")    # threads x time, a colour per construct
"""

import numpy as np

from . import recorder
from .recorder import KIND, KINDS


class ProfileError(RuntimeError):
    """A profile started while another records, or read before it stopped."""


class Profile:
    """What the threads did while the profile recorded.

    `intervals` is a NumPy structured array, one row per interval: `thread` (an index
    into `threads`), `kind` (an index into `pyomp.profiling.KINDS`), `site` (a key of
    `sites`: the construct's file, line and directive), `start` and `end` (ns since the
    profile started), and `a`, `b`: a chunk's iterations `a..b` (b exclusive), a loop's
    trip count (`a`), a task's id (`a`, the same at its creation and its run), a
    region's instance (`a` of a parallel and of its bodies: its argument block).
    """

    def __init__(self):
        self._started_at = None
        self.intervals = None
        self.sites = {}
        self.threads = []
        self.duration_ns = 0

    # recording
    def start(self):
        if self._started_at is not None or self.intervals is not None:
            raise ProfileError("this profile has recorded already: make a new pyomp.profile()")
        started = recorder.start()
        if started is None:
            raise ProfileError(
                "a profile is recording already (one at a time: a `with pyomp.profile()` "
                "inside another, or PYOMP_PROFILE set in the environment)")
        self._started_at = started
        self._threads_at_start = recorder.python_thread_names()
        return self

    def stop(self):
        if self._started_at is None:
            raise ProfileError("this profile is not recording")
        self.intervals, self.sites, self.threads, self.duration_ns = recorder.stop(
            self._started_at, self._threads_at_start)
        self._started_at = None
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # reading
    def _recorded(self):
        if self.intervals is None:
            raise ProfileError("the profile has not stopped yet: read it after the `with`")
        return self.intervals

    def events(self, kind=None, site=None, thread=None):
        """The intervals of one kind ('chunk', 'barrier', ... see KINDS), at one site
        (its place 'file.py:12', its directive 'for schedule(static)', or both as the
        summary shows them), on one thread (an index into `threads`)."""
        iv = self._recorded()
        keep = iv["kind"] >= 0
        if kind is not None:
            if kind not in KIND:
                raise ValueError(f"unknown kind {kind!r}; the kinds are {', '.join(KINDS)}")
            keep &= iv["kind"] == KIND[kind]
        if site is not None:
            keys = [k for k, s in self.sites.items() if site in (s.where, s.directive, s.label)]
            keep &= np.isin(iv["site"], keys)
        if thread is not None:
            keep &= iv["thread"] == thread
        return iv[keep]

    def constructs(self):
        """Per-construct statistics (`pyomp.profiling.summary.ConstructStats`), in source order."""
        from .summary import construct_stats
        return construct_stats(self)

    def summary(self):
        """The table of `constructs()` as text: calls, total and mean time, per-thread busy
        time (min / mean / max), the share spent waiting, chunks or tasks per thread."""
        from .summary import format_table
        return format_table(self)

    def trace(self):
        """The Chrome trace event format document (a dict) of the profile."""
        from .trace import chrome_trace
        return chrome_trace(self)

    def save(self, path):
        """Writes the Chrome / Perfetto trace (JSON) to `path`: open it at ui.perfetto.dev
        or chrome://tracing."""
        import json
        with open(path, "w") as f:
            json.dump(self.trace(), f)
        return path

    def plot(self, path=None, *, title=None, ax=None):
        """Draws the timeline (threads x time, a colour per construct, waits hatched) with
        matplotlib; saves it to `path` when given. Returns the figure."""
        from .timeline import plot_timeline
        return plot_timeline(self, path, title=title, ax=ax)

    def __repr__(self):
        if self.intervals is None:
            state = "recording" if self._started_at is not None else "not started"
            return f"<pyomp.profile {state}>"
        return (f"<pyomp.profile {len(self.intervals)} intervals, {len(self.threads)} threads, "
                f"{self.duration_ns / 1e6:.3f} ms>")


def profile():
    """A profile to record with: `with pyomp.profile() as prof: ...`."""
    return Profile()
