"""Edge cases of the device data environment found in review, each against OpenMP's
rule or plain memory safety: a view of a device copy that outlives its region, a map that
fails half-way, two list items of one variable, own copies on the host, `always` with a
section, a target region in a worksharing loop, a value-less variable in a clause,
device numbers under OMP_TARGET_OFFLOAD=DISABLED, data motion inside a target region."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pyomp import (
    PyompError,
    njit,
    omp_get_device_num,
    omp_get_initial_device,
    omp_is_initial_device,
    omp_target_is_present,
    openmp,
)


@njit
def escaping_view(n):
    a = np.arange(n * 1.0)
    with openmp("target map(to: a) device(0)"):
        b = a[1:]
        b[0] = -1.0  # the device copy
    return b, a


def test_a_view_of_a_device_copy_keeps_it_alive():
    b, a = escaping_view(100_000)
    big = np.ones(20_000_000)  # reuse of freed memory would show in b
    assert big.sum() == 20_000_000
    assert b[0] == -1.0 and b[-1] == 99_999.0 and b.base is not None
    assert a[1] == 1.0  # map(to): the host's array untouched


@njit
def fails_half_way(a, b):
    with openmp("target map(tofrom: a) map(present, to: b) device(0)"):
        a[0] = 2.0


@njit
def writes_back(a):
    with openmp("target map(tofrom: a) device(0)"):
        a[0] = 5.0


def test_a_failed_map_undoes_the_construct():
    a, b = np.ones(4), np.ones(4)
    with pytest.raises(ValueError, match="not present"):
        fails_half_way(a, b)
    assert omp_is_initial_device() == 1 and omp_get_device_num() == omp_get_initial_device()
    assert omp_target_is_present(a, 0) == 0  # a's mapping was ended too
    writes_back(a)
    np.testing.assert_array_equal(a, [5, 1, 1, 1])


def test_two_list_items_of_one_variable_are_refused():
    @njit
    def f(a):
        with openmp("target map(tofrom: a[0:3]) map(tofrom: a[5:8]) device(0)"):
            a[0] = 1

    with pytest.raises(PyompError, match="'a' appears in two list items"):
        f(np.zeros(10))


@njit
def own_copies(dev, cond):
    a = np.zeros(3)
    b = np.zeros(3)
    with openmp("target firstprivate(a) private(b) if(cond) device(dev)"):
        a[0] = 9.0
        b[0] = 9.0
    return a, b


@pytest.mark.parametrize("dev,cond", [(0, True), (4, True), (0, False)])
def test_private_arrays_are_the_regions_own_on_every_device(dev, cond):
    a, b = own_copies(dev, cond)
    np.testing.assert_array_equal(a, [0, 0, 0])
    np.testing.assert_array_equal(b, [0, 0, 0])


@njit
def always_sections():
    a = np.zeros(6)
    with openmp("target enter data map(to: a) device(0)"):
        pass
    with openmp("target device(0) map(tofrom: a)"):
        a[:] = 1.0
    a[:] = 5.0
    with openmp("target exit data map(always, from: a[0:2]) device(0)"):
        pass
    first = a.copy()
    a[:] = 5.0
    with openmp("target enter data map(to: a) device(0)"):
        pass
    with openmp("target device(0) map(always, tofrom: a[0:2])"):
        a[0] = 2.0
    second = a.copy()
    with openmp("target exit data map(delete: a) device(0)"):
        pass
    return first, second


def test_always_copies_only_its_section():
    first, second = always_sections()
    np.testing.assert_array_equal(first, [1, 1, 5, 5, 5, 5])
    np.testing.assert_array_equal(second, [2, 5, 5, 5, 5, 5])


@njit
def target_in_a_loop(n):
    s = np.zeros(n)
    with openmp("parallel num_threads(2)"):
        with openmp("for"):
            for i in range(n):
                with openmp("target map(tofrom: s[i:i+1]) device(1)"):
                    s[i] = i + 1.0
    return s


def test_a_target_region_in_a_worksharing_loop_uses_the_loop_variable():
    np.testing.assert_array_equal(target_in_a_loop(6), np.arange(1.0, 7.0))


def test_a_listed_variable_without_a_value_is_an_error():
    @njit
    def f(c):
        if c:
            a = np.zeros(4)
        with openmp("target map(to: a) device(0)"):
            a[0] = 7
        return a

    with pytest.raises(PyompError, match="'a' may have no value"):
        f(True)


def test_device_numbers_of_the_memory_routines():
    a = np.ones(3)
    assert omp_target_is_present(a, omp_get_initial_device()) == 1
    assert omp_target_is_present(a, -1) == 1  # omp_initial_device
    assert omp_target_is_present(a, 7) == 0  # no such device
    code = textwrap.dedent("""
        import numpy as np
        from pyomp import omp_get_initial_device, omp_target_is_present
        print(omp_target_is_present(np.ones(3), omp_get_initial_device()))
    """)
    env = {"OMP_TARGET_OFFLOAD": "DISABLED"}
    import os
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


@njit
def update_from_a_called_function(a):
    with openmp("target update to(a) device(0)"):
        pass


@njit
def calls_update_inside_target(a):
    with openmp("target map(tofrom: a) device(0)"):
        update_from_a_called_function(a)


def test_data_motion_inside_a_target_region_is_refused():
    with pytest.raises(ValueError, match="inside a target region"):
        calls_update_inside_target(np.ones(3))
    assert omp_is_initial_device() == 1

    @njit
    def lexical(a):
        with openmp("target map(tofrom: a) device(0)"):
            with openmp("target update from(a) device(0)"):
                pass

    with pytest.raises(PyompError, match="inside a target region"):
        lexical(np.ones(3))
