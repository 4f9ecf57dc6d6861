"""Each front-end pass (pyomp.passes, run in order by pyomp.frontend) on small Numba IR.

`run_until(f, last)` reads f's Numba IR as pyomp's pipeline does and runs the passes up to
and including `last`; each test looks at what that pass leaves for the next one.  (The
end-to-end behaviour of the same code is what the rest of the suite checks.)
"""


import numpy as np
import pytest
from numba.core import ir, postproc
from pyomp import frontend, markers, openmp
from pyomp.errors import PyompError
from pyomp.passes.state import FrontEnd
from pyomp.pipeline import run_frontend


def run_until(func, last):
    names = [p.__name__.rsplit(".", 1)[1] for p in frontend.PASSES]
    state = FrontEnd(run_frontend(func))
    for step in frontend.PASSES[:names.index(last) + 1]:
        step.run(state)
    return state


def variables(func_ir):
    return {v.name for b in func_ir.blocks.values() for s in b.body for v in s.list_vars()}


def constructs(state_regions):
    return [r.directive.construct for r in state_regions]


def test_the_passes_run_in_the_documented_order():
    import pyomp.passes
    names = [p.__name__.rsplit(".", 1)[1] for p in frontend.PASSES] + ["dels"]
    listed = [line.split()[1] for line in pyomp.passes.__doc__.splitlines()
              if line[:1].isdigit()]
    assert names == listed


# -- 1. find_withs -------------------------------------------------------------------------

def two_blocks(n):
    s = 0
    s = s + 1
    with openmp("parallel"):
        pass
    with openmp("single"):
        pass
    return s + n


def no_blocks(n):
    return n + 1


def test_find_withs_finds_each_block_and_merges_versions():
    state = run_until(two_blocks, "find_withs")
    assert len(state.found) == 2
    assert all(isinstance(stmt, ir.EnterWith) for _, stmt, _ in state.found)
    names = variables(state.func_ir)
    assert "s" in names and not any(n.startswith("s.") for n in names)


def test_find_withs_leaves_a_function_without_blocks_alone():
    assert frontend.mark_regions(run_frontend(no_blocks)) == []
    assert run_until(no_blocks, "find_withs").found == []


# -- 2. parse --------------------------------------------------------------------------------

def nested(a):
    with openmp("parallel num_threads(2)"):
        with openmp("for"):
            for i in range(a.shape[0]):
                a[i] = i
    return a


def bad_clause(a):
    with openmp("parallel privat(a)"):
        a[0] = 1
    return a


def test_parse_builds_the_region_tree():
    state = run_until(nested, "parse")
    outer, inner = state.withs
    assert constructs(state.withs) == ["parallel", "for"]
    assert inner.parent is outer and outer.children == [inner]
    assert inner.blocks < outer.blocks
    assert outer.directive.clause("num_threads") is not None


def test_parse_locates_a_bad_directive():
    with pytest.raises(PyompError) as info:
        run_until(bad_clause, "parse")
    text = str(info.value)
    assert "privat" in text and "test_frontend_passes.py" in text


# -- 3. nesting ------------------------------------------------------------------------------

def loops_bound(a):
    with openmp("parallel"):
        with openmp("loop"):
            for i in range(a.shape[0]):
                a[i] = i
    with openmp("loop"):
        for i in range(a.shape[0]):
            a[i] += 1
    return a


def barrier_in_single(a):
    with openmp("parallel"):
        with openmp("single"):
            with openmp("barrier"):
                pass
    return a


def test_nesting_binds_loop_as_for_or_simd():
    state = run_until(loops_bound, "nesting")
    assert constructs(state.withs) == ["parallel", "for", "simd"]


def test_nesting_rejects_a_barrier_not_every_thread_reaches():
    with pytest.raises(PyompError, match="'barrier' cannot be nested inside 'single'"):
        run_until(barrier_in_single, "nesting")


# -- 4. replace_constructs -------------------------------------------------------------------

def sections_and_atomic(a):
    with openmp("parallel"):
        with openmp("sections"):
            with openmp("section"):
                a[0] = 1
            with openmp("section"):
                a[1] = 2
        with openmp("atomic"):
            a[2] += 1
    return a


def test_replace_constructs_turns_sections_into_a_loop_and_atomics_into_hardware():
    state = run_until(sections_and_atomic, "replace_constructs")
    assert "section" not in constructs(state.withs)  # its blocks are the loop's body now
    (sections,) = [r for r in state.withs if r.directive.construct.endswith("sections")
                   or r.directive.construct == "for"]
    assert "_pyomp_section" in variables(state.func_ir)
    assert [r.directive.construct for r in state.replaced] == ["atomic"]
    assert sections.parent is state.withs[0]


# -- 5. split --------------------------------------------------------------------------------

def combined(a):
    s = 0.0
    with openmp("parallel for reduction(+:s) num_threads(2)"):
        for i in range(a.shape[0]):
            s += a[i]
    return s


def test_split_gives_each_leaf_its_region_and_clauses():
    state = run_until(combined, "split")
    par, loop = state.regions
    assert constructs(state.regions) == ["parallel", "for"]
    assert loop.parent is par and par.blocks == loop.blocks
    assert par.directive.clause("num_threads") is not None
    assert loop.directive.has("reduction") and not loop.directive.has("num_threads")


# -- 6. analyse ------------------------------------------------------------------------------

def loop_var_read_after(a):
    i = 0
    with openmp("parallel"):
        with openmp("for"):
            for i in range(a.shape[0]):
                a[i] = i
    return i


def test_analyse_finds_the_loop_nest_and_what_is_read_after():
    state = run_until(loop_var_read_after, "analyse")
    _, loop = state.regions
    (level,) = state.loop_of[id(loop)]
    assert level.var == "i"
    assert state.read_after[id(loop)] == {"i"}
    assert {"a", "i"} <= state.local_names
    assert "a" in state.defined[loop.head]


# -- 7. data_sharing -------------------------------------------------------------------------

def sharing_kinds(a):
    x = 1.0
    s = 0.0
    with openmp("parallel private(x)"):
        x = 2.0
        with openmp("for reduction(+:s)"):
            for i in range(a.shape[0]):
                s += a[i] * x
    return s


def test_data_sharing_decides_each_variable():
    state = run_until(sharing_kinds, "data_sharing")
    par, loop = state.regions
    assert par.sharing["x"].sharing == "private"
    assert par.sharing["a"].sharing == "shared"
    assert par.sharing["s"].sharing == "shared"  # the loop combines into it
    assert par.sharing["i"].sharing == "private"
    assert loop.sharing["s"].sharing == "reduction" and loop.sharing["s"].op == "+"


# -- 8. rewrite ------------------------------------------------------------------------------

def taskloop(a):
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskloop grainsize(4)"):
                for i in range(a.shape[0]):
                    a[i] = i
    return a


def test_rewrite_numbers_the_regions_and_makes_a_task_per_chunk():
    state = run_until(taskloop, "rewrite")
    assert constructs(state.regions) == ["parallel", "single", "taskloop", "task"]
    ids = [r.region_id for r in state.regions]
    assert len(set(ids)) == 4
    task = state.regions[3]
    assert task.parent is state.regions[2]
    assert task.sharing["i"].sharing == "private"


# -- 9. place_markers ------------------------------------------------------------------------

def marker_payloads(func_ir):
    """(enter or exit, payload) of each marker call."""
    return [(kind, payload) for _, kind, payload, _ in markers.marker_calls(func_ir)]


def test_place_markers_replaces_the_withs_by_marker_calls():
    state = run_until(combined, "place_markers")
    assert not any(isinstance(s, (ir.EnterWith, ir.PopBlock))
                   for b in state.func_ir.blocks.values() for s in b.body)
    found = marker_payloads(state.func_ir)
    enters = [p for kind, p in found if kind == "enter"]
    assert [p["construct"] for p in enters] == ["parallel", "for"]
    assert sorted(p["id"] for kind, p in found if kind == "exit") == \
        sorted(p["id"] for p in enters)
    loop_vars = {v["name"]: v["sharing"] for v in enters[1]["vars"]}
    assert loop_vars["s"] == "reduction"


# -- 10. dels --------------------------------------------------------------------------------

def shared_released_on_a_raise(n):
    a = np.zeros(n)
    with openmp("parallel"):
        if n > 5:
            raise ValueError("too big")
        x = a[0]  # noqa: F841
    return 0


def test_dels_keeps_what_the_team_shares_alive_inside_the_region():
    func_ir = run_frontend(shared_released_on_a_raise)
    frontend.mark_regions(func_ir)
    postproc.PostProcessor(func_ir).run(True)  # Numba places its `del`s

    def raising_blocks_releasing_a():
        return [label for label, block in func_ir.blocks.items()
                if isinstance(block.terminator, (ir.Raise, ir.StaticRaise))
                and any(isinstance(s, ir.Del) and s.value == "a" for s in block.body)]

    # Numba releases `a` before the raise, inside the region: the thread that raises
    # would free the array the rest of the team is still writing
    assert raising_blocks_releasing_a()
    frontend.place_dels(func_ir)
    assert raising_blocks_releasing_a() == []
