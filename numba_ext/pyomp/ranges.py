"""Python's `range` rules as compiled code, for the loop rewriting (loops.py) and the
non-rectangular nests' row helper (nonrect.py)."""

from numba import njit


@njit(inline="always")
def trip_count(start, stop, step):
    """How many iterations range(start, stop, step) has (Python's rule)."""
    if step > 0:
        return (stop - start + step - 1) // step if stop > start else 0
    return (start - stop - step - 1) // (-step) if start > stop else 0
