"""A 2-D heat equation (Jacobi sweeps) on MPI ranks x pyomp threads.

    mpiexec -n 2 python -m mpi4py examples/mpi/heat2d.py [--n 512] [--steps 200]
        [--style overlap|sendrecv|compiled] [--check] [--raise-on-rank R]

The n x n grid (top edge held at 1.0, the other edges at 0.0) is cut into slabs of rows,
one per rank; each rank keeps its rows plus one halo row above and below, which the
neighbours' edge rows refresh every step. Inside a rank, a pyomp `parallel for` updates
the rows with OMP_NUM_THREADS threads. Every 10 steps the ranks add up the residual (the
squared change of the step) with `allreduce`. Three ways to exchange the halos:

- `sendrecv`: mpi4py's `Sendrecv` with each neighbour, then the whole slab is updated;
- `overlap`: `Isend`/`Irecv` are posted, the rows that need no halo are updated while the
  messages travel, then `Waitall` and the two edge rows;
- `compiled`: the whole time loop is one pyomp-compiled function calling MPI through
  numba-mpi, outside its parallel regions (only the calling thread, the one that
  initialised MPI, talks to MPI: what MPI_THREAD_FUNNELED allows).

`--check` gathers the grid on rank 0 and compares it with the same sweeps in serial NumPy
(equal: every point is computed by the same expression in the same order). Run it through
`python -m mpi4py` so an uncaught exception on one rank (`--raise-on-rank R` raises one in
a parallel region there) prints that rank's traceback and aborts the whole job, instead of
leaving the other ranks waiting for it.
"""

import argparse
import sys

import numba_mpi
import numpy as np
from mpi4py import MPI
from pyomp import njit, omp_get_max_threads, openmp

CHECK_EVERY = 10  # steps between two residual allreduces


def slab(n, rank, size):
    """The first and one-past-last interior rows (1 .. n-2) rank `rank` owns."""
    interior = n - 2
    lo = 1 + rank * interior // size
    return lo, 1 + (rank + 1) * interior // size


def initial_grid(n):
    u = np.zeros((n, n))
    u[0, :] = 1.0
    return u


def local_grid(n, lo, hi):
    """The rank's rows lo..hi-1 with a halo row on each side (global rows lo-1 .. hi)."""
    return initial_grid(n)[lo - 1:hi + 1].copy()


@njit
def sweep(u, v, r0, r1, fail):
    """v's rows r0..r1-1 (inner columns) from u's neighbours; the squared change."""
    m = u.shape[1]
    res = 0.0
    with openmp("parallel for reduction(+:res)"):
        for i in range(r0, r1):
            if fail and i == r0:
                raise ValueError("a parallel region failed on purpose (--raise-on-rank)")
            for j in range(1, m - 1):
                new = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
                d = new - u[i, j]
                res += d * d
                v[i, j] = new
    return res


def exchange_sendrecv(comm, u):
    rank, size, rows = comm.Get_rank(), comm.Get_size(), u.shape[0] - 2
    up = rank - 1 if rank > 0 else MPI.PROC_NULL
    down = rank + 1 if rank < size - 1 else MPI.PROC_NULL
    comm.Sendrecv(u[1], dest=up, recvbuf=u[rows + 1], source=down)
    comm.Sendrecv(u[rows], dest=down, recvbuf=u[0], source=up)


def step_overlap(comm, u, v, fail):
    """Halo messages in flight while the rows that do not need them are updated; returns
    (the squared change, seconds spent in MPI calls: posting and waiting)."""
    rank, size, rows = comm.Get_rank(), comm.Get_size(), u.shape[0] - 2
    t0 = MPI.Wtime()
    requests = []
    if rank > 0:
        requests += [comm.Irecv(u[0], source=rank - 1), comm.Isend(u[1], dest=rank - 1)]
    if rank < size - 1:
        requests += [comm.Irecv(u[rows + 1], source=rank + 1),
                     comm.Isend(u[rows], dest=rank + 1)]
    in_mpi = MPI.Wtime() - t0
    res = sweep(u, v, 2, rows, fail) if rows > 2 else 0.0
    t0 = MPI.Wtime()
    MPI.Request.Waitall(requests)
    in_mpi += MPI.Wtime() - t0
    res += sweep(u, v, 1, 2, fail)
    if rows > 1:
        res += sweep(u, v, rows, rows + 1, fail)
    return res, in_mpi


def run_mpi4py(comm, u, steps, style, fail):
    """Python drives the time loop; returns (the last residual, seconds in MPI calls)."""
    v = u.copy()
    rows, resid, in_mpi = u.shape[0] - 2, 0.0, 0.0
    for step in range(1, steps + 1):
        t0 = MPI.Wtime()
        if style == "sendrecv":
            exchange_sendrecv(comm, u)
            in_mpi += MPI.Wtime() - t0
            res = sweep(u, v, 1, rows + 1, fail)
        else:
            res, waited = step_overlap(comm, u, v, fail)
            in_mpi += waited
        u, v = v, u
        if step % CHECK_EVERY == 0:
            t0 = MPI.Wtime()
            resid = comm.allreduce(res, op=MPI.SUM)
            in_mpi += MPI.Wtime() - t0
    return u, resid, in_mpi


@njit
def run_compiled(u, steps, fail):
    """The whole time loop compiled: numba-mpi between the parallel regions."""
    rank, size = numba_mpi.rank(), numba_mpi.size()
    v = u.copy()
    rows = u.shape[0] - 2
    total = np.zeros(1)
    part = np.zeros(1)
    resid = 0.0
    in_mpi = 0.0
    for step in range(1, steps + 1):
        t0 = numba_mpi.wtime()
        if rank > 0:
            numba_mpi.sendrecv(u[1], rank - 1, u[0], rank - 1)
        if rank < size - 1:
            numba_mpi.sendrecv(u[rows], rank + 1, u[rows + 1], rank + 1)
        in_mpi += numba_mpi.wtime() - t0
        part[0] = sweep(u, v, 1, rows + 1, fail)
        u, v = v, u
        if step % CHECK_EVERY == 0:
            t0 = numba_mpi.wtime()
            numba_mpi.allreduce(part, total)
            in_mpi += numba_mpi.wtime() - t0
            resid = total[0]
    return u, resid, in_mpi


def serial(n, steps):
    """The same sweeps in NumPy: the answer every layout must give."""
    u = initial_grid(n)
    v = u.copy()
    for _ in range(steps):
        v[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
        u, v = v, u
    return u


def gather(comm, u, n):
    """The whole grid on rank 0 (None elsewhere)."""
    pieces = comm.gather(u[1:-1], root=0)
    if comm.Get_rank() != 0:
        return None
    grid = initial_grid(n)
    grid[1:-1] = np.concatenate(pieces)
    return grid


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="grid points per side")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--style", choices=["overlap", "sendrecv", "compiled"],
                        default="overlap")
    parser.add_argument("--check", action="store_true",
                        help="compare with serial NumPy on rank 0")
    parser.add_argument("--raise-on-rank", type=int, default=-1, metavar="R")
    args = parser.parse_args(argv)
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if args.n - 2 < size:
        parser.error(f"--n {args.n} leaves fewer interior rows than the {size} ranks")
    lo, hi = slab(args.n, rank, size)
    u = local_grid(args.n, lo, hi)
    fail = rank == args.raise_on_rank
    # compile before the clock starts (each rank compiles its own copy)
    sweep(np.zeros((3, 3)), np.zeros((3, 3)), 1, 2, False)
    if args.style == "compiled":
        run_compiled(u.copy(), 0, False)
    comm.Barrier()
    t0 = MPI.Wtime()
    if args.style == "compiled":
        u, resid, in_mpi = run_compiled(u, args.steps, fail)
    else:
        u, resid, in_mpi = run_mpi4py(comm, u, args.steps, args.style, fail)
    elapsed = comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)
    in_mpi = comm.allreduce(in_mpi, op=MPI.MAX)
    grid = gather(comm, u, args.n) if args.check else None
    if rank == 0:
        print(f"heat2d {args.n}x{args.n}, {args.steps} steps, {args.style}: {size} ranks x "
              f"{omp_get_max_threads()} threads, residual {resid:.10e}, "
              f"{elapsed / args.steps * 1e3:.3f} ms per step, {in_mpi / elapsed:.0%} in MPI")
        if grid is not None:
            expected = serial(args.n, args.steps)
            diff = float(np.abs(grid - expected).max())
            print(f"check: max |difference| from serial NumPy {diff:.3e}")
            if diff > 1e-12:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
