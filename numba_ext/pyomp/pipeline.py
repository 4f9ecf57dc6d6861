"""pyomp's Numba compiler: Numba's nopython pipeline plus two passes of ours.

- `OpenMPDirectives` (before with-lifting) reads and checks every `with openmp(...)`.
- `UseOpenMPCodeLibrary` (just before native lowering) gives the function a code library
  whose modules go through the Rust pass on their way into llvmlite.
Nothing in Numba is patched: users get this with `pyomp.njit` or
`numba.njit(pipeline_class=pyomp.OpenMPCompiler)`.
"""

import llvmlite.binding as ll
from numba.core import cgutils
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import FunctionPass, LoweringPass, register_pass
from numba.core.typed_passes import AnnotateTypes
from numba.core.untyped_passes import IRProcessing

from . import frontend, roundtrip
from .errors import PyompError


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
        if state.flags.enable_ssa and any(frontend.find_openmp_withs(state.func_ir)):
            raise PyompError("internal: a function using openmp was compiled in SSA form; "
                             "please report how `openmp` was referenced")
        regions = frontend.mark_regions(state.func_ir)
        state.metadata["pyomp_regions"] = regions
        return bool(regions)


@register_pass(mutates_CFG=False, analysis_only=False)
class UseOpenMPCodeLibrary(LoweringPass):
    """Makes native lowering emit into an OpenMPCodeLibrary."""

    _name = "pyomp_code_library"

    def __init__(self):
        LoweringPass.__init__(self)

    def run_pass(self, state):
        frontend.strip_shared_dels(state.func_ir)
        if state.library is None:
            codegen = state.targetctx.codegen()
            state.library = OpenMPCodeLibrary(codegen, state.func_id.func_qualname)
            # Numba's NativeLowering does this for the libraries it creates; needed so the
            # library can be serialised by cache=True.
            state.library.enable_object_caching()
        return True


class OpenMPCompiler(CompilerBase):
    """The pipeline class: `numba.njit(pipeline_class=pyomp.OpenMPCompiler)`."""

    def define_pipelines(self):
        if self.state.flags.force_pyobject:
            # Object mode has no LLVM regions to lower; Numba's own pipeline handles it.
            return [DefaultPassBuilder.define_objectmode_pipeline(self.state)]
        if frontend.uses_openmp(self.state.func_id.func):
            # One alloca per Python variable: data sharing is about Python variables, and
            # SSA would split each into versions the pass could not tell apart.
            self.state.flags.enable_ssa = False
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state, "pyomp_nopython")
        pm.add_pass_after(OpenMPDirectives, IRProcessing)
        pm.add_pass_after(UseOpenMPCodeLibrary, AnnotateTypes)
        pm.finalize()
        return [pm]
