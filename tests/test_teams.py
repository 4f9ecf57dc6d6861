"""`teams`, `distribute` and their combined and composite forms on the CPU (pyomp.leagues;
the Rust pass forks a league with `__kmpc_fork_teams`). Oracles: the serial loop (every
iteration once, the same result), OpenMP 5.2's static distribute schedules (which team
runs which iteration), and PyOMP 0.6 on its host device (a `teams` without num_teams is
one team, whose parallel regions get the threads), at 1, 2, 3 and 8 teams or threads."""

import os

import numpy as np
import pytest
from pyomp import (
    PyompError,
    njit,
    omp_get_num_teams,
    omp_get_num_threads,
    omp_get_team_num,
    omp_get_thread_num,
    openmp,
)

COUNTS = (1, 2, 3, 8)


@njit
def league(k):
    seen = np.zeros(16, np.int64)
    sizes = np.zeros(16, np.int64)
    with openmp("teams num_teams(k)"):
        t = omp_get_team_num()
        seen[t] += 1
        sizes[t] = omp_get_num_teams()
    return seen, sizes


@pytest.mark.parametrize("k", COUNTS)
def test_num_teams_gives_that_many_teams(k):
    seen, sizes = league(k)
    np.testing.assert_array_equal(seen[:k], np.ones(k))
    assert seen[k:].sum() == 0
    np.testing.assert_array_equal(sizes[:k], np.full(k, k))


@njit
def default_league():
    out = np.zeros(64, np.int64)
    with openmp("teams"):
        out[0] = omp_get_num_teams()
        with openmp("parallel"):
            out[1 + omp_get_thread_num()] = omp_get_num_threads()
    return out


def test_teams_without_num_teams_is_one_team_with_the_threads(threads):
    out = default_league()
    assert out[0] == 1  # PyOMP 0.6 on its host device: one team
    # its parallel regions get nthreads-var threads, up to libomp's cap for a team of a
    # league (OMP_NUM_THREADS at start, else the processors: C on libomp gets the same)
    cap = int(os.environ.get("OMP_NUM_THREADS", "0").split(",")[0] or 0) or os.cpu_count()
    n = out[1]
    assert n == min(threads, cap)
    np.testing.assert_array_equal(out[1:1 + n], np.full(n, n))


@njit
def limited(k, t):
    out = np.zeros((8, 8), np.int64)
    with openmp("teams num_teams(k) thread_limit(t)"):
        team = omp_get_team_num()
        with openmp("parallel"):
            out[team, omp_get_thread_num()] = omp_get_num_threads()
    return out


@pytest.mark.parametrize("k,t", [(1, 1), (2, 2), (3, 1), (2, 3)])
def test_thread_limit_bounds_each_teams_parallel_region(k, t):
    out = limited(k, t)
    for team in range(k):
        n = out[team, 0]
        assert 1 <= n <= t
        np.testing.assert_array_equal(out[team, :n], np.full(n, n))


@njit
def who_runs(n, k):
    owner = np.full(n, -1, np.int64)
    with openmp("teams distribute num_teams(k)"):
        for i in range(n):
            owner[i] = omp_get_team_num()
    return owner


@njit
def who_runs_chunked(n, k, c):
    owner = np.full(n, -1, np.int64)
    with openmp("teams num_teams(k)"):
        with openmp("distribute dist_schedule(static, c)"):
            for i in range(n):
                owner[i] = omp_get_team_num()
    return owner


@pytest.mark.parametrize("k", COUNTS)
@pytest.mark.parametrize("n", [0, 1, 7, 40])
def test_distribute_gives_each_team_one_block(n, k):
    # dist_schedule(static) without a chunk: blocks of nearly equal size, in team order
    owner = who_runs(n, k)
    q, r = divmod(n, k)
    expected = np.concatenate([np.full(q + (t < r), t) for t in range(k)]) if n else []
    np.testing.assert_array_equal(owner, expected)


@pytest.mark.parametrize("k", COUNTS)
@pytest.mark.parametrize("c", [1, 3])
def test_dist_schedule_chunks_go_round_robin(k, c):
    owner = who_runs_chunked(23, k, c)
    np.testing.assert_array_equal(owner, [(i // c) % k for i in range(23)])


@njit
def composite(n, k, a):
    with openmp("teams distribute parallel for num_teams(k)"):
        for i in range(n):
            a[i] += i * 2


@njit
def composite_collapse(n, m, k):
    a = np.zeros((n, m))
    with openmp("teams distribute parallel for collapse(2) num_teams(k)"):
        for i in range(n):
            for j in range(m):
                a[i, j] = i * m + j
    return a


@pytest.mark.parametrize("k", COUNTS)
def test_distribute_parallel_for_runs_every_iteration_once(k, threads):
    for n in (0, 1, 13, 100):
        a = np.zeros(n)
        composite(n, k, a)
        np.testing.assert_array_equal(a, np.arange(n) * 2.0)
    np.testing.assert_array_equal(composite_collapse(5, 7, k), np.arange(35.0).reshape(5, 7))


@njit
def reduce_all(n, k):
    s = 0
    teams_sum = 0
    with openmp("teams distribute parallel for reduction(+:s) num_teams(k)"):
        for i in range(n):
            s += i
    with openmp("teams num_teams(k) reduction(+:teams_sum)"):
        teams_sum += omp_get_team_num() + 1
    return s, teams_sum


@pytest.mark.parametrize("k", COUNTS)
def test_reductions_over_the_league(k, threads):
    assert reduce_all(1000, k) == (sum(range(1000)), k * (k + 1) // 2)


@njit
def lastprivate_distribute(n, k):
    x = -1
    with openmp("teams num_teams(k)"):
        with openmp("distribute lastprivate(x)"):
            for i in range(n):
                x = i * 3
    return x


@pytest.mark.parametrize("k", COUNTS)
def test_distribute_lastprivate_is_the_last_iterations(k):
    assert lastprivate_distribute(17, k) == 48


@njit
def private_per_team(k):
    out = np.zeros(8)
    x = 5.0
    with openmp("teams num_teams(k) firstprivate(x)"):
        x += omp_get_team_num()
        out[omp_get_team_num()] = x
    return x, out


@pytest.mark.parametrize("k", COUNTS)
def test_firstprivate_gives_each_team_a_copy(k):
    x, out = private_per_team(k)
    assert x == 5.0
    np.testing.assert_array_equal(out[:k], 5.0 + np.arange(k))


@njit
def teams_loop(n, k):
    a = np.zeros(n)
    with openmp("teams loop num_teams(k)"):
        for i in range(n):
            a[i] = i + 1
    return a


@pytest.mark.parametrize("k", COUNTS)
def test_teams_loop_is_distribute_parallel_for(k, threads):
    np.testing.assert_array_equal(teams_loop(20, k), np.arange(1.0, 21.0))


@njit
def raise_in_teams(n, k, bad):
    a = np.zeros(n)
    with openmp("teams distribute parallel for num_teams(k)"):
        for i in range(n):
            if i == bad:
                raise ValueError("iteration failed")
            a[i] = 1
    return a


@pytest.mark.parametrize("k", COUNTS)
def test_an_exception_in_a_league_propagates(k, threads):
    with pytest.raises(ValueError, match="iteration failed"):
        raise_in_teams(30, k, 17)
    np.testing.assert_array_equal(raise_in_teams(30, k, -1), np.ones(30))


def test_teams_inside_parallel_is_an_error():
    @njit
    def bad():
        with openmp("parallel"):
            with openmp("teams"):
                pass

    with pytest.raises(PyompError, match="closely nested in a 'target'"):
        bad()


def test_distribute_outside_teams_is_an_error():
    @njit
    def bad(n):
        with openmp("distribute"):
            for _i in range(n):
                pass

    with pytest.raises(PyompError, match="closely nested in a 'teams'"):
        bad(3)


@njit
def composite_chunked(n, k):
    a = np.zeros(n)
    teams = np.zeros(n, np.int64)
    with openmp("teams distribute parallel for dist_schedule(static, 3) num_teams(k)"):
        for i in range(n):
            a[i] += i
            teams[i] = omp_get_num_teams()
    return a, teams.max()


@njit
def composite_lastprivate(n, k):
    x = -1
    with openmp("teams distribute parallel for lastprivate(x) num_teams(k)"):
        for i in range(n):
            x = i * 3
    return x


@njit
def composite_lastprivate_in_teams(n, k):
    x = -1
    teams = np.zeros(1, np.int64)
    with openmp("teams num_teams(k)"):
        if omp_get_team_num() == 0:
            teams[0] = omp_get_num_teams()
        with openmp("distribute parallel for lastprivate(x)"):
            for i in range(n):
                x = i * 3
    return x, teams[0]


@pytest.mark.parametrize("k", COUNTS)
def test_a_combined_composite_with_a_chunk_runs_as_one_team(k, threads):
    # num_teams is an upper bound (OpenMP 5.1): one team runs every chunk, so each
    # iteration runs once
    a, teams = composite_chunked(23, k)
    np.testing.assert_array_equal(a, np.arange(23.0))
    assert teams == 1


@pytest.mark.parametrize("k", COUNTS)
@pytest.mark.parametrize("n", [0, 2, 17])
def test_composite_lastprivate_is_the_last_iterations_whatever_the_league(n, k, threads):
    # every team runs its block; only the team holding the last iteration copies out
    want = -1 if n == 0 else (n - 1) * 3
    assert composite_lastprivate(n, k) == want
    x, teams = composite_lastprivate_in_teams(n, k)
    assert x == want and teams == k


@njit
def chunked_in_teams(n, k, c):
    owner = np.full(n, -1, np.int64)
    hits = np.zeros(n, np.int64)
    x = -1
    with openmp("teams num_teams(k)"):
        with openmp("distribute parallel for dist_schedule(static, c) lastprivate(x)"):
            for i in range(n):
                owner[i] = omp_get_team_num()
                hits[i] += 1
                x = i * 3
    return owner, hits, x


@pytest.mark.parametrize("k", COUNTS)
@pytest.mark.parametrize("c", [1, 3])
def test_a_chunked_composite_under_a_separate_teams_deals_chunks_round_robin(k, c, threads):
    owner, hits, x = chunked_in_teams(23, k, c)
    np.testing.assert_array_equal(owner, [(i // c) % k for i in range(23)])
    np.testing.assert_array_equal(hits, np.ones(23))  # each iteration once
    assert x == 22 * 3  # lastprivate: the team of the last chunk copies out
