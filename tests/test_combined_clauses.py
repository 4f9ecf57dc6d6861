"""Combined constructs (`parallel for`, `parallel masked taskloop`, `loop`, ...) take every
clause their leaf constructs accept, each applied where OpenMP 5.2 (17.2) puts it.

Table-driven: for each combined form and each clause it accepts, a small program whose
result must equal the serial one: the same function with its `with openmp` lines removed,
compiled by plain numba.njit.
"""

import functools
import re
import textwrap
from typing import NamedTuple

import numba
import numpy as np
import pyomp
import pytest
from helpers import compile_source
from pyomp.directives.checks import ALLOWED_CLAUSES

N = 10

#: form -> (shape of its body, the directives around it).  Forms that are not a parallel
#: region run inside one, so their iterations, tasks or masked thread are a team's.
FORMS = {
    "parallel for": ("loop", ()),
    "parallel for simd": ("loop", ()),
    "parallel loop": ("loop", ()),
    "parallel sections": ("sections", ()),
    "parallel master": ("block", ()),
    "parallel masked": ("block", ()),
    "parallel master taskloop": ("loop", ()),
    "parallel master taskloop simd": ("loop", ()),
    "parallel masked taskloop": ("loop", ()),
    "parallel masked taskloop simd": ("loop", ()),
    "for simd": ("loop", ("parallel",)),
    "loop": ("loop", ("parallel",)),
    "master taskloop": ("loop", ("parallel",)),
    "master taskloop simd": ("loop", ("parallel",)),
    "masked taskloop": ("loop", ("parallel",)),
    "masked taskloop simd": ("loop", ("parallel",)),
    "taskloop simd": ("loop", ("parallel", "single")),
}
#: An orphaned `loop` (no parallel region around it) runs on the encountering thread.
ORPHANED_LOOP = "loop (orphaned)"

SCALE = "out[i] = x[i] * a"
PRIVATE_T = "t = x[i] * 2.0\nout[i] = t + a"
LAST_T = "t = x[i] * 2.0\nout[i] = t"
SUM = "s += x[i]"
LINEAR_J = "out[i] = x[i] + j\nj += 1"
COLLAPSED = "for k in range(3):\n    out[i * 3 + k] = x[i] * k + a"
ORDERED = 'with openmp("ordered"):\n    out[i + 1] = out[i] + x[i] * a'


class Case(NamedTuple):
    """One clause (or default(none) with the clauses it needs) and a body that uses it."""

    clause: str  # `{i}` becomes ` private(i)` where the loop is inside the body
    statement: str  # the loop body, over `i`
    covers: frozenset  # clause names it tests
    after: str = "0.0"  # the value returned as `r`, read after the region
    only: tuple = ()  # leaves or forms it is limited to (any of them), else all


def case(clause, statement=SCALE, after="0.0", covers=None, only=()):
    names = covers or {clause.split("(")[0]}
    return Case(clause, statement, frozenset(names), after, only)


CASES = {
    "if": case("if(n > 5)"),
    "if-parallel": case("if(parallel: n > 5)", covers={"if"}, only=("parallel",)),
    "if-taskloop": case("if(taskloop: n > 5)", covers={"if"}, only=("taskloop",)),
    "num_threads": case("num_threads(3)"),
    "proc_bind": case("proc_bind(close)"),
    "default": case("default(shared)"),
    "default-none-firstprivate": case("default(none) shared(out, x) firstprivate(a, n){i}",
                                      covers={"default", "shared", "firstprivate"}),
    "default-none-private": case("default(none) shared(out, x, n, a) private(t){i}",
                                 PRIVATE_T, covers={"default", "shared", "private"}),
    "default-none-lastprivate": case("default(none) shared(out, x, n, a) lastprivate(t){i}",
                                     LAST_T, "t", covers={"default", "lastprivate"}),
    "default-none-reduction": case("default(none) shared(out, x, n, a) reduction(+: s){i}",
                                   SUM, covers={"default", "reduction"}),
    "shared": case("shared(out, x)"),
    "private": case("private(t)", PRIVATE_T),
    "firstprivate": case("firstprivate(a)"),
    "lastprivate": case("lastprivate(t)", LAST_T, "t"),
    "firstprivate-lastprivate": case("firstprivate(t) lastprivate(t)", LAST_T, "t",
                                     covers={"firstprivate", "lastprivate"}),
    "reduction": case("reduction(+: s)", SUM),
    "linear": case("linear(j: 1)", LINEAR_J, "j", only=("for",)),
    "schedule": case("schedule(dynamic, 2)"),
    "collapse": case("collapse(2)", COLLAPSED),
    "ordered": case("ordered", ORDERED),
    "order": case("order(concurrent)"),
    "nowait": case("nowait"),
    "bind-parallel": case("bind(parallel)", covers={"bind"}, only=("parallel loop", "loop")),
    "bind-thread": case("bind(thread)", covers={"bind"}, only=(ORPHANED_LOOP,)),
    "filter": case("filter(0)"),
    "grainsize": case("grainsize(3)"),
    "num_tasks": case("num_tasks(4)"),
    "final": case("final(n > 100)"),
    "priority": case("priority(1)"),
    "untied": case("untied"),
    "mergeable": case("mergeable"),
    "nogroup": case("nogroup"),
    "safelen": case("safelen(4)"),
    "simdlen": case("simdlen(4)"),
    "aligned": case("aligned(x)"),
    "nontemporal": case("nontemporal(out)"),
}

#: Clauses the forms accept that this table does not run, and why.
NOT_RUN_HERE = {
    "allocate": "not implemented by pyomp (rejected with an error naming it)",
    "copyin": "needs a threadprivate variable: test_threadprivate.py runs it",
    "in_reduction": "needs an enclosing taskgroup's task_reduction: test_task_reductions.py",
}


def _form_parts(form):
    return ("loop",) if form == ORPHANED_LOOP else tuple(form.split())


def _applies(form, c):
    parts = _form_parts(form)
    if c.only and not any(o in parts or o == form for o in c.only):
        return False
    # (a body other than one loop has none of the clauses that need one: collapse,
    # ordered, linear)
    return c.covers <= set(ALLOWED_CLAUSES[_directive(form)])


def _shape(form):
    return "loop" if form == ORPHANED_LOOP else FORMS[form][0]


def _directive(form):
    return "loop" if form == ORPHANED_LOOP else form


def _wrappers(form):
    return () if form == ORPHANED_LOOP else FORMS[form][1]


def _body(shape, statement):
    """The region's body: the loop (its own or inside the block), or two sections of it."""
    loop = "for i in range({}):\n" + textwrap.indent(statement, "    ")
    if shape in ("loop", "block"):
        return loop.format("n")
    return "\n".join('with openmp("section"):\n' + textwrap.indent(loop.format(r), "    ")
                     for r in ("0, n // 2", "n // 2, n"))


def program(form, c):
    """The source of `f(out, x, n)` for one form and case, and its serial twin."""
    shape = _shape(form)
    clause = c.clause.replace("{i}", "" if shape == "loop" else " private(i)")
    code = _body(shape, c.statement)
    for directive in reversed((*_wrappers(form), f"{_directive(form)} {clause}")):
        code = f'with openmp("{directive}"):\n' + textwrap.indent(code, "    ")
    src = ("def f(out, x, n):\n    a = 2.0\n    s = 0.0\n    t = 0.0\n    j = 0\n"
           + textwrap.indent(code, "    ") + f"\n    r = {c.after}\n    return out, s, r\n")
    return src, serial_source(src)


def serial_source(src):
    """`src` without its `with openmp(...)` lines, their blocks dedented."""
    kept, opened = [], []  # indentation of each removed `with` still open
    for line in src.splitlines():
        indent = len(line) - len(line.lstrip())
        while opened and indent <= opened[-1]:
            opened.pop()
        if line.lstrip().startswith("with openmp("):
            opened.append(indent)
            continue
        kept.append(line[4 * len(opened):])
    return "\n".join(kept) + "\n"


@functools.cache
def compiled(form, case_id):
    src, serial = program(form, CASES[case_id])
    namespace = {"np": np}
    exec(compile(serial, f"<serial {form} {case_id}>", "exec"), namespace)
    return compile_source(src, "combined"), numba.njit(namespace["f"])


def _run(fn):
    out = np.zeros(3 * N + 1)
    result_out, s, r = fn(out, np.arange(N, dtype=np.float64), N)
    return result_out.tolist(), s, r


PAIRS = [(form, case_id) for form in (*FORMS, ORPHANED_LOOP) for case_id, c in CASES.items()
         if _applies(form, c)]

def _param(form, case_id):
    return pytest.param(form, case_id, id=f"{form}-{case_id}".replace(" ", "_"))


@pytest.mark.parametrize("form,case_id", [_param(f, c) for f, c in PAIRS])
def test_gives_the_serial_result(form, case_id, threads):
    fn, serial = compiled(form, case_id)
    assert _run(fn) == _run(serial)


@pytest.mark.parametrize("form", [*FORMS], ids=lambda f: f.replace(" ", "_"))
def test_every_clause_the_form_accepts_is_run(form):
    run = set().union(*(CASES[c].covers for f, c in PAIRS if f == form))
    left = set(ALLOWED_CLAUSES[form]) - run - set(NOT_RUN_HERE)
    if "taskloop" in form:
        left.discard("linear")  # rejected: test_linear_on_a_taskloop_simd_is_rejected
    assert not left, f"{form}: no case runs {sorted(left)}"


@pytest.mark.parametrize("directive,words", [
    # OpenMP counts a taskloop simd's linear steps from each chunk's start
    ("taskloop simd linear(j: 1)", "'linear' on 'taskloop simd' is not implemented"),
    ("parallel loop bind(thread)", "`bind(thread)` on 'parallel loop' contradicts"),
])
def test_what_is_not_implemented_says_so(directive, words):
    src = program("loop", CASES["linear"])[0].replace("loop linear(j: 1)", directive)
    with pytest.raises(pyomp.errors.UnsupportedConstructError, match=re.escape(words)):
        compile_source(src, "combined")(np.zeros(3 * N + 1), np.arange(N, dtype=np.float64),
                                        N)


def test_the_serial_twin_drops_every_openmp_line():
    src, serial = program("parallel sections", CASES["private"])
    assert "openmp" in src and "openmp" not in serial
    assert "    for i in range(0, n // 2):\n        t = x[i] * 2.0\n" in serial
