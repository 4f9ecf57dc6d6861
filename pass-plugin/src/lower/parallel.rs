//! `parallel`: the outlined region runs on a team through `__kmpc_fork_call`.
//!
//! ```text
//!   %gtid = __kmpc_global_thread_num(@ident)              ; only for the clauses below
//!   __kmpc_push_num_threads(@ident, %gtid, n)        ; num_threads(n)
//!   __kmpc_push_proc_bind(@ident, %gtid, kind)       ; proc_bind(kind)
//!   br %if, %fork, %serial                           ; if(c)
//! fork:   __kmpc_fork_call(@ident, 1, @f.omp_microtask, %args)
//! serial: __kmpc_serialized_parallel; @f.omp_microtask(&gtid, &zero, %args); __kmpc_end_serialized_parallel
//! ```
//! A `teams` region is forked the same way as a league: `__kmpc_push_num_teams(@ident,
//! %gtid, num_teams, thread_limit)` (0 for a clause left out: libomp's defaults, one team
//! on the host) then `__kmpc_fork_teams`; each team's initial thread runs the region.
//! `%args` is a struct of the outlined function's inputs, built before the fork;
//! `@f.omp_microtask(ptr %gtid, ptr %btid, ptr %args)` unpacks it and calls `@f(inputs...)`.

use super::gil;
use crate::abi;
use crate::error::PassResult;
use crate::ir::{self, Block, Builder, Value};
use crate::markers::MarkedRegion;
use crate::outline::Outlined;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::{LLVMIntPredicate, LLVMTypeKind};

/// The wrapper with the signature libomp calls: `void(ptr gtid, ptr btid, ptr args)`.
fn microtask(module: LLVMModuleRef, outlined: Value, args_ty: LLVMTypeRef) -> Value {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        let mut params = [ptr, ptr, ptr];
        let fty = LLVMFunctionType(LLVMVoidTypeInContext(ctx), params.as_mut_ptr(), 3, 0);
        let name = format!("{}.omp_microtask", ir::name_of(outlined));
        let f = LLVMAddFunction(module, ir::cstr(&name).as_ptr(), fty);
        LLVMSetLinkage(f, llvm_sys::LLVMLinkage::LLVMInternalLinkage);
        let entry = LLVMAppendBasicBlockInContext(ctx, f, ir::cstr("entry").as_ptr());
        let b = Builder::new(ctx);
        b.at_end(entry);
        let fields = ir::load_fields(&b, args_ty, LLVMGetParam(f, 2));
        b.call(LLVMGlobalGetValueType(outlined), outlined, &fields, "");
        LLVMBuildRetVoid(b.raw);
        f
    }
}

fn to_i32(b: &Builder, ctx: LLVMContextRef, v: Value) -> Value {
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let ty = LLVMTypeOf(v);
        let n = ir::cstr("omp.i32");
        match LLVMGetIntTypeWidth(ty).cmp(&32) {
            std::cmp::Ordering::Greater => LLVMBuildTrunc(b.raw, v, i32t, n.as_ptr()),
            std::cmp::Ordering::Less => LLVMBuildSExt(b.raw, v, i32t, n.as_ptr()),
            std::cmp::Ordering::Equal => v,
        }
    }
}

fn proc_bind_kind(kind: &str) -> u64 {
    // omp_proc_bind_t: false 0, true 1, primary/master 2, close 3, spread 4
    match kind {
        "master" | "primary" => 2,
        "close" => 3,
        "spread" => 4,
        _ => 1,
    }
}

/// Replaces the call to the outlined region with the fork; returns the block after it (the
/// join point, with the GIL back where the fork released it for this region, whose
/// terminator continues to the region's end). `once_per_call`: the region is not inside
/// another region or task of its function, so a GIL it releases stays released until the
/// function returns (gil.rs).
pub fn emit_fork(
    module: LLVMModuleRef,
    r: &MarkedRegion,
    out: &Outlined,
    alloc_block: Block,
    once_per_call: bool,
) -> PassResult<Block> {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let i32t = LLVMInt32TypeInContext(ctx);
        let loc = &r.payload.loc;
        let parent = ir::parent_function(ir::parent_block(out.call));
        let ident = abi::ident(
            module,
            &loc.file,
            &ir::name_of(parent),
            loc.line,
            loc.column,
        );
        let inputs = ir::call_args(out.call);
        let mut types: Vec<LLVMTypeRef> = inputs.iter().map(|&v| LLVMTypeOf(v)).collect();
        let args_ty = LLVMStructTypeInContext(ctx, types.as_mut_ptr(), types.len() as u32, 0);
        let task = microtask(module, out.function, args_ty);
        let b = Builder::new(ctx);
        b.at_start(alloc_block);
        let args = b.alloca(args_ty, "omp.args");
        b.before(out.call);
        ir::store_fields(&b, args_ty, args, &inputs);
        let clauses = &r.payload.clauses;
        let teams = r.payload.construct == "teams";
        let (gtid, fork, fork_ty) = push_clauses(&b, module, r, ident, teams);
        let condition = clauses.if_.and_then(|i| r.enter_operands.get(i)).copied();
        let join = ir::split_before(
            ir::terminator(ir::parent_block(out.call)).expect("call block ends in a branch"),
            "omp.join",
        );
        // The team size asked for (the GIL stays with a team of one).
        let num_threads = match teams {
            true => clauses.num_teams,
            false => clauses.num_threads,
        }
        .and_then(|i| r.enter_operands.get(i))
        .copied();
        let team = |b: &Builder| match num_threads {
            Some(n) => to_i32(b, ctx, n),
            None => {
                let (f, fty) = abi::runtime_fn(module, "omp_get_max_threads");
                b.call(fty, f, &[], "omp.team.asked")
            }
        };
        // Where the code after the region goes on (with the GIL back, where the fork
        // released it for this region only).
        let after = match gil::release_for_fork(module, out.call, team, once_per_call) {
            Some(saved) => gil::take_back(module, join, saved),
            None => join,
        };
        let Some(cond) = condition else {
            b.call(
                fork_ty,
                fork,
                &[ident, LLVMConstInt(i32t, 1, 0), task, args],
                "",
            );
            ir::erase(out.call);
            return Ok(after);
        };
        let fork = Fork {
            module,
            ident,
            gtid: gtid.expect("an if clause takes the thread id"),
            task,
            args,
        };
        emit_fork_if(&b, &fork, out.call, cond, alloc_block, join);
        Ok(after)
    }
}

/// What a fork is made of: its ident, the encountering thread's id, the microtask and its
/// arguments.
struct Fork {
    module: LLVMModuleRef,
    ident: Value,
    gtid: Value,
    task: Value,
    args: Value,
}

/// num_threads and proc_bind: pushed for the next fork. Returns the thread's id, taken only
/// where a clause needs it (these, and `if` for the serial path; `__kmpc_fork_call` finds
/// its own): one call less per region.
unsafe fn push_team_clauses(
    b: &Builder,
    module: LLVMModuleRef,
    r: &MarkedRegion,
    ident: Value,
) -> Option<Value> {
    let ctx = LLVMGetModuleContext(module);
    let i32t = LLVMInt32TypeInContext(ctx);
    let clauses = &r.payload.clauses;
    if clauses.num_threads.is_none() && clauses.proc_bind.is_none() && clauses.if_.is_none() {
        return None;
    }
    let (f, fty) = abi::runtime_fn(module, "__kmpc_global_thread_num");
    let gtid = b.call(fty, f, &[ident], "omp.gtid");
    if let Some(&n) = clauses.num_threads.and_then(|i| r.enter_operands.get(i)) {
        let (f, fty) = abi::runtime_fn(module, "__kmpc_push_num_threads");
        let n32 = to_i32(b, ctx, n);
        b.call(fty, f, &[ident, gtid, n32], "");
    }
    if let Some(kind) = &clauses.proc_bind {
        let (f, fty) = abi::runtime_fn(module, "__kmpc_push_proc_bind");
        b.call(
            fty,
            f,
            &[ident, gtid, LLVMConstInt(i32t, proc_bind_kind(kind), 0)],
            "",
        );
    }
    Some(gtid)
}

/// The clauses pushed for the next fork (the thread id, if they took it) and the fork
/// function: a team's, or a league's (`teams`).
unsafe fn push_clauses(
    b: &Builder,
    module: LLVMModuleRef,
    r: &MarkedRegion,
    ident: Value,
    teams: bool,
) -> (Option<Value>, Value, LLVMTypeRef) {
    let (gtid, name) = match teams {
        true => (
            Some(push_league_clauses(b, module, r, ident)),
            "__kmpc_fork_teams",
        ),
        false => (push_team_clauses(b, module, r, ident), "__kmpc_fork_call"),
    };
    let (fork, fork_ty) = abi::runtime_fn(module, name);
    (gtid, fork, fork_ty)
}

/// num_teams (0 without the clause: the runtime's choice, one team on the host) and
/// thread_limit: pushed for the next teams fork.
unsafe fn push_league_clauses(
    b: &Builder,
    module: LLVMModuleRef,
    r: &MarkedRegion,
    ident: Value,
) -> Value {
    let ctx = LLVMGetModuleContext(module);
    let clauses = &r.payload.clauses;
    let operand = |i: Option<usize>| {
        i.and_then(|i| r.enter_operands.get(i))
            .map(|&v| to_i32(b, ctx, v))
    };
    let (f, fty) = abi::runtime_fn(module, "__kmpc_global_thread_num");
    let gtid = b.call(fty, f, &[ident], "omp.gtid");
    let teams = operand(clauses.num_teams)
        .unwrap_or_else(|| LLVMConstInt(LLVMInt32TypeInContext(ctx), 0, 0));
    // Without thread_limit, a team's parallel regions get nthreads-var threads (what
    // omp_set_num_threads set), as C gets OMP_NUM_THREADS; libomp alone would give the
    // processors divided by the teams whatever the program asked.
    let limit = operand(clauses.thread_limit).unwrap_or_else(|| {
        let (f, fty) = abi::runtime_fn(module, "omp_get_max_threads");
        b.call(fty, f, &[], "omp.thread.limit")
    });
    let (f, fty) = abi::runtime_fn(module, "__kmpc_push_num_teams");
    b.call(fty, f, &[ident, gtid, teams, limit], "");
    gtid
}

/// if(c): replaces `call` by a fork when c is true, otherwise the region runs on this
/// thread alone (serialized: thread 0 of a team of one); both go on at `join`.
unsafe fn emit_fork_if(
    b: &Builder,
    fork: &Fork,
    call: Value,
    cond: Value,
    alloc_block: Block,
    join: Block,
) {
    let Fork {
        module,
        ident,
        gtid,
        task,
        args,
    } = *fork;
    let ctx = LLVMGetModuleContext(module);
    let i32t = LLVMInt32TypeInContext(ctx);
    let parent = ir::parent_function(ir::parent_block(call));
    let (fork_call, fork_ty) = abi::runtime_fn(module, "__kmpc_fork_call");
    // if(c): fork when c is true, otherwise run the region on this thread alone.
    let head = ir::parent_block(call);
    let fork_bb = LLVMAppendBasicBlockInContext(ctx, parent, ir::cstr("omp.fork").as_ptr());
    let serial_bb = LLVMAppendBasicBlockInContext(ctx, parent, ir::cstr("omp.serial").as_ptr());
    let is_true = if LLVMGetTypeKind(LLVMTypeOf(cond)) == LLVMTypeKind::LLVMIntegerTypeKind
        && LLVMGetIntTypeWidth(LLVMTypeOf(cond)) == 1
    {
        cond
    } else {
        LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntNE,
            cond,
            LLVMConstNull(LLVMTypeOf(cond)),
            ir::cstr("omp.if").as_ptr(),
        )
    };
    ir::erase(ir::terminator(head).expect("head ends in a branch"));
    ir::erase(call);
    b.at_end(head);
    b.cond_br(is_true, fork_bb, serial_bb);
    b.at_end(fork_bb);
    b.call(
        fork_ty,
        fork_call,
        &[ident, LLVMConstInt(i32t, 1, 0), task, args],
        "",
    );
    b.br(join);
    // serialized: the encountering thread is thread 0 of a team of one
    b.at_start(alloc_block);
    let gtid_slot = b.alloca(i32t, "omp.gtid.addr");
    let zero_slot = b.alloca(i32t, "omp.zero.addr");
    b.at_end(serial_bb);
    let (ser, ser_ty) = abi::runtime_fn(module, "__kmpc_serialized_parallel");
    let (end_ser, end_ser_ty) = abi::runtime_fn(module, "__kmpc_end_serialized_parallel");
    b.call(ser_ty, ser, &[ident, gtid], "");
    b.store(gtid, gtid_slot);
    b.store(LLVMConstInt(i32t, 0, 0), zero_slot);
    b.call(
        LLVMGlobalGetValueType(task),
        task,
        &[gtid_slot, zero_slot, args],
        "",
    );
    b.call(end_ser_ty, end_ser, &[ident, gtid], "");
    b.br(join);
}
