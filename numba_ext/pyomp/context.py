"""The `openmp` context manager: a directive in pyomp-compiled code, a no-op in Python.

`with openmp("parallel for"):` is recognised by pyomp's compiler pipeline (see
`pyomp.frontend`), which turns the block into a marked OpenMP region.  Run as plain Python
(`fn.py_func`, NUMBA_DISABLE_JIT=1) the same block simply executes serially, so a program
keeps its meaning without the compiler.
"""

from numba.core.withcontexts import WithContext

from .errors import PyompError, source_line_of


class _SerialBlock:
    """What `openmp(...)` returns in plain Python: a context that does nothing."""

    __slots__ = ("directive",)

    def __init__(self, directive):
        self.directive = directive

    def __enter__(self):
        return self

    def __exit__(self, typ, val, tb):
        return False


class OpenMPContext(WithContext):
    """The type of `pyomp.openmp`; Numba's with-lifting hands blocks using it to us."""

    is_callable = True

    def __call__(self, directive):
        return _SerialBlock(directive)

    def __repr__(self):
        return "pyomp.openmp"

    def mutate_with_body(self, func_ir, blocks, blk_start, blk_end, body_blocks,
                         dispatcher_factory, extra):
        # pyomp's pipeline consumes every `with openmp(...)` before Numba's with-lifting
        # runs, so reaching this means the function is compiled by another pipeline.
        loc = blocks[blk_start].loc
        source = source_line_of(loc)
        raise PyompError(
            "`with openmp(...)` is compiled by plain Numba here, which would ignore the "
            "directive; decorate the function with pyomp.njit (or numba.njit("
            "pipeline_class=pyomp.OpenMPCompiler))",
            filename=loc.filename, line=loc.line, source_line=source,
            column=len(source) - len(source.lstrip()) if source else None,
        )


openmp = OpenMPContext()
openmp_context = openmp
