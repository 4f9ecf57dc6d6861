//! Moves a region's blocks into a function of their own with LLVM's CodeExtractor (through
//! the C++ shim): the region's inputs (values, and addresses of shared variables) become
//! the function's parameters; `lower::parallel` packs them into one struct for the runtime.

use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Value};
use llvm_sys::core::*;
use llvm_sys::LLVMOpcode;

pub struct Outlined {
    /// `void @<parent>.omp.<id>(inputs...)`.
    pub function: Value,
    /// The call that replaced the region: `call void @f(inputs...)`.
    pub call: Value,
}

pub fn extract(region: &[Block], alloc_block: Block, suffix: &str) -> PassResult<Outlined> {
    if let Some(&first) = region.first() {
        // A broken function makes CodeExtractor crash instead of failing: check first.
        let func = ir::parent_function(first);
        let broken = unsafe {
            llvm_sys::analysis::LLVMVerifyFunction(
                func,
                llvm_sys::analysis::LLVMVerifierFailureAction::LLVMReturnStatusAction,
            )
        };
        if broken != 0 {
            let module = unsafe { LLVMGetGlobalParent(func) };
            let mut msg = std::ptr::null_mut();
            unsafe {
                llvm_sys::analysis::LLVMVerifyModule(
                    module,
                    llvm_sys::analysis::LLVMVerifierFailureAction::LLVMReturnStatusAction,
                    &mut msg,
                )
            };
            let text = ir::c_name(msg);
            unsafe { LLVMDisposeMessage(msg) };
            if log::log_enabled!(log::Level::Debug) {
                let printed = unsafe { LLVMPrintValueToString(func) };
                log::debug!("function before outlining:\n{}", ir::c_name(printed));
                unsafe { LLVMDisposeMessage(printed) };
            }
            return Err(PassError::Verify {
                stage: "before outlining".into(),
                message: text,
            });
        }
    }
    let function =
        ir::extract_region(region, alloc_block, suffix).ok_or_else(|| PassError::Internal {
            message: "LLVM's CodeExtractor refused the region".into(),
        })?;
    let call = ir::users(function)
        .into_iter()
        .find(|&u| ir::called_function(u) == Some(function))
        .ok_or_else(|| PassError::Internal {
            message: "outlined region has no call site".into(),
        })?;
    unsafe {
        let fty = LLVMGlobalGetValueType(function);
        if LLVMGetTypeKind(LLVMGetReturnType(fty)) != llvm_sys::LLVMTypeKind::LLVMVoidTypeKind {
            return Err(PassError::Internal {
                message: "outlined region has several exits".into(),
            });
        }
        LLVMSetLinkage(function, llvm_sys::LLVMLinkage::LLVMInternalLinkage);
    }
    hoist_allocas(function);
    Ok(Outlined { function, call })
}

/// Private copies were created at the region's start; in the outlined function they must
/// sit in the entry block so LLVM promotes them to registers.
fn hoist_allocas(function: Value) {
    let blocks = ir::blocks(function);
    let Some(&entry) = blocks.first() else { return };
    let Some(first) = ir::instructions(entry).into_iter().next() else {
        return;
    };
    for &block in &blocks[1..] {
        for inst in ir::instructions(block) {
            let is_static_alloca = ir::opcode(inst) == LLVMOpcode::LLVMAlloca
                && unsafe { LLVMIsConstant(LLVMGetOperand(inst, 0)) != 0 };
            if is_static_alloca {
                let name = ir::cstr(&ir::name_of(inst));
                unsafe {
                    LLVMInstructionRemoveFromParent(inst);
                    let b = ir::Builder::new(LLVMGetTypeContext(LLVMTypeOf(inst)));
                    b.before(first);
                    LLVMInsertIntoBuilderWithName(b.raw, inst, name.as_ptr());
                }
            }
        }
    }
}
