"""Front-end pass 10, run by pipeline.py just before lowering (when Numba has placed its
`del` statements): the `del`s inside regions that would release what the team still uses
are removed or moved to the construct's end.
"""

from numba.core import ir

from .. import markers


def strip_shared_dels(func_ir):
    """Removes Numba's `del` of shared variables inside regions (run just before lowering,
    when the dels exist).

    A `del` decrefs the variable and zeroes its slot; inside a region that slot belongs to
    the whole team, so a thread leaving the region by an exception would free or clear a
    value the other threads are still using.  On the normal path the exit marker keeps
    shared variables alive until after the region, so only exception paths had such dels.
    """
    enters, exits = {}, {}
    for label, kind, payload, call in markers.marker_calls(func_ir):
        (enters if kind == "enter" else exits)[payload["id"]] = (label, payload, call)
    for rid, (head, payload, enter_call) in enters.items():
        if rid not in exits:
            continue
        end, _, exit_call = exits[rid]
        shared = {v["name"] for v in payload["vars"] if v["sharing"] == "shared"}
        inside = _blocks_between(func_ir, head, end) if end != head else set()
        if payload["construct"] == "parallel":
            shared |= _shared_by_tasks_in(enters, inside)
        ordered = payload["clauses"].get("ordered", False)
        # The head block's statements after the enter marker belong to the region too
        # (Numba puts the `del` of a variable every path redefines right after its last
        # use, which may be the marker itself: a shared `r` set in a `single`), up to the
        # exit marker when that is in the same block: Numba merges straight-line blocks
        # once it has inlined a helper (a worksharing loop's trip count), and the dels
        # after the region must stay.
        head_block = func_ir.blocks[head]
        at = next(i for i, stmt in enumerate(head_block.body)
                  if isinstance(stmt, ir.Assign) and stmt.value is enter_call)
        stop = len(head_block.body)
        if end == head:
            stop = next(i for i, stmt in enumerate(head_block.body)
                        if isinstance(stmt, ir.Assign) and stmt.value is exit_call)
        kept = head_block.body[:at + 1]
        for stmt in head_block.body[at + 1:stop]:
            if not (isinstance(stmt, ir.Del) and (stmt.value in shared
                                                  or payload["construct"] == "task")):
                kept.append(stmt)
        head_block.body = kept + head_block.body[stop:]
        if payload["construct"] == "task":
            # The task's code runs apart from its creator, which goes on: it may release
            # only what it made itself (a raise would `del` the creator's loop iterator).
            made = {s.target.name for label in inside for s in func_ir.blocks[label].body
                    if isinstance(s, ir.Assign)}
            for label in inside:
                block = func_ir.blocks[label]
                block.body = [s for s in block.body
                              if not (isinstance(s, ir.Del) and s.value not in made)]
            continue
        for label in inside:
            block = func_ir.blocks[label]
            # A thread that raises in an ordered loop goes on running the loop's
            # machinery (without the bodies) to pass its ordered turns on: the temporaries
            # that machinery reads (the chunk iterator, bounds) must survive the raise.
            resumes = ordered and isinstance(block.terminator, _RAISES)
            block.body = [s for s in block.body
                          if not (isinstance(s, ir.Del)
                                  and (s.value in shared
                                       or (resumes and s.value.startswith("$"))))]
        if payload["construct"] in _ONE_THREAD:
            _move_dels_after(func_ir, head_block, at, inside, end, exit_call)


def _shared_by_tasks_in(enters, labels):
    """The variables that the tasks created in blocks `labels` (a parallel region's) share
    by address. A task may run until the region's end: Numba's `del` after the task's
    construct (the variable's last use in the creating thread's code) would release, and
    zero, a variable of the region (a thread's own array made in a `single`) that the task
    is still to read; without it the region's end releases the thread's copy, after the
    tasks are done."""
    names = set()
    for head, payload, _ in enters.values():
        if payload["construct"] == "task" and head in labels:
            names |= {v["name"] for v in payload["vars"] if v["sharing"] == "shared"}
    return names


#: Constructs whose block only one thread of the team runs (the others go straight to its
#: end).
_ONE_THREAD = ("single", "master", "masked", "section")


def _move_dels_after(func_ir, head_block, at, inside, end, exit_call):
    """Moves the `del`s of variables made before a one-thread construct (`single`,
    `master`, ...) from its block to its end: every thread holds its own reference to such
    a variable (an argument, a value of its team's region), and Numba put the release at
    the last use, inside the block, which the other threads skip (a leak per thread and
    call).  The `del`s on raising paths stay: a thread that raises there returns before
    the end."""
    made = {s.target.name for label in inside for s in func_ir.blocks[label].body
            if isinstance(s, ir.Assign)}
    made |= {s.target.name for s in head_block.body[at + 1:]
             if isinstance(s, ir.Assign) and s.value is not exit_call}
    moved = []

    def strip(stmts):
        kept = []
        for stmt in stmts:
            if isinstance(stmt, ir.Del) and stmt.value not in made:
                moved.append(stmt)
            else:
                kept.append(stmt)
        return kept

    # the head block's statements after the enter marker, up to the exit marker if there
    stop = next((i for i, stmt in enumerate(head_block.body)
                 if isinstance(stmt, ir.Assign) and stmt.value is exit_call),
                len(head_block.body))
    head_block.body = (head_block.body[:at + 1] + strip(head_block.body[at + 1:stop])
                       + head_block.body[stop:])
    for label in inside:
        block = func_ir.blocks[label]
        if not isinstance(block.terminator, _RAISES):
            block.body = strip(block.body)
    if not moved:
        return
    # right after the exit marker (the pass puts the construct's end, where the other
    # threads join, at the marker)
    end_block = func_ir.blocks[end]
    after = next(i for i, stmt in enumerate(end_block.body)
                 if isinstance(stmt, ir.Assign) and stmt.value is exit_call) + 1
    present = {s.value for s in end_block.body if isinstance(s, ir.Del)}
    dels = []
    for stmt in moved:
        if stmt.value not in present:
            present.add(stmt.value)
            dels.append(stmt)
    end_block.body[after:after] = dels


_RAISES = (ir.Raise, ir.StaticRaise, ir.DynamicRaise)


def _blocks_between(func_ir, head, end):
    """Blocks reachable from `head`'s successors without passing `end`."""
    seen, stack = set(), list(func_ir.blocks[head].terminator.get_targets())
    while stack:
        label = stack.pop()
        if label in seen or label == end:
            continue
        seen.add(label)
        stack.extend(func_ir.blocks[label].terminator.get_targets())
    return seen
