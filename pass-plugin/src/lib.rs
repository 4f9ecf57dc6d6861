//! pyomp's LLVM pass. Numba hands each module over as text; the pass normalises it for
//! LLVM 19, verifies it, lowers the OpenMP regions its markers delimit, and returns bitcode
//! that llvmlite loads. See ARCHITECTURE.md for the map of the pipeline.

// The IR surgery passes LLVM handles (raw pointers into a module the pass owns for the
// duration of `lower_module`) between small helpers; marking each helper `unsafe` would
// only move the same contract to every call site.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

/// `[(name, address)]` of `extern "C"` functions of pyomp's runtime pieces: what
/// `import pyomp` registers with the JIT (python.rs `runtime_symbols`).
macro_rules! entry_points {
    ($($f:ident),* $(,)?) => {
        vec![$((stringify!($f), $f as *const () as usize)),*]
    };
}

pub mod abi;
pub mod calls;
pub mod cas;
pub mod device;
pub mod error;
pub mod gpu;
pub mod ir;
pub mod locks;
pub mod lower;
pub mod markers;
pub mod module_io;
pub mod normalize;
pub mod outline;
pub mod profile;
pub mod pyerr;
#[cfg(feature = "python")]
mod python;
pub mod raise;
pub mod reduction;
pub mod region;
pub mod runtime;
pub mod sharing;
pub mod simd;
pub mod team_frame;

pub use error::{PassError, PassResult};
use inkwell::context::Context;

/// The LLVM release this library is built on (Debian's llvm-19, linked statically),
/// as LLVM itself reports it, e.g. "19.1.7".
pub fn llvm_version() -> String {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: LLVMGetVersion only writes the three integers it is given.
    unsafe { llvm_sys::core::LLVMGetVersion(&mut major, &mut minor, &mut patch) };
    format!("{major}.{minor}.{patch}")
}

/// What one run over a module produced.
#[derive(Debug)]
pub struct Lowered {
    pub bitcode: Vec<u8>,
    /// The module after the pass, as text: what `pyomp.explain` shows.
    pub ir: Option<String>,
    /// One report per lowered region (JSON for Python).
    pub regions: Vec<lower::RegionReport>,
}

/// Options a caller sets per run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// Also return the final IR as text (costs a print of the module).
    pub keep_ir: bool,
}

/// The whole pass over one module: text in, bitcode out, errors as values.
pub fn lower_module(ir: &str, name: &str, opts: Options) -> PassResult<Lowered> {
    let ctx = Context::create();
    let module = module_io::parse(&ctx, ir, name)?;
    module_io::verify(&module, "as received from Numba")?;
    log::debug!("{name}: parsed and verified ({} bytes of IR)", ir.len());
    simd::mark_simd_loops(module.as_mut_ptr());
    let regions = lower::lower_regions(module.as_mut_ptr())?;
    if !regions.is_empty() {
        lower::check_no_markers(module.as_mut_ptr())?;
        profile::instrument::instrument_module(module.as_mut_ptr());
        module_io::verify(&module, "after lowering OpenMP regions")?;
        log::debug!("{name}: lowered {} region(s)", regions.len());
    }
    let text = opts.keep_ir.then(|| module.print_to_string().to_string());
    Ok(Lowered {
        bitcode: module_io::to_bitcode(&module),
        ir: text,
        regions,
    })
}

/// Runs `f`, turning a panic (a bug in the pass) into `PassError::Internal` so that nothing
/// unwinds across the FFI boundary into Python.
pub fn catch_panics<T>(f: impl FnOnce() -> PassResult<T>) -> PassResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(PassError::Internal { message })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_module_roundtrips_and_can_show_ir() {
        let ir = "define i64 @id(i64 %x) {\n  ret i64 %x\n}\n";
        let out = lower_module(ir, "m", Options { keep_ir: true }).unwrap();
        assert_eq!(&out.bitcode[..4], b"BC\xC0\xDE");
        assert!(out.ir.unwrap().contains("define i64 @id(i64 %x)"));
    }

    #[test]
    fn reports_the_llvm_it_links() {
        assert!(llvm_version().starts_with("19."), "{}", llvm_version());
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let r: PassResult<()> = catch_panics(|| panic!("boom {}", 42));
        assert_eq!(
            r,
            Err(PassError::Internal {
                message: "boom 42".into()
            })
        );
    }

    #[test]
    fn errors_serialise_for_python() {
        let e = PassError::Parse {
            message: "m".into(),
            ir_line: Some(3),
            ir_text: None,
        };
        assert_eq!(
            e.to_json(),
            r#"{"kind":"parse","message":"m","ir_line":3,"ir_text":null}"#
        );
    }
}
