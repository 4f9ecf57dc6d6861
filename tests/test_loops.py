"""Worksharing loops: `for` and `parallel for` over range(...) with every schedule, the
iteration assignment the spec defines, reductions, private/firstprivate/lastprivate,
nowait, and clear errors for loops the construct cannot take."""

import textwrap

import numpy as np
import pyomp
import pytest
from helpers import compile_source
from pyomp import njit, omp_get_thread_num, openmp

SCHEDULES = ["", "schedule(static)", "schedule(static, 3)", "schedule(dynamic)",
             "schedule(dynamic, 4)", "schedule(guided)", "schedule(guided, 2)",
             "schedule(auto)", "schedule(runtime)", "schedule(monotonic: dynamic, 2)",
             "schedule(nonmonotonic: dynamic)"]


def _compile(src, **names):
    return compile_source(src, "loops", **names)


def counting_loop(schedule):
    return _compile(textwrap.dedent(f"""
        def f(start, stop, step, hits, owner):
            with openmp("parallel for {schedule}"):
                for i in range(start, stop, step):
                    hits[i - min(start, stop) + 1] += 1
                    owner[i - min(start, stop) + 1] = omp_get_thread_num()
            return hits
    """))


_loops = {s: counting_loop(s) for s in SCHEDULES}


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("bounds", [(0, 100, 1), (5, 47, 3), (40, -3, -2), (7, 7, 1),
                                    (3, 4, 1), (-10, 10, 7)])
def test_every_iteration_runs_once(schedule, bounds, threads):
    start, stop, step = bounds
    hits = np.zeros(200, dtype=np.int64)
    _loops[schedule](start, stop, step, hits, np.zeros(200, dtype=np.int64))
    expected = np.zeros(200, dtype=np.int64)
    for i in range(start, stop, step):
        expected[i - min(start, stop) + 1] += 1
    assert (hits == expected).all()


def test_static_gives_each_thread_one_contiguous_block_in_order(threads):
    owner = np.full(200, -1, dtype=np.int64)
    n = 23
    _loops["schedule(static)"](0, n, 1, np.zeros(200, dtype=np.int64), owner)
    owners = owner[1:n + 1].tolist()
    assert owners == sorted(owners), "blocks in thread order"
    sizes = [owners.count(t) for t in range(threads)]
    assert sum(sizes) == n and max(sizes) - min(sizes) <= 1


def test_static_chunked_deals_chunks_round_robin(threads):
    owner = np.full(200, -1, dtype=np.int64)
    n, chunk = 31, 3
    _loops["schedule(static, 3)"](0, n, 1, np.zeros(200, dtype=np.int64), owner)
    assert owner[1:n + 1].tolist() == [(i // chunk) % threads for i in range(n)]


def _all_started(schedule):
    return compile_source(textwrap.dedent(f"""
        def f(started, saw_all, limit):
            k = 0
            with openmp("parallel for {schedule}"):
                for i in range(saw_all.size):
                    with openmp("atomic"):
                        started[0] += 1
                    seen = 0
                    t0 = omp_get_wtime()
                    # every iteration waits until all have started (or `limit` seconds)
                    while seen < saw_all.size and omp_get_wtime() - t0 < limit:
                        with openmp("atomic read"):
                            seen = started[0]
                    saw_all[i] = seen
            return k
    """), "alldyn", omp_get_wtime=pyomp.omp_get_wtime)


@pytest.mark.parametrize("schedule", ["schedule(dynamic)", "schedule(dynamic, 1)",
                                      "schedule(guided)", "schedule(static, 1)"])
def test_one_iteration_per_thread_runs_on_every_thread_at_once(schedule, threads):
    # k iterations of chunk 1 on k threads: a thread busy with one iteration cannot take
    # another, so each must run on its own thread, all at the same time.  (A dynamic loop
    # once gave a team the whole loop at its first claim: one thread ran the iterations
    # one after the other, each waiting here in vain.)
    started, saw_all = np.zeros(1, dtype=np.int64), np.zeros(threads, dtype=np.int64)
    _all_started(schedule)(started, saw_all, 10.0)
    assert saw_all.tolist() == [threads] * threads


@njit
def runtime_schedule(n, owner):
    with openmp("parallel for schedule(runtime)"):
        for i in range(n):
            owner[i] = omp_get_thread_num()
    return owner


def test_schedule_runtime_follows_omp_set_schedule(threads):
    try:
        pyomp.omp_set_schedule(pyomp.omp_sched_static, 2)
        owner = runtime_schedule(12, np.zeros(12, dtype=np.int64))
        assert owner.tolist() == [(i // 2) % threads for i in range(12)]
    finally:
        pyomp.omp_set_schedule(pyomp.omp_sched_static, 0)


@njit
def reductions(a):
    s = 0.0
    p = 1
    hi = -1
    lo = 10 ** 9
    bits = 0
    with openmp("parallel for reduction(+:s) reduction(*:p) reduction(max:hi) "
                "reduction(min:lo) reduction(|:bits) schedule(dynamic, 7)"):
        for i in range(a.size):
            s += a[i]
            if i % 10 == 0:
                p *= 2
            hi = max(hi, i)
            lo = min(lo, i * 3 + 1)
            bits |= 1 << (i % 20)
    return s, p, hi, lo, bits


def test_reductions_on_parallel_for(threads):
    a = np.arange(101, dtype=np.float64) * 0.5
    s, p, hi, lo, bits = reductions(a)
    assert s == pytest.approx(a.sum())
    assert (p, hi, lo, bits) == (2 ** 11, 100, 1, (1 << 20) - 1)


def test_pi_loop(threads):
    from kernels import pi_loop  # the benchmark's kernel (dynamic reductions: see above)
    assert pi_loop(1_000_000) == pytest.approx(np.pi, rel=1e-10)


@njit
def lastprivate(n, sched_dynamic):
    x = -1
    y = -1
    if sched_dynamic:
        with openmp("parallel for lastprivate(x) schedule(dynamic, 3)"):
            for i in range(n):
                x = i * 10
    else:
        with openmp("parallel for lastprivate(x)"):
            for i in range(n):
                x = i * 10
    with openmp("parallel for firstprivate(y) private(z)"):
        for i in range(n):
            z = y + i
            y = z
    return x, y


def test_lastprivate_takes_the_sequentially_last_iteration(threads):
    assert lastprivate(17, False) == (160, -1)
    assert lastprivate(17, True) == (160, -1)


@njit
def orphan_loops_in_a_region(n, a, b):
    total = 0
    with openmp("parallel reduction(+:total)"):
        with openmp("for nowait"):
            for i in range(n):
                a[i] = i
        with openmp("for schedule(dynamic)"):
            for j in range(n):
                b[j] = 2 * j
        total += 1
    return total


def test_for_constructs_inside_a_parallel_region(threads):
    a, b = np.zeros(50), np.zeros(50)
    assert orphan_loops_in_a_region(50, a, b) == threads
    assert (a == np.arange(50)).all() and (b == 2 * np.arange(50)).all()


@njit
def raising_loop(n, bad):
    s = 0
    with openmp("parallel for reduction(+:s)"):
        for i in range(n):
            if i == bad:
                raise ValueError("bad iteration", i)
            s += i
    return s


def test_exception_in_a_loop_propagates_without_hanging(threads):
    assert raising_loop(100, -1) == sum(range(100))
    with pytest.raises(ValueError) as err:
        raising_loop(100, 37)
    assert err.value.args == ("bad iteration", 37)


@pytest.mark.parametrize("body,error", [
    ("x = 1\n        for i in range(n):\n            a[i] = i", pyomp.ParallelForExtraCode),
    ("for i in range(n):\n            a[i] = i\n        x = 2", pyomp.ParallelForExtraCode),
    ("a[0] = 1", pyomp.ParallelForWrongLoopCount),
    ("for i in range(n):\n            a[i] = i\n        for j in range(n):\n            a[j] = j",
     pyomp.ParallelForWrongLoopCount),
    ("for v in a:\n            v += 1", pyomp.ParallelForWrongLoopCount),
    ("for i in range(n):\n            i = i + 1\n            a[0] = i",
     pyomp.ParallelForWrongLoopCount),
    ("while n > 0:\n            n -= 1", pyomp.ParallelForWrongLoopCount),
])
def test_loop_shape_errors(body, error):
    f = _compile(textwrap.dedent("""
        def f(n, a):
            with openmp("parallel for"):
                {body}
            return a
    """).replace("{body}", body))
    with pytest.raises(error) as err:
        f(5, np.zeros(5))
    assert ":3:" in str(err.value) and "with openmp" in str(err.value)


@njit
def raise_before_a_loop(n, who, out):
    with openmp("parallel"):
        if omp_get_thread_num() == who:
            raise RuntimeError("before the loop")
        with openmp("for"):
            for i in range(n):
                out[i] = i
    return out


def test_exception_before_a_worksharing_loop_releases_the_team(threads):
    # The raising thread never reaches the loop's barrier; the others must not wait for it.
    assert raise_before_a_loop(40, -1, np.zeros(40)).sum() == sum(range(40))
    with pytest.raises(RuntimeError, match="before the loop"):
        raise_before_a_loop(40, threads - 1, np.zeros(40))


@pytest.mark.parametrize("clause", ["allocate(a)"])
def test_clauses_not_lowered_yet_are_rejected_not_ignored(clause):
    f = _compile(textwrap.dedent(f"""
        def f(n, a):
            with openmp("parallel for {clause}"):
                for i in range(n):
                    a[i] = i
            return a
    """))
    with pytest.raises(pyomp.errors.UnsupportedConstructError) as err:
        f(4, np.zeros(4))
    msg = str(err.value)
    assert f"'{clause.split('(')[0]}' clause is not implemented" in msg
    src, caret = msg.splitlines()[1:3]
    assert src[caret.index("^"):].startswith(clause)


def test_loop_body_compiles_like_serial_numba():
    """The chunk loop vectorises as serial Numba's loop does (no gathers from a wraparound
    check): the same packed instructions in the machine code."""
    import re

    import numba

    def axpy(a, b, c):
        for i in range(a.size):
            a[i] = b[i] * 2.0 + c[i]
        return a

    @njit
    def axpy_omp(a, b, c):
        with openmp("parallel for schedule(dynamic, 64)"):
            for i in range(a.size):
                a[i] = b[i] * 2.0 + c[i]
        return a

    x, y, z = np.zeros(100), np.ones(100), np.ones(100)
    serial = numba.njit(axpy)
    np.testing.assert_equal(axpy_omp(x.copy(), y, z), serial(x.copy(), y, z))

    def packed(fn):
        (asm,) = fn.inspect_asm().values()
        return sorted(re.findall(r"\bv?(?:add|mul|fmadd\d*)pd\b", asm)), \
            re.findall(r"gather|scatter", asm)

    ours, theirs = packed(axpy_omp), packed(serial)
    # The same packed instructions; the chunk loop may hold its vector loop twice: LLVM
    # unswitches it on the profiler's gate (read once per loop), a copy for recording.
    assert sorted(set(ours[0])) == sorted(set(theirs[0])) and ours[0], (ours, theirs)
    assert len(ours[0]) in (len(theirs[0]), 2 * len(theirs[0])), (ours, theirs)
    assert not ours[1], "no gathers/scatters: indexing needs no wraparound check"


@njit
def collapse2(n, m, hits, owner):
    with openmp("parallel for collapse(2) schedule(static)"):
        for i in range(n):
            for j in range(1, m, 2):
                hits[i, j] += 1
                owner[i, j] = omp_get_thread_num()
    return hits


@njit
def collapse3(a):
    with openmp("parallel for collapse(3) schedule(dynamic, 5)"):
        for i in range(a.shape[0]):
            for j in range(a.shape[1] - 1, -1, -1):
                for k in range(a.shape[2]):
                    a[i, j, k] += i * 100 + j * 10 + k
    return a


@pytest.mark.parametrize("shape", [(5, 9), (1, 20), (7, 2), (0, 5), (3, 1)])
def test_collapse2_covers_non_square_nests_once(shape, threads):
    n, m = shape
    hits = np.zeros((max(n, 1), max(m, 1)), dtype=np.int64)
    owner = np.full_like(hits, -1)
    collapse2(n, m, hits, owner)
    expected = np.zeros_like(hits)
    expected[:n, 1:m:2] = 1
    assert (hits == expected).all()
    # static over the collapsed space: thread ids never decrease in iteration order
    flat = [owner[i, j] for i in range(n) for j in range(1, m, 2)]
    assert flat == sorted(flat)


def test_collapse3_with_negative_step(threads):
    a = collapse3(np.zeros((3, 4, 5)))
    i, j, k = np.indices(a.shape)
    assert (a == i * 100 + j * 10 + k).all()


@pytest.mark.parametrize("inner,error", [
    ("for j in range(i,\n                           n):", pyomp.ParallelForWrongLoopCount),
    ("x = 1\n            for j in range(n):", pyomp.ParallelForExtraCode),
])
def test_collapse_shape_errors(inner, error):
    f = _compile(textwrap.dedent("""
        def f(n, a):
            with openmp("parallel for collapse(2)"):
                for i in range(n):
                    {inner}
                        a[i] += 1
            return a
    """).replace("{inner}", inner))
    with pytest.raises(error):
        f(4, np.zeros(4))


def test_clause_naming_an_unknown_variable_is_an_error():
    f = _compile(textwrap.dedent("""
        def f(n, a):
            with openmp("parallel for reduction(+:total)"):
                for i in range(n):
                    a[i] = i
            return a
    """))
    with pytest.raises(pyomp.PyompError, match="'total' in reduction") as err:
        f(4, np.zeros(4))
    src, caret = str(err.value).splitlines()[1:3]
    assert src[caret.index("^"):].startswith("total")


@njit
def simd_forms(a, b):
    s = 0.0
    with openmp("parallel for simd reduction(+:s) simdlen(8)"):
        for i in range(a.size):
            a[i] = 2.0 * b[i]
            s += b[i]
    t = 0.0
    with openmp("parallel"):
        with openmp("for simd safelen(4)"):
            for i in range(a.size):
                a[i] += 1.0
        with openmp("simd reduction(+:t)"):
            for i in range(b.size):
                t += b[i]   # every thread runs the whole simd loop on its own t
    u = 0.0
    with openmp("simd"):
        for i in range(b.size):
            u += b[i]
    return s, u


def test_simd_forms_compute_the_serial_result(threads):
    b = np.arange(50.0)
    a = np.zeros(50)
    s, u = simd_forms(a, b)
    assert s == pytest.approx(b.sum()) and u == b.sum()
    assert (a == 2.0 * b + 1.0).all()


@njit
def lastprivate_nonmonotonic(n):
    x = -1
    with openmp("parallel for lastprivate(x) schedule(nonmonotonic: dynamic, 3)"):
        for i in range(n):
            x = i * 10
    return x


def test_lastprivate_with_a_nonmonotonic_schedule(threads):
    # repeated: a wrong "last" thread shows up only sometimes
    assert all(lastprivate_nonmonotonic(17) == 160 for _ in range(50))


@njit
def linear_clause(n, a):
    x = 5
    y = 0
    with openmp("parallel for linear(x: 3) linear(y) schedule(dynamic, 2)"):
        for i in range(n):
            a[i] = x * 100 + y
            x += 1000          # changes in one iteration do not leak into the next
    return x, y


def test_linear_sets_each_iteration_and_keeps_the_last(threads):
    a = np.zeros(11, dtype=np.int64)
    x, y = linear_clause(11, a)
    assert a.tolist() == [(5 + 3 * i) * 100 + i for i in range(11)]
    assert (x, y) == (5 + 3 * 10 + 1000, 10)


@njit
def orphaned_worker(a, owner):
    with openmp("for schedule(static)"):
        for i in range(a.size):
            a[i] += i
            owner[i] = omp_get_thread_num()


@njit
def calls_an_orphaned_loop(a, owner):
    with openmp("parallel"):
        orphaned_worker(a, owner)
    return a


def test_orphaned_for_in_a_called_function(threads):
    a, owner = np.zeros(30), np.zeros(30, dtype=np.int64)
    assert (calls_an_orphaned_loop(a, owner) == np.arange(30)).all()
    assert sorted(set(owner.tolist())) == list(range(threads))
    # called outside any region, the loop runs on the calling thread alone
    a2, owner2 = np.zeros(5), np.full(5, -1, dtype=np.int64)
    orphaned_worker(a2, owner2)
    assert (a2 == np.arange(5)).all() and (owner2 == 0).all()


@njit
def histogram(values, nbins):
    hist = np.zeros(nbins, dtype=np.int64)
    with openmp("parallel for reduction(+:hist)"):
        for i in range(values.size):
            hist[values[i] % nbins] += 1
    return hist


@njit
def array_reductions(a):
    hi = np.full((2, 3), -1.0)
    prod = np.ones(3)
    with openmp("parallel reduction(max:hi) reduction(*:prod)"):
        t = omp_get_thread_num()
        for r in range(2):
            for c in range(3):
                hi[r, c] = max(hi[r, c], a[t, r, c])
        prod[t % 3] *= 2.0
    return hi, prod


def test_array_reduction_histogram(threads):
    values = np.arange(10_000) * 7
    expected = np.bincount(values % 13, minlength=13)
    assert (histogram(values, 13) == expected).all()


def test_array_reductions_max_and_product_on_parallel(threads):
    rng = np.random.default_rng(3)
    a = rng.random((threads, 2, 3))
    hi, prod = array_reductions(a)
    assert (hi == a.max(axis=0)).all()
    expected = np.ones(3)
    for t in range(threads):
        expected[t % 3] *= 2.0
    assert (prod == expected).all()


def test_array_reduction_leaks_nothing(threads):
    from numba.core.runtime import _nrt_python, rtsys
    _nrt_python.memsys_enable_stats()
    values = np.arange(1000)
    histogram(values, 7)
    before = rtsys.get_allocation_stats()
    for _ in range(10):
        histogram(values, 7)
    after = rtsys.get_allocation_stats()
    assert after.alloc - before.alloc == after.free - before.free


@njit
def section_histogram(values, hist, lo, hi):
    with openmp("parallel for reduction(+: hist[lo:hi])"):
        for i in range(values.size):
            hist[lo + values[i] % (hi - lo)] += 1
    return hist


@njit
def section_max(a, m):
    with openmp("parallel for reduction(max: m[:5])"):
        for i in range(a.size):
            m[i % 5] = max(m[i % 5], a[i])
    return m


def test_array_section_reductions(threads):
    values = np.arange(10_000) * 7
    hist = np.full(12, 5, dtype=np.int64)
    expected = hist.copy()
    for v in values:
        expected[2 + v % 7] += 1
    assert (section_histogram(values, hist, 2, 9) == expected).all()
    m = section_max(np.arange(40.0), np.full(8, -1.0))
    assert m.tolist() == [35.0, 36.0, 37.0, 38.0, 39.0, -1.0, -1.0, -1.0]


@pytest.mark.parametrize("item", ["a[1]", "a[::2]", "a + 1"])
def test_reduction_items_must_be_variables_or_sections(item):
    with pytest.raises(pyomp.errors.DirectiveSyntaxError,
                       match="a variable or an array section"):
        pyomp.directives.parse(f"parallel reduction(+: {item})")


@njit
def upper_triangle(n, hits, owner):
    with openmp("parallel for collapse(2) schedule(static)"):
        for i in range(n):
            for j in range(i + 1, n):
                hits[i, j] += 1
                owner[i, j] = omp_get_thread_num()
    return hits


@njit
def skewed_nest(n, hits):
    with openmp("parallel for collapse(3) schedule(dynamic, 3) lastprivate(k)"):
        for i in range(n):
            for j in range(i):
                for k in range(j, n, 2):
                    hits[i, j, k] += 1
    return k


@pytest.mark.parametrize("n", [0, 1, 2, 9, 30])
def test_triangular_collapse_runs_each_iteration_once(n, threads):
    hits = np.zeros((max(n, 1), max(n, 1)), dtype=np.int64)
    owner = np.full_like(hits, -1)
    upper_triangle(n, hits, owner)
    assert (hits[:n, :n] == np.triu(np.ones((n, n), dtype=np.int64), 1)).all()
    # static: the collapsed iterations are dealt in blocks in thread order
    order = [owner[i, j] for i in range(n) for j in range(i + 1, n)]
    assert order == sorted(order)
    if len(order) >= threads:
        assert set(order) == set(range(threads))


def test_collapse3_with_dependent_middle_and_inner_loops(threads):
    n = 11
    hits = np.zeros((n, n, n), dtype=np.int64)
    expected = np.zeros_like(hits)
    last = None
    for i in range(n):
        for j in range(i):
            for k in range(j, n, 2):
                expected[i, j, k] += 1
                last = k
    assert skewed_nest(n, hits) == last
    assert (hits == expected).all()


@njit
def lastprivate_nowait_then_barrier(n, m, seen):
    x = -1
    y = -1
    with openmp("parallel shared(x, y)"):
        with openmp("for nowait lastprivate(x) schedule(static, 2)"):
            for i in range(n):
                x = i * 3
        with openmp("barrier"):
            pass
        seen[omp_get_thread_num()] = x  # every thread sees the last iteration's value
        with openmp("for collapse(2) lastprivate(y) schedule(dynamic)"):
            for i in range(n):
                for j in range(m):
                    y = i * 100 + j
    return x, y


def test_lastprivate_with_nowait_and_a_barrier_and_with_collapse(threads):
    seen = np.zeros(threads, dtype=np.int64)
    assert lastprivate_nowait_then_barrier(11, 4, seen) == (30, 1003)
    assert (seen == 30).all()


@pytest.mark.parametrize("init,op,typename", [("1.5", "&", "float64"),
                                              ("(1, 2)", "+", "Tuple"),
                                              ("'ab'", "*", "Literal[str](ab)")])
def test_reduction_on_an_unsupported_type_is_a_located_error(init, op, typename,
                                                             monkeypatch):
    src = textwrap.dedent(f"""
        def f(n):
            s = {init}
            with openmp("parallel for reduction({op}: s)"):
                for i in range(n):
                    s = s
            return s
    """)
    # Found after typing, before lowering (pyomp.typechecks), with a caret under the
    # variable and the operators its type has.
    with pytest.raises(pyomp.PyompError) as err:
        _compile(src)(4)
    assert not isinstance(err.value, pyomp.errors.PassError)
    msg = str(err.value)
    assert f"reduction({op}: s) is not supported for a variable of type {typename}" in msg
    assert ":4:" in msg  # the line of the `with openmp`
    src_line, caret = msg.splitlines()[1:3]
    assert src_line[caret.index("^"):].startswith("s)")
    assert ("floats reduce with +, -, *, max, min" if init == "1.5"
            else "reductions work on integers, floats") in msg
    # The Rust pass checks again: its PassError names the file and line and shows it.
    monkeypatch.setattr(pyomp.typechecks, "_check_reductions", lambda region, typemap: None)
    with pytest.raises(pyomp.errors.PassError) as err:
        _compile(src)(4)
    msg = str(err.value)
    assert f"reduction({op}: s) is not supported for a variable of type {typename}" in msg
    assert ":4:" in msg and 'with openmp("parallel for' in msg.splitlines()[1]
