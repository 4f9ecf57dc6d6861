"""Where a `with` block ends, for Numba's bytecode reader (Python 3.10, 3.12, 3.13).

From Python 3.11 on Numba takes a `with` block's end (the offset where it puts the block's
`pop_block`, the region's end for pyomp) from the code object's exception table: the
largest end among the entries whose handler is the `with`'s cleanup (PUSH_EXC_INFO,
WITH_EXCEPT_START) (`byteflow.TraceRunner.op_BEFORE_WITH`, `Interpreter.op_BEFORE_WITH`,
then `Interpreter._start_new_block` / `_dispatch` insert the `pop_block` at the first block
at or after that offset).

CPython 3.12 and 3.13 compile the test at the bottom of a `while` loop (and of a loop with
`continue`, or a `for` loop nested in such a loop) as POP_JUMP_IF_FALSE to the loop's exit
plus an unconditional JUMP_BACKWARD to its body, and leave that JUMP_BACKWARD out of every
exception-table entry (3.11 compiled one POP_JUMP_BACKWARD_IF_TRUE, inside the entry).
When the loop is the last statement of the `with` body, the last entry of the `with` stops
right before the JUMP_BACKWARD, so Numba puts the `pop_block` on the loop's back edge:

- 3.12: the back edge is a 2-byte block directly followed by the loop's exit block, and
  Numba's POP_BLOCK peephole (`peep_hole_split_at_pop_block`) runs out of labels
  (InternalError "POP_BLOCK peephole failed");
- 3.13 (JUMP_BACKWARD has a cache entry, so the labels fit): the region "ends" inside the
  loop; the loop's exits bypass the `pop_block`, its back edge passes it every iteration.

The `with` block really ends where its normal exit code (`__exit__(None, None, None)`)
starts: right after that jump, the block every exit edge of the loop goes to.
`close_with_ranges` moves the end of every such entry past its jump, before Numba reads
the bytecode (every entry, not only the one with the largest end: for a `with` nested in
another, Numba 0.68 recomputes the end from the entries of the code it reads, leaving out
the entries of the unreachable cleanup handlers, which come last).  A jump in the middle
of a `with` gets covered too, as CPython should have done (inside a `with`, Numba and
pyomp.flow ignore the entries of its cleanup).  Only this compilation's `ByteCode`
object is changed, nothing of Numba's.

Python 3.10 has the opposite problem: when a small exit follows the block (a `return`),
its compiler copies the block's end (POP_BLOCK, the `__exit__` call) and that exit onto
each path that reaches the end of the block when its last statement is an `if` or a
`while` loop, so the block has two ends, and a region two exits.
`merge_with_exit_copies` sends each copy to the first one (the copies are the same
instructions, under the same block stack), so the block has one end again.

`fix_with_ends` does both (each is a no-op on the other versions' bytecode).
"""

import dis

from numba.core import byteflow

_BACKWARD_JUMPS = ("JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")


def close_with_ranges(bc):
    """Extends each exception-table entry of a `with` cleanup that stops right before an
    uncovered backward jump into the same `with` block over that jump (module doc).

    `bc` is Numba's `ByteCode` of the function being compiled; its `exception_entries` are
    replaced (a new tuple) when anything changes.  Returns whether anything changed.  A
    no-op before Python 3.11 (no exception table) and on bytecode without the pattern.
    """
    entries = getattr(bc, "exception_entries", None)
    if not entries:
        return False
    table = bc.table
    offsets = list(table)
    position = {off: i for i, off in enumerate(offsets)}

    def following(offset):
        """The offset of the next instruction (3.13's table lists CACHE entries)."""
        for off in offsets[position[offset] + 1:]:
            if table[off].opname != "CACHE":
                return off
        return None

    def is_with_cleanup(target):
        inst = table.get(target)
        while inst is not None and inst.opname in ("PUSH_EXC_INFO", "CACHE", "NOP"):
            nxt = following(inst.offset)
            inst = table[nxt] if nxt is not None else None
        return inst is not None and inst.opname == "WITH_EXCEPT_START"

    entries = list(entries)
    cleanups = {e.target for e in entries if is_with_cleanup(e.target)}
    starts = {t: min(e.start for e in entries if e.target == t) for t in cleanups}
    changed = False
    for i, entry in enumerate(entries):
        if entry.target not in cleanups:
            continue
        jump = table.get(entry.end)
        if jump is None or jump.opname not in _BACKWARD_JUMPS:
            continue
        if not starts[entry.target] <= jump.get_jump_target() < entry.end:
            continue  # a loop around the `with`, not one inside it
        if any(e.start <= jump.offset < e.end for e in entries):
            continue  # the jump has a handler: leave the table as it is
        end = following(jump.offset)
        if end is not None:
            entries[i] = entry._replace(end=end)
            changed = True
    if changed:
        bc.exception_entries = tuple(entries)
    return changed


_EXIT_ENDS = ("RETURN_VALUE", "RAISE_VARARGS", "RERAISE", "JUMP_ABSOLUTE", "JUMP_FORWARD")


def merge_with_exit_copies(bc):
    """Makes the copies of a `with` block's exit one exit again (Python 3.10; module doc).

    A copy is a POP_BLOCK of a `with` (its `__exit__(None, None, None)` call follows) and
    the straight-line code after it up to a `return`, `raise` or unconditional jump, no
    instruction of which but the first is a jump target.  Copies with the same
    instructions (jump targets compared as offsets) whose POP_BLOCKs have the same block
    stack (Numba's control-flow tracer) are one exit: the POP_BLOCK of each copy
    but the first becomes a JUMP_ABSOLUTE to the first.  Changes `bc.table` and
    `bc.labels`; returns whether anything changed.
    """
    table = bc.table
    if "POP_BLOCK" not in dis.opmap or "JUMP_ABSOLUTE" not in dis.opmap:
        return False  # 3.11+: no POP_BLOCK in the bytecode
    labels = set(bc.labels)
    offsets = list(table)
    position = {off: i for i, off in enumerate(offsets)}

    def exit_copy(start):
        """The instructions of the copy that starts at POP_BLOCK `start`, or None."""
        insts = [table[off] for off in offsets[position[start]:]]
        if [i.opname for i in insts[1:6]] != ["LOAD_CONST", "DUP_TOP", "DUP_TOP",
                                                "CALL_FUNCTION", "POP_TOP"] \
                or bc.co_consts[insts[1].arg] is not None or insts[4].arg != 3:
            return None  # not a `with` block's end
        key = []
        for inst in insts:
            if inst.offset != start and inst.offset in labels:
                return None
            key.append((inst.opname, inst.get_jump_target() if inst.is_jump else inst.arg))
            if inst.opname in _EXIT_ENDS:
                return tuple(key)
            if inst.is_jump:
                return None
        return None

    copies = {}  # instructions -> [offsets of their copies]
    for off, inst in table.items():
        if inst.opname == "POP_BLOCK":
            key = exit_copy(off)
            if key is not None:
                copies.setdefault(key, []).append(off)
    groups = [offs for offs in copies.values() if len(offs) > 1]
    if not groups:
        return False
    # Each copy's block stack, from Numba's tracer run with every copy starting a block (a
    # copy reached by falling through, e.g. the end of an `if`, does not start one).
    original = bc.labels
    bc.labels = sorted(labels.union(*groups))
    try:
        flow = byteflow.Flow(bc)
        flow.run()
    finally:
        bc.labels = original
    return _jump_to_first_copy(bc, flow, groups, labels)


def _jump_to_first_copy(bc, flow, groups, labels):
    """Of each group of identical exit copies, those with the same block stack become one:
    the POP_BLOCK of each but the first becomes a JUMP_ABSOLUTE to the first.  Returns
    whether anything changed."""
    table = bc.table
    changed = False
    for offs in groups:
        stacks = []  # [(block stack, [offsets])]: the stacks hold dicts (unhashable)
        for off in sorted(offs):
            info = flow.block_infos.get(off)
            if info is None:
                continue  # unreachable
            for stack, same in stacks:
                if stack == info.blockstack:
                    same.append(off)
                    break
            else:
                stacks.append((info.blockstack, [off]))
        for _, same in stacks:
            first, *others = same
            for off in others:
                old = table[off]
                jump = type(old)(offset=off, opcode=dis.opmap["JUMP_ABSOLUTE"],
                                 arg=(first + 2) // 2, nextoffset=old.next)
                jump.lineno = old.lineno
                assert jump.get_jump_target() == first
                table[off] = jump
                labels.add(first)
                changed = True
    if changed:
        bc.labels = sorted(labels)
    return changed


def fix_with_ends(bc):
    """Gives every `with` block of `bc` (Numba's `ByteCode` of the function being compiled)
    one end, where its exit code starts (module doc).  Returns whether `bc` changed."""
    ranges = close_with_ranges(bc)
    copies = merge_with_exit_copies(bc)
    return ranges or copies
