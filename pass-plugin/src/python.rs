//! The Python face of the pass: the extension module `pyomp._pass`.
//!
//! Errors cross as `PassError(message, details_json)`; Python (`pyomp.pipeline`) turns the
//! JSON into a located `pyomp.errors.PassError`. Panics are caught before they reach pyo3.

use crate::{catch_panics, lower_module, Options};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

create_exception!(
    _pass,
    PassError,
    PyException,
    "The pass rejected a module (args: message, details as JSON)."
);

/// lower(ir, name, keep_ir=False) -> (bitcode: bytes, ir: str | None, regions: str (JSON))
///
/// Runs the pass over one module of textual IR. The GIL is released while LLVM works, so
/// Python threads compiling other functions are not blocked.
#[pyfunction]
#[pyo3(signature = (ir, name, keep_ir = false))]
fn lower<'py>(
    py: Python<'py>,
    ir: &str,
    name: &str,
    keep_ir: bool,
) -> PyResult<(Bound<'py, PyBytes>, Option<String>, String)> {
    let result = py.detach(|| catch_panics(|| lower_module(ir, name, Options { keep_ir })));
    match result {
        Ok(out) => {
            let regions = serde_json::to_string(&out.regions).unwrap_or_else(|_| "[]".into());
            Ok((PyBytes::new(py, &out.bitcode), out.ir, regions))
        }
        Err(err) => Err(PassError::new_err((err.to_string(), err.to_json()))),
    }
}

/// kernel_ptx(ir, body, sm) -> str: PTX of a kernel running Numba function `body` of `ir`
/// for iterations 0..n (crate::gpu).
#[pyfunction]
fn kernel_ptx(py: Python<'_>, ir: &str, body: &str, sm: &str) -> PyResult<String> {
    py.detach(|| catch_panics(|| crate::gpu::kernel_ptx(ir, body, sm)))
        .map_err(|err| PassError::new_err((err.to_string(), err.to_json())))
}

/// register_nrt(alloc, data, release): the addresses of Numba's NRT_MemInfo_alloc_safe_aligned,
/// NRT_MemInfo_data and NRT_MemInfo_release, which own the device buffers
/// (crate::device::buffer).
#[pyfunction]
fn register_nrt(alloc: usize, data: usize, release: usize) {
    // SAFETY: the caller passes those functions' addresses in this process
    unsafe { crate::device::buffer::register_nrt(alloc, data, release) }
}

/// The LLVM release the pass is built on.
#[pyfunction]
fn llvm_version() -> String {
    crate::llvm_version()
}

/// [(name, address)] of pyomp's own runtime functions the generated code calls.
#[pyfunction]
fn runtime_symbols() -> Vec<(&'static str, usize)> {
    let mut all = crate::runtime::symbols();
    all.extend(crate::team_frame::symbols());
    all.extend(crate::device::symbols());
    all.extend(crate::profile::record::symbols());
    all
}

/// profile_start() -> int | None: starts recording (crate::profile::record) and returns the
/// time it started (ns); None if a profile is recording already.
#[pyfunction]
fn profile_start() -> Option<u64> {
    crate::profile::record::start()
}

/// profile_stop() -> (records: bytes, threads: [(index, native_id)],
/// sites: {site: psource}, stopped_at_ns): stops recording and collects every thread's
/// records (packed `Record`s, read by numpy in `pyomp.profiling.recorder`).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn profile_stop(py: Python<'_>) -> (Bound<'_, PyBytes>, Vec<(u32, u64)>, Vec<(u64, String)>, u64) {
    use crate::profile::record::{site_source, stop, Record};
    let got = py.detach(stop);
    let mut sites: Vec<u64> = got.records.iter().map(|r| r.site).collect();
    sites.sort_unstable();
    sites.dedup();
    // SAFETY: the sites are ident_t's of compiled code, still loaded (Numba keeps a
    // function's code while its dispatcher lives).
    let named = sites
        .into_iter()
        .map(|s| (s, unsafe { site_source(s) }))
        .collect();
    let size = std::mem::size_of::<Record>() * got.records.len();
    // SAFETY: Record is repr(C) plain data
    let bytes = unsafe { std::slice::from_raw_parts(got.records.as_ptr() as *const u8, size) };
    (PyBytes::new(py, bytes), got.threads, named, got.stopped_at)
}

#[pymodule]
fn _pass(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // RUST_LOG=pyomp_pass=debug traces each pass step; try_init: a second import is fine.
    let _ = env_logger::Builder::from_env(env_logger::Env::default()).try_init();
    m.add_function(wrap_pyfunction!(lower, m)?)?;
    m.add_function(wrap_pyfunction!(llvm_version, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_ptx, m)?)?;
    m.add_function(wrap_pyfunction!(register_nrt, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_symbols, m)?)?;
    m.add_function(wrap_pyfunction!(profile_start, m)?)?;
    m.add_function(wrap_pyfunction!(profile_stop, m)?)?;
    m.add("PassError", m.py().get_type::<PassError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
