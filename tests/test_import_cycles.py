"""ci/import_cycles.py: the check that keeps both halves free of import circles (issue 15)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _checker():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "ci" / "import_cycles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_finds_a_circle_and_only_circles():
    cycles = _checker().cycles
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_package_and_the_crate_have_none():
    checker = _checker()
    python, rust = checker.python_graph(), checker.rust_graph()
    # the graphs see the modules and their uses (a check of an empty graph would pass)
    assert "passes.data_sharing" in python and "sharing" in python["passes.data_sharing"]
    assert "lower/sync" in rust and "lower/barrier" in rust["lower/sync"]
    # a nested module's `crate::` path names the module it uses, not its first segment
    assert "lower/barrier" in rust["lower/worksharing/end"]
    assert "lower/worksharing/state" in rust["lower/worksharing/init"]
    assert checker.cycles(python) == [] and checker.cycles(rust) == []
