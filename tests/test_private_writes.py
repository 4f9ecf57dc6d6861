"""RaceWarnings for variables the default rules make private although only one thread (or
one at a time) assigns them (pyomp.private_writes).

The oracle is what the program computes: where the warning fires, the other threads do
not see the value (or the protected updates are lost), and the fix it names (shared, or
copyprivate) gives every thread the value at 1, 2, 3 and 8 threads.
"""

import textwrap
import warnings

import numpy as np
import pytest
from helpers import compile_source
from pyomp import RaceWarning


def compiled(src):
    """`f` of `src` compiled (for (out, k)); returns (f, the RaceWarnings compiling it gave,
    the line marked `# <-`)."""
    src = textwrap.dedent(src)
    marked = next((i for i, line in enumerate(src.splitlines(), 1) if "# <-" in line), None)
    f = compile_source(src, prefix="privwrite")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f.compile("(float64[:], int64)")
    return f, [w for w in caught if issubclass(w.category, RaceWarning)], marked


SINGLE = """
def f(out, k):
    with openmp("parallel num_threads(k){clauses}"):
        with openmp("single{single_clauses}"):
            base = out.size * 2.0  # <-
        out[omp_get_thread_num()] = base
    return 0
"""


def test_a_value_from_single_read_by_every_thread_warns():
    _, found, line = compiled(SINGLE.format(clauses="", single_clauses=""))
    (w,) = found
    message = str(w.message)
    assert w.lineno == line
    assert "'base' is assigned only in the 'single'" in message
    assert "shared(base)" in message and "copyprivate(base)" in message


FIXED = {
    "shared": """
        def f(out, k):
            base = 0.0
            with openmp("parallel num_threads(k) shared(base)"):
                with openmp("single"):
                    base = out.size * 2.0
                out[omp_get_thread_num()] = base
            return 0
    """,
    "copyprivate": """
        def f(out, k):
            with openmp("parallel num_threads(k)"):
                with openmp("single copyprivate(base)"):
                    base = out.size * 2.0
                out[omp_get_thread_num()] = base
            return 0
    """,
}


@pytest.mark.parametrize("fix", list(FIXED))
def test_the_named_fixes_give_every_thread_the_value(fix, threads):
    f, found, _ = compiled(FIXED[fix])
    assert found == []
    out = np.zeros(threads)
    f(out, threads)
    assert out.tolist() == [threads * 2.0] * threads


def test_master_value_read_in_a_worksharing_loop_warns():
    _, found, line = compiled("""
        def f(out, k):
            with openmp("parallel num_threads(k)"):
                with openmp("master"):
                    n = out.size  # <-
                with openmp("barrier"):
                    pass
                with openmp("for"):
                    for i in range(n):
                        out[i] = i
            return 0
    """)
    (w,) = found
    assert w.lineno == line and "assigned only in the 'master'" in str(w.message)
    assert "copyprivate" not in str(w.message)  # a single's clause


@pytest.mark.parametrize("src", [
    # read by the thread that set it (master is thread 0)
    """
    def f(out, k):
        with openmp("parallel num_threads(k)"):
            with openmp("master"):
                base = 5.0
            if omp_get_thread_num() == 0:
                out[0] = base
        return 0
    """,
    # read only inside the single
    """
    def f(out, k):
        with openmp("parallel num_threads(k)"):
            with openmp("single"):
                base = 5.0
                out[0] = base
        return 0
    """,
    # also assigned by every thread: a private temporary
    """
    def f(out, k):
        with openmp("parallel num_threads(k)"):
            base = 1.0
            with openmp("single"):
                base = 5.0
            out[omp_get_thread_num()] = base
        return 0
    """,
    # private by the programmer's own clause
    """
    def f(out, k):
        base = 0.0
        with openmp("parallel num_threads(k) private(base)"):
            with openmp("single"):
                base = 5.0
            out[omp_get_thread_num()] = base
        return 0
    """,
], ids=["master-then-thread-0", "inside-single", "every-thread-assigns", "private-clause"])
def test_no_warning_where_the_private_copy_is_what_is_read(src, threads):
    f, found, _ = compiled(src)
    assert found == []
    f(np.zeros(max(threads, 1)), threads)


@pytest.mark.parametrize("construct", ["atomic", "critical"])
def test_a_private_counter_updated_under_protection_warns(construct):
    _, found, line = compiled(f"""
        def f(out, k):
            with openmp("parallel num_threads(k)"):
                with openmp("{construct}"):
                    count += 1  # <-
            return 0
    """.replace("def f(out, k):\n", "def f(out, k):\n            count = 0\n"))
    (w,) = found
    assert w.lineno == line
    assert f"updated only under '{construct}'" in str(w.message)
    assert "protects nothing" in str(w.message) and "shared(count)" in str(w.message)


@pytest.mark.parametrize("construct", ["atomic", "critical"])
def test_the_shared_counter_counts_every_thread(construct, threads):
    f, found, _ = compiled(f"""
        def f(out, k):
            count = 0
            with openmp("parallel num_threads(k) shared(count)"):
                with openmp("{construct}"):
                    count += 1
            out[0] = count
            return 0
    """)
    assert found == []
    out = np.zeros(1)
    f(out, threads)
    assert out[0] == threads
