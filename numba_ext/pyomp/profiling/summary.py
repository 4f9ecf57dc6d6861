"""`prof.summary()` / `prof.constructs()`: per construct, how often it ran, how long, and
how evenly its threads were busy (load imbalance) or waiting."""

from dataclasses import dataclass, field

import numpy as np

from .recorder import KIND, KINDS, WAITS

# the construct a site is, from the kinds recorded at it (first match)
_ROLES = (("teams", ("teams",)), ("parallel", ("parallel", "body")), ("for", ("loop", "chunk")),
          ("single", ("single",)), ("master", ("master",)),
          ("critical", ("critical", "critical wait")),
          ("ordered", ("ordered", "ordered wait")), ("task", ("task", "task create")),
          ("taskwait", ("taskwait",)), ("taskgroup", ("taskgroup wait",)),
          ("barrier", ("barrier",)), ("lock", ("lock wait",)))
# the kinds that are a thread's work in a construct of that role
_WORK = {"teams": "body", "parallel": "body", "for": "chunk", "single": "single",
         "master": "master", "critical": "critical", "ordered": "ordered", "task": "task"}
_WORK_KINDS = frozenset(_WORK.values())
_WAIT_CODES = np.array(sorted(KIND[k] for k in WAITS))


@dataclass
class ConstructStats:
    """One construct (a site: its file, line and directive) and what its threads did."""
    site: object
    role: str
    calls: int = 0
    total_ns: int = 0
    busy_ns: dict = field(default_factory=dict)   # thread -> ns working in it
    wait_ns: dict = field(default_factory=dict)   # thread -> ns waiting in it
    chunks: dict = field(default_factory=dict)    # thread -> chunks run (loops)
    iterations: dict = field(default_factory=dict)  # thread -> iterations run (loops)
    tasks: dict = field(default_factory=dict)     # thread -> tasks run (tasks)

    @property
    def mean_ns(self):
        """The total time over the calls."""
        return self.total_ns / self.calls if self.calls else 0.0

    @property
    def wait_share(self):
        """The share of its threads' time in it spent waiting, from 0 to 1."""
        busy, wait = sum(self.busy_ns.values()), sum(self.wait_ns.values())
        return wait / (busy + wait) if busy + wait else 0.0

    @property
    def imbalance(self):
        """The largest per-thread busy time over their mean; 1.0 is perfectly even (None
        for a single or master, whose body one thread runs by design)."""
        if self.role in ("single", "master"):
            return None
        busy = list(self.busy_ns.values())
        return max(busy) / (sum(busy) / len(busy)) if busy and sum(busy) else 1.0


def _role(kinds):
    names = {KINDS[k] for k in kinds}
    for role, marks in _ROLES:
        if names.intersection(marks):
            return role
    return "?"


def net_durations(iv):
    """Each interval's duration less what is nested in it that is not its own: a wait less
    the tasks the thread ran while waiting; a region body or task less its waits."""
    dur = (iv["end"] - iv["start"]).astype(np.int64)
    parent = _parents(iv)
    is_wait = np.isin(iv["kind"], _WAIT_CODES)
    net = dur.copy()
    task = KIND["task"]
    for i in np.nonzero(iv["kind"] == task)[0]:
        p = parent[i]
        if p >= 0 and is_wait[p]:
            net[p] -= dur[i]
    # a wait is not work of any construct it is inside (a region's body, the chunk or the
    # single it happened in)
    for i in np.nonzero(is_wait)[0]:
        p = parent[i]
        while p >= 0:
            if KINDS[iv["kind"][p]] in _WORK_KINDS:
                net[p] -= net[i]
            p = parent[p]
    return net


def _parents(iv):
    """The enclosing interval of each (-1 at a thread's top level). `iv` is sorted by
    thread, start, and longer first, so a parent comes before its children."""
    parent = np.full(len(iv), -1, dtype=np.int64)
    stack, thread = [], None
    for i, (t, e) in enumerate(zip(iv["thread"], iv["end"])):
        if t != thread:
            stack, thread = [], t
        while stack and iv["end"][stack[-1]] < e:
            stack.pop()
        parent[i] = stack[-1] if stack else -1
        stack.append(i)
    return parent


def _named(role, site):
    """A loop the front end made of a `sections` or `distribute` is named as written."""
    words = site.directive.split()
    if role == "for":
        for name in ("sections", "distribute"):
            if name in words and "for" not in words:
                return name
    return role


def construct_stats(prof):
    iv = prof._recorded()
    net = net_durations(iv)
    rows = []
    for site_key, site in prof.sites.items():
        at = iv["site"] == site_key
        row = ConstructStats(site, _role(np.unique(iv["kind"][at])))
        _fill(row, iv[at], net[at])
        if row.role == "task":
            _add_idle_team_threads(row, iv, iv[at])
        row.role = _named(row.role, site)
        rows.append(row)
    rows = _fold_implicit_barriers(rows)
    order = [role for role, _ in _ROLES]
    rows.sort(key=lambda r: (r.site.file, r.site.line,
                             order.index(r.role) if r.role in order else len(order)))
    return rows


def _add_idle_team_threads(row, iv, tasks):
    """Threads of the teams the tasks ran in that ran none of them count too (zero
    tasks): a team's thread is one whose region body overlaps the tasks' time."""
    bodies = iv[iv["kind"] == KIND["body"]]
    lo, hi = tasks["start"].min(), tasks["end"].max()
    for t in np.unique(bodies["thread"][(bodies["start"] <= hi) & (bodies["end"] >= lo)]):
        for d in (row.busy_ns, row.wait_ns, row.tasks):
            d.setdefault(int(t), 0)


def _fold_implicit_barriers(rows):
    """A construct's own barrier (a region's last, a loop's or single's end) has an ident
    of its own at the construct's line: its waits are the construct's."""
    # whose barrier it is, by role: a loop's or single's end before its region's last
    owners = {}
    for r in sorted(rows, key=lambda r: _BARRIER_OWNERS.index(r.role)
                    if r.role in _BARRIER_OWNERS else len(_BARRIER_OWNERS), reverse=True):
        if r.role in _BARRIER_OWNERS:
            owners[(r.site.file, r.site.line)] = r
    kept = []
    for r in rows:
        owner = owners.get((r.site.file, r.site.line))
        if r.role == "barrier" and owner is not None and r.site.directive != "barrier":
            for t, ns in r.wait_ns.items():
                owner.wait_ns[t] = owner.wait_ns.get(t, 0) + ns
                owner.busy_ns.setdefault(t, 0)
            if owner.role not in ("parallel", "teams"):  # their total is wall time
                owner.total_ns += sum(r.wait_ns.values())
            continue
        kept.append(r)
    return kept


_BARRIER_OWNERS = ("for", "sections", "distribute", "single", "parallel", "teams")


def _per_thread(sel, values):
    out = {}
    for t, v in zip(sel["thread"], values):
        out[int(t)] = out.get(int(t), 0) + int(v)
    return out


# What a construct's calls count: its intervals of a kind, all of them, or (a construct
# every thread of a team runs) the most one thread has.
_CALLS = {"teams": ("teams", False), "parallel": ("parallel", False),
          "single": ("single", False), "master": ("master", False),
          "critical": ("critical", False), "ordered": ("ordered", False),
          "task": ("task", False), "for": ("loop", True), "barrier": ("barrier", True),
          "taskwait": ("taskwait", True), "taskgroup": ("taskgroup wait", True),
          "lock": ("lock wait", True)}


def _count(sel):
    """thread -> how many intervals of `sel` it has."""
    return _per_thread(sel, np.ones(len(sel), dtype=np.int64))


def _fill(row, iv, net):
    kinds = iv["kind"]
    work = _WORK.get(row.role)
    if work is not None:
        w = kinds == KIND[work]
        row.busy_ns = _per_thread(iv[w], net[w])
    waits = np.isin(kinds, _WAIT_CODES)
    row.wait_ns = _per_thread(iv[waits], net[waits])
    # every thread that took part (ran a loop, waited at a single's barrier) has a value
    members = {int(t) for t in iv["thread"][kinds != KIND["task create"]]}
    for t in members:
        row.busy_ns.setdefault(t, 0)
        row.wait_ns.setdefault(t, 0)
    if row.role in _CALLS:
        kind, per_thread = _CALLS[row.role]
        counted = iv[kinds == KIND[kind]]
        row.calls = max(_count(counted).values(), default=0) if per_thread else len(counted)
    if row.role in ("teams", "parallel"):
        p = kinds == KIND[row.role]
        row.total_ns = int(np.sum(iv["end"][p] - iv["start"][p]))
    else:
        row.total_ns = sum(row.busy_ns.values()) + sum(row.wait_ns.values())
    if row.role == "for":
        c = kinds == KIND["chunk"]
        none = dict.fromkeys(members, 0)
        row.chunks = none | _count(iv[c])
        row.iterations = none | _per_thread(iv[c], iv["b"][c] - iv["a"][c])
    if row.role == "task":
        t = kinds == KIND["task"]
        row.tasks = _count(iv[t])


def _ms(ns):
    return f"{ns / 1e6:.3f}"


def format_table(prof):
    rows = prof.constructs()
    head = (f"pyomp profile: {prof.duration_ns / 1e6:.3f} ms, {len(prof.threads)} threads, "
            f"{len(prof.intervals)} intervals")
    cols = ("construct", "kind", "calls", "total ms", "mean us", "busy ms min/mean/max",
            "imbalance", "wait %", "per thread")
    table = [cols]
    for r in rows:
        busy = list(r.busy_ns.values()) or [0]
        per = ""
        if r.chunks:
            per = "chunks " + _spread(r.chunks)
        elif r.tasks:
            per = "tasks " + _spread(r.tasks)
        table.append((r.site.label, r.role, str(r.calls), _ms(r.total_ns),
                      f"{r.mean_ns / 1e3:.1f}",
                      f"{_ms(min(busy))} / {_ms(sum(busy) / len(busy))} / {_ms(max(busy))}",
                      "-" if r.imbalance is None else f"{r.imbalance:.2f}",
                      f"{100 * r.wait_share:.0f}", per))
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    lines = [head]
    for n, row in enumerate(table):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [row[i].rjust(widths[i]) for i in range(2, len(cols) - 1)]
        cells.append(row[-1])
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("-" * len(lines[-1]))
    if not rows:
        lines.append("(nothing recorded: no pyomp construct ran while the profile recorded)")
    return "\n".join(lines)


def _spread(per_thread):
    v = list(per_thread.values())
    return f"{min(v)}..{max(v)}" if min(v) != max(v) else str(v[0])
