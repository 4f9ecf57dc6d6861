"""The device data environment of pyomp's host offload devices (pyomp.devices, the present
tables of pass-plugin/src/device/): `map`, `target data`, `enter/exit data` and `update`
copy exactly as to a GPU, so a program that forgets `map(from: a)` sees the host's old
values. Oracles: OpenMP 5.2's map semantics (5.8.3: reference counts, always, present,
delete), PyOMP 0.6 on its host device (the enter/exit example: all ones), and the initial
device (device omp_get_num_devices()), where nothing is copied."""

import numpy as np
import pytest
from pyomp import (
    njit,
    omp_get_initial_device,
    omp_get_num_devices,
    omp_target_alloc,
    omp_target_free,
    omp_target_is_present,
    omp_target_memcpy,
    openmp,
)

OFFLOAD = [0, 1, 3]  # host offload devices
INITIAL = 4


@njit
def enter_exit(dev):
    """PyOMP's example: the device copy comes back on exit, so `a += 1` is lost."""
    a = np.ones(10)
    with openmp("target enter data map(to: a) device(dev)"):
        pass
    a += 1
    with openmp("target exit data map(from: a) device(dev)"):
        pass
    return a


@pytest.mark.parametrize("dev", OFFLOAD)
def test_the_device_copy_comes_back_on_exit(dev):
    np.testing.assert_array_equal(enter_exit(dev), np.ones(10))


def test_the_initial_device_moves_nothing():
    np.testing.assert_array_equal(enter_exit(omp_get_initial_device()), np.full(10, 2.0))


@njit
def map_types(dev):
    to, frm, tofrom, implicit, alloc = (np.ones(3), np.ones(3), np.ones(3), np.ones(3),
                                        np.ones(3))
    with openmp("target device(dev) map(to: to) map(from: frm) map(tofrom: tofrom) "
                "map(alloc: alloc)"):
        to[0] = 5
        frm[0] = 5
        tofrom[0] += 5
        implicit[0] += 5
        alloc[0] = 5
    return to, frm, tofrom, implicit, alloc


@pytest.mark.parametrize("dev", OFFLOAD)
def test_map_types_copy_as_on_a_gpu(dev):
    to, frm, tofrom, implicit, alloc = map_types(dev)
    np.testing.assert_array_equal(to, [1, 1, 1])  # written on the device only
    assert frm[0] == 5
    # what the region did not write comes back as the device memory held it: never
    # initialised there (0xCB bytes, Numba's mark), not the host's ones
    assert frm[1:].tobytes() == b"\xcb" * 16
    np.testing.assert_array_equal(tofrom, [6, 1, 1])
    np.testing.assert_array_equal(implicit, [6, 1, 1])  # an array is tofrom by default
    np.testing.assert_array_equal(alloc, [1, 1, 1])


def test_on_the_initial_device_every_write_is_the_hosts():
    to, _, tofrom, implicit, alloc = map_types(INITIAL)
    for a in (to, alloc):
        np.testing.assert_array_equal(a, [5, 1, 1])
    np.testing.assert_array_equal(tofrom, [6, 1, 1])


@njit
def scalars(dev):
    implicit, to, frm, tofrom, fp = 1, 1, 1, 1, 1
    with openmp("target device(dev) map(to: to) map(from: frm) map(tofrom: tofrom) "
                "firstprivate(fp)"):
        implicit += 10
        to += 10
        frm = 42
        tofrom += 10
        fp += 10
    return implicit, to, frm, tofrom, fp


@pytest.mark.parametrize("dev", OFFLOAD + [INITIAL])
def test_scalars_are_firstprivate_unless_mapped_back(dev):
    # OpenMP 5: a scalar is firstprivate in a target region (PyOMP 0.6 agrees: x stays 5)
    assert scalars(dev) == (1, 1, 42, 11, 1)


@njit
def data_region_with_update(dev):
    a = np.arange(6.0)
    seen = np.zeros(6)
    with openmp("target data map(to: a) map(from: seen) device(dev)"):
        with openmp("target device(dev)"):
            for i in range(6):
                a[i] *= 2
        before = a[4]  # the host's copy: not updated yet
        with openmp("target update from(a[0:3]) device(dev)"):
            pass
        a[5] = 100.0  # host only, until the update to
        with openmp("target update to(a[5:6]) device(dev)"):
            pass
        with openmp("target device(dev)"):
            for i in range(6):
                seen[i] = a[i]
    return a, seen, before


@pytest.mark.parametrize("dev", OFFLOAD)
def test_target_update_moves_sections_both_ways(dev):
    a, seen, before = data_region_with_update(dev)
    assert before == 4.0
    np.testing.assert_array_equal(a, [0, 2, 4, 3, 4, 100])  # map(to): no copy at the end
    np.testing.assert_array_equal(seen, [0, 2, 4, 6, 8, 100])


@njit
def nested_counts(dev):
    a = np.ones(4)
    with openmp("target data map(tofrom: a) device(dev)"):
        with openmp("target data map(tofrom: a) device(dev)"):
            with openmp("target map(tofrom: a) device(dev)"):
                a[0] = 5
        inner_done = a[0]  # count 1: still on the device only
        with openmp("target device(dev)"):
            a[1] = 7
    return inner_done, a


@pytest.mark.parametrize("dev", OFFLOAD)
def test_nested_target_data_copies_back_when_the_count_returns_to_zero(dev):
    inner_done, a = nested_counts(dev)
    assert inner_done == 1.0
    np.testing.assert_array_equal(a, [5, 7, 1, 1])


@njit
def always_and_present(dev, always):
    a = np.ones(3)
    out = np.zeros(3)
    with openmp("target enter data map(to: a) device(dev)"):
        pass
    a[:] = 2.0
    if always:
        with openmp("target map(always, to: a) map(from: out) device(dev)"):
            out[:] = a
    else:
        with openmp("target map(to: a) map(from: out) device(dev)"):
            out[:] = a
    with openmp("target exit data map(delete: a) device(dev)"):
        pass
    return out


@pytest.mark.parametrize("dev", OFFLOAD)
def test_always_copies_present_data_again(dev):
    np.testing.assert_array_equal(always_and_present(dev, False), [1, 1, 1])
    np.testing.assert_array_equal(always_and_present(dev, True), [2, 2, 2])


@njit
def present_required(dev):
    a = np.ones(3)
    with openmp("target map(present, tofrom: a) device(dev)"):
        a[0] = 2
    return a


def test_map_present_of_absent_data_is_an_error():
    with pytest.raises(ValueError, match="present"):
        present_required(0)
    np.testing.assert_array_equal(present_required(INITIAL), [2, 1, 1])


@njit
def overlapping_sections(dev):
    a = np.zeros(10)
    with openmp("target data map(to: a[2:5]) device(dev)"):
        with openmp("target map(tofrom: a[0:8]) device(dev)"):
            a[0] = 1
    return a


def test_extending_a_present_section_is_an_error():
    with pytest.raises(ValueError, match="overlaps data already present"):
        overlapping_sections(0)


@njit
def section_inside(dev, lo, hi):
    a = np.zeros(10)
    with openmp("target map(tofrom: a[lo:hi]) device(dev)"):
        for i in range(lo, hi):
            a[i] = i
    return a


@pytest.mark.parametrize("lo,hi", [(2, 5), (0, 10), (9, 10), (3, 3)])
def test_a_section_maps_only_its_rows(lo, hi):
    expected = np.zeros(10)
    expected[lo:hi] = np.arange(lo, hi)
    np.testing.assert_array_equal(section_inside(1, lo, hi), expected)


@njit
def private_arrays(dev):
    a = np.ones(3)
    b = np.ones(3)
    got = np.zeros(3)
    with openmp("target firstprivate(a) private(b) map(from: got) device(dev)"):
        got[0] = a[0]
        a[0] = 9
        b[0] = 9
        got[1] = b[0]
    return a, b, got


@pytest.mark.parametrize("dev", OFFLOAD)
def test_private_and_firstprivate_arrays_are_the_regions_own(dev):
    a, b, got = private_arrays(dev)
    np.testing.assert_array_equal(a, [1, 1, 1])
    np.testing.assert_array_equal(b, [1, 1, 1])
    np.testing.assert_array_equal(got[:2], [1, 9])


@njit
def use_device(dev):
    a = np.ones(4)
    with openmp("target data map(to: a) device(dev)"):
        with openmp("target data use_device_addr(a) device(dev)"):
            a[1] = 9  # the device copy: the host's a is not written
        with openmp("target map(from: a) device(dev)"):
            a[2] = a[1]
        # (present since the target data: map(from) did not copy back; update does)
        with openmp("target update from(a) device(dev)"):
            pass
    return a


@pytest.mark.parametrize("dev", OFFLOAD)
def test_use_device_addr_gives_the_device_copy(dev):
    np.testing.assert_array_equal(use_device(dev), [1, 9, 9, 1])


def test_the_device_memory_routines():
    assert omp_get_num_devices() == 4 and omp_get_initial_device() == 4
    a = np.arange(8.0)
    assert omp_target_is_present(a, 0) == 0 and omp_target_is_present(a, 4) == 1
    buf = omp_target_alloc(a.nbytes, 2)
    assert buf != 0
    assert omp_target_memcpy(buf, a.ctypes.data, a.nbytes, 0, 0, 2, 4) == 0
    b = np.zeros(8)
    assert omp_target_memcpy(b.ctypes.data, buf, 32, 0, 32, 4, 2) == 0
    np.testing.assert_array_equal(b, [4, 5, 6, 7, 0, 0, 0, 0])
    omp_target_free(buf, 2)
    assert omp_target_memcpy(b.ctypes.data, a.ctypes.data, 8, 0, 0, 4, 99) != 0


@njit
def present_inside(dev):
    a = np.ones(5)
    with openmp("target data map(to: a) device(dev)"):
        inside = omp_target_is_present(a, dev)
    return inside, omp_target_is_present(a, dev)


def test_is_present_in_compiled_code():
    assert present_inside(1) == (1, 0)


@njit
def raises_inside(a, dev, k):
    with openmp("target data map(tofrom: a) device(dev)"):
        with openmp("target device(dev)"):
            a[0] = 3
            if k > 0:
                raise ValueError("raised on the device")
    return a


@pytest.mark.parametrize("dev", OFFLOAD + [INITIAL])
def test_an_exception_in_a_target_region_propagates_and_unmaps(dev):
    a = np.ones(4)
    with pytest.raises(ValueError, match="raised on the device"):
        raises_inside(a, dev, 1)
    # the mappings ended on the way out (copied back, as their counts say): a is not
    # present any more, and the next run maps it afresh
    assert omp_target_is_present(a, dev) == (1 if dev == INITIAL else 0)
    np.testing.assert_array_equal(a, [3, 1, 1, 1])
    b = np.ones(4)
    np.testing.assert_array_equal(raises_inside(b, dev, 0), [3, 1, 1, 1])


@njit
def not_contiguous(dev):
    a = np.ones((4, 4))
    col = a[:, 0]
    with openmp("target map(tofrom: col) device(dev)"):
        col[0] = 2
    return a


def test_a_non_contiguous_view_is_refused_clearly():
    with pytest.raises(ValueError, match="contiguous"):
        not_contiguous(0)


@njit
def two_dims(dev):
    a = np.zeros((4, 3))
    with openmp("target map(tofrom: a[1:3]) device(dev)"):
        for i in range(1, 3):
            for j in range(3):
                a[i, j] = i * 10 + j
    return a


def test_sections_of_two_dimensional_arrays_are_rows():
    expected = np.zeros((4, 3))
    expected[1:3] = [[10, 11, 12], [20, 21, 22]]
    np.testing.assert_array_equal(two_dims(2), expected)
