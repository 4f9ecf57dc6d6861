"""Compile time of a pyomp function (the front end + the Rust pass + LLVM), in fresh interpreters.

    .venv/bin/python benchmarks/compile_time.py [--repeats 5]

Compiles, on first call, a function with the common constructs (parallel for with a
reduction, critical, single, tasks, sections, a worksharing loop with lastprivate) and the
same loops without the `with openmp` blocks under plain numba.njit; prints the best of
`repeats` runs of each and the difference (what pyomp adds).  Measured, not asserted: a
loaded machine makes any time limit in a test flaky.
"""

import argparse
import re
import subprocess
import sys
import textwrap

KERNEL = '''
import time
import numpy as np
{imports}

@njit
def kernel(a, n):
    s = 0.0
    with openmp("parallel for reduction(+:s) schedule(static)"):
        for i in range(n):
            s += a[i] * a[i]
    hits = 0
    with openmp("parallel"):
        with openmp("single"):
            for t in range(4):
                with openmp("task firstprivate(t)"):
                    a[t] += 1.0
        with openmp("critical"):
            hits += 1
        last = 0
        with openmp("for lastprivate(last)"):
            for i in range(n):
                last = i
        with openmp("sections"):
            with openmp("section"):
                a[0] += 1.0
            with openmp("section"):
                a[1] += 1.0
    return s + hits + last

a = np.ones(100)
t0 = time.perf_counter()
kernel(a, 100)
print(time.perf_counter() - t0)
'''

PYOMP = "from pyomp import njit, openmp"
# the same statements, each `with openmp(...)` block run as plain code (best_time)
SERIAL = "from numba import njit"


def best_time(imports, repeats):
    code = KERNEL.format(imports=imports)
    if imports == SERIAL:  # plain numba cannot compile a `with` of a Python object
        code = re.sub(r"with openmp\((.*)\):", r"if True:  # \1", code)
    return min(float(subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                                    capture_output=True, text=True, check=True)
                     .stdout.split()[-1]) for _ in range(repeats))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    serial = best_time(SERIAL, args.repeats)
    pyomp = best_time(PYOMP, args.repeats)
    print(f"numba.njit, no openmp blocks   {serial:.3f} s")
    print(f"pyomp.njit                     {pyomp:.3f} s   (+{pyomp - serial:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
