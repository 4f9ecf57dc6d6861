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
//! target (data):    body; icv = pyomp_target_end(record); [target: omp_set_default_device(icv)]
//! ```
//! (a target construct runs in place on the encountering thread: the front end mapped its
//! data before it and rebound its arrays to their device copies; crate::device)
//! An exception in the body is held in a private status while the construct is finished
//! (the runtime must see `__kmpc_end_*`), then re-raised after it with a `ret`, which the
//! enclosing parallel region handles like any other.

mod body;
mod copyprivate;
mod ordered;

use crate::abi;
use crate::calls::thread_id;
use crate::error::PassResult;
use crate::ir::{self, Block, Builder, Value};
use crate::locks::critical_lock;
use crate::markers::MarkedRegion;
use crate::raise::{self, TeamErrors};
use crate::region::{self, Shape};
use crate::sharing;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;
use llvm_sys::LLVMOpcode;

use super::barrier::{emit_barrier, emit_orphan_barrier};
use super::RegionReport;

/// Where a construct's runtime calls go: its ident and the thread's id.
struct Site {
    module: LLVMModuleRef,
    func: Value,
    ident: Value,
    gtid: Value,
}

/// Who runs a construct's body: `enter` (with a lock for critical and atomic, a filter for
/// masked) before it, `leave` after it.
struct Guard {
    enter: &'static str,
    leave: &'static str,
    /// masked: the filter clause's operand, if any (thread 0 without one).
    filter: Option<Option<Value>>,
}

const NO_CALL: &str = "";

/// Lowers sync construct region `r` in place; `team` is the enclosing parallel region's
/// failure record (None for an orphaned construct), `in_task` whether it lies in a task.
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
    b.at_start(shape.entry);
    // The thread's runtime id: taken once per team region (at its entry, which dominates
    // every construct inside), else here.
    let gtid = match &team {
        Some(errors) if !in_task => crate::calls::thread_id_at(errors.entry, module, ident),
        _ => thread_id(&b, module, ident),
    };
    let site = Site {
        module,
        func,
        ident,
        gtid,
    };
    let (applied, sharing_code) = apply_sharing(&site, r, shape, &blocks)?;
    let rets = region::returns(&blocks);
    let held = hold_exceptions(ctx, &b, shape, &rets);
    let guard = guard_of(&b, &site, r, shape, team.is_some())?;
    if let (Some(errors), Some(id), "ordered") = (&team, r.payload.clauses.binds, construct) {
        ordered::own_ordered(module, func, shape, &blocks, (errors, ident), id);
    }
    if let (None, "ordered") = (&team, construct) {
        ordered::orphan_ordered(module, shape, &blocks, ident, gtid);
    }
    let chosen_flag = guard.map(|g| emit_guard(&b, &site, r, shape, &blocks, &sharing_code, g));
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
                copyprivate::broadcast(module, func, r, shape, ident, gtid, chosen, team.as_ref())?;
            if let Some(slot) = held {
                raise::ret_if_failed(ctx, func, last, after, slot, None);
            }
        }
        (None, false) => {}
    }
    // The barrier every thread reaches (copyprivate's broadcast has barriers of its own).
    let needs_barrier =
        construct == "barrier" || (construct == "single" && !r.payload.clauses.nowait && !copies);
    if needs_barrier {
        emit_end_barrier(&b, &site, shape, team.as_ref())?;
    }
    let can_raise = !rets.is_empty();
    Ok(RegionReport::in_place(
        r,
        func,
        applied.decisions,
        can_raise,
    ))
}

/// The construct's data sharing; returns what sharing/ decided, and what it made at the
/// entry (private copies' first values: a new array, a reference taken) that only the
/// thread that runs the body of a single, master or masked may make: it alone releases
/// them at the body's end (see emit_guard).
fn apply_sharing(
    site: &Site,
    r: &MarkedRegion,
    shape: &Shape,
    blocks: &[Block],
) -> PassResult<(sharing::Applied, Vec<Value>)> {
    let before_sharing = ir::instructions(shape.entry);
    let applied = sharing::apply(
        site.module,
        site.func,
        r,
        shape,
        blocks,
        &[],
        sharing::Mode::Worksharing { last: None },
    )?;
    let sharing_code: Vec<Value> = ir::instructions(shape.entry)
        .into_iter()
        .filter(|i| !before_sharing.contains(i) && ir::opcode(*i) != LLVMOpcode::LLVMAlloca)
        .collect();
    Ok((applied, sharing_code))
}

/// Exceptions in the body (`rets`): hold the status in a slot, finish the construct, raise
/// after it. Returns the slot, if the body can raise.
fn hold_exceptions(
    ctx: LLVMContextRef,
    b: &Builder,
    shape: &Shape,
    rets: &[Value],
) -> Option<Value> {
    if rets.is_empty() {
        return None;
    }
    let i32t = unsafe { LLVMInt32TypeInContext(ctx) };
    b.at_start(shape.entry);
    let slot = b.alloca(i32t, "omp.held.status");
    b.store(unsafe { LLVMConstInt(i32t, 0, 0) }, slot);
    // after the body's last statements (the last block may hold user code)
    let tail = ir::split_before(
        ir::terminator(shape.tail()).expect("tail ends in a branch"),
        "omp.construct.end",
    );
    for &ret in rets {
        let code = ir::operands(ret)[0];
        b.before(ret);
        b.store(code, slot);
        b.br(tail);
        ir::erase(ret);
    }
    Some(slot)
}

/// Who runs the body of construct `r` (None: every thread, unguarded). Constructs without
/// a body (flush, taskwait, taskyield) are emitted here, at the construct's entry.
fn guard_of(
    b: &Builder,
    site: &Site,
    r: &MarkedRegion,
    shape: &Shape,
    in_team: bool,
) -> PassResult<Option<Guard>> {
    let guard = |enter, leave| {
        Some(Guard {
            enter,
            leave,
            filter: None,
        })
    };
    let construct = r.payload.construct.as_str();
    Ok(match construct {
        "master" => guard("__kmpc_master", "__kmpc_end_master"),
        "masked" => {
            let filter = r
                .payload
                .clauses
                .filter
                .and_then(|i| r.enter_operands.get(i))
                .copied();
            Some(Guard {
                enter: "__kmpc_masked",
                leave: "__kmpc_end_masked",
                filter: Some(filter),
            })
        }
        "single" => guard("__kmpc_single", "__kmpc_end_single"),
        "critical" => guard("__kmpc_critical", "__kmpc_end_critical"),
        // every thread runs its iteration's block, in iteration order: a team's loop
        // takes pyomp's turns, an orphaned one the turns team_frame.rs keeps (ordered.rs)
        "ordered" if in_team && r.payload.clauses.binds.is_some() => None,
        "ordered" if !in_team => None,
        "ordered" => guard("__kmpc_ordered", "__kmpc_end_ordered"),
        // atomic: for now a critical section on a lock all atomics share (OpenMP asks only
        // that atomics on one location exclude each other); hardware atomics are to come.
        "atomic" => guard("__kmpc_critical", "__kmpc_end_critical"),
        "flush" => {
            b.at_start(shape.entry);
            let (f, fty) = abi::runtime_fn(site.module, "__kmpc_flush");
            b.call(fty, f, &[site.ident], "");
            None
        }
        "taskwait" | "taskyield" => {
            emit_task_wait(b, site, r, shape)?;
            None
        }
        // every thread runs its block; the end waits for the tasks created inside
        "taskgroup" => guard("__kmpc_taskgroup", "__kmpc_end_taskgroup"),
        "barrier" => None,
        // every encountering thread runs its own; the end undoes the device mappings
        "target" | "target data" => guard(NO_CALL, "pyomp_target_end"),
        other => return Err(r.error(format!("the pass cannot lower '{other}' yet"))),
    })
}

/// `taskwait` (with `depend`: only for the tasks it depends on) or `taskyield`, at the end
/// of the construct's entry.
fn emit_task_wait(b: &Builder, site: &Site, r: &MarkedRegion, shape: &Shape) -> PassResult<()> {
    let (module, ident, gtid) = (site.module, site.ident, site.gtid);
    let construct = r.payload.construct.as_str();
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let i32t = unsafe { LLVMInt32TypeInContext(ctx) };
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
    match super::depend::dependences(b, module, r, site.func)? {
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
    Ok(())
}

/// The guard around the body: `enter` at the construct's entry, the body run by the
/// thread it chooses (critical, ordered, atomic, taskgroup: by every thread, one at a
/// time or grouped), `leave` at the body's end. Returns `enter`'s result (single: whether
/// this thread was chosen, for copyprivate).
fn emit_guard(
    b: &Builder,
    site: &Site,
    r: &MarkedRegion,
    shape: &Shape,
    blocks: &[Block],
    sharing_code: &[Value],
    guard: Guard,
) -> Value {
    let (module, ident, gtid) = (site.module, site.ident, site.gtid);
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let i32t = unsafe { LLVMInt32TypeInContext(ctx) };
    let construct = r.payload.construct.as_str();
    body::demote_body_values(shape, blocks);
    let entry_branch = ir::terminator(shape.entry).expect("entry ends in a branch");
    let body = ir::successors(shape.entry)[0];
    // The private copies' first values are made by the thread that runs the body (it alone
    // releases them at the body's end).
    if matches!(construct, "single" | "master" | "masked") {
        let first = ir::instructions(body)[0];
        for &inst in sharing_code {
            ir::move_before(inst, first);
        }
    }
    b.before(entry_branch);
    if guard.enter == NO_CALL {
        b.br(body);
        ir::erase(entry_branch);
        end_target(b, site, r, shape);
        return unsafe { LLVMConstInt(i32t, 1, 0) };
    }
    let (f, fty) = abi::runtime_fn(module, guard.enter);
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
    if let Some(filter) = guard.filter {
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
    // critical, ordered: every thread runs the block, one at a time
    if everyone {
        b.br(body);
    } else {
        let yes = unsafe {
            let zero = LLVMConstInt(i32t, 0, 0);
            LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntNE,
                chosen,
                zero,
                ir::cstr("omp.mine").as_ptr(),
            )
        };
        b.cond_br(yes, body, shape.end);
    }
    ir::erase(entry_branch);
    b.before(ir::terminator(shape.tail()).expect("tail ends in a branch"));
    let (f, fty) = abi::runtime_fn(module, guard.leave);
    let mut args = vec![ident, gtid];
    args.extend(lock);
    b.call(fty, f, &args, "");
    chosen
}

/// A target construct's end: its device record ends (copies back, frees), and a target
/// region gives the thread back the default-device ICV it had before.
fn end_target(b: &Builder, site: &Site, r: &MarkedRegion, shape: &Shape) {
    let record = r
        .payload
        .clauses
        .record
        .and_then(|i| r.enter_operands.get(i))
        .copied();
    let Some(record) = record else {
        return; // the front end gives every target construct a record
    };
    b.before(ir::terminator(shape.tail()).expect("tail ends in a branch"));
    let (f, fty) = abi::runtime_fn(site.module, "pyomp_target_end");
    let icv = b.call(fty, f, &[record], "omp.target.icv");
    if r.payload.construct == "target" {
        let (f, fty) = abi::runtime_fn(site.module, "omp_set_default_device");
        b.call(fty, f, &[icv], "");
    }
}

/// The barrier every thread reaches, at the start of the block after the construct; in a
/// team's region, every thread leaves after it if a team mate stopped before it.
fn emit_end_barrier(
    b: &Builder,
    site: &Site,
    shape: &Shape,
    team: Option<&TeamErrors>,
) -> PassResult<()> {
    let (module, ident, gtid) = (site.module, site.ident, site.gtid);
    let first = body::end_point(shape)?;
    b.before(first);
    if let Some(errors) = team {
        emit_barrier(b, module, ident, gtid, false);
        // split after the barrier so the check can branch away (every thread leaves
        // after the barrier where a stopped team mate met it; see raise/)
        ir::split_before(first, "omp.after.barrier");
        let ctx = unsafe { LLVMGetModuleContext(module) };
        raise::branch_if_failed(ctx, shape.end, errors, errors.leave_path);
    } else {
        emit_orphan_barrier(module, site.func, ident, gtid, first, "__kmpc_barrier");
    }
    Ok(())
}
