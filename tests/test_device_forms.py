"""Every combined and composite device construct the issue names, and the clauses not
exercised elsewhere, against the serial loop, on a host offload device and the initial
device, at 1, 2, 3 and 8 threads (the `threads` fixture)."""

import numpy as np
import pytest
from pyomp import PyompError, njit, omp_get_num_teams, omp_get_team_num, openmp

N = 37

# directive -> the loop runs inside it (each iteration once); {dev} is the device
LOOP_FORMS = [
    "target parallel for device({dev})",
    "target parallel for simd device({dev})",
    "target parallel loop device({dev})",
    "target teams distribute device({dev}) num_teams(3)",
    "target teams distribute simd device({dev}) num_teams(2)",
    "target teams distribute parallel for device({dev}) num_teams(2)",
    "target teams distribute parallel for simd device({dev})",
    "target teams loop device({dev}) num_teams(3)",
    "target simd device({dev})",
]


def _compile(directive):
    src = f"""
def f(a, dev):
    with openmp({directive!r}):
        for i in range({N}):
            a[i] += i * 3 + 1
"""
    namespace = {"openmp": openmp}
    exec(compile(src, f"<{directive}>", "exec"), namespace)  # noqa: S102
    return njit(namespace["f"])


_compiled = {}


@pytest.mark.parametrize("form", LOOP_FORMS)
@pytest.mark.parametrize("dev", (1, 4))
def test_each_combined_loop_form_runs_every_iteration_once(form, dev, threads):
    fn = _compiled.setdefault(form, _compile(form.replace("{dev}", "dev")))
    a = np.ones(N)
    fn(a, dev)
    np.testing.assert_array_equal(a, np.arange(N) * 3 + 2)


@njit
def host_teams_forms(n, k):
    a = np.zeros(n)
    b = np.zeros(n)
    c = np.zeros(n)
    with openmp("teams num_teams(k)"):
        with openmp("distribute parallel for simd"):
            for i in range(n):
                a[i] = i
        with openmp("distribute simd"):
            for i in range(n):
                b[i] = 2 * i
    with openmp("teams distribute parallel for simd num_teams(k)"):
        for i in range(n):
            c[i] = 3 * i
    return a, b, c


@pytest.mark.parametrize("k", (1, 2, 3, 8))
def test_host_teams_forms(k, threads):
    a, b, c = host_teams_forms(N, k)
    for factor, got in ((1, a), (2, b), (3, c)):
        np.testing.assert_array_equal(got, factor * np.arange(N))


@njit
def target_parallel(dev):
    out = np.zeros(8, np.int64)
    with openmp("target parallel num_threads(3) device(dev) map(tofrom: out)"):
        with openmp("critical"):
            out[0] += 1
    return out[0]


def test_target_parallel_runs_a_team(threads):
    assert target_parallel(2) == 3


@njit
def target_teams(dev, k):
    out = np.zeros(16, np.int64)
    with openmp("target teams num_teams(k) device(dev)"):
        out[omp_get_team_num()] = omp_get_num_teams()
    return out


@pytest.mark.parametrize("k", (1, 2, 3, 8))
def test_target_teams_gives_the_league(k):
    np.testing.assert_array_equal(target_teams(0, k)[:k], np.full(k, k))


@njit
def distribute_collapse(n, m, k):
    owner = np.full((n, m), -1, np.int64)
    x = 10
    with openmp("teams num_teams(k)"):
        with openmp("distribute collapse(2) firstprivate(x)"):
            for i in range(n):
                for j in range(m):
                    owner[i, j] = omp_get_team_num() + x * 0
                    x += 1
    return owner, x


@pytest.mark.parametrize("k", (1, 2, 3, 8))
def test_distribute_collapse_divides_the_whole_space(k):
    owner, x = distribute_collapse(5, 4, k)
    q, r = divmod(20, k)
    expected = np.concatenate([np.full(q + (t < r), t) for t in range(k)]).reshape(5, 4)
    np.testing.assert_array_equal(owner, expected)
    assert x == 10  # firstprivate: the original is untouched


@njit
def teams_clauses(k):
    shared = np.zeros(16)
    p = 5.0
    with openmp("teams num_teams(k) default(none) shared(shared) private(p)"):
        p = omp_get_team_num() * 2.0
        shared[omp_get_team_num()] = p
    return shared, p


def test_teams_default_none_shared_private():
    shared, p = teams_clauses(3)
    np.testing.assert_array_equal(shared[:3], [0.0, 2.0, 4.0])
    assert p == 5.0


@njit
def defaultmap_tofrom(dev):
    x = 1
    with openmp("target defaultmap(tofrom: scalar) device(dev)"):
        x = 7
    return x


@njit
def device_ptr_passes_through(dev):
    a = np.ones(3)
    with openmp("target is_device_ptr(a) device(dev)"):
        a[0] = 5  # (not mapped: the host array itself)
    return a


def test_defaultmap_and_is_device_ptr():
    assert defaultmap_tofrom(1) == 7
    np.testing.assert_array_equal(device_ptr_passes_through(1), [5, 1, 1])


@njit
def raising_target_teams(dev, bad):
    a = np.zeros(20)
    with openmp("target teams distribute parallel for device(dev) num_teams(2)"):
        for i in range(20):
            if i == bad:
                raise IndexError("bad iteration")
            a[i] = 1
    return a


@pytest.mark.parametrize("dev", (0, 4))
def test_an_exception_in_target_teams_propagates(dev, threads):
    with pytest.raises(IndexError, match="bad iteration"):
        raising_target_teams(dev, 13)
    np.testing.assert_array_equal(raising_target_teams(dev, -1), np.ones(20))


def test_declare_target_is_accepted():
    @njit
    def f():
        with openmp("declare target"):
            pass
        return 1

    assert f() == 1


def test_target_in_reduction_is_refused_by_name():
    @njit
    def f():
        s = 0
        with openmp("target in_reduction(+:s)"):
            s += 1
        return s

    with pytest.raises(PyompError, match="'in_reduction' clause of a target"):
        f()


def test_teams_if_is_refused_by_name():
    @njit
    def f(c):
        with openmp("teams if(c)"):
            pass

    with pytest.raises(PyompError, match="'if' clause of 'teams'"):
        f(True)


def test_explain_shows_the_leaves_outer_first_and_the_maps():
    import pyomp

    @njit
    def f(a, s):
        with openmp("target teams distribute parallel for map(to: a) reduction(+:s)"):
            for i in range(a.size):
                s += a[i]
        return s

    assert f(np.ones(4), 0.0) == 4.0
    text = pyomp.explain(f)
    leaves = [line.split("-> ")[1].split()[0] for line in text.splitlines() if "-> " in line]
    assert leaves == ["target", "teams", "parallel", "for"]
    assert "a  map to" in text and "s  map tofrom" in text
    assert "target runs in place" in text
