"""The task benchmark kernels (benchmarks/kernels.py) compute what they should at every team
size: fib with tasks, the task merge sort, the linked list walked by one thread creating a
task per node, and the EPCC taskbench kernels run every task body they time."""

import math
from pathlib import Path

import numpy as np
import pytest

REPS = 126  # a multiple of the task tree's 63 tasks
DELAY = 16

# construct -> expected check count (task bodies run) for a team of k threads
EXPECTED = {
    "parallel": lambda k: k * REPS,
    "master": lambda k: k * REPS,
    "conditional": lambda k: k * REPS,
    "taskwait": lambda k: k * REPS,
    "barrier": lambda k: k * REPS,
    "nested": lambda k: k * (REPS // k * k),  # REPS // k outer tasks of k inner each
    "tree": lambda k: k * REPS,               # REPS // 63 trees of 63 tasks
}


def _fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


@pytest.mark.parametrize("n", [0, 1, 19, 20, 21, 25])
def test_fib_with_tasks(threads, n):
    from kernels import fib
    assert fib(n) == _fib(n)


@pytest.mark.parametrize("n", [0, 1, 2, 33, 8192, 8193, 40_000])
def test_merge_sort_with_tasks(threads, n):
    from kernels import merge_sort, sort_keys
    keys = sort_keys(n)
    tmp = np.zeros(n)
    assert np.array_equal(merge_sort(keys.copy(), tmp), np.sort(keys))


def test_merge_sort_keeps_duplicates(threads):
    from kernels import merge_sort
    keys = (np.arange(30_000) * 7919 % 101).astype(np.float64)
    assert np.array_equal(merge_sort(keys.copy(), np.zeros_like(keys)), np.sort(keys))


def test_sort_keys_are_splitmix64():
    from kernels import sort_keys
    keys = sort_keys(1000)
    assert keys[0] == 0.0 and ((keys >= 0) & (keys < 1)).all()
    assert len(np.unique(keys)) == 1000
    # splitmix64(1) >> 11, scaled (the same arithmetic as c/mergesort.c)
    z = 0x9E3779B97F4A7C15
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    z ^= z >> 31
    assert keys[1] == (z >> 11) * 2.0**-53


def test_make_list_links_every_node_once():
    from kernels import make_list
    head, nxt, size = make_list(5000)
    seen = np.zeros(5000, dtype=np.int64)
    p = head
    while p >= 0:
        seen[p] += 1
        p = nxt[p]
    assert (seen == 1).all()
    assert size.min() >= 64 and size.max() < 64 + 4032


@pytest.mark.parametrize("n", [1, 2, 3000])
def test_linked_list_tasks(threads, n):
    from kernels import linked_list, make_list
    head, nxt, size = make_list(n)
    out = linked_list(head, nxt, size, np.full(n, -1.0))
    assert np.array_equal(out, (size * (size - 1) // 2).astype(np.float64))


def test_every_construct_is_benchmarked_in_python_and_c():
    from kernels import taskbench
    assert set(taskbench) == set(EXPECTED)
    c_src = Path(__file__).resolve().parent.parent / "benchmarks" / "c" / "taskbench.c"
    text = c_src.read_text()
    for kind in taskbench:
        assert f'!strcmp(kind, "{kind}")' in text


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_taskbench_kernel_counts(threads, kind):
    from kernels import taskbench
    out = np.zeros(256 * 16, dtype=np.int64)
    overhead, count = taskbench[kind](REPS, DELAY, out)
    assert count == EXPECTED[kind](threads)
    assert math.isfinite(overhead)
    assert out[1] == 0  # the delay loop's "never" branch never ran
    # a second run starts from zero again
    assert taskbench[kind](REPS, DELAY, out)[1] == EXPECTED[kind](threads)
