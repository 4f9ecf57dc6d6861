//! Constructs lowered in place inside a team's region: `barrier`, `master`, `masked`,
//! `single`, `critical`, `atomic` (the lock form), `flush`, `ordered`.
//!
//! ```text
//! barrier:          __kmpc_barrier; leave the region if a team mate stopped before it
//! master / masked:  if (__kmpc_master(..) / __kmpc_masked(.., filter)) { body; __kmpc_end_* }
//! single:           if (__kmpc_single(..)) { body; __kmpc_end_single }  then a barrier
//!                   (unless nowait) that every thread reaches
//! critical:         __kmpc_critical(.., lock); body; __kmpc_end_critical(.., lock)
//! ordered:          __kmpc_ordered(..); body; __kmpc_end_ordered(..)
//! ```
//! An exception in the body is held in a private status while the construct is finished
//! (the runtime must see `__kmpc_end_*`), then re-raised after it with a `ret`, which the
//! enclosing parallel region handles like any other.

use crate::abi;
use crate::calls::thread_id;
use crate::error::{PassError, PassResult};
use crate::ir::Block;
use crate::ir::{self, Builder, Value};
use crate::markers::{MarkedRegion, RefHelpers};
use crate::raise::{self, TeamErrors};
use crate::region::{self, Shape};
use crate::sharing;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;
use llvm_sys::LLVMOpcode;

use super::barrier::{emit_barrier, emit_orphan_barrier, leave_if_told};
use super::RegionReport;
use crate::locks::critical_lock;

pub fn lower_in_place(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
    team: Option<TeamErrors>,
    in_task: bool,
) -> PassResult<RegionReport> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let construct = r.payload.construct.as_str();
    let loc = &r.payload.loc;
    let ident = abi::ident(module, &loc.file, &ir::name_of(func), loc.line, loc.column);
    // The construct's own code goes in an entry block of its own: Numba may have put the
    // start of the body in the block the region begins with.
    let first = ir::instructions(shape.entry)[0];
    ir::split_before(first, "omp.body");
    let blocks = region::blocks(r, shape)?;
    let b = Builder::new(ctx);
    let i32t = unsafe { LLVMInt32TypeInContext(ctx) };
    b.at_start(shape.entry);
    // The thread's runtime id: taken once per team region (at its entry, which dominates
    // every construct inside), else here.
    let gtid = match &team {
        Some(errors) if !in_task => crate::calls::thread_id_at(errors.entry, module, ident),
        _ => thread_id(&b, module, ident),
    };
    let before_sharing = ir::instructions(shape.entry);
    let applied = sharing::apply(
        module,
        func,
        r,
        shape,
        &blocks,
        &[],
        sharing::Mode::Worksharing { last: None },
    )?;
    // What the data sharing made at the entry (private copies' first values: a new array,
    // a reference taken) only the thread that runs the body of a single, master or masked
    // may make: it alone releases them at the body's end.
    let sharing_code: Vec<Value> = ir::instructions(shape.entry)
        .into_iter()
        .filter(|i| !before_sharing.contains(i) && ir::opcode(*i) != LLVMOpcode::LLVMAlloca)
        .collect();

    // Exceptions in the body: hold the status, finish the construct, raise after it.
    let rets = region::returns(&blocks);
    let held = if rets.is_empty() {
        None
    } else {
        b.at_start(shape.entry);
        let slot = b.alloca(i32t, "omp.held.status");
        b.store(unsafe { LLVMConstInt(i32t, 0, 0) }, slot);
        // after the body's last statements (the last block may hold user code)
        let tail = ir::split_before(
            ir::terminator(shape.tail()).expect("tail ends in a branch"),
            "omp.construct.end",
        );
        for &ret in &rets {
            let code = ir::operands(ret)[0];
            b.before(ret);
            b.store(code, slot);
            b.br(tail);
            ir::erase(ret);
        }
        Some(slot)
    };

    // Who runs the body.
    let guard = match construct {
        "master" => Some(("__kmpc_master", "__kmpc_end_master", None)),
        "masked" => {
            let filter = r
                .payload
                .clauses
                .filter
                .and_then(|i| r.enter_operands.get(i))
                .copied();
            Some(("__kmpc_masked", "__kmpc_end_masked", Some(filter)))
        }
        "single" => Some(("__kmpc_single", "__kmpc_end_single", None)),
        "critical" => Some(("__kmpc_critical", "__kmpc_end_critical", None)),
        // every thread runs its iteration's block, in iteration order: a team's loop
        // takes pyomp's turns (see own_ordered), an orphaned one the turns team_frame.rs
        // keeps (pyomp's inside a pyomp region, libomp's outside: orphan_ordered)
        "ordered" if team.is_some() && r.payload.clauses.binds.is_some() => None,
        "ordered" if team.is_none() => None,
        "ordered" => Some(("__kmpc_ordered", "__kmpc_end_ordered", None)),
        // atomic: for now a critical section on a lock all atomics share (OpenMP asks only
        // that atomics on one location exclude each other); hardware atomics are to come.
        "atomic" => Some(("__kmpc_critical", "__kmpc_end_critical", None)),
        "flush" => {
            b.at_start(shape.entry);
            let (f, fty) = abi::runtime_fn(module, "__kmpc_flush");
            b.call(fty, f, &[ident], "");
            None
        }
        "taskwait" | "taskyield" => {
            b.at_start(shape.entry);
            b.before(ir::terminator(shape.entry).expect("entry ends in a branch"));
            let name = if construct == "taskwait" {
                "__kmpc_omp_taskwait"
            } else {
                "__kmpc_omp_taskyield"
            };
            let mut args = vec![ident, gtid];
            if construct == "taskyield" {
                args.push(unsafe { LLVMConstInt(i32t, 0, 0) });
            }
            match super::depend::dependences(&b, module, r, func)? {
                // taskwait depend(...): wait only for the tasks it depends on
                Some((n, list)) => unsafe {
                    let (f, fty) = abi::runtime_fn(module, "__kmpc_omp_wait_deps");
                    let none = LLVMConstNull(LLVMPointerTypeInContext(ctx, 0));
                    let zero = LLVMConstInt(i32t, 0, 0);
                    b.call(fty, f, &[ident, gtid, n, list, zero, none], "");
                },
                None => {
                    let (f, fty) = abi::runtime_fn(module, name);
                    b.call(fty, f, &args, "");
                }
            }
            None
        }
        // every thread runs its block; the end waits for the tasks created inside
        "taskgroup" => Some(("__kmpc_taskgroup", "__kmpc_end_taskgroup", None)),
        "barrier" => None,
        other => return Err(r.error(format!("the pass cannot lower '{other}' yet"))),
    };
    if let (Some(errors), Some(id), "ordered") = (&team, r.payload.clauses.binds, construct) {
        own_ordered(module, func, shape, &blocks, errors, id);
    }
    if let (None, "ordered") = (&team, construct) {
        orphan_ordered(module, shape, &blocks, ident, gtid);
    }
    let mut chosen_flag = None;
    if let Some((enter, leave, filter)) = guard {
        demote_body_values(shape, &blocks);
        let entry_branch = ir::terminator(shape.entry).expect("entry ends in a branch");
        let body = ir::successors(shape.entry)[0];
        if matches!(construct, "single" | "master" | "masked") {
            let first = ir::instructions(body)[0];
            for &inst in &sharing_code {
                ir::move_before(inst, first);
            }
        }
        b.before(entry_branch);
        let (f, fty) = abi::runtime_fn(module, enter);
        let lock = match construct {
            "critical" => Some(critical_lock(
                module,
                r.payload.clauses.name.as_deref().unwrap_or(""),
            )),
            "atomic" => Some(critical_lock(module, ".atomic")),
            _ => None,
        };
        let mut args = vec![ident, gtid];
        args.extend(lock);
        if let Some(filter) = filter {
            let v = match filter {
                Some(v) => unsafe {
                    LLVMBuildIntCast2(b.raw, v, i32t, 1, ir::cstr("omp.filter").as_ptr())
                },
                None => unsafe { LLVMConstInt(i32t, 0, 0) },
            };
            args.push(v);
        }
        let everyone = lock.is_some() || construct == "ordered" || construct == "taskgroup";
        let chosen = b.call(fty, f, &args, if everyone { "" } else { "omp.chosen" });
        chosen_flag = Some(chosen);
        // critical, ordered: every thread runs the block, one at a time
        let yes = unsafe {
            if everyone {
                LLVMConstInt(LLVMInt1TypeInContext(ctx), 1, 0)
            } else {
                let zero = LLVMConstInt(i32t, 0, 0);
                LLVMBuildICmp(
                    b.raw,
                    LLVMIntPredicate::LLVMIntNE,
                    chosen,
                    zero,
                    ir::cstr("omp.mine").as_ptr(),
                )
            }
        };
        if everyone {
            b.br(body);
        } else {
            b.cond_br(yes, body, shape.end);
        }
        ir::erase(entry_branch);
        b.before(ir::terminator(shape.tail()).expect("tail ends in a branch"));
        let (f, fty) = abi::runtime_fn(module, leave);
        let mut args = vec![ident, gtid];
        args.extend(lock);
        b.call(fty, f, &args, "");
    }
    let copies = !r.copyprivate.is_empty();
    match (held, copies) {
        // After the construct's end: if the body failed, `ret` its status (Numba stored the
        // exception info already); the enclosing region handles that `ret` like any other.
        (Some(slot), false) => raise::ret_if_failed(ctx, func, shape.tail(), shape.end, slot, None),
        // copyprivate: every thread, the one that raised included, takes part in the
        // broadcast (its barriers cannot be cancelled), then the failure is raised.
        (held, true) => {
            let chosen = chosen_flag.ok_or_else(|| r.error("copyprivate outside `single`"))?;
            let (last, after) =
                broadcast(module, func, r, shape, ident, gtid, chosen, team.as_ref())?;
            if let Some(slot) = held {
                raise::ret_if_failed(ctx, func, last, after, slot, None);
            }
        }
        (None, false) => {}
    }
    // The barrier every thread reaches: at the start of the block after the construct
    // (copyprivate's broadcast has barriers of its own).
    let needs_barrier =
        construct == "barrier" || (construct == "single" && !r.payload.clauses.nowait && !copies);
    if needs_barrier {
        let first = end_point(r, shape)?;
        b.before(first);
        if let Some(errors) = &team {
            emit_barrier(&b, module, ident, gtid, false);
            // split after the barrier so the check can branch away (every thread leaves
            // after the barrier where a stopped team mate met it; see raise.rs)
            ir::split_before(first, "omp.after.barrier");
            raise::branch_if_failed(ctx, shape.end, errors, errors.leave_path);
        } else {
            emit_orphan_barrier(module, func, ident, gtid, first, "__kmpc_barrier");
        }
    }
    Ok(RegionReport::in_place(
        r,
        func,
        applied.decisions,
        !rets.is_empty(),
    ))
}

/// The first instruction of the block after the construct, where every thread runs the
/// construct's end (its barrier, copyprivate's broadcast).
fn end_point(_r: &MarkedRegion, shape: &Shape) -> PassResult<Value> {
    ir::instructions(shape.end)
        .into_iter()
        .next()
        .ok_or_else(|| PassError::Internal {
            message: "empty block after a construct".into(),
        })
}

/// Values the body computes and code after the construct uses must not stay in registers:
/// the body may not run on this thread, or runs on a path that skips it.
fn demote_body_values(shape: &Shape, blocks: &[Block]) {
    let body: Vec<_> = blocks
        .iter()
        .copied()
        .filter(|&bb| bb != shape.entry)
        .collect();
    ir::demote_escaping(&body, shape.entry);
}

/// A team loop's `ordered` block on pyomp's turns (crate::runtime): wait for this
/// iteration's turn (or skip the block once the team failed), run the block, pass the
/// turn on and note it so the iteration's end does not pass it again.
fn own_ordered(
    module: LLVMModuleRef,
    func: Value,
    shape: &Shape,
    blocks: &[Block],
    team: &TeamErrors,
    loop_id: u64,
) {
    let _ = func;
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let (ticket, iter_slot, passed) = super::loop_markers::ordered_slots(ctx, team, loop_id);
    let state = super::loop_markers::loop_state(ctx, team, loop_id);
    let i64t = unsafe { LLVMInt64TypeInContext(ctx) };
    take_turns(
        module,
        shape,
        blocks,
        |b| {
            let iter = b.load(i64t, iter_slot, "omp.iter.v");
            let (f, fty) = abi::runtime_fn(module, "pyomp_ordered_wait");
            let args = [ticket, state, iter, team.status, team.cancelled];
            b.call(fty, f, &args, "omp.ordered.gave.up")
        },
        |b| {
            let iter = b.load(i64t, iter_slot, "omp.iter.v");
            let (f, fty) = abi::runtime_fn(module, "pyomp_ordered_pass");
            b.call(fty, f, &[ticket, state, iter], "");
            b.store(
                unsafe { LLVMConstInt(LLVMInt32TypeInContext(ctx), 1, 0) },
                passed,
            );
        },
    );
}

/// An orphaned loop's `ordered` block on the turns team_frame.rs keeps: wait for the
/// iteration's turn (or skip the block once a team mate stopped), run the block, pass the
/// turn on.
fn orphan_ordered(
    module: LLVMModuleRef,
    shape: &Shape,
    blocks: &[Block],
    ident: Value,
    gtid: Value,
) {
    take_turns(
        module,
        shape,
        blocks,
        |b| {
            let (ordered, _) = abi::runtime_fn(module, "__kmpc_ordered");
            let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_ordered_enter");
            b.call(fty, f, &[ordered, ident, gtid], "omp.ordered.gave.up")
        },
        |b| {
            let (end_ordered, _) = abi::runtime_fn(module, "__kmpc_end_ordered");
            let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_ordered_exit");
            b.call(fty, f, &[end_ordered, ident, gtid], "");
        },
    );
}

/// An `ordered` block between `wait` (an i32: nonzero to skip the block) at its start and
/// `pass` at its end.
fn take_turns(
    module: LLVMModuleRef,
    shape: &Shape,
    blocks: &[Block],
    wait: impl FnOnce(&Builder) -> Value,
    pass: impl FnOnce(&Builder),
) {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let b = Builder::new(ctx);
    demote_body_values(shape, blocks);
    let entry_branch = ir::terminator(shape.entry).expect("entry ends in a branch");
    let body = ir::successors(shape.entry)[0];
    b.before(entry_branch);
    let gave_up = wait(&b);
    let skip = unsafe {
        LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntNE,
            gave_up,
            LLVMConstInt(LLVMInt32TypeInContext(ctx), 0, 0),
            ir::cstr("omp.ordered.skip").as_ptr(),
        )
    };
    b.cond_br(skip, shape.end, body);
    ir::erase(entry_branch);
    b.before(ir::terminator(shape.tail()).expect("tail ends in a branch"));
    pass(&b);
}

/// `single copyprivate(x, ...)`: at the start of the block after the construct every thread
/// makes an array of pointers to its own variables; the chosen thread's goes to the others'
/// copy function between two barriers. In a team's region pyomp does that itself (the
/// chosen thread publishes its array in a team slot), so a team mate that stopped before
/// the construct (raise.rs) can meet the team at either barrier: each is followed by the
/// team's stop check. Orphaned, `__kmpc_copyprivate` does the same. Returns the block that
/// ends the broadcast (`br` to the next) and the block after it.
#[allow(clippy::too_many_arguments)]
fn broadcast(
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
        let i64t = LLVMInt64TypeInContext(ctx);
        b.at_start(shape.entry);
        let data = b.alloca(
            LLVMArrayType2(ptr, vars.len() as u64),
            "omp.copyprivate.data",
        );
        let first = end_point(r, shape)?;
        b.before(first);
        for (i, (alloca, _)) in vars.iter().enumerate() {
            let slot = element(&b, ptr, data, i);
            b.store(*alloca, slot);
        }
        let copy = copy_function(module, r.payload.id, &vars);
        let Some(team) = team else {
            // orphaned: through crate::team_frame, which counts its barriers on the team of
            // the caller's region (and leaves the function when that team stopped)
            let size = LLVMConstInt(i64t, 8 * vars.len() as u64, 0);
            let (barrier, _) = abi::runtime_fn(module, "__kmpc_barrier");
            let (copyprivate, _) = abi::runtime_fn(module, "__kmpc_copyprivate");
            let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_copyprivate");
            let args = [barrier, copyprivate, ident, gtid, size, data, copy, chosen];
            let told = b.call(fty, f, &args, "omp.orphan.leave");
            let after = leave_if_told(module, func, told);
            let first = ir::instructions(after)[0];
            let rest = ir::split_before(first, "omp.after.copyprivate");
            return Ok((after, rest));
        };
        let i32t = LLVMInt32TypeInContext(ctx);
        let slot = team.shared_slot(ctx, ptr, &format!("copyprivate.{}", r.payload.id));
        let rest = ir::split_before(first, "omp.after.copyprivate");
        let new_block =
            |name: &str| LLVMAppendBasicBlockInContext(ctx, func, ir::cstr(name).as_ptr());
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
            chosen,
            LLVMConstInt(i32t, 0, 0),
            ir::cstr("omp.cp.mine").as_ptr(),
        );
        b.cond_br(mine, publish, wait1);
        ir::erase(term);
        b.at_end(publish);
        b.store(data, slot);
        b.br(wait1);
        b.at_end(wait1);
        emit_barrier(&b, module, ident, gtid, false);
        b.br(check);
        raise::branch_if_failed(ctx, wait1, team, team.leave_path);
        b.at_end(check);
        b.cond_br(mine, wait2, take);
        b.at_end(take);
        let from = b.load(ptr, slot, "omp.cp.src");
        let mut params = [ptr, ptr];
        let copy_ty = LLVMFunctionType(LLVMVoidTypeInContext(ctx), params.as_mut_ptr(), 2, 0);
        b.call(copy_ty, copy, &[data, from], "");
        b.br(wait2);
        b.at_end(wait2);
        emit_barrier(&b, module, ident, gtid, false);
        b.br(done);
        raise::branch_if_failed(ctx, wait2, team, team.leave_path);
        b.at_end(done);
        b.br(rest);
        Ok((done, rest))
    }
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
