"""pyomp.profile: the intervals each thread records, checked against what the constructs
guarantee (which thread runs which chunk under a static schedule, one `single`, critical
sections that never overlap, every iteration in exactly one chunk), not against timing."""

import numpy as np
import pyomp
import pytest
from helpers import in_lasting_python_threads
from pyomp import njit, omp_get_thread_num, omp_set_lock, omp_unset_lock, openmp
from pyomp.profiling import KINDS, ProfileError
from trace_schema import check_trace


def kinds_of(prof, kind, site=None):
    return prof.events(kind, site=site)


def assert_nested(prof):
    """On each thread, intervals nest: none overlaps another partly."""
    iv = prof.intervals
    for t in np.unique(iv["thread"]):
        mine = iv[iv["thread"] == t]
        open_ends = []
        for s, e in zip(mine["start"], mine["end"]):
            while open_ends and open_ends[-1] <= s:
                open_ends.pop()
            assert not open_ends or e <= open_ends[-1], "intervals overlap partly"
            open_ends.append(e)


def within(inner, outer):
    """Each of `inner` lies inside an interval of `outer` on the same thread."""
    for r in inner:
        same = outer[outer["thread"] == r["thread"]]
        assert np.any((same["start"] <= r["start"]) & (r["end"] <= same["end"])), r


def covered_once(chunks, n):
    seen = np.zeros(n, dtype=np.int64)
    for a, b in zip(chunks["a"], chunks["b"]):
        seen[a:b] += 1
    return seen.tolist() == [1] * n


@njit
def static_loop(out, n):
    with openmp("parallel for schedule(static)"):
        for i in range(n):
            out[i] = omp_get_thread_num()
    return out


@njit
def chunked_loop(out, n):
    with openmp("parallel for schedule(static, 7)"):
        for i in range(n):
            out[i] = omp_get_thread_num()
    return out


@njit
def dynamic_loop(n):
    s = 0
    with openmp("parallel for schedule(dynamic, 3) reduction(+:s)"):
        for i in range(n):
            s += i
    return s


@njit
def guided_loop(n):
    s = 0
    with openmp("parallel for schedule(guided) reduction(+:s)"):
        for i in range(n):
            s += i
    return s


def test_static_region_one_body_and_one_block_per_thread(threads):
    static_loop(np.zeros(100, np.int64), 100)
    with pyomp.profile() as prof:
        owner = static_loop(np.zeros(100, np.int64), 100)
    regions, bodies = kinds_of(prof, "parallel"), kinds_of(prof, "body")
    assert len(regions) == 1 and len(bodies) == threads
    assert len(np.unique(bodies["thread"])) == threads
    assert np.all((regions["start"][0] <= bodies["start"]) & (bodies["end"] <= regions["end"][0]))
    loops, chunks = kinds_of(prof, "loop"), kinds_of(prof, "chunk")
    assert len(loops) == threads and set(loops["a"]) == {100}
    assert len(chunks) == threads and covered_once(chunks, 100)
    sizes = chunks["b"] - chunks["a"]
    assert sizes.max() - sizes.min() <= 1
    within(chunks, loops)
    within(loops, bodies)
    # the chunk a thread recorded is the one whose iterations it ran
    for c in chunks:
        assert len(set(owner[c["a"]:c["b"]])) == 1
    assert len(kinds_of(prof, "join wait")) == threads
    assert_nested(prof)


def test_round_robin_chunks_go_to_the_same_thread_each_round(threads):
    chunked_loop(np.zeros(100, np.int64), 100)
    with pyomp.profile() as prof:
        chunked_loop(np.zeros(100, np.int64), 100)
    chunks = kinds_of(prof, "chunk")
    assert len(chunks) == 15 and covered_once(chunks, 100)  # ceil(100 / 7)
    for t in np.unique(chunks["thread"]):
        rounds = {int(a) // 7 % threads for a in chunks["a"][chunks["thread"] == t]}
        assert len(rounds) == 1, "a thread runs chunks of one residue class"


@pytest.mark.parametrize("loop, chunk", [(dynamic_loop, 3), (guided_loop, None)])
def test_dispatched_chunks_cover_each_iteration_once(threads, loop, chunk):
    loop(10)
    with pyomp.profile() as prof:
        assert loop(1000) == sum(range(1000))
    chunks = kinds_of(prof, "chunk")
    assert covered_once(chunks, 1000)
    if chunk and threads == 1:
        # pyomp's dispatcher hands a team of one the whole rest at once (runtime.rs)
        assert (chunks["b"] - chunks["a"]).tolist() == [1000]
    elif chunk:
        sizes = sorted(chunks["b"] - chunks["a"])
        assert sizes[1:] == [3] * (len(sizes) - 1) and sizes[0] == 1000 % 3
    within(chunks, kinds_of(prof, "loop"))
    row = next(r for r in prof.constructs() if r.role == "for")
    assert sum(row.chunks.values()) == len(chunks)
    assert sum(row.iterations.values()) == 1000
    assert_nested(prof)


@njit
def sync_constructs(n):
    hits = np.zeros(4, np.int64)
    with openmp("parallel"):
        with openmp("barrier"):
            pass
        with openmp("single"):
            hits[0] += 1
        with openmp("master"):
            hits[1] += 1
        with openmp("critical"):
            hits[2] += 1
        with openmp("for ordered schedule(dynamic)"):
            for _ in range(n):
                with openmp("ordered"):
                    hits[3] += 1
    return hits


def test_sync_constructs_record_their_bodies_and_waits(threads):
    sync_constructs(3)
    with pyomp.profile() as prof:
        hits = sync_constructs(20)
    assert hits.tolist() == [1, 1, threads, 20]
    barriers = kinds_of(prof, "barrier", site="barrier")
    assert len(barriers) == threads and len(np.unique(barriers["thread"])) == threads
    assert len(kinds_of(prof, "single")) == 1
    master = kinds_of(prof, "master")
    assert len(master) == 1 and master["thread"][0] == kinds_of(prof, "parallel")["thread"][0]
    for held, waits, count in (("critical", "critical wait", threads),
                               ("ordered", "ordered wait", 20)):
        bodies = kinds_of(prof, held)
        assert len(bodies) == count and len(kinds_of(prof, waits)) == count
        # mutual exclusion: no two bodies overlap in time
        bodies = np.sort(bodies, order="start")
        assert np.all(bodies["end"][:-1] <= bodies["start"][1:])
    assert_nested(prof)


@njit
def tasks(n, out):
    with openmp("parallel"):
        with openmp("single"):
            for i in range(n):
                with openmp("task firstprivate(i)"):
                    out[i] = i * i
            with openmp("taskwait"):
                pass
            with openmp("taskgroup"):
                for i in range(n):
                    with openmp("task firstprivate(i)"):
                        out[i] += 1
    return out


def test_tasks_are_created_run_and_waited_for(threads):
    tasks(2, np.zeros(2, np.int64))
    with pyomp.profile() as prof:
        out = tasks(12, np.zeros(12, np.int64))
    assert out.tolist() == [i * i + 1 for i in range(12)]
    created, ran = kinds_of(prof, "task create"), kinds_of(prof, "task")
    assert len(created) == 24 and len(ran) == 24
    single = kinds_of(prof, "single")
    assert set(created["thread"]) == set(single["thread"])
    assert sorted(created["a"]) == sorted(ran["a"])  # the same task ids
    assert len(kinds_of(prof, "taskwait")) == 1 and len(kinds_of(prof, "taskgroup wait")) == 1
    task_rows = [r for r in prof.constructs() if r.role == "task"]
    assert [sum(r.tasks.values()) for r in task_rows] == [12, 12]  # two task constructs
    flows = [e for e in prof.trace()["traceEvents"] if e["ph"] in "sf"]
    assert len(flows) == 48
    assert_nested(prof)


@njit
def raises_on_one_thread(n):
    s = 0
    with openmp("parallel for schedule(static, 1) reduction(+:s)"):
        for i in range(n):
            if i == n - 1:
                raise ValueError("iteration failed")
            s += i
    return s


def test_a_raising_region_still_closes_its_intervals(threads):
    with pytest.raises(ValueError):
        raises_on_one_thread(4)
    with pyomp.profile() as prof:
        with pytest.raises(ValueError, match="iteration failed"):
            raises_on_one_thread(16)
    assert len(kinds_of(prof, "parallel")) == 1
    bodies = kinds_of(prof, "body")
    assert len(bodies) == threads
    assert np.all(bodies["end"] <= kinds_of(prof, "parallel")["end"][0])
    assert len(kinds_of(prof, "loop")) == threads
    assert_nested(prof)


@njit
def nested(out):
    with openmp("parallel num_threads(2)"):
        outer = omp_get_thread_num()
        with openmp("parallel num_threads(2)"):
            out[outer, omp_get_thread_num()] += 1
    return out


def test_nested_regions_nest_in_their_outer_body():
    pyomp.omp_set_max_active_levels(2)
    try:
        nested(np.zeros((2, 2), np.int64))
        with pyomp.profile() as prof:
            out = nested(np.zeros((2, 2), np.int64))
    finally:
        pyomp.omp_set_max_active_levels(1)
    assert out.tolist() == [[1, 1], [1, 1]]
    inner_line = nested.py_func.__code__.co_firstlineno + 4
    inner = [s for s, site in prof.sites.items() if site.line == inner_line]
    regions = prof.intervals[np.isin(prof.intervals["site"], inner)]
    assert (regions["kind"] == KINDS.index("parallel")).sum() == 2
    assert (regions["kind"] == KINDS.index("body")).sum() == 4
    outer_bodies = kinds_of(prof, "body", "parallel num_threads(2)")
    within(regions[regions["kind"] == KINDS.index("parallel")], outer_bodies)
    assert_nested(prof)


@njit
def small_region(out, k):
    with openmp("parallel num_threads(2)"):
        out[k, omp_get_thread_num()] += 1
    return out


def test_python_threads_each_record_their_own_regions():
    out = small_region(np.zeros((4, 2), np.int64), 0)
    with pyomp.profile() as prof:
        in_lasting_python_threads(lambda k: small_region(out, k), count=3)
    assert out[:3].tolist() == [[2, 2], [1, 1], [1, 1]]
    regions = kinds_of(prof, "parallel")
    assert len(regions) == 3 and len(np.unique(regions["thread"])) == 3
    names = {t.index: t.name for t in prof.threads}
    assert all(names[t].startswith("pyomp-tests") for t in regions["thread"])
    assert len(kinds_of(prof, "body")) == 6
    assert_nested(prof)


@njit
def locked(n):
    lock = pyomp.omp_init_lock()
    s = np.zeros(1, np.int64)
    with openmp("parallel"):
        for _ in range(n):
            omp_set_lock(lock)
            s[0] += 1
            omp_unset_lock(lock)
    pyomp.omp_destroy_lock(lock)
    return s[0]


def test_lock_waits_are_recorded_and_named_by_the_routine(threads):
    locked(1)
    with pyomp.profile() as prof:
        assert locked(5) == 5 * threads
    waits = kinds_of(prof, "lock wait")
    assert len(waits) == 5 * threads
    assert {prof.sites[int(s)].directive for s in waits["site"]} == {"omp_set_lock"}


def test_profiling_leaves_results_unchanged_and_records_nothing_when_off():
    from pyomp import _pass
    expected = dynamic_loop(5000)
    with pyomp.profile() as first:
        assert dynamic_loop(5000) == expected
    dynamic_loop(5000)  # off: the threads' logs of the last profile stay as they were
    again = np.frombuffer(_pass.profile_stop()[0], pyomp.profiling.recorder.RECORD)
    assert len(first.intervals) > 0
    assert len(again) == len(first.intervals) - len(first.events("join wait"))
    with pyomp.profile() as second:
        pass
    assert len(second.intervals) == 0 and "nothing recorded" in second.summary()


def test_profiles_do_not_overlap_and_are_read_after_they_stop():
    with pyomp.profile() as prof:
        with pytest.raises(ProfileError, match="recording already"):
            pyomp.profile().start()
        with pytest.raises(ProfileError, match="not stopped yet"):
            prof.summary()
    with pytest.raises(ProfileError, match="recorded already"):
        prof.start()
    with pytest.raises(ValueError, match="unknown kind"):
        prof.events("chunks")


def test_summary_names_each_construct_with_its_counts(threads):
    sync_constructs(3)
    with pyomp.profile() as prof:
        sync_constructs(20)
    rows = {r.site.directive: r for r in prof.constructs()}
    assert rows["parallel"].calls == 1
    assert rows["single"].calls == 1 and rows["master"].calls == 1
    assert rows["critical"].calls == threads
    assert rows["for ordered schedule(dynamic)"].calls == 1
    assert sum(rows["for ordered schedule(dynamic)"].iterations.values()) == 20
    assert rows["ordered"].calls == 20
    assert set(rows["parallel"].busy_ns) == set(np.unique(prof.intervals["thread"]))
    table = prof.summary()
    line = sync_constructs.py_func.__code__.co_firstlineno
    for offset, directive in ((3, "parallel"), (6, "single"), (10, "critical"), (14, "ordered")):
        assert f"test_profile.py:{line + offset} {directive}" in table
    for r in prof.constructs():
        assert 0.0 <= r.wait_share <= 1.0
        assert r.imbalance is None if r.role in ("single", "master") else r.imbalance >= 1.0


def test_trace_passes_the_schema_and_has_a_track_per_thread(threads, tmp_path):
    tasks(2, np.zeros(2, np.int64))
    with pyomp.profile() as prof:
        tasks(6, np.zeros(6, np.int64))
        dynamic_loop(300)
    path = prof.save(tmp_path / "trace.json")
    import json
    trace = json.loads(path.read_text())
    check_trace(trace)
    tracks = {e["tid"] for e in trace["traceEvents"] if e["ph"] == "X"}
    named = {e["tid"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert tracks == named and len(tracks) == threads
    assert sum(e["ph"] == "X" for e in trace["traceEvents"]) == len(prof.intervals)


def test_timeline_plot_is_written(tmp_path):
    static_loop(np.zeros(64, np.int64), 64)
    with pyomp.profile() as prof:
        static_loop(np.zeros(64, np.int64), 64)
    fig = prof.plot(tmp_path / "timeline.png", title="static")
    assert (tmp_path / "timeline.png").stat().st_size > 1000
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [t.name for t in prof.threads]


CACHED_PROGRAM = '''
import numpy as np
from pyomp import njit, openmp

@njit(cache=True)
def work(n):
    s = 0.0
    with openmp("parallel for schedule(dynamic, 10) reduction(+:s)"):
        for i in range(n):
            s += i
    return s

print(work(1000), sum(work.stats.cache_hits.values()))
'''


def test_pyomp_profile_setting_profiles_a_whole_run_from_the_cache_too(tmp_path):
    """Code loaded from Numba's cache records too: the flag is read at run time."""
    import json
    import os
    import subprocess
    import sys
    script = tmp_path / "cached.py"
    script.write_text(CACHED_PROGRAM)
    env = {**os.environ, "OMP_NUM_THREADS": "3", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    for run, hits in (("compiled", 0), ("cached", 1)):
        out = tmp_path / f"{run}.json"
        done = subprocess.run([sys.executable, str(script)], env={**env, "PYOMP_PROFILE": str(out)},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["499500.0", str(hits)]
        assert f"profile written to {out}" in done.stderr and "cached.py:8" in done.stderr
        trace = json.loads(out.read_text())
        check_trace(trace)
        chunks = [e for e in trace["traceEvents"] if e.get("cat") == "chunk"]
        ran = sorted(i for e in chunks for i in range(*e["args"]["iterations"]))
        assert ran == list(range(1000))
        assert sum(e.get("cat") == "body" for e in trace["traceEvents"]) == 3


@njit
def orphaned_work(out, n):
    with openmp("for schedule(static)"):
        for i in range(n):
            out[i] = omp_get_thread_num()
    with openmp("barrier"):
        pass


@njit
def calls_orphaned(out, n, serial):
    with openmp("parallel if(serial == 0)"):
        orphaned_work(out, n)
    return out


def test_orphaned_constructs_and_a_serial_if_region(threads):
    calls_orphaned(np.zeros(8, np.int64), 8, 0)
    with pyomp.profile() as prof:
        calls_orphaned(np.zeros(40, np.int64), 40, 0)
    assert len(kinds_of(prof, "body")) == threads
    chunks = kinds_of(prof, "chunk")
    assert covered_once(chunks, 40) and len(kinds_of(prof, "loop")) == threads
    assert len(kinds_of(prof, "barrier", site="barrier")) == threads
    with pyomp.profile() as serial:
        calls_orphaned(np.zeros(40, np.int64), 40, 1)
    assert len(kinds_of(serial, "parallel")) == 1 and len(kinds_of(serial, "body")) == 1
    assert kinds_of(serial, "chunk")[["a", "b"]].tolist() == [(0, 40)]
    assert_nested(prof)
    assert_nested(serial)


@njit
def league(out, k):
    with openmp("teams distribute parallel for num_teams(k) num_threads(2)"):
        for i in range(out.size):
            out[i] = pyomp.omp_get_team_num()
    return out


def test_teams_are_a_league_of_bodies_and_their_loops_cover_the_range():
    league(np.zeros(8, np.int64), 2)
    with pyomp.profile() as prof:
        out = league(np.zeros(60, np.int64), 3)
    assert sorted(set(out.tolist())) == [0, 1, 2]
    teams_line = league.py_func.__code__.co_firstlineno + 2
    teams = [s for s, site in prof.sites.items() if site.line == teams_line]
    at = prof.intervals[np.isin(prof.intervals["site"], teams)]
    # one league fork, a body per team; each team's parallel forks a team of 2
    assert (at["kind"] == KINDS.index("teams")).sum() == 1
    assert (at["kind"] == KINDS.index("parallel")).sum() == 3
    assert (at["kind"] == KINDS.index("body")).sum() == 3 + 3 * 2
    # each team's loop runs its block of the range, numbered from 0 (leagues.py)
    chunks = kinds_of(prof, "chunk")
    assert int((chunks["b"] - chunks["a"]).sum()) == 60
    assert_nested(prof)


@njit
def two_sections(out):
    with openmp("parallel sections"):
        with openmp("section"):
            out[0] = omp_get_thread_num() + 1
        with openmp("section"):
            out[1] = omp_get_thread_num() + 1
    return out


def test_sections_are_a_loop_over_the_sections(threads):
    two_sections(np.zeros(2, np.int64))
    with pyomp.profile() as prof:
        out = two_sections(np.zeros(2, np.int64))
    chunks = kinds_of(prof, "chunk")
    assert covered_once(chunks, 2)
    row = next(r for r in prof.constructs() if r.role == "sections")
    assert sum(row.iterations.values()) == 2 and row.site.directive == "parallel sections"
    # the thread that recorded a section ran it: one OpenMP thread number per recording
    # thread, a different one for each
    ran_by = {}
    for c in chunks:
        ran_by.setdefault(int(c["thread"]), set()).update(out[c["a"]:c["b"]].tolist())
    assert all(len(tids) == 1 for tids in ran_by.values())
    assert len(set().union(*ran_by.values())) == len(ran_by)


@njit
def orphaned_task(n):
    x = 0
    with openmp("task shared(x)"):
        x = n
    return x


@njit
def runs_orphaned_tasks(n):
    with openmp("parallel"):
        orphaned_task(n)


def test_a_task_in_a_called_function_and_its_implicit_waits(threads):
    """The pass's own waits (a function waits for its tasks at its returns; some carry
    no ident) are named by their function: reading them once crashed the collector."""
    runs_orphaned_tasks(1)
    with pyomp.profile() as prof:
        runs_orphaned_tasks(2)
    assert len(kinds_of(prof, "task")) == threads == len(kinds_of(prof, "task create"))
    implicit = [s for s in prof.sites.values() if s.line == 0]
    assert implicit and all(s.label.endswith("orphaned_task (implicit)") for s in implicit)
    assert "orphaned_task (implicit)" in prof.summary()


@njit
def written_oddly(out):
    with openmp(
        "parallel for "
        "schedule(static)"
    ):
        for i in range(out.size):
            out[i] = 1
    with openmp("parallel"), openmp("single"):
        out[0] = 2
    return out


def test_constructs_are_named_as_written_whatever_the_layout():
    written_oddly(np.zeros(4))
    with pyomp.profile() as prof:
        written_oddly(np.zeros(4))
    names = {s.directive for s in prof.sites.values()}
    assert names == {"parallel for schedule(static)", "parallel / single"}


def test_a_python_thread_that_ended_is_not_called_an_openmp_worker():
    import threading
    small_region(np.zeros((4, 2), np.int64), 0)
    with pyomp.profile() as prof:
        t = threading.Thread(target=small_region, args=(np.zeros((4, 2), np.int64), 1))
        t.start()
        t.join()
    region = kinds_of(prof, "parallel")
    name = {th.index: th.name for th in prof.threads}[int(region["thread"][0])]
    assert name == f"Python thread {t.native_id}"


@njit
def scaled(x):
    return 2.0 * x


@njit
def user_program(a):
    s = 0.0
    with openmp("parallel"):
        print("thread", omp_get_thread_num())
        with openmp("for reduction(+:s) schedule(dynamic, 3)"):
            for i in range(a.shape[0]):
                s += scaled(np.sum(a[i] ** 2))
    return s


def test_a_users_program_profiled_gives_pythons_answer(threads, capfd):
    """print, NumPy expressions and a call into other jitted code under the profiler: the
    answer is plain Python's (the same function without compiling: openmp is a no-op)."""
    a = np.arange(60.0).reshape(20, 3) / 7.0
    user_program(a[:2])  # compiles; prints too
    with pyomp.profile() as prof:
        got = user_program(a)
    assert got == pytest.approx(user_program.py_func(a), rel=1e-12)
    printed = capfd.readouterr().out.splitlines()  # two compiled calls', and Python's
    assert sorted(printed) == sorted(2 * [f"thread {t}" for t in range(threads)] + ["thread 0"])
    assert covered_once(kinds_of(prof, "chunk"), 20)
    assert len(kinds_of(prof, "body")) == threads
