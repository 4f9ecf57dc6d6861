"""What pyomp.profile costs (issue 21): EPCC's fork/join and schedbench kernels with the
profiler's instrumentation present but off, with profiling on, and, with --baseline, the
same kernels on another build of pyomp (a checkout from before the instrumentation).

    python benchmarks/profile_overhead.py --threads 1,2 --repeats 5
    python benchmarks/profile_overhead.py --baseline /tmp/base/numba_ext

Each measurement runs in a fresh process (runs of the variants interleaved, medians
reported). "on" divides the extra time by the events a call records, from the profile
itself: the cost per recorded interval.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# construct -> (kernel, reps off, reps on): the profile of a run on holds every event
CONSTRUCTS = {
    "parallel (fork/join)": ("forkjoin", 20_000, 5_000),
    "for static": ("static", 5_000, 1_000),
    "for static,1": ("static1", 2_000, 200),
    "for dynamic,1": ("dynamic1", 2_000, 200),
    "for dynamic,64": ("dynamic64", 5_000, 1_000),
    "for guided,1": ("guided1", 5_000, 1_000),
}
ITERS = 128  # schedbench's iterations per thread


def child(args):
    """One process: every construct once at `args.threads`, as JSON on stdout."""
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    sys.path.insert(0, str(HERE))
    import numpy as np
    import pyomp
    from kernels import forkjoin, schedbench
    out = np.zeros(16 * 64)
    results = {}
    for name, (kernel, reps_off, reps_on) in CONSTRUCTS.items():
        reps = reps_on if args.mode == "on" else reps_off

        def run(reps=reps, kernel=kernel):
            if kernel == "forkjoin":
                return forkjoin(reps, out)
            return schedbench[kernel](reps, ITERS, out)

        run(10)  # compile, start the team
        best, events = [], 0
        for _ in range(3):
            if args.mode == "on":
                with pyomp.profile() as prof:
                    best.append(run())
                # recorded intervals (join waits are derived, not recorded) per call
                events = (len(prof.events()) - len(prof.events("join wait"))) / reps
            else:
                best.append(run())
        results[name] = {"us": min(best), "events": events}
    print(json.dumps(results))


def measure(mode, threads, baseline):
    env = dict(os.environ)
    if mode == "baseline":
        env["PYTHONPATH"] = baseline
    cmd = [sys.executable, __file__, "--child", "--mode", "on" if mode == "on" else "off",
           "--threads", str(threads)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{mode} at {threads} threads failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--baseline", help="a pyomp package directory (its parent on PYTHONPATH) "
                                      "to compare with, e.g. an older checkout's numba_ext")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", default="off", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.threads = int(args.threads)
        return child(args)
    modes = (["baseline"] if args.baseline else []) + ["off", "on"]
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        runs = {m: [] for m in modes}
        for r in range(args.repeats):
            for m in modes:
                runs[m].append(measure(m, threads, args.baseline))
            print(f"  {threads} threads: run {r + 1}/{args.repeats}", file=sys.stderr)
        for name in CONSTRUCTS:
            med = {m: statistics.median(run[name]["us"] for run in runs[m]) for m in modes}
            events = statistics.median(run[name]["events"] for run in runs["on"])
            rows.append((name, threads, med, events))
    head = f"{'construct':22} {'thr':>3} " + " ".join(f"{m + ' us':>12}" for m in modes)
    head += f" {'off/base':>9} {'events/call':>12} {'ns/event on':>12}"
    print(head)
    for name, threads, med, events in rows:
        line = f"{name:22} {threads:>3} " + " ".join(f"{med[m]:>12.3f}" for m in modes)
        ratio = f"{med['off'] / med['baseline']:.3f}" if args.baseline else "-"
        per_event = (med["on"] - med["off"]) * 1e3 / events if events else float("nan")
        line += f" {ratio:>9} {events:>12.1f} {per_event:>12.1f}"
        print(line)


if __name__ == "__main__":
    main()
