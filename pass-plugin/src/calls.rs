//! Calls the generated code makes that every lowering step needs: the thread's runtime id,
//! and the helpers Numba emitted for a variable (reference counts, array copies and
//! reductions). Below sharing, reduction and lower, so none of them needs another for
//! these.

use crate::abi;
use crate::ir::{self, Block, Builder, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::*;

/// The runtime's view of "which thread am I" for calls made inside the region.
/// The thread's runtime id taken once at the start of block `entry` (a team region's first
/// block): reused by every construct of the region.
pub fn thread_id_at(entry: Block, module: LLVMModuleRef, ident: Value) -> Value {
    let existing = ir::instructions(entry)
        .into_iter()
        .find(|&i| ir::called_name(i).as_deref() == Some("__kmpc_global_thread_num"));
    existing.unwrap_or_else(|| {
        let b = Builder::new(unsafe { LLVMGetModuleContext(module) });
        b.at_start(entry);
        thread_id(&b, module, ident)
    })
}

pub fn thread_id(b: &Builder, module: LLVMModuleRef, ident: Value) -> Value {
    let (f, fty) = abi::runtime_fn(module, "__kmpc_global_thread_num");
    b.call(fty, f, &[ident], "omp.gtid")
}

pub fn call_helper(b: &Builder, module: LLVMModuleRef, name: &str, ptr: Value) {
    unsafe {
        let f = LLVMGetNamedFunction(module, ir::cstr(name).as_ptr());
        if !f.is_null() {
            b.call(LLVMGlobalGetValueType(f), f, &[ptr], "");
        }
    }
}

/// Calls a Numba helper `i32(ptr original, ptr private)` at the builder's position.
pub fn call_helper2(
    b: &Builder,
    module: LLVMModuleRef,
    name: &str,
    original: Value,
    private: Value,
    extra: &[Value],
) {
    unsafe {
        let f = LLVMGetNamedFunction(module, ir::cstr(name).as_ptr());
        if !f.is_null() {
            let mut args = vec![original, private];
            args.extend_from_slice(extra);
            b.call(LLVMGlobalGetValueType(f), f, &args, "");
        }
    }
}
