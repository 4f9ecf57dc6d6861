"""pyomp vs C (gcc -fopenmp on libgomp, clang-19 -fopenmp on libomp) vs Numba prange.

    .venv/bin/python benchmarks/run.py [--threads 1,2] [--repeats 7] [--quick]
        [--save run.json] [--plot DIR]      # or: --load run.json --plot DIR (no run)

Each measurement is one run of one implementation; implementations are interleaved
(round-robin) so machine noise hits all alike; the table shows medians and the ratio to C
on the same runtime (clang-19 on the libomp pyomp loads: LIBOMP_DIR) and to gcc + libgomp.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Numba's pool has as many threads as cores unless told: the 8-thread rows need more
os.environ.setdefault("NUMBA_NUM_THREADS", "16")

import numba  # noqa: E402
import numpy as np  # noqa: E402
from pyomp.runtime import loader  # noqa: E402

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
sys.path.insert(0, str(HERE))

#: The folder of the libomp pyomp loads (cmeel-libomp's, from PyPI, in a pip install):
#: clang's programs link and run on that same library, so the clang ratio compares the
#: code, not two runtime versions.
LIBOMP_DIR = os.path.dirname(loader.load().path)
COMPILERS = {
    "C gcc/libgomp": ["gcc", "-O3", "-march=native", "-fopenmp"],
    "C clang/libomp": ["clang-19", "-O3", "-march=native", "-fopenmp", f"-L{LIBOMP_DIR}",
                       f"-Wl,-rpath,{LIBOMP_DIR}"],
}

# EPCC syncbench: iterations of the delay loop (about 0.1 us, EPCC's default delay time)
# and repetitions per construct (critical, lock, atomic: per thread), ~0.1-0.3 s a run.
SYNC_DELAY = 256
SYNC_REPS = {"parallel": 100_000, "for": 100_000, "parallelfor": 100_000, "barrier": 200_000,
             "single": 200_000, "critical": 100_000, "lock": 100_000, "atomic": 20_000_000,
             "reduction": 100_000}

# Tasks: fib(n) (serial below n = 20), merge sort of n doubles, a linked list of n nodes, and
# the EPCC taskbench overheads: the delay loop as syncbench's, tasks per thread per run.
FIB_N = 32
SORT_N = 10_000_000
LIST_N = 50_000
TASK_DELAY = SYNC_DELAY
TASK_REPS = 200_000


#: Cores of this machine: a row with more threads runs oversubscribed, where a spinning
#: runtime (libgomp, libomp within its blocktime) can take ~100x longer per construct.
CORES = os.cpu_count() or 1
#: Oversubscribed rows run this fraction of the repetitions (the size column shows the
#: count at or below CORES threads).
OVERSUBSCRIBED_SHARE = 20


def at(reps, k):
    """The repetitions a per-construct row runs with k threads."""
    return reps if k <= CORES else max(1, reps // OVERSUBSCRIBED_SHARE)


def build(name):
    """Compiles c/<name>.c with each C compiler (once); returns {label: executable}."""
    BUILD.mkdir(exist_ok=True)
    out = {}
    for label, cmd in COMPILERS.items():
        exe = BUILD / f"{name}.{cmd[0]}"
        src = HERE / "c" / f"{name}.c"
        flags = BUILD / f"{name}.{cmd[0]}.flags"  # rebuilt when the command changes
        if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime \
                or not flags.exists() or flags.read_text() != " ".join(cmd):
            subprocess.run([*cmd, str(src), "-o", str(exe)], check=True)
            flags.write_text(" ".join(cmd))
        out[label] = exe
    return out


def run_c(exe, threads, *args):
    # C runs with the runtime's own defaults, not the ones pyomp set for itself
    # (runtime.loader.RUNTIME_DEFAULTS; a user's own settings stay)
    env = {k: v for k, v in os.environ.items() if k not in loader.defaults_applied}
    env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([str(exe), *map(str, args)], env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.split()[0])


def run_c_checked(exe, threads, *args):
    """run_c for the programs that check their result themselves (exit status 1 if wrong)."""
    try:
        return run_c(exe, threads, *args)
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{exe.name} {' '.join(map(str, args))}: wrong result") from err


def zero_checked(kernel, reps, out):
    """kernel(reps, out), whose out[0] counts what went wrong (a wrong sum, a changed
    original): raises unless it is 0."""
    value = kernel(reps, out)
    if out[0] != 0:
        raise RuntimeError(f"{kernel.__name__}: wrong result (out[0] = {out[0]})")
    return value


def kernels(quick, only):
    """(name, size, unit, {implementation: measure(threads)}) for each selected kernel."""
    import pyomp
    from kernels import (
        forkjoin,
        forkjoin_firstprivate,
        forkjoin_nogil,
        forkjoin_prange,
        forkjoin_reduction,
        forkjoin_reduction_nogil,
        mandelbrot,
        mandelbrot_prange,
        matmul,
        matmul_prange,
        pi_loop,
        pi_loop_numpy_errors,
        pi_prange,
        pi_spmd,
    )

    n = 20_000_000 if quick else 200_000_000
    reps = 20_000 if quick else 200_000
    out = np.zeros(256 * 16, dtype=np.int64)

    def timed(f, *args):
        t0 = pyomp.omp_get_wtime()
        f(*args)
        return pyomp.omp_get_wtime() - t0

    if "pi" in only:
        pi_c = build("pi_spmd")
        yield ("SPMD pi", f"n={n:,}", "s", {
            "pyomp": lambda k: timed(pi_spmd, n),
            **{label: (lambda k, e=exe: run_c(e, k, n)) for label, exe in pi_c.items()},
            "numba prange": lambda k: timed(pi_prange, n),
        })
    if "piloop" in only:
        c_exe = build("pi_loop")
        yield ("pi loop", f"n={n:,}", "s", {
            "pyomp": lambda k: timed(pi_loop, n),
            "pyomp np-errors": lambda k: timed(pi_loop_numpy_errors, n),
            **{label: (lambda k, e=exe: run_c(e, k, n)) for label, exe in c_exe.items()},
            "numba prange": lambda k: timed(pi_prange, n),
        })
    if "matmul" in only:
        size = 256 if quick else 1024
        c_exe = build("matmul")
        a = (np.arange(size * size) % 7 * 0.5).reshape(size, size)
        b = (np.arange(size * size) % 5 * 0.25).reshape(size, size)
        yield ("matmul i-k-j", f"n={size}", "s", {
            "pyomp": lambda k: timed(matmul, a, b, np.zeros_like(a)),
            **{label: (lambda k, e=exe: run_c(e, k, size)) for label, exe in c_exe.items()},
            "numba prange": lambda k: timed(matmul_prange, a, b, np.zeros_like(a)),
        })
    if "mandelbrot" in only:
        size = 256 if quick else 1024
        c_exe = build("mandelbrot")
        yield ("mandelbrot dyn16", f"n={size}", "s", {
            "pyomp": lambda k: timed(mandelbrot, size, 1000),
            **{label: (lambda k, e=exe: run_c(e, k, size)) for label, exe in c_exe.items()},
            "numba prange": lambda k: timed(mandelbrot_prange, size, 1000),
        })
    if "jacobi" in only:
        from kernels import jacobi
        size, sweeps = (512, 20) if quick else (2048, 100)
        c_exe = build("jacobi")

        def grids():
            u = np.zeros((size, size))
            u[0, :] = 1.0
            return u, u.copy()

        yield ("jacobi 2D", f"n={size},{sweeps}", "s", {
            "pyomp": lambda k: timed(jacobi, *grids(), sweeps),
            **{label: (lambda k, e=exe: run_c(e, k, size, sweeps)) for label, exe in c_exe.items()},
        })
    if "jacobiresid" in only:
        from kernels import jacobi_resid
        size, sweeps = (512, 20) if quick else (2048, 100)
        c_exe = build("jacobi_resid")

        def grid():
            g = np.zeros((2, size, size))
            g[:, 0, :] = 1.0
            return g

        for mode, kernel in jacobi_resid.items():
            yield (f"jacobi resid {mode}", f"n={size},{sweeps}", "s", {
                "pyomp": lambda k, f=kernel: timed(f, grid(), sweeps),
                **{label: (lambda k, e=exe, mode=mode: run_c(e, k, size, sweeps, mode))
                   for label, exe in c_exe.items()},
            })
    if "histogram" in only:
        from kernels import histogram_atomic, histogram_private
        count = 1_000_000 if quick else 10_000_000
        values = (np.arange(count, dtype=np.int64) * 2654435761) % 1000003
        c_exe = build("histogram")
        for kind, kernel in (("atomic", histogram_atomic), ("private", histogram_private)):
            yield (f"histogram {kind}", f"n={count:,}", "s", {
                "pyomp": lambda k, f=kernel: timed(f, values, np.zeros(256, dtype=np.int64)),
                **{label: (lambda k, e=exe, kind=kind: run_c(e, k, kind, count))
                   for label, exe in c_exe.items()},
            })
    if "schedbench" in only:
        from kernels import schedbench
        sb_c = build("schedbench")
        sb_reps = 2_000 if quick else 20_000
        for kind, kernel in schedbench.items():
            yield (f"for {kind} (EPCC)", f"reps={sb_reps:,}", "us", {
                "pyomp": lambda k, f=kernel: f(at(sb_reps, k), 128, out),
                **{label: (lambda k, e=exe, kind=kind: run_c(e, k, kind, at(sb_reps, k), 128))
                   for label, exe in sb_c.items()},
            })
    if "forkjoin" in only or "syncbench" in only:  # syncbench's `parallel` construct
        fj_c = build("forkjoin")
        yield ("fork/join (EPCC)", f"reps={reps:,}", "us", {
            "pyomp": lambda k: forkjoin(at(reps, k), out),
            "pyomp nogil": lambda k: forkjoin_nogil(at(reps, k), out),
            **{label: (lambda k, e=exe: run_c(e, k, at(reps, k))) for label, exe in fj_c.items()},
            "numba prange": lambda k: forkjoin_prange(at(reps, k), out),
        })
    if "forkjoin" in only:
        fjr_c = build("forkjoin_reduction")
        fj_reps = reps // 2

        yield ("for reduction f/j", f"reps={fj_reps:,}", "us", {
            "pyomp": lambda k: zero_checked(forkjoin_reduction, at(fj_reps, k), out),
            "pyomp nogil": lambda k: zero_checked(forkjoin_reduction_nogil, at(fj_reps, k),
                                                  out),
            **{label: (lambda k, e=exe: run_c_checked(e, k, at(fj_reps, k)))
               for label, exe in fjr_c.items()},
        })
    if "forkjoin" in only:
        fjf_c = build("forkjoin_firstprivate")
        fjf_reps = reps // 4

        yield ("firstprivate(array) f/j", f"reps={fjf_reps:,}, 1,000 doubles", "us", {
            "pyomp": lambda k: zero_checked(forkjoin_firstprivate, at(fjf_reps, k), out),
            **{label: (lambda k, e=exe: run_c_checked(e, k, at(fjf_reps, k)))
               for label, exe in fjf_c.items()},
        })
    if "syncbench" in only:
        import syncbench
        sync_c = build("syncbench")
        for delay, kernels_ in (("", syncbench.inline), ("called", syncbench.called)):
            for kind, kernel in kernels_.items():
                sync_reps = SYNC_REPS[kind] // (10 if quick else 1)
                impls = {
                    "pyomp": lambda k, f=kernel, n=sync_reps: f(at(n, k), SYNC_DELAY, out)[0],
                    **{label: (lambda k, e=exe, kind=kind, n=sync_reps, d=delay:
                               run_c(e, k, kind, at(n, k), SYNC_DELAY, d))
                       for label, exe in sync_c.items()},
                }
                prange = syncbench.prange_inline if not delay else syncbench.prange_called
                if kind in prange:
                    impls["numba prange"] = (lambda k, f=prange[kind], n=sync_reps:
                                             f(at(n, k), SYNC_DELAY, out)[0])
                yield (f"sync {kind}{' call' if delay else ''}", f"reps={sync_reps:,}", "us", impls)
    if "devices" in only:
        yield from device_kernels(quick, n, reps, timed)
    if "tasks" in only:
        from kernels import fib, linked_list, make_list, merge_sort, sort_keys, taskbench

        def checked(check, f, *args):
            """timed(f, *args), raising if check(result) fails (checked after the clock)."""
            t0 = pyomp.omp_get_wtime()
            r = f(*args)
            t = pyomp.omp_get_wtime() - t0
            if not check(r):
                raise RuntimeError(f"{f.__name__}: wrong result")
            return t

        fib_n = 27 if quick else FIB_N
        fib_ref = 0, 1
        for _ in range(fib_n):
            fib_ref = fib_ref[1], sum(fib_ref)
        c_exe = build("fib")
        yield ("fib tasks", f"n={fib_n}", "s", {
            "pyomp": lambda k: checked(lambda r: r == fib_ref[0], fib, fib_n),
            **{label: (lambda k, e=exe: run_c_checked(e, k, fib_n))
               for label, exe in c_exe.items()},
        })
        sort_n = SORT_N // 10 if quick else SORT_N
        keys = sort_keys(sort_n)
        keys_sorted = np.sort(keys)
        tmp = np.zeros_like(keys)  # reused: its pages are touched, as in c/mergesort.c
        c_exe = build("mergesort")
        yield ("merge sort tasks", f"n={sort_n:,}", "s", {
            "pyomp": lambda k: checked(lambda r: np.array_equal(r, keys_sorted), merge_sort,
                                       keys.copy(), tmp),
            **{label: (lambda k, e=exe: run_c_checked(e, k, sort_n))
               for label, exe in c_exe.items()},
        })
        list_n = LIST_N // 10 if quick else LIST_N
        head, nxt, size = make_list(list_n)
        expected = (size * (size - 1) // 2).astype(np.float64)
        c_exe = build("linkedlist")
        yield ("linked list tasks", f"n={list_n:,}", "s", {
            "pyomp": lambda k: checked(lambda r: np.array_equal(r, expected), linked_list,
                                       head, nxt, size, np.zeros(list_n)),
            **{label: (lambda k, e=exe: run_c_checked(e, k, list_n))
               for label, exe in c_exe.items()},
        })
        tb_c = build("taskbench")
        task_reps = TASK_REPS // (10 if quick else 1)
        for kind, kernel in taskbench.items():
            yield (f"task {kind}", f"reps={task_reps:,}", "us", {
                "pyomp": lambda k, f=kernel: f(at(task_reps, k), TASK_DELAY, out)[0],
                **{label: (lambda k, e=exe, kind=kind:
                           run_c(e, k, kind, at(task_reps, k), TASK_DELAY))
                   for label, exe in tb_c.items()},
            })


def device_kernels(quick, n, reps, timed):
    """Issue 18's rows: kernels on a host offload device (0) and the initial device (4)."""
    import devices
    from kernels import pi_loop
    pi_c, teams_c = build("pi_loop"), build("pi_teams")
    yield ("pi target teams", f"n={n:,}", "s", {
        "pyomp device 0": lambda k: timed(devices.pi_target, n, devices.OFFLOAD),
        "pyomp initial": lambda k: timed(devices.pi_target, n, devices.INITIAL),
        "pyomp teams": lambda k: timed(devices.pi_teams, n),
        "pyomp par for": lambda k: timed(pi_loop, n),
        "C teams clang": lambda k: run_c(teams_c["C clang/libomp"], k, n),
        "C teams gcc": lambda k: run_c(teams_c["C gcc/libgomp"], k, n),
        **{label: (lambda k, e=exe: run_c(e, k, n)) for label, exe in pi_c.items()},
    })
    size, sweeps = (512, 20) if quick else (2048, 100)
    jacobi_c = build("jacobi")
    yield ("jacobi target teams", f"n={size},{sweeps}", "s", {
        "pyomp device 0": lambda k: timed(devices.jacobi_target, *devices.grids(size), sweeps,
                                          devices.OFFLOAD),
        "pyomp initial": lambda k: timed(devices.jacobi_target, *devices.grids(size), sweeps,
                                         devices.INITIAL),
        "pyomp par for": lambda k: timed(devices.jacobi_parallel_for, *devices.grids(size),
                                         sweeps),
        **{label: (lambda k, e=exe: run_c(e, k, size, sweeps)) for label, exe in jacobi_c.items()},
    })
    target_c = build("target_empty")
    array = np.zeros(125_000)  # 1 MB
    yield ("target region", f"reps={reps:,}", "us", {
        "pyomp device 0": lambda k: devices.target_region(at(reps, k), devices.OFFLOAD),
        "pyomp initial": lambda k: devices.target_region(at(reps, k), devices.INITIAL),
        "pyomp 1MB map": lambda k: devices.target_array_region(at(reps // 100, k),
                                                               devices.OFFLOAD, array),
        **{label: (lambda k, e=exe: run_c(e, k, at(reps, k))) for label, exe in target_c.items()},
    })


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--overhead-threads", default="1,2,8",
                        help="thread counts of the per-construct (microsecond) rows; more "
                             "threads than cores shows how a construct copes with "
                             "oversubscription")
    parser.add_argument("--kernels",
                        default="pi,piloop,matmul,mandelbrot,jacobi,jacobiresid,histogram,"
                                "forkjoin,schedbench,syncbench,tasks,devices",
                        help="comma-separated subset")
    parser.add_argument("--rows", default="",
                        help="a regular expression: only the rows whose kernel name it finds "
                             "(e.g. 'fork|sync (parallel|reduction)')")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds of idle time before each measurement")
    parser.add_argument("--save", metavar="FILE.json", help="write the medians to a JSON file")
    parser.add_argument("--load", metavar="FILE.json",
                        help="run nothing: take the medians of an earlier --save")
    parser.add_argument("--plot", metavar="DIR", type=Path,
                        help="draw the pictures of plots.py into DIR (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.load:
        results = json.loads(Path(args.load).read_text())
    else:
        from pyomp.bench import machine_name  # what the plots' titles say it ran on
        results = {"machine": machine_name(), "command": " ".join(sys.argv), "rows": []}
        # saved after each kernel: a long run that is stopped keeps what it measured
        measure(args, results["rows"], lambda: save(results, args.save))
    save(results, args.save)
    if args.plot:
        import plots
        for path in plots.all_plots(results, args.plot):
            print(f"plot: {path}")
    return 0


def save(results, path):
    if path:
        Path(path).write_text(json.dumps(results, indent=1) + "\n")


def measure(args, rows, kernel_done):
    """Runs the selected rows and prints the table; appends one dict per printed line to
    `rows` and calls `kernel_done()` after each kernel."""
    import pyomp

    thread_counts = [int(t) for t in args.threads.split(",")]
    overhead_counts = [int(t) for t in args.overhead_threads.split(",")]
    print(f"{'kernel':<22}{'size':<16}{'thr':>4}  {'implementation':<16}{'median':>12}"
          f"{'/clang':>9}{'/gcc':>8}", flush=True)
    for name, size, unit, impls in kernels(args.quick, args.kernels.split(",")):
        if not re.search(args.rows, name):
            continue
        for k in overhead_counts if unit == "us" else thread_counts:
            pyomp.omp_set_num_threads(k)
            numba.set_num_threads(min(k, numba.config.NUMBA_NUM_THREADS))
            pyomp.omp_set_num_threads(k)
            for f in impls.values():  # warm up: compile, start thread pools
                f(k)
            samples = {label: [] for label in impls}
            for _ in range(args.repeats):
                for label, f in impls.items():
                    # Let the previous implementation's idle threads stop spinning (libomp
                    # spins 200 ms, libgomp a while too): each run starts on a quiet machine.
                    time.sleep(args.settle)
                    samples[label].append(f(k))
            med = {label: statistics.median(v) for label, v in samples.items()}
            ref_clang, ref_gcc = med["C clang/libomp"], med["C gcc/libgomp"]
            for label, value in med.items():
                print(f"{name:<22}{size:<16}{k:>4}  {label:<16}{value:>10.4g}{unit:>2}"
                      f"{value / ref_clang:>9.3f}{value / ref_gcc:>8.3f}", flush=True)
                rows.append({"kernel": name, "size": size, "unit": unit, "threads": k,
                             "impl": label, "median": value})
        kernel_done()


if __name__ == "__main__":
    sys.exit(main())
