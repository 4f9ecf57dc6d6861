"""pyomp's Numba compiler: Numba's nopython pipeline plus two passes of ours.

- `OpenMPDirectives` (before with-lifting) reads and checks every `with openmp(...)`.
- `OpenMPTypeChecks` (after type inference) checks what needs types (typechecks.py).
- `UseOpenMPCodeLibrary` (just before native lowering) marks the reductions' floating-point
  updates reassociable (accumulations.py) and gives the function a code library whose
  modules go through the Rust pass on their way into llvmlite.
Nothing in Numba is patched: users get this with `pyomp.njit` or
`numba.njit(pipeline_class=pyomp.OpenMPCompiler)`.
"""

import linecache

import llvmlite.binding as ll
from numba.core import bytecode, cgutils, errors, interpreter, postproc
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import FunctionPass, LoweringPass, register_pass
from numba.core.typed_passes import AnnotateTypes, NopythonTypeInference
from numba.core.untyped_passes import IRProcessing, TranslateByteCode

from . import accumulations, flow, frontend, markers, roundtrip, typechecks, withends
from .errors import PyompError
from .passes import find_withs


class OpenMPCodeLibrary(JITCodeLibrary):
    """A JIT code library whose IR modules pass through pyomp's Rust pass.

    The final machine code is cached by Numba as usual (object code), so a cached function
    loads as a plain library and never needs the pass again.
    """

    def __init__(self, codegen, name):
        super().__init__(codegen, name)
        # (module name, IR text as sent to the pass): what pyomp.explain shows.
        self.pyomp_modules = []
        # One report per lowered region (data sharing, outlined function), and the IR the
        # pass returned for modules that had regions.
        self.pyomp_regions = []
        self.pyomp_lowered_ir = []

    def add_ir_module(self, ir_module):
        self._raise_if_finalized()
        text = cgutils.normalize_ir_text(str(ir_module))
        has_regions = "pyomp.region.enter" in text
        bitcode, final_ir, reports = roundtrip.lower(text, ir_module.name, keep_ir=has_regions)
        self.pyomp_modules.append((ir_module.name, text))
        self.pyomp_regions.extend(reports)
        if final_ir is not None:
            self.pyomp_lowered_ir.append((ir_module.name, final_ir))
        ll_module = ll.parse_bitcode(bitcode)
        ll_module.name = ir_module.name
        ll_module.verify()
        self.add_llvm_module(ll_module)


@register_pass(mutates_CFG=True, analysis_only=False)
class OpenMPDirectives(FunctionPass):
    """Reads every `with openmp(...)` block and marks it as a region (pyomp.frontend)."""

    _name = "pyomp_directives"

    def __init__(self):
        FunctionPass.__init__(self)

    def run_pass(self, state):
        if state.flags.enable_ssa and any(find_withs.find_openmp_withs(state.func_ir)):
            raise PyompError("internal: a function using openmp was compiled in SSA form; "
                             "please report how `openmp` was referenced")
        updates = []
        regions = frontend.mark_regions(state.func_ir, updates)
        state.metadata["pyomp_regions"] = regions
        state.metadata["pyomp_accumulations"] = updates
        return bool(regions)


@register_pass(mutates_CFG=False, analysis_only=True)
class OpenMPTypeChecks(FunctionPass):
    """Checks of the regions that need Numba's types (pyomp.typechecks)."""

    _name = "pyomp_type_checks"

    def __init__(self):
        FunctionPass.__init__(self)

    def run_pass(self, state):
        typechecks.check(state.metadata.get("pyomp_regions") or (), state.typemap)
        return False


@register_pass(mutates_CFG=False, analysis_only=False)
class UseOpenMPCodeLibrary(LoweringPass):
    """Makes native lowering emit into an OpenMPCodeLibrary (and the reductions' float
    updates reassociable: pyomp.accumulations)."""

    _name = "pyomp_code_library"

    def __init__(self):
        LoweringPass.__init__(self)

    def run_pass(self, state):
        frontend.place_dels(state.func_ir)
        accumulations.mark(state.metadata.get("pyomp_accumulations") or (), state.calltypes)
        markers.remember_types(state.func_ir, state.typemap)
        if state.library is None:
            codegen = state.targetctx.codegen()
            state.library = OpenMPCodeLibrary(codegen, state.func_id.func_qualname)
            # Numba's NativeLowering does this for the libraries it creates; needed so the
            # library can be serialised by cache=True.
            state.library.enable_object_caching()
        return True


def read_bytecode(func_id, bc):
    """The Numba IR of a function's bytecode `bc`, read as pyomp's pipeline reads it.

    Functions without `openmp` get Numba's reader, exactly.  Functions with OpenMP regions:
    each `with` block gets one end where its exit code starts (pyomp.withends: a last
    `while` loop on Python 3.10, 3.12 and 3.13; `bc` is changed), and pyomp's control-flow
    tracer reads it (pyomp.flow: a `try` inside a region is kept, as outside one).  A
    `with openmp` block every path of which raises can make Numba's POP_BLOCK rewrite run
    out of block labels (an internal error of Numba's): reported as the error such a
    region gets, at the function.
    """
    if not find_withs.uses_openmp(func_id.func):
        return interpreter.Interpreter(func_id).interpret(bc)
    withends.fix_with_ends(bc)
    try:
        return flow.interpret(func_id, bc)
    except errors.InternalError as exc:
        if "POP_BLOCK peephole failed" not in str(exc):
            raise
        raise PyompError(
            f"Numba cannot read the bytecode of '{func_id.func_qualname}' (its POP_BLOCK "
            "rewrite fails around a `with` block); with OpenMP regions this happens when "
            "every path through a region raises an exception, so the region never "
            "reaches its end: pyomp needs a reachable end (raise under a condition)").at(
                filename=func_id.filename, line=func_id.firstlineno,
                source_line=linecache.getline(func_id.filename, func_id.firstlineno)
                or None) from None


def run_frontend(func):
    """`numba.core.compiler.run_frontend` with pyomp's bytecode reader (`read_bytecode`):
    the untyped Numba IR pyomp's front end sees, for tools and tests."""
    func_id = bytecode.FunctionIdentity.from_function(func)
    func_ir = read_bytecode(func_id, bytecode.ByteCode(func_id=func_id))
    postproc.PostProcessor(func_ir).run(False)
    return func_ir


@register_pass(mutates_CFG=True, analysis_only=False)
class OpenMPTranslateByteCode(TranslateByteCode):
    """Numba's bytecode reader; for functions with OpenMP regions, pyomp's
    (`read_bytecode`)."""

    _name = "pyomp_translate_bytecode"

    def run_pass(self, state):
        if not find_withs.uses_openmp(state.func_id.func):
            return super().run_pass(state)  # Numba's reader, exactly
        state.func_ir = read_bytecode(state.func_id, state.bc)
        return True


class OpenMPCompiler(CompilerBase):
    """The pipeline class: `numba.njit(pipeline_class=pyomp.OpenMPCompiler)`."""

    def define_pipelines(self):
        if self.state.flags.force_pyobject:
            # Object mode has no LLVM regions to lower; Numba's own pipeline handles it.
            return [DefaultPassBuilder.define_objectmode_pipeline(self.state)]
        if find_withs.uses_openmp(self.state.func_id.func):
            # One alloca per Python variable: data sharing is about Python variables, and
            # SSA would split each into versions the pass could not tell apart.
            self.state.flags.enable_ssa = False
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state, "pyomp_nopython")
        pm.add_pass_after(OpenMPDirectives, IRProcessing)
        pm.passes = [(OpenMPTranslateByteCode if cls is TranslateByteCode else cls, what)
                     for cls, what in pm.passes]
        pm.add_pass_after(OpenMPTypeChecks, NopythonTypeInference)
        pm.add_pass_after(UseOpenMPCodeLibrary, AnnotateTypes)
        pm.finalize()
        return [pm]
