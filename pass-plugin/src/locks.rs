//! The locks of `critical` sections (and of the constructs pyomp runs under one: atomics,
//! reductions' combines), shared by every module of the process that names them.

use crate::ir::{self, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::*;

/// The lock of `critical(name)`: a zeroed `kmp_critical_name` (int[8]) the runtime fills
/// in on first use. It is a weak global with a name derived from the critical section's
/// name, so every module that uses the same name links to one lock in the process.
pub fn critical_lock(module: LLVMModuleRef, name: &str) -> Value {
    let symbol = format!(
        "__pyomp_critical_{}",
        if name.is_empty() { ".unnamed" } else { name }
    );
    unsafe {
        let cname = ir::cstr(&symbol);
        let g = LLVMGetNamedGlobal(module, cname.as_ptr());
        if !g.is_null() {
            return g;
        }
        let ctx = LLVMGetModuleContext(module);
        let ty = LLVMArrayType2(LLVMInt32TypeInContext(ctx), 8);
        let g = LLVMAddGlobal(module, ty, cname.as_ptr());
        LLVMSetInitializer(g, LLVMConstNull(ty));
        LLVMSetLinkage(g, llvm_sys::LLVMLinkage::LLVMWeakAnyLinkage);
        LLVMSetAlignment(g, 64);
        g
    }
}
