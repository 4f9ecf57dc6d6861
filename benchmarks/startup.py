"""Start-up costs: what `import pyomp` adds to `import numba`, in fresh interpreters.

    .venv/bin/python benchmarks/startup.py [--repeats 5]

Prints the best of `repeats` runs of each (seconds) and the difference; design target:
`import pyomp` adds < 0.3 s. (Measured here, not asserted in the tests: a loaded machine
makes any time limit in a test flaky.)
"""

import argparse
import subprocess
import sys


def best_time(code, repeats):
    timer = f"import time; t0 = time.perf_counter(); {code}; print(time.perf_counter() - t0)"
    return min(float(subprocess.run([sys.executable, "-c", timer], capture_output=True,
                                    text=True, check=True).stdout) for _ in range(repeats))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    base = best_time("import numba", args.repeats)
    with_pyomp = best_time("import numba; import pyomp", args.repeats)
    print(f"import numba          {base:.3f} s")
    print(f"import numba, pyomp   {with_pyomp:.3f} s   (+{with_pyomp - base:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
