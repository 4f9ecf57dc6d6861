//! `task`: the outlined region runs as an explicit task of the runtime.
//!
//! ```text
//!   %task = __kmpc_omp_task_alloc(@ident, %gtid, flags, 40 + sizeof(args), 0, @f.omp_task_entry)
//!   store { inputs... } at %task + 40            ; captured when the task is created
//!   __kmpc_omp_task(@ident, %gtid, %task)        ; if(c) false: begin_if0; entry; complete_if0
//! @f.omp_task_entry(i32 %gtid, ptr %task): unpack the inputs, call @f(inputs...), ret 0
//! ```
//! The inputs are what CodeExtractor found: firstprivate values loaded at creation
//! (sharing::Mode::Task), addresses of shared variables, and the failure record of the
//! team (or of the function, for a task outside any parallel region of it). A task that
//! raises records the first failure there and ends; the team re-raises after its region, a
//! function with such tasks waits for its child tasks at each return and re-raises then.

use crate::abi;
use crate::calls::thread_id;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Builder, Value};
use crate::markers::MarkedRegion;
use crate::raise::{self, TeamErrors};
use crate::region::{self, Shape};
use crate::sharing;
use crate::{outline, sharing::Mode};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::{LLVMIntPredicate, LLVMOpcode};

use super::depend::dependences;
use super::RegionReport;

/// kmp_task_t's header: shareds, routine, part_id (+ padding), two data words.
const HEADER: u64 = 40;

pub fn lower_task(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
    alloc_block: Block,
    errors: &TeamErrors,
    replaces: Value,
) -> PassResult<RegionReport> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let loc = &r.payload.loc;
    // The task's end (releases, lastprivate) in a block of its own, which a body that
    // raised jumps to: the body's last block may hold user code after a call that raised
    // (Numba merges blocks once it inlines a helper), which must not run then.
    let tail = ir::split_before(
        ir::terminator(shape.tail()).expect("tail ends in a branch"),
        "omp.task.end",
    );
    let blocks = region::blocks(r, shape)?;
    // The task's own exception slot (it may run on any thread, at any time).
    let b = Builder::new(ctx);
    b.at_start(shape.entry);
    let ptr = unsafe { LLVMPointerTypeInContext(ctx, 0) };
    let slot = b.alloca(ptr, "omp.task.excinfo");
    b.store(unsafe { LLVMConstNull(ptr) }, slot);
    ir::replace_uses_in(replaces, slot, &blocks);
    let mine = TeamErrors {
        private: slot,
        ..*errors
    };
    let rets = region::returns(&blocks);
    let can_raise = !rets.is_empty();
    let mut all = blocks.clone();
    all.extend(raise::redirect_returns(
        ctx, func, &rets, &mine, tail, false,
    )?);
    let team_shared = errors.team_slots();
    let last = match r.payload.clauses.last {
        Some(i) => Some(*r.enter_operands.get(i).ok_or_else(|| PassError::Internal {
            message: format!(
                "task {}: no operand {i} for its lastprivate flag",
                r.payload.id
            ),
        })?),
        None => None,
    };
    let mode = Mode::Task { last };
    let applied = sharing::apply(module, func, r, shape, &all, &team_shared, mode)?;
    let all = region::blocks(r, shape)?;
    let out = outline::extract(&all, alloc_block, &format!("omp.task.{}", r.payload.id))?;
    emit_task(module, r, out.function, out.call)?;
    ir::erase_with_dead_operands(r.enter);
    ir::erase_with_dead_operands(r.exit);
    Ok(RegionReport {
        id: r.payload.id,
        construct: r.payload.construct.clone(),
        directive: r.payload.directive.clone(),
        line: loc.line,
        function: ir::name_of(func),
        outlined: ir::name_of(out.function),
        sharing: applied.decisions,
        can_raise,
    })
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

fn emit_task(
    module: LLVMModuleRef,
    r: &MarkedRegion,
    outlined: Value,
    call: Value,
) -> PassResult<()> {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let (i32t, i64t, i8t) = (
            LLVMInt32TypeInContext(ctx),
            LLVMInt64TypeInContext(ctx),
            LLVMInt8TypeInContext(ctx),
        );
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
        // flags: 1 = tied (the default; `untied` lets the task move between threads),
        // 2 = final (its descendants run at once), 0x20 = a priority is given
        let clauses = &r.payload.clauses;
        let operand = |i: Option<usize>| i.and_then(|i| r.enter_operands.get(i)).copied();
        let base = u64::from(!clauses.untied) | if clauses.priority.is_some() { 0x20 } else { 0 };
        let flags = match operand(clauses.final_) {
            Some(f) => LLVMBuildSelect(
                b.raw,
                ir::truth(&b, f),
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
            &[LLVMConstInt(i64t, HEADER + size, 0), level, ancestor],
            "omp.task.alloc.size",
        );
        let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_task_alloc");
        let task = b.call(
            fty,
            f,
            &[
                ident,
                gtid,
                flags,
                alloc_size,
                LLVMConstInt(i64t, 0, 0),
                entry,
            ],
            "omp.task",
        );
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
        let mut off = [LLVMConstInt(i64t, HEADER, 0)];
        let data = LLVMBuildGEP2(
            b.raw,
            i8t,
            task,
            off.as_mut_ptr(),
            1,
            ir::cstr("omp.task.data").as_ptr(),
        );
        ir::store_fields(&b, args_ty, data, &inputs);
        let condition = r
            .payload
            .clauses
            .if_
            .and_then(|i| r.enter_operands.get(i))
            .copied();
        let deps = dependences(&b, module, r, parent)?;
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
        match condition {
            None => {
                spawn_now(&b);
            }
            Some(c) => {
                // if(c) false: the task runs now, on this thread
                let c = ir::truth(&b, c);
                let here = ir::parent_block(call);
                let rest = ir::split_before(call, "omp.task.after");
                let deferred = LLVMAppendBasicBlockInContext(
                    ctx,
                    parent,
                    ir::cstr("omp.task.deferred").as_ptr(),
                );
                let now =
                    LLVMAppendBasicBlockInContext(ctx, parent, ir::cstr("omp.task.now").as_ptr());
                ir::erase(ir::terminator(here).expect("split leaves a branch"));
                b.at_end(here);
                b.cond_br(c, deferred, now);
                b.at_end(deferred);
                spawn_now(&b);
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
            }
        }
        ir::erase(call);
        if ir::opcode(task) != LLVMOpcode::LLVMCall {
            return Err(PassError::Internal {
                message: "task allocation is not a call".into(),
            });
        }
        Ok(())
    }
}

/// A function that creates tasks outside any parallel region of its own keeps their
/// failure record in its frame: at each of its returns it first waits for its child tasks
/// (they may still use the frame), then re-raises a task's exception.
pub fn function_record(ctx: LLVMContextRef, func: Value) -> TeamErrors {
    let entry = ir::blocks(func)[0];
    let b = Builder::new(ctx);
    b.at_start(entry);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        let status = b.alloca(i32t, "omp.tasks.status");
        let excinfo = b.alloca(ptr, "omp.tasks.excinfo");
        let cancelled = b.alloca(i32t, "omp.tasks.cancelled");
        let loop_cancelled = b.alloca(i32t, "omp.tasks.loop.cancelled");
        let stopped_at = b.alloca(i32t, "omp.tasks.stopped.at");
        let gate = b.alloca(LLVMInt64TypeInContext(ctx), "omp.tasks.gate");
        for slot in [status, cancelled, loop_cancelled] {
            b.store(LLVMConstInt(i32t, 0, 0), slot);
        }
        b.store(LLVMConstAllOnes(i32t), stopped_at);
        b.store(LLVMConstNull(ptr), excinfo);
        TeamErrors {
            status,
            excinfo,
            private: excinfo,
            leave: entry,
            end_code: entry,
            leave_path: entry,
            entry,
            cancelled,
            loop_cancelled,
            pre: entry,
            stopped_at,
            gate,
        }
    }
}

/// Before each `ret` of `func`: wait for the child tasks, then return a task's failure.
pub fn wait_at_returns(module: LLVMModuleRef, func: Value, record: &TeamErrors) -> PassResult<()> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let rets: Vec<Value> = ir::blocks(func)
        .into_iter()
        .filter_map(ir::terminator)
        .filter(|&t| ir::opcode(t) == LLVMOpcode::LLVMRet)
        .collect();
    let ident = abi::ident(module, "", &ir::name_of(func), 0, 0);
    for ret in rets {
        let b = Builder::new(ctx);
        b.before(ret);
        let gtid = thread_id(&b, module, ident);
        let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_taskwait");
        b.call(fty, f, &[ident, gtid], "");
        // a normal return becomes the first failed task's status, if any
        let block = ir::parent_block(ret);
        let end = ir::split_before(ret, "omp.tasks.done");
        raise::reraise_after(ctx, func, block, end, record, None)?;
    }
    Ok(())
}

/// `taskloop`: the encountering thread cuts the loop into chunks (pyomp's dispatcher with a
/// static chunked schedule for one thread) and creates a task per chunk; the front end made
/// the chunk loop that task's region, already lowered. The chunk size comes from
/// `grainsize(g)`, or `num_tasks(k)` (ceil(n / k)), or else four chunks per thread of the
/// team. Unless `nogroup`, the loop is a taskgroup: it waits for its tasks (and theirs).
pub fn lower_taskloop(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
) -> PassResult<RegionReport> {
    use super::loop_markers::{marker_calls, trip_count, FINI, INIT, NEXT};
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let loc = &r.payload.loc;
    let ident = abi::ident(module, &loc.file, &ir::name_of(func), loc.line, loc.column);
    let blocks = region::blocks(r, shape)?;
    let id = r.payload.id;
    let clauses = &r.payload.clauses;
    let operand = |i: Option<usize>| i.and_then(|i| r.enter_operands.get(i)).copied();
    unsafe {
        let (i32t, i64t) = (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx));
        let b = Builder::new(ctx);
        b.at_start(shape.entry);
        let state_ty = LLVMArrayType2(i64t, 4);
        let state = b.alloca(state_ty, "omp.taskloop.state");
        let unused = b.alloca(i64t, "omp.taskloop.next");
        let lb = b.alloca(i64t, "omp.taskloop.lo");
        let ub = b.alloca(i64t, "omp.taskloop.hi");
        b.store(LLVMConstNull(state_ty), state);
        let gtid = thread_id(&b, module, ident);
        let inits = marker_calls(&blocks, INIT, id);
        let [init] = inits[..] else {
            return Err(PassError::Internal {
                message: format!("taskloop {id} has {} init markers", inits.len()),
            });
        };
        b.before(init);
        let n = LLVMBuildIntCast2(
            b.raw,
            trip_count(init, id)?,
            i64t,
            1,
            ir::cstr("omp.n").as_ptr(),
        );
        let (f, fty) = abi::runtime_fn(module, "pyomp_loop_start");
        b.call(fty, f, &[state, n], "");
        let one = LLVMConstInt(i64t, 1, 0);
        let div_up = |b: &Builder, a: Value, d: Value| {
            let d = LLVMBuildSelect(
                b.raw,
                LLVMBuildICmp(
                    b.raw,
                    LLVMIntPredicate::LLVMIntSLT,
                    d,
                    one,
                    ir::cstr("omp.small").as_ptr(),
                ),
                one,
                d,
                ir::cstr("omp.d").as_ptr(),
            );
            let a1 = LLVMBuildAdd(
                b.raw,
                a,
                LLVMBuildSub(b.raw, d, one, ir::cstr("omp.dm1").as_ptr()),
                ir::cstr("omp.a1").as_ptr(),
            );
            LLVMBuildSDiv(b.raw, a1, d, ir::cstr("omp.q").as_ptr())
        };
        let chunk = match (operand(clauses.grainsize), operand(clauses.num_tasks)) {
            (Some(g), _) => LLVMBuildIntCast2(b.raw, g, i64t, 1, ir::cstr("omp.grain").as_ptr()),
            (None, Some(k)) => {
                let k = LLVMBuildIntCast2(b.raw, k, i64t, 1, ir::cstr("omp.ntasks").as_ptr());
                div_up(&b, n, k)
            }
            (None, None) => {
                let (f, fty) = abi::runtime_fn(module, "omp_get_num_threads");
                let nth = b.call(fty, f, &[], "omp.nth");
                let nth = LLVMBuildIntCast2(b.raw, nth, i64t, 1, ir::cstr("omp.nth64").as_ptr());
                let k = LLVMBuildMul(
                    b.raw,
                    nth,
                    LLVMConstInt(i64t, 4, 0),
                    ir::cstr("omp.k").as_ptr(),
                );
                div_up(&b, n, k)
            }
        };
        let chunk = LLVMBuildSelect(
            b.raw,
            LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntSLT,
                chunk,
                one,
                ir::cstr("omp.c0").as_ptr(),
            ),
            one,
            chunk,
            ir::cstr("omp.chunk").as_ptr(),
        );
        if !clauses.nogroup {
            let (f, fty) = abi::runtime_fn(module, "__kmpc_taskgroup");
            b.call(fty, f, &[ident, gtid], "");
        }
        ir::erase(init);
        for next in marker_calls(&blocks, NEXT, id) {
            b.before(next);
            let (f, fty) = abi::runtime_fn(module, "pyomp_loop_next");
            let args = [
                unused,
                state,
                LLVMConstInt(i32t, crate::runtime::STATIC_CHUNKED as u64, 0),
                chunk,
                LLVMConstInt(i32t, 0, 0),
                LLVMConstInt(i32t, 1, 0),
                lb,
                ub,
            ];
            let got = b.call(fty, f, &args, "omp.chunk.got");
            let more = LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntNE,
                got,
                LLVMConstInt(i32t, 0, 0),
                ir::cstr("omp.more").as_ptr(),
            );
            let lo = b.load(i64t, lb, "omp.lo");
            let hi = b.load(i64t, ub, "omp.hi");
            let ret_ty = ir::type_of(next);
            let first = LLVMStructGetTypeAtIndex(ret_ty, 0);
            let more = if LLVMGetIntTypeWidth(first) != 1 {
                LLVMBuildZExt(b.raw, more, first, ir::cstr("omp.more.z").as_ptr())
            } else {
                more
            };
            let mut v = LLVMGetUndef(ret_ty);
            for (i, part) in [more, lo, hi].into_iter().enumerate() {
                v = LLVMBuildInsertValue(b.raw, v, part, i as u32, ir::cstr("omp.chunk").as_ptr());
            }
            LLVMReplaceAllUsesWith(next, v);
            ir::erase(next);
        }
        for fini in marker_calls(&blocks, FINI, id) {
            if !clauses.nogroup {
                b.before(fini);
                let (f, fty) = abi::runtime_fn(module, "__kmpc_end_taskgroup");
                b.call(fty, f, &[ident, gtid], "");
            }
            ir::erase(fini);
        }
    }
    Ok(RegionReport::in_place(r, func, Vec::new(), false))
}
