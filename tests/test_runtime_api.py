"""The omp_* user API: same answers from plain Python (ctypes) and from numba.njit code."""

import threading
import time

import numba
import numpy as np
import pyomp.runtime as rt
import pytest
from numba.core import types
from pyomp.runtime import api

# Getters without arguments: Python and compiled code must agree.
GETTERS = [
    "omp_get_thread_num", "omp_get_num_threads", "omp_get_wtick", "omp_get_dynamic",
    "omp_get_nested", "omp_get_max_active_levels", "omp_get_max_threads", "omp_get_num_procs",
    "omp_in_parallel", "omp_get_thread_limit", "omp_get_supported_active_levels",
    "omp_get_level", "omp_get_active_level", "omp_in_final", "omp_get_proc_bind",
    "omp_get_num_places", "omp_get_place_num", "omp_get_schedule", "omp_get_default_device",
    "omp_get_num_devices", "omp_get_device_num", "omp_get_team_num", "omp_get_num_teams",
    "omp_is_initial_device", "omp_get_initial_device", "omp_get_cancellation",
]
# Getters taking an int, with the arguments to try.
GETTERS_1 = {
    "omp_get_ancestor_thread_num": (0, 1, -1),
    "omp_get_team_size": (0, 1, -1),
    "omp_get_place_num_procs": (0, 1),
}
SETTERS = ["omp_set_num_threads", "omp_set_dynamic", "omp_set_nested",
           "omp_set_max_active_levels", "omp_set_schedule", "omp_set_default_device"]
LOCKS = [f"omp_{verb}_{kind}" for kind in ("lock", "nest_lock")
         for verb in ("init", "set", "unset", "test", "destroy")]
OTHERS = ["omp_get_wtime", "omp_target_alloc", "omp_target_free", "omp_target_memcpy",
          "omp_target_is_present"]  # (the device memory routines: test_target_data.py)


def jit0(fn):
    return numba.njit(lambda: fn())


def jit1(fn):
    return numba.njit(lambda a: fn(a))


def jit2(fn):
    return numba.njit(lambda a, b: fn(a, b))


@pytest.fixture(autouse=True)
def restore_icvs():
    """Tests change per-thread ICVs: put them back so test order does not matter."""
    saved = (rt.omp_get_max_threads(), rt.omp_get_dynamic(), rt.omp_get_max_active_levels(),
             rt.omp_get_schedule(), rt.omp_get_default_device())
    yield
    rt.omp_set_num_threads(saved[0])
    rt.omp_set_dynamic(saved[1])
    rt.omp_set_max_active_levels(saved[2])
    rt.omp_set_schedule(*saved[3])
    rt.omp_set_default_device(saved[4])


def test_every_public_function_is_tested_and_documented():
    funcs = {n for n in api.__all__ if callable(getattr(api, n))}
    assert funcs == set(GETTERS) | set(GETTERS_1) | set(SETTERS) | set(LOCKS) | set(OTHERS)
    for name in funcs:
        fn = getattr(rt, name)
        assert fn.__name__ == name and fn.__module__ == "pyomp.runtime.api"
        assert fn.__doc__ and fn is getattr(api, name)


def test_constants():
    assert (rt.omp_sched_static, rt.omp_sched_dynamic, rt.omp_sched_guided,
            rt.omp_sched_auto, rt.omp_sched_monotonic) == (1, 2, 3, 4, 0x80000000)
    assert (rt.omp_proc_bind_false, rt.omp_proc_bind_true, rt.omp_proc_bind_primary,
            rt.omp_proc_bind_master, rt.omp_proc_bind_close, rt.omp_proc_bind_spread) == \
        (0, 1, 2, 2, 3, 4)


@pytest.mark.parametrize("name", GETTERS)
def test_getter_python_equals_compiled(name):
    fn = getattr(rt, name)
    compiled = jit0(fn)
    assert compiled() == fn()
    ret = compiled.nopython_signatures[0].return_type
    if name == "omp_get_schedule":
        assert ret == types.Tuple((types.uint32, types.int32))
    elif name == "omp_get_wtick":
        assert ret == types.float64
    else:
        assert ret == types.int32  # C int


@pytest.mark.parametrize("name", sorted(GETTERS_1))
def test_getter_with_argument_python_equals_compiled(name):
    fn = getattr(rt, name)
    compiled = jit1(fn)
    for arg in GETTERS_1[name]:
        assert compiled(arg) == fn(arg)
        assert compiled(np.int16(arg)) == fn(np.int16(arg))


def test_outside_parallel_region():
    for call in (lambda f: f(), lambda f: jit0(f)()):
        assert call(rt.omp_get_thread_num) == 0
        assert call(rt.omp_get_num_threads) == 1
        assert call(rt.omp_in_parallel) == 0
        assert call(rt.omp_get_level) == 0
        assert call(rt.omp_get_active_level) == 0
    assert rt.omp_get_team_size(0) == 1 and rt.omp_get_ancestor_thread_num(0) == 0
    assert rt.omp_get_num_procs() >= 1 and rt.omp_is_initial_device() == 1


@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_set_num_threads_from_python(k):
    rt.omp_set_num_threads(k)
    assert rt.omp_get_max_threads() == k
    assert jit0(rt.omp_get_max_threads)() == k


@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_set_num_threads_from_compiled(k):
    jit1(rt.omp_set_num_threads)(k)
    assert rt.omp_get_max_threads() == k
    assert jit0(rt.omp_get_max_threads)() == k


@pytest.mark.parametrize("cast", [np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64,
                                  np.uint64, int])
def test_integer_arguments_of_any_type(cast):
    jit1(rt.omp_set_num_threads)(cast(5))
    assert rt.omp_get_max_threads() == 5
    rt.omp_set_num_threads(cast(6))
    assert rt.omp_get_max_threads() == 6


def test_bad_argument_type_is_a_typing_error():
    with pytest.raises(numba.core.errors.TypingError):
        jit1(rt.omp_set_num_threads)(1.5)


@pytest.mark.parametrize("compiled", [False, True])
def test_wtime_increases_like_perf_counter(compiled):
    wtime = jit0(rt.omp_get_wtime) if compiled else rt.omp_get_wtime
    wtime()  # compile before timing
    # Each wtime reading is bracketed by two perf_counter readings, so the wtime interval
    # lies within the perf_counter intervals around it however long the machine pauses
    # between the calls (no tolerance on timing: both clocks are monotonic seconds).
    p0a, w0, p0b = time.perf_counter(), wtime(), time.perf_counter()
    time.sleep(0.2)
    p1a, w1, p1b = time.perf_counter(), wtime(), time.perf_counter()
    slack = 2 * rt.omp_get_wtick() + 1e-6  # the two clocks' resolution
    assert w1 > w0
    assert (p1a - p0b) - slack <= w1 - w0 <= (p1b - p0a) + slack
    assert 0 < rt.omp_get_wtick() < 0.01


@pytest.mark.parametrize("kind, chunk", [
    (rt.omp_sched_dynamic, 4), (rt.omp_sched_guided, 7), (rt.omp_sched_static, 0),
    (rt.omp_sched_static, 16), (rt.omp_sched_guided, 1),
    (rt.omp_sched_dynamic | rt.omp_sched_monotonic, 3),
])
def test_schedule_roundtrip(kind, chunk):
    rt.omp_set_schedule(kind, chunk)
    assert rt.omp_get_schedule() == (kind, chunk)
    assert jit0(rt.omp_get_schedule)() == (kind, chunk)
    rt.omp_set_schedule(rt.omp_sched_static, 0)
    jit2(rt.omp_set_schedule)(kind, chunk)
    assert rt.omp_get_schedule() == (kind, chunk)


def test_schedule_auto():
    # The chunk size means nothing for auto; libomp reports it as it likes, so check the kind.
    jit2(rt.omp_set_schedule)(rt.omp_sched_auto, 0)
    assert rt.omp_get_schedule()[0] == rt.omp_sched_auto
    assert jit0(rt.omp_get_schedule)()[0] == rt.omp_sched_auto


@pytest.mark.parametrize("setter, getter, values", [
    ("omp_set_dynamic", "omp_get_dynamic", (1, 0, 1)),
    ("omp_set_max_active_levels", "omp_get_max_active_levels", (1, 2, 3)),
    ("omp_set_default_device", "omp_get_default_device", (0, 1, 0)),
])
def test_setter_getter_roundtrip(setter, getter, values):
    set_py, get_py = getattr(rt, setter), getattr(rt, getter)
    set_jit, get_jit = jit1(set_py), jit0(get_py)
    for v in values:
        set_py(v)
        assert get_py() == v and get_jit() == v
        set_jit(v)
        assert get_py() == v and get_jit() == v


def test_set_nested():
    rt.omp_set_nested(0)
    assert rt.omp_get_nested() == 0 and jit0(rt.omp_get_nested)() == 0
    jit1(rt.omp_set_nested)(1)
    assert rt.omp_get_nested() == 1 and jit0(rt.omp_get_nested)() == 1


# -- locks --------------------------------------------------------------------------------------
@numba.njit
def jit_lock_cycle():
    lock = rt.omp_init_lock()
    first = rt.omp_test_lock(lock)
    second = rt.omp_test_lock(lock)  # held (by us): must fail
    rt.omp_unset_lock(lock)
    rt.omp_set_lock(lock)
    rt.omp_unset_lock(lock)
    rt.omp_destroy_lock(lock)
    return first, second


@numba.njit
def jit_init_lock():
    return rt.omp_init_lock()


@numba.njit
def jit_test_lock(lock):
    return rt.omp_test_lock(lock)


@numba.njit
def jit_unset_lock(lock):
    rt.omp_unset_lock(lock)


@numba.njit
def jit_destroy_lock(lock):
    rt.omp_destroy_lock(lock)


def test_lock_cycle_python():
    lock = rt.omp_init_lock()
    assert isinstance(lock, int) and lock != 0 and lock % 64 == 0
    assert rt.omp_test_lock(lock) != 0
    assert rt.omp_test_lock(lock) == 0
    rt.omp_unset_lock(lock)
    rt.omp_set_lock(lock)
    rt.omp_unset_lock(lock)
    rt.omp_destroy_lock(lock)


def test_lock_cycle_compiled():
    first, second = jit_lock_cycle()
    assert first != 0 and second == 0


def test_lock_handle_from_python_used_in_compiled_code():
    lock = rt.omp_init_lock()
    assert jit_test_lock(lock) != 0
    assert jit_test_lock(lock) == 0
    assert rt.omp_test_lock(lock) == 0
    jit_unset_lock(lock)
    assert rt.omp_test_lock(lock) != 0
    rt.omp_unset_lock(lock)
    jit_destroy_lock(lock)  # memory from Python's libc call, freed by compiled code


def test_lock_handle_from_compiled_code_used_in_python():
    lock = jit_init_lock()
    assert isinstance(lock, int) and lock != 0
    assert rt.omp_test_lock(lock) != 0
    assert jit_test_lock(lock) == 0  # passed between compiled functions too
    rt.omp_unset_lock(lock)
    assert jit_test_lock(lock) != 0
    jit_unset_lock(lock)
    rt.omp_destroy_lock(lock)


def test_lock_held_by_another_thread():
    lock = rt.omp_init_lock()
    rt.omp_set_lock(lock)
    result = []
    t = threading.Thread(target=lambda: result.append((rt.omp_test_lock(lock),
                                                       jit_test_lock(lock))))
    t.start()
    t.join()
    assert result == [(0, 0)]
    rt.omp_unset_lock(lock)
    rt.omp_destroy_lock(lock)


def test_zero_handle_is_refused_in_python():
    with pytest.raises(ValueError):
        rt.omp_set_lock(0)
    with pytest.raises(ValueError):
        rt.omp_destroy_nest_lock(0)


@numba.njit
def jit_nest_counts(lock):
    a = rt.omp_test_nest_lock(lock)
    b = rt.omp_test_nest_lock(lock)
    rt.omp_set_nest_lock(lock)
    rt.omp_unset_nest_lock(lock)
    rt.omp_unset_nest_lock(lock)
    c = rt.omp_test_nest_lock(lock)
    rt.omp_unset_nest_lock(lock)
    rt.omp_unset_nest_lock(lock)
    return a, b, c


def test_nest_lock_python():
    lock = rt.omp_init_nest_lock()
    assert rt.omp_test_nest_lock(lock) == 1
    assert rt.omp_test_nest_lock(lock) == 2
    rt.omp_set_nest_lock(lock)
    assert rt.omp_test_nest_lock(lock) == 4
    for _ in range(4):
        rt.omp_unset_nest_lock(lock)
    assert rt.omp_test_nest_lock(lock) == 1  # free again
    rt.omp_unset_nest_lock(lock)
    rt.omp_destroy_nest_lock(lock)


def test_nest_lock_compiled_and_mixed():
    lock = numba.njit(lambda: rt.omp_init_nest_lock())()
    assert jit_nest_counts(lock) == (1, 2, 2)  # and leaves it free
    numba.njit(lambda h: rt.omp_set_nest_lock(h))(lock)
    assert rt.omp_test_nest_lock(lock) == 2  # the owner nests
    result = []
    t = threading.Thread(target=lambda: result.append(rt.omp_test_nest_lock(lock)))
    t.start()
    t.join()
    assert result == [0]  # another thread cannot take it
    rt.omp_unset_nest_lock(lock)
    numba.njit(lambda h: rt.omp_unset_nest_lock(h))(lock)
    numba.njit(lambda h: rt.omp_destroy_nest_lock(h))(lock)


@numba.njit(nogil=True)
def locked_increments(lock, counter, n):
    for _ in range(n):
        rt.omp_set_lock(lock)
        v = counter[0]
        for _ in range(20):  # widen the read-modify-write window
            v = (v * 3 + 1) % 1000003 if v < 0 else v
        counter[0] = v + 1
        rt.omp_unset_lock(lock)


def test_lock_gives_mutual_exclusion_between_python_threads():
    lock = rt.omp_init_lock()
    counter = np.zeros(1, dtype=np.int64)
    n = 100_000
    locked_increments(lock, counter, 1)  # compile first
    counter[0] = 0
    threads = [threading.Thread(target=locked_increments, args=(lock, counter, n))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rt.omp_destroy_lock(lock)
    assert counter[0] == 4 * n
