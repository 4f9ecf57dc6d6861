"""`python -m pyomp bench`: its kernels compute what serial code computes, and the command
prints a progress line per step, a table, and a PNG with --plot (or says matplotlib is
missing)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from pyomp import bench, omp_set_num_threads

THREADS = [1, 2, 3, 8]


@pytest.mark.parametrize("threads", THREADS)
def test_kernels_match_serial_python(threads):
    omp_set_num_threads(threads)
    assert bench.pi(100_000) == pytest.approx(np.pi, rel=1e-9)
    assert bench.mandelbrot(24, 50) == bench.mandelbrot.py_func(24, 50)
    rng = np.random.default_rng(1)
    u, v = rng.random((20, 20)), np.zeros((20, 20))
    expect_u, expect_v = u.copy(), v.copy()
    bench.stencil.py_func(expect_u, expect_v, 3)
    bench.stencil(u, v, 3)
    assert np.array_equal(u, expect_u) and np.array_equal(v, expect_v)
    assert bench.empty_regions(10) >= 0.0


def test_default_thread_counts_reach_the_processors():
    assert bench.default_threads(1) == [1]
    assert bench.default_threads(2) == [1, 2]
    assert bench.default_threads(6) == [1, 2, 4, 6]
    assert bench.default_threads(8) == [1, 2, 4, 8]


def _bench(*args, prelude=""):
    code = f"import sys\n{prelude}\nfrom pyomp.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "bench", *args],
                          capture_output=True, text=True, timeout=300)


def test_bench_prints_progress_and_table(tmp_path):
    png = tmp_path / "speedup.png"
    done = _bench("--threads", "2,3", "--repeats", "1", "--scale", "0.01", "--plot", str(png))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # threads 1 is always measured (the speed-ups are over it): 4 kernels x 3 counts
    assert sum(line.startswith("[") for line in lines) == 12
    assert "[12/12] empty parallel region" in done.stdout
    header = next(line for line in lines if line.startswith("kernel"))
    assert header.split()[2:] == ["1", "thr", "2", "thr", "3", "thr"]
    for name in ("pi ", "mandelbrot dynamic", "stencil", "empty parallel region"):
        assert any(line.startswith(name) for line in lines), name
    assert ("oversubscribed" in done.stdout) == (3 > (os.cpu_count() or 1))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path):
    done = _bench("--plot", str(tmp_path / "x.png"), prelude="sys.modules['matplotlib'] = None")
    assert done.returncode == 2
    assert "--plot needs matplotlib" in done.stderr and "pip install" in done.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("bad", ["0", "two", ""])
def test_bad_thread_counts_are_refused(bad):
    done = _bench("--threads", bad)
    assert done.returncode == 2
    assert "expected thread counts such as 1,2,4" in done.stderr
