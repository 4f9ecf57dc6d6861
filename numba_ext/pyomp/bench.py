"""`python -m pyomp bench`: how pyomp scales on this machine, in under a minute.

Four small kernels, each run at 1, 2, 4, ... threads up to the processors (or the counts
given), best of a few runs: a compute-bound reduction (pi), an imbalanced loop under a
dynamic schedule (Mandelbrot rows), a memory-bound stencil (Jacobi sweeps: it shows the
memory bandwidth's limit), and the cost of one empty parallel region. The
table gives times and the speed-up over the same kernel at one thread; `--plot FILE`
draws the speed-ups (matplotlib, an optional dependency: `pip install pyomp-rs[plot]`).

The project's own benchmarks, against C and Numba prange, are in benchmarks/ (run.py).
"""

import dataclasses
import os
import sys
import time

import numpy as np

from . import njit, openmp
from .runtime.api import omp_get_num_procs, omp_get_wtime, omp_set_num_threads


@njit
def pi(n):
    step = 1.0 / n
    s = 0.0
    with openmp("parallel for reduction(+:s)"):
        for i in range(n):
            x = (i + 0.5) * step
            s += 4.0 / (1.0 + x * x)
    return step * s


@njit
def mandelbrot(n, maxit):
    inside = 0
    with openmp("parallel for schedule(dynamic) reduction(+:inside)"):
        for i in range(n):
            ci = -1.5 + 3.0 * i / n
            for j in range(n):
                cr = -2.0 + 3.0 * j / n
                zr = 0.0
                zi = 0.0
                it = 0
                while it < maxit and zr * zr + zi * zi <= 4.0:
                    zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                    it += 1
                if it == maxit:
                    inside += 1
    return inside


@njit
def stencil(u, v, sweeps):
    """Jacobi sweeps, one parallel region each (u and v swap roles)."""
    n = u.shape[0]
    for _ in range(sweeps):
        with openmp("parallel for"):
            for i in range(1, n - 1):
                for j in range(1, n - 1):
                    v[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
        u, v = v, u


@njit
def empty_regions(reps):
    """`reps` empty parallel regions; seconds per region."""
    t0 = omp_get_wtime()
    for _ in range(reps):
        with openmp("parallel"):
            pass
    return (omp_get_wtime() - t0) / reps


@dataclasses.dataclass
class Kernel:
    name: str
    size: str
    run: object  # () -> seconds
    unit: str = "s"  # "us": a per-construct cost (no speed-up: lower is better)


def _timed(f, *args):
    t0 = time.perf_counter()
    f(*args)
    return time.perf_counter() - t0


def kernels(scale=1.0):
    """The kernels, sized by `scale` (1.0: about 0.05-0.2 s each at one thread)."""
    n_pi = int(80_000_000 * scale)
    n_mandel = max(16, int(480 * scale ** 0.5))
    n_grid = max(16, int(2048 * scale ** 0.5))
    u, v = np.random.default_rng(0).random((n_grid, n_grid)), np.zeros((n_grid, n_grid))
    reps = max(100, int(20_000 * scale))
    return [
        Kernel("pi", f"n={n_pi:,}", lambda: _timed(pi, n_pi)),
        Kernel("mandelbrot dynamic", f"{n_mandel}x{n_mandel}",
               lambda: _timed(mandelbrot, n_mandel, 1000)),
        Kernel("stencil", f"{n_grid}x{n_grid}, 20 sweeps", lambda: _timed(stencil, u, v, 20)),
        Kernel("empty parallel region", f"reps={reps:,}",
               lambda: empty_regions(reps) * 1e6, unit="us"),
    ]


def default_threads(procs):
    """1, 2, 4, ... up to the processors, and the processors themselves."""
    counts, k = [], 1
    while k < procs:
        counts.append(k)
        k *= 2
    return counts + [procs]


def measure(kernel_list, thread_counts, repeats, progress=print):
    """{kernel name: {threads: best time}}, a progress line per step."""
    times = {k.name: {} for k in kernel_list}
    steps = len(kernel_list) * len(thread_counts)
    step = 0
    for kernel in kernel_list:
        for threads in thread_counts:
            step += 1
            omp_set_num_threads(threads)
            kernel.run()  # compiles at the first count, warms the thread pool at the others
            best = min(kernel.run() for _ in range(repeats))
            times[kernel.name][threads] = best
            progress(f"[{step}/{steps}] {kernel.name} ({kernel.size}), {threads} "
                     f"thread{'s' if threads > 1 else ''}: {best:.4g} {kernel.unit}")
    return times


def table(kernel_list, times, thread_counts):
    """The results as text: time and speed-up over one thread per thread count."""
    head = f"{'kernel':<24}{'size':<24}" + "".join(f"{t:>8} thr      " for t in thread_counts)
    lines = [head]
    for kernel in kernel_list:
        row = times[kernel.name]
        base = row.get(1)
        cells = []
        for t in thread_counts:
            value = row[t]
            if kernel.unit == "s" and base:
                cells.append(f"{value:>9.4f}s {base / value:>5.2f}x")
            else:
                cells.append(f"{value:>9.3f}{kernel.unit:<3}{'':>5}")
        lines.append(f"{kernel.name:<24}{kernel.size:<24}" + "".join(cells))
    lines.append("time: best of the runs; Nx: speed-up over the same kernel at 1 thread; "
                 "us: microseconds per region (lower is better)")
    return "\n".join(lines)


def matplotlib_pyplot():
    """matplotlib.pyplot on the file-only backend, or None when it is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot(kernel_list, times, thread_counts, path, machine):
    """Speed-up over one thread against threads, one line per kernel, into `path` (PNG)."""
    plt = matplotlib_pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot(thread_counts, thread_counts, ":", color="grey", label="ideal (linear)")
    for kernel in kernel_list:
        if kernel.unit != "s" or 1 not in times[kernel.name]:
            continue
        row = times[kernel.name]
        ax.plot(thread_counts, [row[1] / row[t] for t in thread_counts], "o-",
                label=f"{kernel.name} ({kernel.size})")
    procs = os.cpu_count() or 1
    if thread_counts[-1] > procs:
        ax.axvspan(procs, thread_counts[-1], color="grey", alpha=0.12,
                   label=f"oversubscribed (> {procs} processors)")
    ax.set_xlabel("threads")
    ax.set_ylabel("speed-up over 1 thread")
    ax.set_xticks(thread_counts)
    ax.set_title(f"python -m pyomp bench on {machine}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def machine_name():
    import platform
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} processors"


def run(thread_counts=None, repeats=3, scale=1.0, plot_path=None, out=sys.stdout):
    """`python -m pyomp bench`; returns its exit status."""
    if plot_path and matplotlib_pyplot() is None:
        print("python -m pyomp bench: --plot needs matplotlib, which is not installed: "
              "pip install matplotlib (or pip install 'pyomp-rs[plot]')", file=sys.stderr)
        return 2
    procs = omp_get_num_procs()
    thread_counts = thread_counts or default_threads(procs)
    if 1 not in thread_counts:
        thread_counts = [1, *thread_counts]
    machine = machine_name()
    print(f"pyomp bench on {machine}: {len(thread_counts)} thread counts, best of "
          f"{repeats} runs", file=out, flush=True)
    kernel_list = kernels(scale)
    times = measure(kernel_list, thread_counts, repeats,
                    progress=lambda line: print(line, file=out, flush=True))
    print(file=out)
    print(table(kernel_list, times, thread_counts), file=out)
    if any(t > procs for t in thread_counts):
        print(f"(more threads than the {procs} processors: oversubscribed)", file=out)
    if plot_path:
        plot(kernel_list, times, thread_counts, plot_path, machine)
        print(f"plot: {plot_path}", file=out)
    return 0
