"""Numba's bytecode reader, for functions with OpenMP regions: `try` inside a `with` block.

From Python 3.11 on, exceptions are described by the code object's exception table, and
Numba's control-flow tracer (`numba.core.byteflow.Flow`) ignores every table entry while
it is inside a `with` block: a `with` body is covered by the entry of the `with`'s own
cleanup handler (`__exit__`), which Numba does not model.  That also hides the entries of
a `try` written inside the `with`: its `except`/`finally` handlers are never reached, the
`try` is dropped and an exception it should catch leaves the function.  Numba only meets
`with` blocks it lifts out (`objmode`), so plain Numba rarely shows this; for pyomp every
region is a `with` block and the body of a region must behave as the same code does
outside one.

`OpenMPFlow` follows a `try` inside a `with` as Numba follows one outside: an entry whose
handler is a `with`'s cleanup is still ignored; any other entry met inside the `with` is a
`try` written in it, treated exactly as Numba treats a `try` elsewhere (inside a `with`
that is not an OpenMP region, e.g. `objmode`, Numba's own handling stays: see
`interpret`).  A `with` block inside a `try` (around a region, or a construct or `objmode`
block inside a `try` in a region) is a located compile-time error: Numba does not follow a
`try` around a `with` (it rejects one around `objmode` too).  `OpenMPTraceRunner` puts the
end of a `with` that holds a `try` where the `with`'s normal exit starts (Python 3.12+).
`OpenMPInterpreter` is Numba's `Interpreter` reading the bytecode with these.  Nothing of
Numba's is changed: they are used only by pyomp's pipeline, for functions that use
`openmp`; Numba's `Interpreter.interpret` and `Flow.run` run as they are, over a copy of
their module's globals naming pyomp's classes.
"""

import functools
import linecache
import types

from numba.core import byteflow, interpreter, ir
from numba.core.unsafe import eh
from numba.core.utils import PYVERSION

from .errors import UnsupportedConstructError
from .regions import WITH_IN_TRY

_NEW_TABLE = PYVERSION >= (3, 11)  # exception tables (3.10 has SETUP_FINALLY blocks)


class OpenMPFlow(byteflow.Flow):
    """`Flow` that also follows the `try` blocks inside `with` blocks (module doc)."""

    @functools.cached_property
    def _with_cleanups(self):
        """Handler offsets of the `with` statements' cleanups (`__exit__` on an exception):
        a handler that starts PUSH_EXC_INFO, WITH_EXCEPT_START."""
        return _with_cleanup_targets(self._bytecode)

    @staticmethod
    def _innermost(state, kinds):
        for block in reversed(state._blockstack):
            if block["kind"] in kinds:
                return block
        return None

    def _own_try(self, state):
        """The innermost `try` block, if it lies inside the innermost `with` block."""
        top = self._innermost(state, (byteflow.BlockKind("TRY"), byteflow.BlockKind("WITH")))
        return top if top is not None and top["kind"] == byteflow.BlockKind("TRY") else None

    @functools.cached_property
    def _plain_with_ends(self):
        """The block ends (as `op_BEFORE_WITH` computes them) of the `with` blocks that are
        not OpenMP regions (`interpret`): inside those, a `try` is left to Numba."""
        bc = self._bytecode
        begins = getattr(bc, "_pyomp_plain_withs", ())
        ends = set()
        for begin in begins:
            try:
                head = bc.find_exception_entry(bc[begin].next)
                ends.add(max(e.end for e in bc.exception_entries if e.target == head.target))
            except (AttributeError, KeyError, ValueError):
                continue
        return ends

    def _run_handle_exception(self, runner, state):
        if not _NEW_TABLE or not state.in_with():
            return super()._run_handle_exception(runner, state)
        self._check_no_try_around(state)
        innermost = self._innermost(state, (byteflow.BlockKind("WITH"),))
        if innermost is not None and innermost["end"] in self._plain_with_ends:
            state.advance_pc()  # Numba's own handling inside a `with` block
            return False
        # Numba's handling of a `try` (Flow._run_handle_exception for 3.11+), for the
        # `try` blocks inside the innermost `with`.
        if self._own_try(state) is not None and \
                state.get_inst().opname not in byteflow._NO_RAISE_OPS:
            state.fork(pc=state.get_inst().next)
            runner._adjust_except_stack(state)
            return True
        state.advance_pc()
        entry = state.get_exception()
        # (inside a `with`, an entry other than a `with`'s cleanup is a `try` written in
        # it: one around the `with` is refused above)
        if entry is None or entry.target in self._with_cleanups:
            return False  # no `try` of this `with`'s body: Numba ignores it, as before
        top = self._own_try(state)
        if top is not None and top["end"] == entry.target:
            return False  # the same `try`
        block = state.make_block("TRY", end=entry.target)
        block["end_offset"] = entry.end
        block["stack_depth"] = entry.depth
        block["push_lasti"] = entry.lasti
        state.fork(pc=state._pc, extra_block=block)
        return True

    def _check_no_try_around(self, state):
        """A `with` block inside a `try` statement (its body, `except` or `finally` part):
        Numba does not follow a `try` around a `with` block (its with-lifting rejects one
        around `objmode`: "with's head-block must have exactly 1 JUMP"), so an exception
        raised in the `with` block would not reach the `except` as it does in Python;
        pyomp reports it at the `with` (inside a region or around one)."""
        blocks = [b["kind"] for b in state._blockstack]
        with_kind, try_kind = byteflow.BlockKind("WITH"), byteflow.BlockKind("TRY")
        innermost_with = max((i for i, kind in enumerate(blocks) if kind == with_kind),
                             default=0)
        if try_kind not in blocks[:innermost_with]:
            return
        func_id = self._bytecode.func_id
        line = state.get_inst().lineno or func_id.firstlineno
        source = linecache.getline(func_id.filename, line) or None
        raise UnsupportedConstructError(WITH_IN_TRY).at(
            filename=func_id.filename, line=line, source_line=source)


def _with_cleanup_targets(bc):
    """Handler offsets of the `with` statements' cleanups in `bc` (see OpenMPFlow)."""
    found = set()
    for entry in bc.exception_entries:
        inst = bc[entry.target]
        while inst.opname in ("PUSH_EXC_INFO", "CACHE", "NOP"):
            inst = bc[inst.next]
        if inst.opname == "WITH_EXCEPT_START":
            found.add(entry.target)
    return found


def _normal_exit(bc, start, end):
    """The offset in [start, end) where the `with` block entered at `start` calls
    `__exit__(None, None, None)` (LOAD_CONST None x3, [PRECALL 2,] CALL 2), skipping the
    exits of `with` blocks nested in it; None if not found."""
    ops = [i for i in bc if start <= i.offset < end and i.opname != "CACHE"]
    consts = bc.co_consts

    def is_none(i):
        return i.opname == "LOAD_CONST" and i.arg is not None and i.arg < len(consts) \
            and consts[i.arg] is None

    depth = 0
    for k, inst in enumerate(ops):
        if inst.opname == "BEFORE_WITH":
            depth += 1
            continue
        call = ops[k + 3:k + 5]
        if call and call[0].opname == "PRECALL":
            call = call[1:]
        if len(ops) > k + 3 and all(is_none(i) for i in ops[k:k + 3]) and call \
                and call[0].opname == "CALL" and call[0].arg == 2:
            if depth == 0:
                return inst.offset
            depth -= 1
    return None


class OpenMPTraceRunner(byteflow.TraceRunner):
    """Numba's `TraceRunner`, with the end of a `with` block that holds a `try` where its
    normal exit starts.

    Numba ends a `with` block (its `pop_block`) at the largest end of the exception-table
    entries of the `with`'s cleanup.  From Python 3.12 on, a `try` inside the `with` has
    its `except` code placed after the `with`'s normal exit (`__exit__(None, None, None)`),
    itself followed by the rest of the function, the `except` code jumping back to that
    exit; the cleanup's entries cover that `except` code, so Numba's end falls past the
    normal exit and the code after the `with` (a `return`) lands inside the block.  The
    block's `pop_block` goes where the normal exit starts: the `except` code, after it,
    still reaches the `pop_block` through its jump back (a region's single exit)."""

    if hasattr(byteflow.TraceRunner, "op_BEFORE_WITH"):
        def op_BEFORE_WITH(self, state, inst):
            super().op_BEFORE_WITH(state, inst)
            with_block = state._blockstack[-1] if state._blockstack else None
            offset, kws = state._insts[-1]
            if with_block is None or offset != inst.offset or "end" not in kws \
                    or with_block.get("kind") != byteflow.BlockKind("WITH"):
                return
            bc = state._bytecode
            end = kws["end"]
            exit_at = _normal_exit(bc, inst.next, end)
            if exit_at is None or exit_at >= end:
                return
            cleanups = _with_cleanup_targets(bc)
            holds_try = any(inst.next <= e.start < exit_at and e.target not in cleanups
                            for e in bc.exception_entries)
            if holds_try:
                # (the interpreter's end, where it puts the `pop_block`; the trace keeps
                # Numba's, so the `except` code after the exit still counts as inside
                # the `with`: the cleanup's entries there stay ignored)
                kws["end"] = exit_at


def _reading_with(flow_class, interpret, name="Flow"):
    """`interpret` (Numba's `Interpreter.interpret`, or `Flow.run`) running `flow_class`
    for the global `name` it uses: the same code object, over a copy of its module's
    globals."""
    if name not in interpret.__code__.co_names:
        return None
    scope = dict(interpret.__globals__)
    scope[name] = flow_class
    copy = types.FunctionType(interpret.__code__, scope, interpret.__name__,
                              interpret.__defaults__, interpret.__closure__)
    copy.__kwdefaults__ = interpret.__kwdefaults__
    copy.__doc__ = interpret.__doc__
    return copy


# (None if a Numba release no longer looks these names up: the classes then fall back to
# Numba's own reading, and tests/test_region_body.py's `try` cases fail)
_interpret = _reading_with(OpenMPFlow, interpreter.Interpreter.interpret)
_run = _reading_with(OpenMPTraceRunner, byteflow.Flow.run, name="TraceRunner")
if _run is not None:
    OpenMPFlow.run = _run


class OpenMPInterpreter(interpreter.Interpreter):
    """Numba's `Interpreter` with `OpenMPFlow` (module doc)."""

    if _interpret is not None:
        interpret = _interpret


def interpret(func_id, bc):
    """Numba IR of a function that uses `openmp`: Numba's reader with `OpenMPFlow`.

    A `try` inside a `with` block other than an OpenMP region (`numba.objmode`) is left to
    Numba as it is (it drops that `try`; its object-mode body could not lower one): when
    the first reading finds such a block with a `try` inside the function, the bytecode is
    read again with those blocks named (by the offset of their `enter_with`)."""
    from .passes.find_withs import find_openmp_withs

    func_ir = OpenMPInterpreter(func_id).interpret(bc)
    if not _NEW_TABLE:
        return func_ir
    ours = {id(stmt) for _, stmt, _ in find_openmp_withs(func_ir)}
    plain = [stmt.begin for block in func_ir.blocks.values() for stmt in block.body
             if isinstance(stmt, ir.EnterWith) and id(stmt) not in ours]
    has_try = any(isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Global)
                  and stmt.value.value is eh.mark_try_block
                  for block in func_ir.blocks.values() for stmt in block.body)
    if not plain or not has_try:
        return func_ir
    bc._pyomp_plain_withs = tuple(plain)
    return OpenMPInterpreter(func_id).interpret(bc)
