"""Tests of pyomp's OpenMP directive parser: structure, spans, checks, errors and a fuzz."""

import random
import re

import pytest
from pyomp.directives import ALLOWED_CLAUSES, CLAUSE_NAMES, CONSTRUCTS, Directive, parse
from pyomp.errors import (
    ClauseNotAllowedError,
    DirectiveSyntaxError,
    MultipleNumThreadsClauses,
    ParallelForInvalidCollapseCount,
    PyompError,
)

# Constructs whose bare name is not a complete directive.
_NEEDS_ARGS = {
    "cancel": "cancel parallel",
    "cancellation point": "cancellation point for",
    "threadprivate": "threadprivate(a)",
}


# -- constructs -----------------------------------------------------------------------------
@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_every_construct_parses_to_its_canonical_name(construct):
    text = _NEEDS_ARGS.get(construct, construct)
    d = parse(text)
    assert isinstance(d, Directive)
    assert d.construct == construct
    assert d.text == text
    assert d.span == (0, len(text))


@pytest.mark.parametrize("text,construct", [
    ("  parallel   for\tsimd  ", "parallel for simd"),
    ("target\nteams  distribute parallel for", "target teams distribute parallel for"),
    ("target   enter data map(to: a)", "target enter data"),
])
def test_whitespace_between_words_is_normalised(text, construct):
    assert parse(text).construct == construct


def test_every_construct_has_a_table_entry_and_table_uses_known_clauses():
    assert set(ALLOWED_CLAUSES) == set(CONSTRUCTS)
    for clauses in ALLOWED_CLAUSES.values():
        assert set(clauses) <= set(CLAUSE_NAMES)


@pytest.mark.parametrize("text,kind", [
    ("atomic", "update"), ("atomic read", "read"), ("atomic write", "write"),
    ("atomic update", "update"), ("atomic capture seq_cst", "capture"),
    ("atomic seq_cst, capture", "capture"), ("atomic hint(1) read", "read"),
])
def test_atomic_kind(text, kind):
    assert parse(text).atomic_kind == kind


def test_construct_arguments():
    d = parse("critical (lock_a) hint(2)")
    assert d.name == "lock_a" and d.text[d.name_span[0]:d.name_span[1]] == "lock_a"
    assert d.clause("hint").expr.text == "2"
    assert parse("critical").name is None
    assert parse("cancel taskgroup if(err)").cancel_type == "taskgroup"
    assert parse("cancellation point sections").cancel_type == "sections"
    assert [e.text for e in parse("flush(a, b[i], c[0:n])").flush_list] == \
        ["a", "b[i]", "c[0:n]"]
    assert parse("flush acq_rel").has("acq_rel")
    assert [v.name for v in parse("threadprivate(x, y)").threadprivate_vars] == ["x", "y"]
    assert parse("ordered simd").has("simd")
    sink = parse("ordered depend(sink: i-1, j)").clause("depend")
    assert sink.kind == "sink" and [e.text for e in sink.items] == ["i-1", "j"]
    assert parse("ordered depend(source)").clause("depend").kind == "source"


# -- clauses --------------------------------------------------------------------------------
@pytest.mark.parametrize("text,op,names", [
    ("parallel for reduction(+:s)", "+", ["s"]),
    ("parallel reduction(- : a, b)", "-", ["a", "b"]),
    ("for reduction(*:p)", "*", ["p"]),
    ("for reduction(&:m)", "&", ["m"]),
    ("for reduction(|:m)", "|", ["m"]),
    ("for reduction(^:m)", "^", ["m"]),
    ("for reduction(&&:ok)", "&&", ["ok"]),
    ("for reduction(and:ok)", "&&", ["ok"]),
    ("for reduction(||:any_)", "||", ["any_"]),
    ("for reduction(or:any_)", "||", ["any_"]),
    ("for reduction(max:hi)", "max", ["hi"]),
    ("for reduction(min:lo, lo2)", "min", ["lo", "lo2"]),
    ("taskgroup task_reduction(+: t)", "+", ["t"]),
    ("task in_reduction(+: t)", "+", ["t"]),
])
def test_reduction(text, op, names):
    c = parse(text).clauses[0]
    assert c.op == op
    assert [v.name for v in c.vars] == names


def test_reduction_modifier():
    c = parse("parallel for reduction(inscan, +: s)").clause("reduction")
    assert c.modifiers == ("inscan",) and c.op == "+"


@pytest.mark.parametrize("text,kind,mods,chunk", [
    ("for schedule(static)", "static", (), None),
    ("for schedule(dynamic, 1000)", "dynamic", (), "1000"),
    ("for schedule(guided, n // (4*t))", "guided", (), "n // (4*t)"),
    ("for schedule(auto)", "auto", (), None),
    ("for schedule(runtime)", "runtime", (), None),
    ("for schedule(monotonic: static, 4)", "static", ("monotonic",), "4"),
    ("for schedule(nonmonotonic, simd: dynamic, f(a, b))", "dynamic",
     ("nonmonotonic", "simd"), "f(a, b)"),
    ("distribute dist_schedule(static, 64)", "static", (), "64"),
])
def test_schedule(text, kind, mods, chunk):
    c = parse(text).clauses[0]
    assert c.kind == kind and c.modifiers == mods
    assert (c.expr.text if c.expr else None) == chunk
    if c.expr:
        assert text[c.expr.span[0]:c.expr.span[1]] == chunk


@pytest.mark.parametrize("text,kind,items,iterator", [
    ("task depend(in: a)", "in", ["a"], None),
    ("task depend(out: a[i], b[i+1])", "out", ["a[i]", "b[i+1]"], None),
    ("task depend(inout: a[lo:hi], x.y[f(1, 2)])", "inout", ["a[lo:hi]", "x.y[f(1, 2)]"],
     None),
    ("task depend(mutexinoutset: m)", "mutexinoutset", ["m"], None),
    ("task depend(inoutset: m)", "inoutset", ["m"], None),
    ("task depend(depobj: o)", "depobj", ["o"], None),
    ("task depend(iterator(i=0:n), in: a[i])", "in", ["a[i]"], "iterator(i=0:n)"),
])
def test_depend(text, kind, items, iterator):
    c = parse(text).clause("depend")
    assert c.kind == kind
    assert [e.text for e in c.items] == items
    assert c.modifier == iterator
    for e in c.items:
        assert text[e.span[0]:e.span[1]] == e.text


@pytest.mark.parametrize("text,kind,mods,items", [
    ("target map(a)", None, (), ["a"]),
    ("target map(to: a[0:n])", "to", (), ["a[0:n]"]),
    ("target map(from: a[:n], b[lo:])", "from", (), ["a[:n]", "b[lo:]"]),
    ("target data map(tofrom: a)", "tofrom", (), ["a"]),
    ("target enter data map(alloc: a)", "alloc", (), ["a"]),
    ("target exit data map(release: a)", "release", (), ["a"]),
    ("target exit data map(delete: a)", "delete", (), ["a"]),
    ("target map(always, close, tofrom: a[1:2][3:4])", "tofrom", ("always", "close"),
     ["a[1:2][3:4]"]),
])
def test_map(text, kind, mods, items):
    c = parse(text).clause("map")
    assert c.kind == kind and c.modifiers == mods
    assert [e.text for e in c.items] == items


def test_array_section_helpers():
    e = parse("target map(to: a[lo:hi][:n][i])").clause("map").items[0]
    assert e.base_name() == "a"
    assert e.sections() == (("lo", "hi"), (None, "n"), ("i", None))


@pytest.mark.parametrize("text,mod,expr", [
    ("parallel if(n > 1000 and flag)", None, "n > 1000 and flag"),
    ("parallel if(parallel: n > 1)", "parallel", "n > 1"),
    ("target data if(target data: ok)", "target data", "ok"),
    ("target parallel for if(target: a) if(parallel: b)", "target", "a"),
    ("task if(task: f(x, [1, 2]))", "task", "f(x, [1, 2])"),
    ("parallel if(parallel_n)", None, "parallel_n"),
])
def test_if(text, mod, expr):
    c = parse(text).clause("if")
    assert c.modifier == mod and c.expr.text == expr


@pytest.mark.parametrize("text,name,expr", [
    ("parallel num_threads(k+1)", "num_threads", "k+1"),
    ("parallel num_threads( min(a, b) )", "num_threads", "min(a, b)"),
    ("parallel num_threads(x.shape[0] // 2)", "num_threads", "x.shape[0] // 2"),
    ("task final(depth > 3)", "final", "depth > 3"),
    ("task priority(p)", "priority", "p"),
    ("taskloop grainsize(strict: 4)", "grainsize", "4"),
    ("taskloop num_tasks(n)", "num_tasks", "n"),
    ("teams num_teams(4) thread_limit(t)", "num_teams", "4"),
    ("target device(dev)", "device", "dev"),
    ("masked filter(1)", "filter", "1"),
    ("for collapse(2)", "collapse", "2"),
    ("for ordered(2)", "ordered", "2"),
    ("simd safelen(8) simdlen(4)", "safelen", "8"),
    ("task detach(ev)", "detach", "ev"),
    ("parallel num_threads({'a': 1}['a'])", "num_threads", "{'a': 1}['a']"),
])
def test_expression_clauses(text, name, expr):
    c = parse(text).clause(name)
    assert c.expr.text == expr
    assert text[c.expr.span[0]:c.expr.span[1]] == expr


@pytest.mark.parametrize("text,name,kind", [
    ("parallel default(shared)", "default", "shared"),
    ("parallel default(none)", "default", "none"),
    ("parallel default(private)", "default", "private"),
    ("parallel default(firstprivate)", "default", "firstprivate"),
    ("parallel proc_bind(master)", "proc_bind", "master"),
    ("parallel proc_bind(primary)", "proc_bind", "primary"),
    ("parallel proc_bind(close)", "proc_bind", "close"),
    ("parallel proc_bind(spread)", "proc_bind", "spread"),
    ("loop bind(thread)", "bind", "thread"),
    ("for order(concurrent)", "order", "concurrent"),
    ("target defaultmap(tofrom: scalar)", "defaultmap", "tofrom"),
])
def test_keyword_clauses(text, name, kind):
    assert parse(text).clause(name).kind == kind


@pytest.mark.parametrize("text,name,names", [
    ("parallel private(a, b) ", "private", ["a", "b"]),
    ("parallel firstprivate(a)", "firstprivate", ["a"]),
    ("for lastprivate(conditional: a)", "lastprivate", ["a"]),
    ("parallel shared(a,b,c)", "shared", ["a", "b", "c"]),
    ("single copyprivate(x)", "copyprivate", ["x"]),
    ("parallel copyin(tp)", "copyin", ["tp"]),
    ("simd linear(i: 2)", "linear", ["i"]),
    ("simd linear(val(i, j): s)", "linear", ["i", "j"]),
    ("simd aligned(a, b: 64)", "aligned", ["a", "b"]),
    ("simd nontemporal(a)", "nontemporal", ["a"]),
    ("target is_device_ptr(p)", "is_device_ptr", ["p"]),
    ("target data use_device_ptr(p) map(a)", "use_device_ptr", ["p"]),
    ("parallel allocate(a)", "allocate", ["a"]),
    ("parallel allocate(omp_default_mem_alloc: a, b) private(a, b)", "allocate", ["a", "b"]),
])
def test_variable_lists(text, name, names):
    c = parse(text).clause(name)
    assert [v.name for v in c.vars] == names
    for v in c.vars:
        assert text[v.span[0]:v.span[1]] == v.name


def test_clause_details():
    assert parse("for lastprivate(conditional: a)").clause("lastprivate").modifiers == \
        ("conditional",)
    lin = parse("simd linear(val(i, j): s)").clause("linear")
    assert lin.modifiers == ("val",) and lin.expr.text == "s"
    assert parse("simd aligned(a: 64)").clause("aligned").expr.text == "64"
    assert parse("taskloop grainsize(strict: 4)").clause("grainsize").modifiers == ("strict",)
    assert parse("target device(ancestor: 1)").clause("device").modifiers == ("ancestor",)
    up = parse("target update to(a[0:n]) from(b) nowait")
    assert [e.text for e in up.clause("to").items] == ["a[0:n]"]
    assert up.clause("from").items[0].text == "b" and up.has("nowait")
    assert parse("target defaultmap(tofrom: scalar)").clause("defaultmap").modifiers == \
        ("scalar",)
    d = parse("task untied, mergeable")
    assert d.has("untied") and d.has("mergeable") and not d.has("nowait")
    assert len(parse("parallel private(a) private(b)").clauses_named("private")) == 2


def test_clause_spans_cover_the_clause_text():
    text = "  parallel for  reduction(+: s) , schedule(dynamic, n // (4*t))  "
    d = parse(text)
    assert [text[c.span[0]:c.span[1]] for c in d.clauses] == \
        ["reduction(+: s)", "schedule(dynamic, n // (4*t))"]
    assert d.span == (2, len(text) - 2)


# -- errors ---------------------------------------------------------------------------------
def _caret_col(err):
    lines = str(err).splitlines()
    caret = next(line for line in lines if set(line.strip()) == {"^"})
    return caret.index("^")


@pytest.mark.parametrize("text,cls,token,words", [
    ("paralel for", DirectiveSyntaxError, "paralel", ["unknown", "'parallel'"]),
    ("prallel", DirectiveSyntaxError, "prallel", ["'parallel'"]),
    ("parallelfor", DirectiveSyntaxError, "parallelfor", ["'parallel for'"]),
    ("PARALLEL FOR", DirectiveSyntaxError, "PARALLEL", ["lowercase", "'parallel'"]),
    ("for schedul(static)", DirectiveSyntaxError, "schedul", ["unknown clause", "'schedule'"]),
    ("for scheduleX(static)", DirectiveSyntaxError, "scheduleX", ["'schedule'"]),
    ("for schedule(dinamic)", DirectiveSyntaxError, "dinamic", ["'dynamic'"]),
    ("parallel for reduction(max s)", DirectiveSyntaxError, "s", ["':'"]),
    ("parallel num_threads(4", DirectiveSyntaxError, "(", ["never closed"]),
    ("parallel num_threads(4))", DirectiveSyntaxError, ")", ["unmatched"]),
    ("parallel num_threads(4 +)", DirectiveSyntaxError, "4 +", ["Python expression"]),
    ("parallel num_threads()", DirectiveSyntaxError, ")", ["expression"]),
    ("parallel private(a,)", DirectiveSyntaxError, ")", ["variable name"]),
    ("parallel private(for)", DirectiveSyntaxError, "for", ["keyword"]),
    ("parallel if(x) $", DirectiveSyntaxError, "$", ["unexpected character"]),
    ("single schedule(static)", ClauseNotAllowedError, "schedule(static)",
     ["'single'", "copyprivate"]),
    ("parallel nowait", ClauseNotAllowedError, "nowait", ["'parallel'", "num_threads"]),
    ("parallel for nowait", ClauseNotAllowedError, "nowait", ["'parallel for'"]),
    ("for num_threads(4)", ClauseNotAllowedError, "num_threads(4)", ["'for'", "schedule"]),
    ("barrier nowait", ClauseNotAllowedError, "nowait", ["no clauses"]),
    ("parallel num_threads(2) num_threads(3)", MultipleNumThreadsClauses, "num_threads(3)",
     []),
    ("for collapse(0)", ParallelForInvalidCollapseCount, "0", ["positive"]),
    ("for collapse(x)", ParallelForInvalidCollapseCount, "x", ["positive"]),
    ("for collapse(-1)", ParallelForInvalidCollapseCount, "-1", ["positive"]),
    ("parallel private(x) shared(x)", ClauseNotAllowedError, "x", ["private", "shared"]),
    ("parallel private(x, y, x)", ClauseNotAllowedError, "x", ["twice"]),
    ("for schedule(static) schedule(dynamic)", ClauseNotAllowedError, "schedule(dynamic)",
     ["at most once"]),
    ("parallel if(a) if(b)", ClauseNotAllowedError, "if(b)", ["at most once"]),
    ("parallel for if(task: a)", ClauseNotAllowedError, "if(task: a)", ["modifier"]),
    ("taskloop grainsize(2) num_tasks(4)", ClauseNotAllowedError, "num_tasks(4)",
     ["exclusive"]),
    ("single copyprivate(x) nowait", ClauseNotAllowedError, "nowait", ["copyprivate"]),
    ("for schedule(runtime, 4)", DirectiveSyntaxError, "4", ["chunk"]),
    ("atomic read write", DirectiveSyntaxError, "write", ["at most one"]),
    ("task depend(sink: i)", ClauseNotAllowedError, "depend(sink: i)", ["ordered"]),
])
def test_errors(text, cls, token, words):
    with pytest.raises(cls) as info:
        parse(text)
    err = info.value
    assert type(err) is cls
    assert err.directive == text
    assert text[err.span[0]:err.span[1]] == token
    for word in words:
        assert word in str(err)
    assert _caret_col(err) == err.span[0] + 4  # errors.py indents the excerpt by 4
    assert not re.search(r"__ANON|LPAR|RPAR|COLON|\$END|NAME\b", str(err))


def test_firstprivate_and_lastprivate_may_share_a_variable():
    d = parse("parallel for firstprivate(x) lastprivate(x)")
    assert [c.name for c in d.clauses] == ["firstprivate", "lastprivate"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_directive(text):
    with pytest.raises(DirectiveSyntaxError, match="empty"):
        parse(text)


def test_non_string_is_a_pyomp_error():
    with pytest.raises(PyompError):
        parse(42)


def test_errors_pickle():
    import pickle
    with pytest.raises(PyompError) as info:
        parse("for schedule(dinamic)")
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)


# -- robustness -----------------------------------------------------------------------------
_SEEDS = [
    "parallel for reduction(+:s) schedule(dynamic, 1000) private(a, b)",
    "target teams distribute parallel for simd map(tofrom: a[0:n]) collapse(2)",
    "task depend(in: a[i+1], b[lo:hi]) if(task: n > 1 and f(x, y)) priority(p)",
    "parallel if(parallel: n > 10) num_threads(k+1) default(none) shared(x)",
    "critical(name) hint(4)",
    "atomic capture seq_cst",
    "flush(a, b)",
    "taskloop grainsize(strict: 4) nogroup lastprivate(conditional: z)",
    "simd linear(val(i): 2) aligned(a: 64) safelen(8)",
    "cancellation point parallel",
]
_ALPHABET = "abcdefghijklmnopqrstuvwxyz_0123456789 ()[]{},:+-*/&|^<>=!.'\"$#@\\\n\t\x00é"


def _mutate(rng, text):
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        i = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op == 1:
            chars.insert(i, rng.choice(_ALPHABET))
        elif op == 2 and len(chars) > 1:
            j = rng.randrange(len(chars))
            i = min(i, len(chars) - 1)
            chars[i], chars[j] = chars[j], chars[i]
        else:
            chars.insert(i, rng.choice(["(", ")", "(((((", "]]", "parallel", "PRIVATE"]))
    return "".join(chars)


def test_fuzz_only_directives_or_pyomp_errors():
    # (pathological inputs among the cases: a parser that backtracks exponentially would
    # hang here, which the suite's run fails on; no time limit is asserted)
    rng = random.Random(20240613)
    outcomes = {"ok": 0, "error": 0}
    cases = [_mutate(rng, rng.choice(_SEEDS)) for _ in range(3000)]
    cases += ["(" * 5000, "parallel num_threads(" + "(" * 3000 + "1" + ")" * 3001,
              "parallel if(" + "-" * 5000 + "1)", "for " + "nowait " * 2000]
    for text in cases:
        try:
            result = parse(text)
        except PyompError as err:
            str(err)  # rendering must not fail either
            outcomes["error"] += 1
        else:
            assert isinstance(result, Directive)
            outcomes["ok"] += 1
    assert outcomes["ok"] and outcomes["error"]
