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
from numba.core.compiler_machinery import AnalysisPass, LoweringPass, register_pass
from numba.core.typed_passes import AnnotateTypes
from numba.core.untyped_passes import IRProcessing

from . import frontend, roundtrip


class OpenMPCodeLibrary(JITCodeLibrary):
    """A JIT code library whose IR modules pass through pyomp's Rust pass.

    The final machine code is cached by Numba as usual (object code), so a cached function
    loads as a plain library and never needs the pass again.
    """

    def __init__(self, codegen, name):
        super().__init__(codegen, name)
        # (module name, IR text as sent to the pass): what pyomp.explain shows.
        self.pyomp_modules = []

    def add_ir_module(self, ir_module):
        self._raise_if_finalized()
        text = cgutils.normalize_ir_text(str(ir_module))
        bitcode, _ = roundtrip.lower(text, ir_module.name)
        self.pyomp_modules.append((ir_module.name, text))
        ll_module = ll.parse_bitcode(bitcode)
        ll_module.name = ir_module.name
        ll_module.verify()
        self.add_llvm_module(ll_module)


@register_pass(mutates_CFG=False, analysis_only=True)
class OpenMPDirectives(AnalysisPass):
    """Reads and checks the directive of every `with openmp(...)` block."""

    _name = "pyomp_directives"

    def __init__(self):
        AnalysisPass.__init__(self)

    def run_pass(self, state):
        state.metadata["pyomp_directives"] = frontend.read_directives(state.func_ir)
        return False


@register_pass(mutates_CFG=False, analysis_only=False)
class UseOpenMPCodeLibrary(LoweringPass):
    """Makes native lowering emit into an OpenMPCodeLibrary."""

    _name = "pyomp_code_library"

    def __init__(self):
        LoweringPass.__init__(self)

    def run_pass(self, state):
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
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state, "pyomp_nopython")
        pm.add_pass_after(OpenMPDirectives, IRProcessing)
        pm.add_pass_after(UseOpenMPCodeLibrary, AnnotateTypes)
        pm.finalize()
        return [pm]
