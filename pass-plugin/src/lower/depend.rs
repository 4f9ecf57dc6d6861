//! The `depend` clauses of a task or a `taskwait`, as libomp's kmp_depend_info list.

use crate::error::PassResult;
use crate::ir::{self, Builder, Value};
use crate::markers::MarkedRegion;
use crate::sharing;
use llvm_sys::core::*;
use llvm_sys::prelude::*;

/// The kmp_depend_info list of a task's or taskwait's `depend` clauses, filled at the
/// builder: (count, address), or None without dependences. Each entry is
/// { i64 address, i64 length, i8 flags }; a variable's address is its alloca's.
pub fn dependences(
    b: &Builder,
    module: LLVMModuleRef,
    r: &MarkedRegion,
    func: Value,
) -> PassResult<Option<(Value, Value)>> {
    let deps = &r.payload.clauses.depend;
    if deps.is_empty() {
        return Ok(None);
    }
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let (i8t, i32t, i64t) = (
            LLVMInt8TypeInContext(ctx),
            LLVMInt32TypeInContext(ctx),
            LLVMInt64TypeInContext(ctx),
        );
        let mut fields = [i64t, i64t, i8t];
        let info = LLVMStructTypeInContext(ctx, fields.as_mut_ptr(), 3, 0);
        let list_ty = LLVMArrayType2(info, deps.len() as u64);
        let at_entry = Builder::new(ctx);
        at_entry.at_start(ir::blocks(func)[0]);
        let list = at_entry.alloca(list_ty, "omp.deps");
        for (i, d) in deps.iter().enumerate() {
            let v = r
                .enter_operands
                .get(d.operand)
                .copied()
                .ok_or_else(|| r.error("a dependence without its operand"))?;
            let addr = if d.kind == "variable" {
                let alloca = sharing::alloca_behind(v)
                    .ok_or_else(|| r.error("a dependence on a variable without storage"))?;
                LLVMBuildPtrToInt(b.raw, alloca, i64t, ir::cstr("omp.dep.addr").as_ptr())
            } else {
                LLVMBuildIntCast2(b.raw, v, i64t, 0, ir::cstr("omp.dep.addr").as_ptr())
            };
            let mut idx = [LLVMConstInt(i32t, 0, 0), LLVMConstInt(i32t, i as u64, 0)];
            let entry = LLVMBuildGEP2(
                b.raw,
                list_ty,
                list,
                idx.as_mut_ptr(),
                2,
                ir::cstr("omp.dep").as_ptr(),
            );
            let parts = [addr, LLVMConstInt(i64t, 8, 0), LLVMConstInt(i8t, d.flag, 0)];
            for (k, part) in parts.into_iter().enumerate() {
                let p = LLVMBuildStructGEP2(
                    b.raw,
                    info,
                    entry,
                    k as u32,
                    ir::cstr("omp.dep.field").as_ptr(),
                );
                b.store(part, p);
            }
        }
        Ok(Some((LLVMConstInt(i32t, deps.len() as u64, 0), list)))
    }
}
