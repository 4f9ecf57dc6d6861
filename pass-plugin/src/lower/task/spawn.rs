//! A task's creation, where the outlined region's call was: allocate the task (flags,
//! priority), store its inputs after the header, and hand it to the runtime (with its
//! dependences; run at once, on this thread, when its `if` clause is false).

use crate::abi;
use crate::calls::thread_id;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Builder, Value};
use crate::lower::depend::dependences;
use crate::markers::MarkedRegion;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMOpcode;

/// kmp_task_t's header: shareds, routine, part_id (+ padding), two data words.
const HEADER: u64 = 40;

/// Where a task's runtime calls go.
struct Site {
    module: LLVMModuleRef,
    ctx: LLVMContextRef,
    /// The function that creates the task.
    parent: Value,
    ident: Value,
    gtid: Value,
}

/// Replaces `call` (of the outlined task body `outlined`) by the creation of a task that
/// runs it.
pub fn emit_task(
    module: LLVMModuleRef,
    r: &MarkedRegion,
    outlined: Value,
    call: Value,
) -> PassResult<()> {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let inputs: Vec<Value> = ir::call_args(call);
        let mut tys: Vec<LLVMTypeRef> = inputs.iter().map(|&v| LLVMTypeOf(v)).collect();
        let args_ty = LLVMStructTypeInContext(ctx, tys.as_mut_ptr(), tys.len() as u32, 0);
        let layout = llvm_sys::target::LLVMGetModuleDataLayout(module);
        let size = llvm_sys::target::LLVMABISizeOfType(layout, args_ty);
        let entry = task_entry(module, outlined, args_ty);
        let loc = &r.payload.loc;
        let parent = ir::parent_function(ir::parent_block(call));
        let ident = abi::ident(
            module,
            &loc.file,
            &ir::name_of(parent),
            loc.line,
            loc.column,
        );
        let b = Builder::new(ctx);
        b.before(call);
        let gtid = thread_id(&b, module, ident);
        let site = Site {
            module,
            ctx,
            parent,
            ident,
            gtid,
        };
        let task = alloc_task(&b, &site, r, entry, HEADER + size);
        let mut off = [LLVMConstInt(LLVMInt64TypeInContext(ctx), HEADER, 0)];
        let data = LLVMBuildGEP2(
            b.raw,
            LLVMInt8TypeInContext(ctx),
            task,
            off.as_mut_ptr(),
            1,
            ir::cstr("omp.task.data").as_ptr(),
        );
        ir::store_fields(&b, args_ty, data, &inputs);
        spawn(&b, &site, r, task, entry, call)?;
        ir::erase(call);
        if ir::opcode(task) != LLVMOpcode::LLVMCall {
            return Err(PassError::Internal {
                message: "task allocation is not a call".into(),
            });
        }
        Ok(())
    }
}

/// The task entry libomp calls: `i32 (i32 gtid, ptr task)`.
fn task_entry(module: LLVMModuleRef, outlined: Value, args_ty: LLVMTypeRef) -> Value {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let (i32t, i8t) = (LLVMInt32TypeInContext(ctx), LLVMInt8TypeInContext(ctx));
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        let mut params = [i32t, ptr];
        let fty = LLVMFunctionType(i32t, params.as_mut_ptr(), 2, 0);
        let name = format!("{}.omp_task_entry", ir::name_of(outlined));
        let f = LLVMAddFunction(module, ir::cstr(&name).as_ptr(), fty);
        LLVMSetLinkage(f, llvm_sys::LLVMLinkage::LLVMInternalLinkage);
        let entry = LLVMAppendBasicBlockInContext(ctx, f, ir::cstr("entry").as_ptr());
        let b = Builder::new(ctx);
        b.at_end(entry);
        let mut off = [LLVMConstInt(LLVMInt64TypeInContext(ctx), HEADER, 0)];
        let data = LLVMBuildGEP2(
            b.raw,
            i8t,
            LLVMGetParam(f, 1),
            off.as_mut_ptr(),
            1,
            ir::cstr("omp.task.data").as_ptr(),
        );
        let fields = ir::load_fields(&b, args_ty, data);
        b.call(LLVMGlobalGetValueType(outlined), outlined, &fields, "");
        b.ret(LLVMConstInt(i32t, 0, 0));
        f
    }
}

/// `__kmpc_omp_task_alloc` of a task of `bytes` (header and inputs) running `entry`, with
/// the flags and priority of its clauses.
unsafe fn alloc_task(
    b: &Builder,
    site: &Site,
    r: &MarkedRegion,
    entry: Value,
    bytes: u64,
) -> Value {
    let (module, ctx) = (site.module, site.ctx);
    let (i32t, i64t, i8t) = (
        LLVMInt32TypeInContext(ctx),
        LLVMInt64TypeInContext(ctx),
        LLVMInt8TypeInContext(ctx),
    );
    // flags: 1 = tied (the default; `untied` lets the task move between threads),
    // 2 = final (its descendants run at once), 0x20 = a priority is given
    let clauses = &r.payload.clauses;
    let operand = |i: Option<usize>| i.and_then(|i| r.enter_operands.get(i)).copied();
    let base = u64::from(!clauses.untied) | if clauses.priority.is_some() { 0x20 } else { 0 };
    let flags = match operand(clauses.final_) {
        Some(f) => LLVMBuildSelect(
            b.raw,
            ir::truth(b, f),
            LLVMConstInt(i32t, base | 2, 0),
            LLVMConstInt(i32t, base, 0),
            ir::cstr("omp.task.flags").as_ptr(),
        ),
        None => LLVMConstInt(i32t, base, 0),
    };
    // (on a root thread other than the main one, outside libomp's free lists:
    // runtime.rs, pyomp_task_alloc_size)
    let (sized, sized_ty) = abi::runtime_fn(module, "pyomp_task_alloc_size");
    let (level, _) = abi::runtime_fn(module, "omp_get_level");
    let (ancestor, _) = abi::runtime_fn(module, "omp_get_ancestor_thread_num");
    let alloc_size = b.call(
        sized_ty,
        sized,
        &[LLVMConstInt(i64t, bytes, 0), level, ancestor],
        "omp.task.alloc.size",
    );
    let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_task_alloc");
    let zero = LLVMConstInt(i64t, 0, 0);
    let args = [site.ident, site.gtid, flags, alloc_size, zero, entry];
    let task = b.call(fty, f, &args, "omp.task");
    if let Some(p) = operand(clauses.priority) {
        // kmp_task_t's second data word holds the priority
        let mut at = [LLVMConstInt(i64t, 32, 0)];
        let field = LLVMBuildGEP2(
            b.raw,
            i8t,
            task,
            at.as_mut_ptr(),
            1,
            ir::cstr("omp.task.priority").as_ptr(),
        );
        let p = LLVMBuildIntCast2(b.raw, p, i32t, 1, ir::cstr("omp.priority").as_ptr());
        b.store(p, field);
    }
    task
}

/// Hands `task` to the runtime before `call`: `__kmpc_omp_task` (with its dependences:
/// `__kmpc_omp_task_with_deps`); with an `if` clause that is false, the task runs now, on
/// this thread, once what it depends on is done.
unsafe fn spawn(
    b: &Builder,
    site: &Site,
    r: &MarkedRegion,
    task: Value,
    entry: Value,
    call: Value,
) -> PassResult<()> {
    let (module, ctx, parent, ident, gtid) =
        (site.module, site.ctx, site.parent, site.ident, site.gtid);
    let i32t = LLVMInt32TypeInContext(ctx);
    let condition = r
        .payload
        .clauses
        .if_
        .and_then(|i| r.enter_operands.get(i))
        .copied();
    let deps = dependences(b, module, r, parent)?;
    let spawn_now = |b: &Builder| match deps {
        Some((n, list)) => {
            let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_task_with_deps");
            let none = LLVMConstNull(LLVMPointerTypeInContext(ctx, 0));
            let zero = LLVMConstInt(i32t, 0, 0);
            b.call(fty, f, &[ident, gtid, task, n, list, zero, none], "")
        }
        None => {
            let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_task");
            b.call(fty, f, &[ident, gtid, task], "")
        }
    };
    let Some(c) = condition else {
        spawn_now(b);
        return Ok(());
    };
    // if(c) false: the task runs now, on this thread
    let c = ir::truth(b, c);
    let here = ir::parent_block(call);
    let rest = ir::split_before(call, "omp.task.after");
    let deferred =
        LLVMAppendBasicBlockInContext(ctx, parent, ir::cstr("omp.task.deferred").as_ptr());
    let now = LLVMAppendBasicBlockInContext(ctx, parent, ir::cstr("omp.task.now").as_ptr());
    ir::erase(ir::terminator(here).expect("split leaves a branch"));
    b.at_end(here);
    b.cond_br(c, deferred, now);
    b.at_end(deferred);
    spawn_now(b);
    b.br(rest);
    b.at_end(now);
    if let Some((n, list)) = deps {
        // an undeferred task still waits for what it depends on
        let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_wait_deps");
        let none = LLVMConstNull(LLVMPointerTypeInContext(ctx, 0));
        let zero = LLVMConstInt(i32t, 0, 0);
        b.call(fty, f, &[ident, gtid, n, list, zero, none], "");
    }
    let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_task_begin_if0");
    b.call(fty, f, &[ident, gtid, task], "");
    b.call(LLVMGlobalGetValueType(entry), entry, &[gtid, task], "");
    let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_task_complete_if0");
    b.call(fty, f, &[ident, gtid, task], "");
    b.br(rest);
    Ok(())
}
