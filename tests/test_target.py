"""Target regions and their combined forms on the host offload devices and the initial
device: where the region runs (the device routines answer from pyomp's device table, on
every thread of the region, in called functions too), results equal to the serial loop at
1, 2, 3 and 8 threads, print and exceptions, OMP_TARGET_OFFLOAD / OMP_DEFAULT_DEVICE, and
the located errors. PyOMP 0.6 answers omp_is_initial_device() == 1 and
omp_get_device_num() == 4 inside `target device(0)`; OpenMP 5.2 (and pyomp) say 0 and 0."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pyomp import (
    PyompError,
    njit,
    omp_get_default_device,
    omp_get_device_num,
    omp_get_initial_device,
    omp_get_num_threads,
    omp_get_thread_num,
    omp_is_initial_device,
    omp_set_default_device,
    openmp,
)

DEVICES = (0, 1, 2, 3, 4)


@njit
def where_called():
    return omp_is_initial_device() * 100 + omp_get_device_num()


@njit
def where(dev):
    out = np.full(20, -1, np.int64)
    with openmp("target device(dev) map(tofrom: out)"):
        out[0] = omp_is_initial_device()
        out[1] = omp_get_device_num()
        out[2] = where_called()
        with openmp("parallel num_threads(3)"):
            out[3 + omp_get_thread_num()] = omp_get_device_num()
            with openmp("task"):
                out[10 + omp_get_thread_num()] = omp_is_initial_device()
    out[19] = omp_get_device_num()
    return out


@pytest.mark.parametrize("dev", DEVICES)
def test_the_device_routines_say_where_the_region_runs(dev):
    out = where(dev)
    initial = dev == omp_get_initial_device()
    assert out[0] == int(initial) and out[1] == dev
    assert out[2] == int(initial) * 100 + dev  # a function called from the region
    np.testing.assert_array_equal(out[3:6], [dev] * 3)  # every thread of a nested team
    tasks = out[10:13][out[10:13] >= 0]
    assert len(tasks) >= 1 and (tasks == int(initial)).all()
    assert out[19] == omp_get_initial_device()  # back on the host after the region
    assert omp_is_initial_device() == 1


def test_the_default_device_is_used_without_a_device_clause():
    @njit
    def run():
        d = -1
        with openmp("target map(from: d)"):
            d = omp_get_device_num()
        return d

    assert omp_get_default_device() == 0
    assert run() == 0
    omp_set_default_device(2)
    try:
        assert omp_get_default_device() == 2
        assert run() == 2
    finally:
        omp_set_default_device(0)


@njit
def if_clause(cond):
    d = -1
    with openmp("target if(cond) device(1) map(from: d)"):
        d = omp_get_device_num()
    return d


def test_if_false_runs_on_the_host():
    assert if_clause(True) == 1
    assert if_clause(False) == omp_get_initial_device()


@njit
def target_parallel_for(n, dev):
    a = np.zeros(n)
    with openmp("target parallel for device(dev) map(from: a)"):
        for i in range(n):
            a[i] = np.sqrt(i) + omp_get_num_threads() * 0
    return a


@njit
def target_teams_dpf(n, dev):
    s = 0.0
    a = np.zeros(n)
    with openmp("target teams distribute parallel for simd device(dev) reduction(+:s) "
                "map(tofrom: a)"):
        for i in range(n):
            a[i] = i * 0.5
            s += a[i]
    return a, s


@njit
def target_teams_distribute(n, dev):
    a = np.zeros(n)
    with openmp("target teams distribute num_teams(3) device(dev) map(from: a)"):
        for i in range(n):
            a[i] = i + 1
    return a


@njit
def target_teams_plus_parallel(n, dev):
    a = np.zeros(n)
    with openmp("target teams num_teams(2) device(dev)"):
        with openmp("distribute"):
            for i in range(n):
                a[i] = -i
        with openmp("parallel"):
            with openmp("for"):
                for j in range(n):
                    a[j] += 0.0
    return a


@njit
def target_parallel_loop(n, dev):
    a = np.zeros(n)
    with openmp("target parallel loop device(dev)"):
        for i in range(n):
            a[i] = 3 * i
    return a


@njit
def target_teams_loop(n, dev):
    a = np.zeros(n)
    with openmp("target teams loop device(dev)"):
        for i in range(n):
            a[i] = 3 * i
    return a


@pytest.mark.parametrize("dev", (0, 2, 4))
def test_combined_target_forms_give_the_serial_answer(dev, threads):
    n = 101
    np.testing.assert_allclose(target_parallel_for(n, dev), np.sqrt(np.arange(n)))
    a, s = target_teams_dpf(n, dev)
    np.testing.assert_array_equal(a, np.arange(n) * 0.5)
    assert s == pytest.approx(np.arange(n).sum() * 0.5)
    np.testing.assert_array_equal(target_teams_distribute(n, dev), np.arange(1.0, n + 1))
    np.testing.assert_array_equal(target_teams_plus_parallel(n, dev), -np.arange(n))
    np.testing.assert_array_equal(target_parallel_loop(n, dev), 3.0 * np.arange(n))
    np.testing.assert_array_equal(target_teams_loop(n, dev), 3.0 * np.arange(n))


@njit
def jacobi_step(u, dev):
    n = u.shape[0]
    new = np.zeros_like(u)
    with openmp("target teams distribute parallel for collapse(2) device(dev) "
                "map(to: u) map(tofrom: new)"):
        for i in range(1, n - 1):
            for j in range(1, n - 1):
                new[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
    return new


def test_a_stencil_on_the_device_matches_numpy(threads):
    u = np.random.default_rng(1).random((24, 24))
    want = np.zeros_like(u)
    want[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
    np.testing.assert_allclose(jacobi_step(u, 1), want)


@njit
def in_every_thread(k):
    a = np.zeros(k)
    with openmp("parallel num_threads(k)"):
        t = omp_get_thread_num()
        with openmp("target map(tofrom: a[t:t+1]) device(t % 4)"):
            a[t] = 10 + omp_get_device_num()
    return a


@pytest.mark.parametrize("k", (1, 2, 3, 8))
def test_each_thread_of_a_team_offloads_its_own_region(k):
    np.testing.assert_array_equal(in_every_thread(k), 10 + np.arange(k) % 4)


@njit
def hello(dev):
    with openmp("target device(dev)"):
        with openmp("parallel num_threads(2)"):
            print("hello from device", omp_get_device_num())


def test_print_in_a_target_region(capfd):
    hello(1)
    out = capfd.readouterr().out.splitlines()
    assert out == ["hello from device 1"] * 2


@njit
def nowait_depend(dev):
    a = np.zeros(3)
    with openmp("parallel num_threads(2)"):
        with openmp("single"):
            with openmp("task depend(out: a) shared(a)"):
                a[0] = 1
            with openmp("target nowait depend(in: a) map(tofrom: a) device(dev)"):
                a[1] = a[0] + 1
    return a


def test_target_nowait_with_depend_waits_for_its_dependences():
    np.testing.assert_array_equal(nowait_depend(2), [1, 2, 0])


def _run(code, **env):
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full,
                          capture_output=True, text=True, timeout=300)


def test_offload_disabled_leaves_only_the_host():
    r = _run("""
        import numpy as np
        from pyomp import njit, openmp, omp_get_num_devices, omp_get_initial_device
        @njit
        def f():
            a = np.ones(3)
            with openmp("target map(to: a) device(0)"):
                a[0] = 5
            return a
        print(omp_get_num_devices(), omp_get_initial_device(), f()[0])
    """, OMP_TARGET_OFFLOAD="DISABLED")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0", "5.0"]  # on the host, map moves nothing


def test_offload_mandatory_refuses_a_device_that_does_not_exist():
    code = """
        from pyomp import njit, openmp
        @njit
        def f(d):
            with openmp("target device(d)"):
                pass
        f(1)
        f(9)
    """
    r = _run(code, OMP_TARGET_OFFLOAD="MANDATORY")
    assert r.returncode != 0 and "not an available device" in r.stderr
    assert _run(code).returncode == 0  # DEFAULT: runs on the host, as libomptarget does


def test_omp_default_device_sets_the_default():
    r = _run("""
        from pyomp import njit, openmp, omp_get_default_device, omp_get_device_num
        @njit
        def f():
            d = -1
            with openmp("target map(from: d)"):
                d = omp_get_device_num()
            return d
        print(omp_get_default_device(), f())
    """, OMP_DEFAULT_DEVICE="3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["3", "3"]


@pytest.mark.parametrize("directive,message", [
    ("target map(delete: a)", "map type 'delete' is not allowed on 'target'"),
    ("target map(to: a[1])", "a map list item is a variable or a section"),
    ("target defaultmap(none)", "defaultmap(none)"),
    ("target exit data map(to: a)", "map type 'to' is not allowed on 'target exit data'"),
    ("target device(ancestor: 1)", "reverse offload"),
])
def test_bad_device_clauses_are_located_errors(directive, message):
    src = f"""
def f(a):
    with openmp({directive!r}):
        a[0] = 1
"""
    namespace = {"openmp": openmp, "np": np}
    exec(compile(src, "<bad>", "exec"), namespace)  # noqa: S102
    with pytest.raises(PyompError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[")):
        njit(namespace["f"])(np.zeros(3))
