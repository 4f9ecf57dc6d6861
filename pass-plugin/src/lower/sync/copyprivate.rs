//! `single copyprivate(x, ...)`: the chosen thread's values broadcast to its team mates
//! after the construct, between two barriers every thread meets (the one that raised too).

use crate::abi;
use crate::error::PassResult;
use crate::ir::{self, Block, Builder, Value};
use crate::lower::barrier::{emit_barrier, leave_if_told};
use crate::markers::{MarkedRegion, RefHelpers};
use crate::raise::{self, TeamErrors};
use crate::region::Shape;
use crate::sharing;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;

use super::body::end_point;

/// `single copyprivate(x, ...)`: at the start of the block after the construct every thread
/// makes an array of pointers to its own variables; the chosen thread's goes to the others'
/// copy function between two barriers. In a team's region pyomp does that itself (the
/// chosen thread publishes its array in a team slot), so a team mate that stopped before
/// the construct (raise/) can meet the team at either barrier: each is followed by the
/// team's stop check. Orphaned, `__kmpc_copyprivate` does the same. Returns the block that
/// ends the broadcast (`br` to the next) and the block after it.
#[allow(clippy::too_many_arguments)]
pub fn broadcast(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
    ident: Value,
    gtid: Value,
    chosen: Value,
    team: Option<&TeamErrors>,
) -> PassResult<(Block, Block)> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let b = Builder::new(ctx);
    let mut vars = Vec::new();
    for (name, helpers) in &r.copyprivate {
        let alloca = r
            .payload
            .vars
            .iter()
            .find(|v| &v.name == name)
            .and_then(|spec| sharing::find_alloca(func, r, spec))
            .ok_or_else(|| r.error(format!("copyprivate variable '{name}' has no storage")))?;
        vars.push((alloca, helpers));
    }
    unsafe {
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        b.at_start(shape.entry);
        let data = b.alloca(
            LLVMArrayType2(ptr, vars.len() as u64),
            "omp.copyprivate.data",
        );
        let first = end_point(shape)?;
        b.before(first);
        for (i, (alloca, _)) in vars.iter().enumerate() {
            let slot = element(&b, ptr, data, i);
            b.store(*alloca, slot);
        }
        let copy = copy_function(module, r.payload.id, &vars);
        let site = Broadcast {
            module,
            func,
            ident,
            gtid,
            chosen,
            data,
            copy,
        };
        match team {
            Some(team) => Ok(team_broadcast(&b, &site, r, shape, team, first)),
            None => Ok(orphan_broadcast(&b, &site, vars.len())),
        }
    }
}

/// What the broadcast is made of: where its calls go, whether this thread was chosen, its
/// array of pointers to the variables and the copy function.
struct Broadcast {
    module: LLVMModuleRef,
    func: Value,
    ident: Value,
    gtid: Value,
    chosen: Value,
    data: Value,
    copy: Value,
}

/// Orphaned: through crate::team_frame, which counts its barriers on the team of the
/// caller's region (and leaves the function when that team stopped).
unsafe fn orphan_broadcast(b: &Builder, s: &Broadcast, count: usize) -> (Block, Block) {
    let module = s.module;
    let i64t = LLVMInt64TypeInContext(LLVMGetModuleContext(module));
    let size = LLVMConstInt(i64t, 8 * count as u64, 0);
    let (barrier, _) = abi::runtime_fn(module, "__kmpc_barrier");
    let (copyprivate, _) = abi::runtime_fn(module, "__kmpc_copyprivate");
    let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_copyprivate");
    let args = [
        barrier,
        copyprivate,
        s.ident,
        s.gtid,
        size,
        s.data,
        s.copy,
        s.chosen,
    ];
    let told = b.call(fty, f, &args, "omp.orphan.leave");
    let after = leave_if_told(module, s.func, told);
    let first = ir::instructions(after)[0];
    let rest = ir::split_before(first, "omp.after.copyprivate");
    (after, rest)
}

/// In a team's region: the chosen thread publishes its array in a team slot; after a
/// barrier the others copy from it; a second barrier keeps the array alive until they
/// did. Each barrier is followed by the team's stop check. `first` is where the broadcast
/// starts (the block after the construct).
unsafe fn team_broadcast(
    b: &Builder,
    s: &Broadcast,
    r: &MarkedRegion,
    shape: &Shape,
    team: &TeamErrors,
    first: Value,
) -> (Block, Block) {
    let (module, func, ident, gtid) = (s.module, s.func, s.ident, s.gtid);
    let ctx = LLVMGetModuleContext(module);
    let ptr = LLVMPointerTypeInContext(ctx, 0);
    let i32t = LLVMInt32TypeInContext(ctx);
    let slot = team.shared_slot(ctx, ptr, &format!("copyprivate.{}", r.payload.id));
    let rest = ir::split_before(first, "omp.after.copyprivate");
    let new_block = |name: &str| LLVMAppendBasicBlockInContext(ctx, func, ir::cstr(name).as_ptr());
    let (publish, wait1, check, take, wait2, done) = (
        new_block("omp.cp.publish"),
        new_block("omp.cp.wait"),
        new_block("omp.cp.check"),
        new_block("omp.cp.take"),
        new_block("omp.cp.wait2"),
        new_block("omp.cp.done"),
    );
    let term = ir::terminator(shape.end).expect("split leaves a branch");
    b.before(term);
    let mine = LLVMBuildICmp(
        b.raw,
        LLVMIntPredicate::LLVMIntNE,
        s.chosen,
        LLVMConstInt(i32t, 0, 0),
        ir::cstr("omp.cp.mine").as_ptr(),
    );
    b.cond_br(mine, publish, wait1);
    ir::erase(term);
    b.at_end(publish);
    b.store(s.data, slot);
    b.br(wait1);
    b.at_end(wait1);
    emit_barrier(b, module, ident, gtid, false);
    b.br(check);
    raise::branch_if_failed(ctx, wait1, team, team.leave_path);
    b.at_end(check);
    b.cond_br(mine, wait2, take);
    b.at_end(take);
    let from = b.load(ptr, slot, "omp.cp.src");
    let mut params = [ptr, ptr];
    let copy_ty = LLVMFunctionType(LLVMVoidTypeInContext(ctx), params.as_mut_ptr(), 2, 0);
    b.call(copy_ty, s.copy, &[s.data, from], "");
    b.br(wait2);
    b.at_end(wait2);
    emit_barrier(b, module, ident, gtid, false);
    b.br(done);
    raise::branch_if_failed(ctx, wait2, team, team.leave_path);
    b.at_end(done);
    b.br(rest);
    (done, rest)
}

/// `&array[i]` for an array of pointers.
fn element(b: &Builder, ptr: LLVMTypeRef, array: Value, i: usize) -> Value {
    unsafe {
        let ctx = LLVMGetTypeContext(ptr);
        let mut index = [LLVMConstInt(LLVMInt64TypeInContext(ctx), i as u64, 0)];
        LLVMBuildGEP2(
            b.raw,
            ptr,
            array,
            index.as_mut_ptr(),
            1,
            ir::cstr("omp.cp.slot").as_ptr(),
        )
    }
}

/// `void copy(ptr dst, ptr src)`: for each variable, `*dst[i] = *src[i]`, taking a reference
/// to the new value and dropping the old one for reference-counted types.
fn copy_function(module: LLVMModuleRef, id: u64, vars: &[(Value, &RefHelpers)]) -> Value {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        let mut params = [ptr, ptr];
        let fty = LLVMFunctionType(LLVMVoidTypeInContext(ctx), params.as_mut_ptr(), 2, 0);
        let name = ir::cstr(&format!("pyomp.copyprivate.{id}"));
        let f = LLVMAddFunction(module, name.as_ptr(), fty);
        LLVMSetLinkage(f, llvm_sys::LLVMLinkage::LLVMInternalLinkage);
        let entry = LLVMAppendBasicBlockInContext(ctx, f, ir::cstr("entry").as_ptr());
        let b = Builder::new(ctx);
        b.at_end(entry);
        let (dst, src) = (LLVMGetParam(f, 0), LLVMGetParam(f, 1));
        for (i, (alloca, helpers)) in vars.iter().enumerate() {
            let to = b.load(ptr, element(&b, ptr, dst, i), "omp.cp.to");
            let from = b.load(ptr, element(&b, ptr, src, i), "omp.cp.from");
            if let Some(incref) = &helpers.incref {
                crate::calls::call_helper(&b, module, incref, from);
            }
            if let Some(decref) = &helpers.decref {
                crate::calls::call_helper(&b, module, decref, to);
            }
            let ty = ir::allocated_type(*alloca);
            let v = b.load(ty, from, "omp.cp.value");
            b.store(v, to);
        }
        LLVMBuildRetVoid(b.raw);
        f
    }
}
