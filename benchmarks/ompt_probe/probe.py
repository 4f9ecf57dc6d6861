"""Issue 21's first measurement: what attaching an OMPT tool to libomp costs pyomp's
regions, with no callback registered and with some, and whether callbacks can be
registered after libomp started (they can: ompt_set_callback returns ompt_set_always).

    clang-19 -O2 -fPIC -shared -I/usr/lib/llvm-19/lib/clang/19/include tool.c -o /tmp/libtool.so
    OMP_NUM_THREADS=2 python probe.py                                      # no tool
    OMP_NUM_THREADS=2 OMP_TOOL_LIBRARIES=/tmp/libtool.so python probe.py   # tool attached

(docs/design/profiler.md has the numbers.)
"""

import ctypes
import os

from pyomp import njit, omp_get_wtime, openmp


@njit
def regions(reps):
    """Microseconds per empty parallel region."""
    t0 = omp_get_wtime()
    for _ in range(reps):
        with openmp("parallel"):
            pass
    return (omp_get_wtime() - t0) / reps * 1e6


def main():
    regions(10)
    line = f"empty region: {min(regions(100_000) for _ in range(5)):.3f} us"
    tool_path = os.environ.get("OMP_TOOL_LIBRARIES")
    if tool_path:
        tool = ctypes.CDLL(tool_path)
        line += f"; tool_enable() after start-up -> {tool.tool_enable()}"
        counts = (ctypes.c_long * 3)()
        regions(1000)
        tool.tool_counts(counts)
        after = min(regions(100_000) for _ in range(5))
        line += f"; counted {list(counts)}; with 3 callbacks: {after:.3f} us"
    print(line)


if __name__ == "__main__":
    main()
