"""benchmarks/run.py --plot: the three pictures of a run, from a saved run (--load)."""

import json
import pathlib
import subprocess
import sys

import plots

RUN = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"

ROWS = [
    {"kernel": "pi loop", "size": "n=1", "unit": "s", "threads": k, "impl": impl,
     "median": t / k}
    for k in (1, 2) for impl, t in (("pyomp", 1.0), ("C clang/libomp", 1.1),
                                    ("C gcc/libgomp", 0.5), ("numba prange", 1.0))
] + [
    {"kernel": "sync barrier", "size": "reps=1", "unit": "us", "threads": k, "impl": impl,
     "median": t * k}
    for k in (1, 2) for impl, t in (("pyomp", 0.01), ("C clang/libomp", 0.02),
                                    ("C gcc/libgomp", 0.3))
]


def test_rows_grouped_by_kernel_threads_and_implementation():
    table = plots.by_kernel(ROWS, "s")
    assert list(table) == ["pi loop"]
    assert table["pi loop"][2]["pyomp"] == 0.5
    assert plots._best_c(table["pi loop"][1]) == 0.5  # gcc, the faster C
    assert list(plots.by_kernel(ROWS, "us")) == ["sync barrier"]


def test_saved_run_plots_three_pngs(tmp_path):
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"machine": "test machine", "rows": ROWS}))
    done = subprocess.run([sys.executable, str(RUN), "--load", str(saved), "--plot",
                           str(tmp_path / "plots")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("plot: ") == 3
    for name in ("speedup.png", "ratio_to_c.png", "overheads.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG", name


def test_a_run_without_kernels_in_seconds_draws_no_speedup(tmp_path):
    overheads_only = [row for row in ROWS if row["unit"] == "us"]
    made = plots.all_plots({"rows": overheads_only}, tmp_path)
    assert [path.name for path in made] == ["overheads.png"]
