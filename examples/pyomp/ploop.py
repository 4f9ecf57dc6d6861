"""Mirrors PyOMP's published examples/ploop.1.py; written for pyomp, it runs unchanged under
PyOMP 0.6 with the PyOMP import line (`from numba.openmp import ...`).

A `parallel for` over independent iterations: each output element is the mean of an input
element and its left neighbour (the first output is set by hand).
"""

import numpy as np
from pyomp import njit
from pyomp import openmp_context as openmp


@njit
def pairwise_mean(src, dst):
    with openmp("parallel for"):
        for i in range(1, src.shape[0]):
            dst[i] = 0.5 * (src[i - 1] + src[i])


values = np.ones(100)
means = np.empty_like(values)
means[0] = 0.0
pairwise_mean(values, means)
print(means)
