//! Worksharing loops (`for`, and the loop half of `parallel for`), lowered in place inside
//! the team's region.
//!
//! The front end rewrote the loop into a chunk loop over iteration numbers 0..n with three
//! markers (numba_ext/pyomp/loops.py); here they become runtime calls:
//!
//! ```text
//! pyomp.loop.init(id, n)  static:  __kmpc_for_static_init_8(.., sched, &last, &lb, &ub, &st, 1, chunk)
//!                         other:   __kmpc_dispatch_init_8(.., sched, 0, n - 1, 1, chunk)
//! pyomp.loop.next(id)     static:  this thread's block once / its chunks lb += st, ub += st
//!                         other:   __kmpc_dispatch_next_8(.., &last, &lb, &ub, &st)
//!                         -> { more, lo, hi }  (hi exclusive, both known >= 0)
//! pyomp.loop.fini(id)     static:  __kmpc_for_static_fini
//!                         other:   __kmpc_dispatch_deinit
//! ordered loops (always dispatched, schedule + 32):
//! pyomp.loop.iteration_end(id)     __kmpc_dispatch_fini_8 (the iteration's ordered turn
//!                                  passes on if its `ordered` block did not pass it)
//! pyomp.loop.skip(id)              whether the thread raised: then it runs no more bodies
//!                                  but still ends each of its iterations
//! end of the construct:   reductions combined, lastprivate copied out by the thread with
//!                         `last` set, then __kmpc_barrier unless nowait; after the barrier
//!                         every thread leaves the region if one of them raised.
//! ```
//! Zero-trip loops (n <= 0) are passed to the runtime as lb = 0, ub = -1, which libomp
//! hands out as no chunk at all.

use crate::abi;
use crate::calls::thread_id;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Builder, Value};
use crate::markers::{MarkedRegion, Schedule};
use crate::raise::{self, TeamErrors};
use crate::region::{self, Shape};
use crate::sharing;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;

use super::barrier::{emit_barrier, emit_orphan_barrier};
use super::loop_markers::{
    is_integer, loop_state, marker_calls, ordered_slots, trip_count, FINI, INIT, ITERATION_END,
    NEXT, SKIP,
};
use super::RegionReport;

// libomp's sched_type values.
const STATIC_CHUNKED: u64 = 33;
const STATIC: u64 = 34;
const DYNAMIC_CHUNKED: u64 = 35;
const GUIDED_CHUNKED: u64 = 36;
const RUNTIME: u64 = 37;
const AUTO: u64 = 38;
/// Added to a schedule type for a loop with the `ordered` clause (kmp_ord_*).
const ORDERED: u64 = 32;
const MONOTONIC: u64 = 1 << 29;
const NONMONOTONIC: u64 = 1 << 30;

/// (schedule type for the runtime, is it a static schedule handled by static_init).
/// An ordered loop is dispatched whatever its schedule: the runtime tracks each thread's
/// iterations to hand out the ordered turns.
fn sched_type(schedule: Option<&Schedule>, ordered: bool) -> Result<(u64, bool), String> {
    let (sched, is_static) = plain_sched_type(schedule)?;
    if ordered {
        return Ok(((sched & !NONMONOTONIC) + ORDERED, false));
    }
    Ok((sched, is_static))
}

fn plain_sched_type(schedule: Option<&Schedule>) -> Result<(u64, bool), String> {
    let Some(s) = schedule else {
        return Ok((STATIC, true));
    };
    let modifiers = s.modifiers.iter().fold(0, |m, x| match x.as_str() {
        "monotonic" => m | MONOTONIC,
        "nonmonotonic" => m | NONMONOTONIC,
        _ => m,
    });
    // Without a modifier the runtime's default (monotonic) applies. (With libomp's
    // nonmonotonic work stealing, lastprivate tests saw the wrong thread flagged as running
    // the last chunk; see lower_for.)
    Ok(match (s.kind.as_str(), s.chunk.is_some()) {
        ("static", false) => (STATIC, true),
        ("static", true) => (STATIC_CHUNKED, true),
        ("dynamic", _) => (DYNAMIC_CHUNKED | modifiers, false),
        ("guided", _) => (GUIDED_CHUNKED | modifiers, false),
        ("runtime", _) => (RUNTIME | modifiers, false),
        ("auto", _) => (AUTO | modifiers, false),
        (other, _) => return Err(format!("unknown schedule kind '{other}'")),
    })
}

/// The loop's per-thread state, allocated at the start of the construct.
struct State {
    lb: Value,
    ub: Value,
    stride: Value,
    last: Value,
    /// The flag the runtime writes on each dispatch_next; `last` keeps it once set (a later
    /// call that finds no more work may write 0 again).
    last_chunk: Value,
    started: Value,
    /// i32, ordered loops: set once the thread raised; it then skips the bodies of its
    /// remaining iterations but still passes their ordered turns on.
    skip: Value,
}

/// A barrier at the end of the construct's entry block, after every thread has read the
/// starts of its private copies (a linear variable's start, a firstprivate and lastprivate
/// variable's first value), before the thread of the last iteration may write the original
/// back at the end. Counted like the team's other barriers (raise.rs, team_frame.rs).
fn barrier_after_starts(
    module: LLVMModuleRef,
    func: Value,
    shape: &Shape,
    team: Option<&TeamErrors>,
    ident: Value,
    gtid: Value,
) {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let term = ir::terminator(shape.entry).expect("entry ends in a branch");
    let after = ir::split_before(term, "omp.after.starts");
    let branch = ir::terminator(shape.entry).expect("split leaves a branch");
    match team {
        Some(errors) => {
            let b = Builder::new(ctx);
            b.before(branch);
            emit_barrier(&b, module, ident, gtid, false);
            raise::branch_if_failed(ctx, shape.entry, errors, errors.leave_path);
        }
        None => {
            let first = ir::instructions(after)[0];
            emit_orphan_barrier(module, func, ident, gtid, first, "__kmpc_barrier");
        }
    }
}

/// Lowers worksharing loop region `r`; `team` is the enclosing parallel region's failure
/// record and shape (None for an orphaned loop).
pub fn lower_for(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
    team: Option<TeamErrors>,
    has_tasks: bool,
) -> PassResult<RegionReport> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let loc = &r.payload.loc;
    let ident = abi::ident(module, &loc.file, &ir::name_of(func), loc.line, loc.column);
    let ordered = r.payload.clauses.ordered;
    let cancellable = r.payload.clauses.cancellable;
    let (sched, is_static) =
        sched_type(r.payload.clauses.schedule.as_ref(), ordered).map_err(|m| r.error(m))?;
    // A cancellable loop is dispatched (static schedules too: dispatch_init takes them), so
    // a cancelled thread can drain its share (see emit_next).
    let is_static = is_static && !cancellable;
    // Monotonic is a valid way to run a nonmonotonic schedule; lastprivate needs it (see
    // sched_type).
    let has_lastprivate = r
        .payload
        .vars
        .iter()
        .any(|v| v.sharing == crate::markers::Sharing::Lastprivate);
    let sched = if has_lastprivate {
        sched & !NONMONOTONIC
    } else {
        sched
    };
    let blocks = region::blocks(r, shape)?;
    let b = Builder::new(ctx);
    let (i32t, i64t) = unsafe { (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx)) };
    b.at_start(shape.entry);
    let state = State {
        lb: b.alloca(i64t, "omp.lb"),
        ub: b.alloca(i64t, "omp.ub"),
        stride: b.alloca(i64t, "omp.stride"),
        last: b.alloca(i32t, "omp.last.flag"),
        last_chunk: b.alloca(i32t, "omp.last.chunk"),
        started: b.alloca(i32t, "omp.started"),
        skip: b.alloca(i32t, "omp.skip"),
    };
    // The thread's runtime id, once per team region (its entry dominates the loop, even
    // when the loop sits in a loop of the region), else at the construct's start; either
    // dominates every use, including exception paths that leave before the loop starts.
    let gtid = match &team {
        Some(errors) => crate::calls::thread_id_at(errors.entry, module, ident),
        None => thread_id(&b, module, ident),
    };
    // Tasks created in the loop may write to the thread's private copies (a reduction's,
    // through in_reduction): each thread's loop is a taskgroup, ended before the copies
    // are combined and released (this keeps `nowait`: it waits only for its own tasks).
    if has_tasks {
        let (f, fty) = abi::runtime_fn(module, "__kmpc_taskgroup");
        b.call(fty, f, &[ident, gtid], "");
    }
    let id = r.payload.id;
    let inits = marker_calls(&blocks, INIT, id);
    let [init] = inits[..] else {
        return Err(PassError::Internal {
            message: format!("loop region {id} has {} init markers", inits.len()),
        });
    };
    let n = trip_count(init, id)?;
    let chunk = r
        .payload
        .clauses
        .schedule
        .as_ref()
        .and_then(|s| s.chunk)
        .map(|i| r.enter_operands[i]);
    let cancel_flag = cancellable.then(|| match &team {
        Some(errors) => errors.loop_cancelled,
        None => orphan_cancel_flag(func, id),
    });
    // Dispatched loops of a team use pyomp's dispatcher (crate::runtime), whose state
    // lives in the team's region; orphaned and ordered loops keep libomp's.
    let own = match (&team, is_static) {
        (Some(errors), false) => Some(OwnDispatch::create(ctx, errors, id)),
        _ => None,
    };
    b.before(init);
    let team_ids = team
        .as_ref()
        .map(|errors| sharing::team_ids_at(errors.entry, module));
    // An orphaned dynamic/guided loop goes through crate::team_frame, which runs it on
    // pyomp's dispatcher inside a pyomp region (libomp's otherwise).
    let wrapped = team.is_none() && !is_static;
    let codegen = LoopCodegen {
        wrapped,
        team_ids,
        own: own.as_ref(),
        cancel_flag,
        b: &b,
        module,
        ctx,
        ident,
        gtid,
        s: &state,
        sched,
        is_static,
        n,
    };
    emit_init(&codegen, chunk);
    ir::erase(init);
    for next in marker_calls(&blocks, NEXT, id) {
        b.before(next);
        let value = emit_next(&codegen, next);
        unsafe { LLVMReplaceAllUsesWith(next, value) };
        ir::erase(next);
    }
    let mut body_start = None;
    for skip in marker_calls(&blocks, SKIP, id) {
        body_start = Some(ir::parent_block(skip));
        b.before(skip);
        // pyomp's ordered turns: the iteration number its `ordered` block waits for, kept
        // in the team's region (a team's loop) or in its frame (an orphaned ordered loop)
        match (&team, own.is_some()) {
            (Some(errors), true) => {
                let (_, iter_slot, passed) = ordered_slots(ctx, errors, id);
                b.store(iteration_number(&b, ctx, skip, id)?, iter_slot);
                b.store(unsafe { LLVMConstInt(i32t, 0, 0) }, passed);
            }
            (None, _) if ordered => {
                let iter = iteration_number(&b, ctx, skip, id)?;
                let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_iteration");
                b.call(fty, f, &[iter], "");
            }
            _ => {}
        }
        let flag = b.load(i32t, state.skip, "omp.skip.v");
        let yes = unsafe {
            LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntNE,
                flag,
                LLVMConstInt(i32t, 0, 0),
                ir::cstr("omp.skip.body").as_ptr(),
            )
        };
        unsafe { LLVMReplaceAllUsesWith(skip, yes) };
        ir::erase(skip);
    }
    // Where a thread of an ordered loop goes after raising: the end of its iteration.
    let mut iteration_end = None;
    for end in marker_calls(&blocks, ITERATION_END, id) {
        iteration_end = Some(ir::parent_block(end));
        b.before(end);
        match (&team, &own) {
            (Some(errors), Some(own)) => {
                let (ticket, iter_slot, passed) = ordered_slots(ctx, errors, id);
                let iter = b.load(i64t, iter_slot, "omp.iter.v");
                let (f, fty) = abi::runtime_fn(module, "pyomp_ordered_end");
                let args = [
                    ticket,
                    own.state,
                    iter,
                    passed,
                    errors.status,
                    errors.cancelled,
                ];
                b.call(fty, f, &args, "");
            }
            _ => {
                let (f, fty) = abi::runtime_fn(module, "__kmpc_dispatch_fini_8");
                if wrapped {
                    let (end, ety) = abi::runtime_fn(module, "pyomp_orphan_iteration_end");
                    b.call(ety, end, &[f, ident, gtid], "");
                } else {
                    b.call(fty, f, &[ident, gtid], "");
                }
            }
        }
        ir::erase(end);
    }
    for fini in marker_calls(&blocks, FINI, id) {
        if own.is_none() && !(is_static && team_ids.is_some()) {
            b.before(fini);
            let name = if is_static {
                "__kmpc_for_static_fini"
            } else {
                "__kmpc_dispatch_deinit"
            };
            let (f, fty) = abi::runtime_fn(module, name);
            if wrapped {
                let (wrapper, wty) = abi::runtime_fn(module, "pyomp_orphan_dispatch_fini");
                b.call(wty, wrapper, &[f, ident, gtid], "");
            } else {
                b.call(fty, f, &[ident, gtid], "");
            }
        }
        ir::erase(fini);
    }
    // The construct's end: a thread that raised inside the loop still comes here.
    // (a block of its own: the last block of the construct may hold user code)
    let first_tail = ir::split_before(
        ir::terminator(shape.tail()).expect("tail ends in a branch"),
        "omp.construct.end",
    );
    if has_tasks {
        b.before(ir::terminator(first_tail).expect("construct end ends in a branch"));
        let (f, fty) = abi::runtime_fn(module, "__kmpc_end_taskgroup");
        b.call(fty, f, &[ident, gtid], "");
    }
    let applied = sharing::apply(
        module,
        func,
        r,
        shape,
        &blocks,
        &[],
        sharing::Mode::Worksharing {
            last: Some(state.last),
        },
    )?;
    if r.payload.clauses.barrier_after_starts {
        barrier_after_starts(module, func, shape, team.as_ref(), ident, gtid);
    }
    let rets = region::returns(&blocks);
    let own_errors;
    let errors = match &team {
        Some(errors) => errors,
        None => {
            // An orphaned loop: the failure record lives in this function; only the thread
            // that raised leaves (others finish the construct normally).
            own_errors = TeamErrors::create(
                ctx,
                func,
                ir::blocks(func)[0],
                shape.pre(),
                shape.entry,
                &blocks,
                [shape.end; 3],
            )?;
            &own_errors
        }
    };
    // A thread that raised goes to the construct's end; in an ordered loop it first passes
    // the ordered turns of its remaining iterations on, so its team mates do not wait
    // forever for them.
    // (Only from an iteration's body: a raise before the loop starts, say in its bounds,
    // goes straight to the end.)
    let in_body = match (iteration_end, body_start) {
        (Some(end), Some(start)) if ordered => ir::reachable_without(start, end),
        _ => Vec::new(),
    };
    let (from_body, elsewhere): (Vec<Value>, Vec<Value>) = rets
        .iter()
        .partition(|&&ret| in_body.contains(&ir::parent_block(ret)));
    if let (false, Some(end)) = (from_body.is_empty(), iteration_end) {
        let skip_rest = unsafe {
            LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.ordered.skip").as_ptr())
        };
        b.at_end(skip_rest);
        b.store(unsafe { LLVMConstInt(i32t, 1, 0) }, state.skip);
        b.br(end);
        raise::redirect_returns(ctx, func, &from_body, errors, skip_rest, team.is_some())?;
    }
    raise::redirect_returns(ctx, func, &elsewhere, errors, first_tail, team.is_some())?;
    let mut last_tail = shape.tail();
    let cancellable = r.payload.clauses.cancellable;
    if !r.payload.clauses.nowait {
        // `gtid` (computed at the construct's start) dominates the whole construct. A
        // team's loop ends at a plain barrier (a team mate that stopped elsewhere meets the
        // team here, see raise.rs; `cancel for` is pyomp's flag); an orphaned loop at a
        // barrier counted on the caller's team (team_frame.rs), or, cancellable, at a
        // cancellation barrier, which ends libomp's cancellation of the loop.
        let end = ir::terminator(last_tail).expect("tail ends in a branch");
        b.before(end);
        if team.is_none() {
            let barrier = if cancellable {
                "__kmpc_cancel_barrier"
            } else {
                "__kmpc_barrier"
            };
            last_tail = emit_orphan_barrier(module, func, ident, gtid, end, barrier);
            b.before(end);
        } else {
            emit_barrier(&b, module, ident, gtid, false);
        }
        if let Some(flag) = cancel_flag {
            b.store(unsafe { LLVMConstInt(i32t, 0, 0) }, flag);
        }
    }
    let can_raise = !rets.is_empty();
    match &team {
        // After the barrier all threads agree whether a thread stopped before it (raised
        // in the loop or elsewhere): leave together.
        Some(errors) if !r.payload.clauses.nowait => {
            raise::branch_if_failed(ctx, last_tail, errors, errors.leave_path)
        }
        // without a barrier: a thread that raised in the loop goes to the region's end
        // (it meets its team there; it must not run more of the region)
        Some(errors) if can_raise => {
            let b = Builder::new(ctx);
            let branch = ir::terminator(last_tail).expect("tail ends in a branch");
            b.before(branch);
            let flag = b.load(i32t, errors.stopped_self(ctx), "omp.stopped.self.v");
            let stopped = unsafe {
                LLVMBuildICmp(
                    b.raw,
                    LLVMIntPredicate::LLVMIntNE,
                    flag,
                    LLVMConstInt(i32t, 0, 0),
                    ir::cstr("omp.raised").as_ptr(),
                )
            };
            b.cond_br(stopped, errors.end_code, shape.end);
            ir::erase(branch);
        }
        Some(_) => {}
        None if can_raise => raise::reraise_after(ctx, func, last_tail, shape.end, errors, None)?,
        None => {}
    }
    Ok(RegionReport::in_place(
        r,
        func,
        applied.decisions,
        can_raise,
    ))
}

fn to_i64(b: &Builder, ctx: LLVMContextRef, v: Value) -> Value {
    unsafe {
        let i64t = LLVMInt64TypeInContext(ctx);
        let width = LLVMGetIntTypeWidth(LLVMTypeOf(v));
        let n = ir::cstr("omp.i64");
        match width.cmp(&64) {
            std::cmp::Ordering::Less => LLVMBuildSExt(b.raw, v, i64t, n.as_ptr()),
            std::cmp::Ordering::Greater => LLVMBuildTrunc(b.raw, v, i64t, n.as_ptr()),
            std::cmp::Ordering::Equal => v,
        }
    }
}

/// The iteration number (i64) a skip marker `pyomp.loop.skip(id, lo, k)` stands at: its
/// chunk's start plus its place in the chunk.
fn iteration_number(b: &Builder, ctx: LLVMContextRef, skip: Value, id: u64) -> PassResult<Value> {
    let args = ir::call_args(skip);
    let [_, lo, k] = args[..] else {
        return Err(PassError::Internal {
            message: format!("loop {id}: the skip marker takes (id, lo, k)"),
        });
    };
    if !is_integer(lo) || !is_integer(k) {
        return Err(PassError::Internal {
            message: format!("loop {id}: the skip marker's lo and k are integers"),
        });
    }
    let (lo, k) = (to_i64(b, ctx, lo), to_i64(b, ctx, k));
    Ok(unsafe { LLVMBuildAdd(b.raw, lo, k, ir::cstr("omp.iter.v").as_ptr()) })
}

/// The state of a loop run by pyomp's dispatcher (see crate::runtime).
struct OwnDispatch {
    /// i64 shared by the team: iterations handed out so far.
    next: Value,
    /// The thread's LoopState ({i64 x 4}), zeroed when it enters the region.
    state: Value,
    /// (kind, chunk, tid, nth) for pyomp_loop_next, computed at the loop's start.
    args: std::cell::Cell<Option<[Value; 4]>>,
    /// i32 slots omp_get_schedule writes (schedule(runtime)).
    sched_slots: [Value; 2],
}

impl OwnDispatch {
    fn create(ctx: LLVMContextRef, team: &TeamErrors, id: u64) -> Self {
        unsafe {
            let i64t = LLVMInt64TypeInContext(ctx);
            let next = team.shared_slot(ctx, i64t, &format!("next.{id}"));
            let state = loop_state(ctx, team, id);
            let b = Builder::new(ctx);
            b.at_start(team.entry);
            let i32t = LLVMInt32TypeInContext(ctx);
            let sched_slots = [
                b.alloca(i32t, "omp.sched.kind"),
                b.alloca(i32t, "omp.sched.chunk"),
            ];
            OwnDispatch {
                next,
                state,
                args: std::cell::Cell::new(None),
                sched_slots,
            }
        }
    }

    /// pyomp_loop_start, and the schedule's arguments (a runtime schedule is read here).
    unsafe fn emit_start(&self, g: &LoopCodegen, n: Value, chunk: Value) {
        let (b, module, ctx) = (g.b, g.module, g.ctx);
        let i32t = LLVMInt32TypeInContext(ctx);
        let i64t = LLVMInt64TypeInContext(ctx);
        let (f, fty) = abi::runtime_fn(module, "pyomp_loop_start");
        b.call(fty, f, &[self.state, n], "");
        let c32 = |v: u64| LLVMConstInt(i32t, v, 0);
        // (an ordered loop's kmp_ord_* schedule is the plain one + ORDERED)
        let base = match g.sched & 0xff {
            s if s > ORDERED * 2 => s - ORDERED,
            s => s,
        };
        let (kind, chunk) = match base {
            DYNAMIC_CHUNKED => (c32(crate::runtime::DYNAMIC as u64), chunk),
            GUIDED_CHUNKED => (c32(crate::runtime::GUIDED as u64), chunk),
            RUNTIME => {
                let [kind_slot, chunk_slot] = self.sched_slots;
                let (f, fty) = abi::runtime_fn(module, "omp_get_schedule");
                b.call(fty, f, &[kind_slot, chunk_slot], "");
                let k = b.load(i32t, kind_slot, "omp.sched.kind.v");
                let k = LLVMBuildAnd(b.raw, k, c32(0x7fff_ffff), ir::cstr("omp.k").as_ptr());
                let k = LLVMBuildAdd(
                    b.raw,
                    k,
                    c32(crate::runtime::OMP_KIND as u64),
                    ir::cstr("omp.kind").as_ptr(),
                );
                let c = b.load(i32t, chunk_slot, "omp.sched.chunk.v");
                (k, LLVMBuildSExt(b.raw, c, i64t, ir::cstr("omp.c").as_ptr()))
            }
            STATIC_CHUNKED => (c32(crate::runtime::STATIC_CHUNKED as u64), chunk),
            // static, and auto: pyomp's choice is the static schedule
            _ => (c32(crate::runtime::STATIC as u64), chunk),
        };
        // (guided chunks are a share of what is left per thread: it needs the team size)
        let (tid, nth) = match (base, g.team_ids) {
            (DYNAMIC_CHUNKED, _) => (c32(0), c32(1)),
            (_, Some(ids)) => ids,
            _ => {
                let (f, fty) = abi::runtime_fn(module, "omp_get_thread_num");
                let tid = b.call(fty, f, &[], "omp.tid");
                let (f, fty) = abi::runtime_fn(module, "omp_get_num_threads");
                (tid, b.call(fty, f, &[], "omp.nth"))
            }
        };
        self.args.set(Some([kind, chunk, tid, nth]));
    }

    /// (more, lo, hi exclusive) from pyomp_loop_next; a cancelled loop is first exhausted.
    unsafe fn emit_next(&self, g: &LoopCodegen, n: Value, marker: Value) -> (Value, Value, Value) {
        let (b, module, ctx, s) = (g.b, g.module, g.ctx, g.s);
        let i32t = LLVMInt32TypeInContext(ctx);
        let i64t = LLVMInt64TypeInContext(ctx);
        if let Some(flag) = g.cancel_flag {
            let v = b.load(i32t, flag, "omp.loop.cancelled.v");
            let cancelled = LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntNE,
                v,
                LLVMConstInt(i32t, 0, 0),
                ir::cstr("omp.loop.is.cancelled").as_ptr(),
            );
            let head = ir::parent_block(v);
            let cont = ir::split_before(marker, "omp.dispatch.go");
            let func = ir::parent_function(head);
            let stop = LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.stop").as_ptr());
            ir::erase(ir::terminator(head).expect("split leaves a branch"));
            b.at_end(head);
            b.cond_br(cancelled, stop, cont);
            b.at_end(stop);
            let (f, fty) = abi::runtime_fn(module, "pyomp_loop_cancel");
            b.call(fty, f, &[self.next, self.state], "");
            b.br(cont);
            b.before(marker);
        }
        let [kind, chunk, tid, nth] = self.args.get().expect("the loop starts before it runs");
        let (f, fty) = abi::runtime_fn(module, "pyomp_loop_next");
        let got = b.call(
            fty,
            f,
            &[self.next, self.state, kind, chunk, tid, nth, s.lb, s.ub],
            "omp.dispatch",
        );
        let more = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntNE,
            got,
            LLVMConstInt(i32t, 0, 0),
            ir::cstr("omp.more").as_ptr(),
        );
        let lo = b.load(i64t, s.lb, "omp.lb.v");
        let hi = b.load(i64t, s.ub, "omp.hi");
        // lastprivate: the thread whose chunk ends the loop ran its last iteration
        let ends = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntEQ,
            hi,
            n,
            ir::cstr("omp.ends").as_ptr(),
        );
        let last_now = LLVMBuildAnd(b.raw, more, ends, ir::cstr("omp.last.now").as_ptr());
        let last_now = LLVMBuildZExt(b.raw, last_now, i32t, ir::cstr("omp.last.now.z").as_ptr());
        let so_far = b.load(i32t, s.last, "omp.last.v");
        let sticky = LLVMBuildOr(
            b.raw,
            so_far,
            last_now,
            ir::cstr("omp.last.sticky").as_ptr(),
        );
        b.store(sticky, s.last);
        (more, lo, hi)
    }
}

/// The cancellation flag of an orphaned loop (no team record to hold it): an i32 in the
/// function's entry, one per loop, made by whichever of the loop and its `cancel` is
/// lowered first.
pub fn orphan_cancel_flag(func: Value, id: u64) -> Value {
    let name = format!("omp.loop.cancelled.{id}");
    let entry = ir::blocks(func)[0];
    if let Some(found) = ir::instructions(entry)
        .into_iter()
        .find(|&i| ir::opcode(i) == llvm_sys::LLVMOpcode::LLVMAlloca && ir::name_of(i) == name)
    {
        return found;
    }
    unsafe {
        let ctx = LLVMGetTypeContext(LLVMTypeOf(func));
        let i32t = LLVMInt32TypeInContext(ctx);
        let b = Builder::new(ctx);
        b.at_start(entry);
        let flag = b.alloca(i32t, &name);
        b.store(LLVMConstInt(i32t, 0, 0), flag);
        flag
    }
}

/// What the init and next markers of one loop are lowered with.
struct LoopCodegen<'a> {
    /// An orphaned dispatched loop: libomp's dispatch calls go through team_frame.rs.
    wrapped: bool,
    /// pyomp's dispatcher, for a dispatched loop of a team.
    own: Option<&'a OwnDispatch>,
    /// (omp_get_thread_num, omp_get_num_threads) taken once per team region: a team's
    /// static loops compute their bounds themselves.
    team_ids: Option<(Value, Value)>,
    /// A cancellable loop's flag (set once the loop is cancelled).
    cancel_flag: Option<Value>,
    b: &'a Builder,
    module: LLVMModuleRef,
    ctx: LLVMContextRef,
    ident: Value,
    gtid: Value,
    s: &'a State,
    sched: u64,
    is_static: bool,
    /// The trip count (the init marker's operand).
    n: Value,
}

fn emit_init(g: &LoopCodegen, chunk: Option<Value>) {
    let LoopCodegen {
        b,
        module,
        ctx,
        ident,
        gtid,
        s,
        sched,
        is_static,
        n,
        ..
    } = *g;
    unsafe {
        let (i32t, i64t) = (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx));
        let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
        let n = to_i64(b, ctx, n);
        let ub = LLVMBuildSub(b.raw, n, c(1), ir::cstr("omp.n.minus1").as_ptr());
        b.store(c(0), s.lb);
        b.store(ub, s.ub);
        b.store(c(1), s.stride);
        b.store(LLVMConstInt(i32t, 0, 0), s.last_chunk);
        b.store(LLVMConstInt(i32t, 0, 0), s.last);
        b.store(LLVMConstInt(i32t, 0, 0), s.started);
        b.store(LLVMConstInt(i32t, 0, 0), s.skip);
        // A chunk below 1 means the default (1); OpenMP requires a positive chunk.
        let chunk = match chunk {
            Some(v) => {
                let v = to_i64(b, ctx, v);
                let small = LLVMBuildICmp(
                    b.raw,
                    LLVMIntPredicate::LLVMIntSLT,
                    v,
                    c(1),
                    ir::cstr("omp.chunk.small").as_ptr(),
                );
                LLVMBuildSelect(b.raw, small, c(1), v, ir::cstr("omp.chunk").as_ptr())
            }
            None => c(if is_static { 0 } else { 1 }),
        };
        if let Some(own) = g.own {
            own.emit_start(g, n, chunk);
            return;
        }
        if let (true, Some(ids)) = (is_static, g.team_ids) {
            static_bounds(g, ids, n, chunk);
            return;
        }
        let sched = LLVMConstInt(i32t, sched, 0);
        if is_static {
            let (f, fty) = abi::runtime_fn(module, "__kmpc_for_static_init_8");
            b.call(
                fty,
                f,
                &[
                    ident,
                    gtid,
                    sched,
                    s.last,
                    s.lb,
                    s.ub,
                    s.stride,
                    c(1),
                    chunk,
                ],
                "",
            );
        } else if g.wrapped {
            let (init, _) = abi::runtime_fn(module, "__kmpc_dispatch_init_8");
            let (nth_fn, nth_ty) = abi::runtime_fn(module, "omp_get_num_threads");
            let nth = b.call(nth_ty, nth_fn, &[], "omp.nth");
            let (tid_fn, tid_ty) = abi::runtime_fn(module, "omp_get_thread_num");
            let tid = b.call(tid_ty, tid_fn, &[], "omp.tid");
            let (get_schedule, _) = abi::runtime_fn(module, "omp_get_schedule");
            let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_dispatch_init");
            let args = [
                init,
                ident,
                gtid,
                sched,
                c(0),
                ub,
                c(1),
                chunk,
                tid,
                nth,
                get_schedule,
            ];
            b.call(fty, f, &args, "");
        } else {
            let (f, fty) = abi::runtime_fn(module, "__kmpc_dispatch_init_8");
            b.call(fty, f, &[ident, gtid, sched, c(0), ub, c(1), chunk], "");
        }
    }
}

/// A team's static schedule, computed here rather than by __kmpc_for_static_init (the same
/// assignment; libomp's call costs more than the arithmetic, and in a process that loaded
/// libquadmath, as NumPy does, its debug-string formatting costs more still):
/// unchunked: thread t of T gets the t-th of T contiguous blocks whose sizes differ by at
/// most one; chunked: chunks t, t+T, t+2T, ... (emit_next steps by T*c).
unsafe fn static_bounds(g: &LoopCodegen, (tid, nth): (Value, Value), n: Value, chunk: Value) {
    let (b, ctx, s) = (g.b, g.ctx, g.s);
    let (i32t, i64t) = (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx));
    let name = |x: &str| ir::cstr(x);
    let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
    let tid = LLVMBuildSExt(b.raw, tid, i64t, name("omp.tid64").as_ptr());
    let nth = LLVMBuildSExt(b.raw, nth, i64t, name("omp.nth64").as_ptr());
    let neg = LLVMBuildICmp(
        b.raw,
        LLVMIntPredicate::LLVMIntSLT,
        n,
        c(0),
        name("omp.neg").as_ptr(),
    );
    let nn = LLVMBuildSelect(b.raw, neg, c(0), n, name("omp.nn").as_ptr());
    let (lb, ub, last) = if g.sched == STATIC_CHUNKED {
        let lb = LLVMBuildMul(b.raw, tid, chunk, name("omp.lb0").as_ptr());
        let ub = LLVMBuildSub(
            b.raw,
            LLVMBuildAdd(b.raw, lb, chunk, name("omp.lbc").as_ptr()),
            c(1),
            name("omp.ub0").as_ptr(),
        );
        let stride = LLVMBuildMul(b.raw, nth, chunk, name("omp.st").as_ptr());
        b.store(stride, s.stride);
        // the thread of the chunk holding iteration n - 1
        let last_chunk = LLVMBuildSDiv(
            b.raw,
            LLVMBuildSub(b.raw, nn, c(1), name("omp.nm1").as_ptr()),
            chunk,
            name("omp.lastc").as_ptr(),
        );
        let owner = LLVMBuildSRem(b.raw, last_chunk, nth, name("omp.owner").as_ptr());
        let mine = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntEQ,
            owner,
            tid,
            name("omp.mine").as_ptr(),
        );
        let some = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntSGT,
            nn,
            c(0),
            name("omp.some").as_ptr(),
        );
        (
            lb,
            ub,
            LLVMBuildAnd(b.raw, mine, some, name("omp.islast").as_ptr()),
        )
    } else {
        let q = LLVMBuildSDiv(b.raw, nn, nth, name("omp.q").as_ptr());
        let r = LLVMBuildSRem(b.raw, nn, nth, name("omp.r").as_ptr());
        let below = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntSLT,
            tid,
            r,
            name("omp.below").as_ptr(),
        );
        let extra = LLVMBuildSelect(b.raw, below, tid, r, name("omp.extra").as_ptr());
        let lb = LLVMBuildAdd(
            b.raw,
            LLVMBuildMul(b.raw, tid, q, name("omp.tq").as_ptr()),
            extra,
            name("omp.lb0").as_ptr(),
        );
        let size = LLVMBuildAdd(
            b.raw,
            q,
            LLVMBuildZExt(b.raw, below, i64t, name("omp.one").as_ptr()),
            name("omp.size").as_ptr(),
        );
        let end = LLVMBuildAdd(b.raw, lb, size, name("omp.end").as_ptr());
        let ub = LLVMBuildSub(b.raw, end, c(1), name("omp.ub0").as_ptr());
        let some = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntSGT,
            size,
            c(0),
            name("omp.some").as_ptr(),
        );
        let at_end = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntEQ,
            end,
            nn,
            name("omp.atend").as_ptr(),
        );
        (
            lb,
            ub,
            LLVMBuildAnd(b.raw, some, at_end, name("omp.islast").as_ptr()),
        )
    };
    b.store(lb, s.lb);
    b.store(ub, s.ub);
    b.store(
        LLVMBuildZExt(b.raw, last, i32t, name("omp.islast32").as_ptr()),
        s.last,
    );
}

/// A cancelled loop's dispatch: when the flag is set and the runtime handed out a chunk,
/// take (and drop) chunks until the runtime has none left, so it sees this thread finish
/// the loop; the thread then runs no more iterations. Returns the new `more`.
fn drain_if_cancelled(
    g: &LoopCodegen,
    flag: Value,
    got: Value,
    more: Value,
    marker: Value,
) -> Value {
    let b = g.b;
    unsafe {
        let i32t = LLVMInt32TypeInContext(g.ctx);
        let name = |s: &str| ir::cstr(s);
        let v = b.load(i32t, flag, "omp.loop.cancelled.v");
        let cancelled = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntNE,
            v,
            LLVMConstInt(i32t, 0, 0),
            name("omp.loop.is.cancelled").as_ptr(),
        );
        let drain = LLVMBuildAnd(b.raw, more, cancelled, name("omp.drain").as_ptr());
        let go_on = LLVMBuildNot(b.raw, cancelled, name("omp.go.on").as_ptr());
        let more = LLVMBuildAnd(b.raw, more, go_on, name("omp.more.live").as_ptr());
        let head = ir::parent_block(got);
        let cont = ir::split_before(marker, "omp.dispatch.go");
        let func = ir::parent_function(head);
        let drain_bb = LLVMAppendBasicBlockInContext(g.ctx, func, name("omp.drain").as_ptr());
        ir::erase(ir::terminator(head).expect("split leaves a branch"));
        b.at_end(head);
        b.cond_br(drain, drain_bb, cont);
        b.at_end(drain_bb);
        let s = g.s;
        let again = if g.wrapped {
            let (next, _) = abi::runtime_fn(g.module, "__kmpc_dispatch_next_8");
            let (f, fty) = abi::runtime_fn(g.module, "pyomp_orphan_dispatch_next");
            let args = [next, g.ident, g.gtid, s.last_chunk, s.lb, s.ub, s.stride];
            b.call(fty, f, &args, "omp.drain.next")
        } else {
            let (f, fty) = abi::runtime_fn(g.module, "__kmpc_dispatch_next_8");
            let args = [g.ident, g.gtid, s.last_chunk, s.lb, s.ub, s.stride];
            b.call(fty, f, &args, "omp.drain.next")
        };
        let more_left = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntNE,
            again,
            LLVMConstInt(i32t, 0, 0),
            name("omp.drain.more").as_ptr(),
        );
        b.cond_br(more_left, drain_bb, cont);
        b.before(marker);
        more
    }
}

fn emit_next(g: &LoopCodegen, marker: Value) -> Value {
    let ret_ty = ir::type_of(marker);
    let LoopCodegen {
        b,
        module,
        ctx,
        ident,
        gtid,
        s,
        sched,
        is_static,
        n,
        cancel_flag,
        ..
    } = *g;
    unsafe {
        let (i32t, i64t) = (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx));
        let name = |s: &str| ir::cstr(s);
        let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
        let n = to_i64(b, ctx, n);
        let n_minus1 = LLVMBuildSub(b.raw, n, c(1), name("omp.n.minus1").as_ptr());
        let (more, lo, hi) = if let Some(own) = g.own {
            own.emit_next(g, n, marker)
        } else if is_static {
            let started = b.load(i32t, s.started, "omp.started.v");
            let is_started = LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntNE,
                started,
                LLVMConstInt(i32t, 0, 0),
                name("omp.again").as_ptr(),
            );
            b.store(LLVMConstInt(i32t, 1, 0), s.started);
            let mut lb = b.load(i64t, s.lb, "omp.lb.v");
            let mut ub = b.load(i64t, s.ub, "omp.ub.v");
            let more = if sched == STATIC_CHUNKED {
                // later calls: the next chunk of this thread, a stride further
                let stride = b.load(i64t, s.stride, "omp.stride.v");
                let step =
                    LLVMBuildSelect(b.raw, is_started, stride, c(0), name("omp.step").as_ptr());
                lb = LLVMBuildAdd(b.raw, lb, step, name("omp.lb.next").as_ptr());
                ub = LLVMBuildAdd(b.raw, ub, step, name("omp.ub.next").as_ptr());
                b.store(lb, s.lb);
                b.store(ub, s.ub);
                LLVMBuildICmp(
                    b.raw,
                    LLVMIntPredicate::LLVMIntSLE,
                    lb,
                    n_minus1,
                    name("omp.more").as_ptr(),
                )
            } else {
                // one block per thread: only the first call has work
                let first = LLVMBuildNot(b.raw, is_started, name("omp.first").as_ptr());
                let fits = LLVMBuildICmp(
                    b.raw,
                    LLVMIntPredicate::LLVMIntSLE,
                    lb,
                    ub,
                    name("omp.fits").as_ptr(),
                );
                LLVMBuildAnd(b.raw, first, fits, name("omp.more").as_ptr())
            };
            let over = LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntSGT,
                ub,
                n_minus1,
                name("omp.over").as_ptr(),
            );
            let ub = LLVMBuildSelect(b.raw, over, n_minus1, ub, name("omp.ub.clamped").as_ptr());
            let hi = LLVMBuildAdd(b.raw, ub, c(1), name("omp.hi").as_ptr());
            (more, lb, hi)
        } else {
            let got = if g.wrapped {
                let (next, _) = abi::runtime_fn(module, "__kmpc_dispatch_next_8");
                let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_dispatch_next");
                let args = [next, ident, gtid, s.last_chunk, s.lb, s.ub, s.stride];
                b.call(fty, f, &args, "omp.dispatch")
            } else {
                let (f, fty) = abi::runtime_fn(module, "__kmpc_dispatch_next_8");
                let args = [ident, gtid, s.last_chunk, s.lb, s.ub, s.stride];
                b.call(fty, f, &args, "omp.dispatch")
            };
            let this_chunk = b.load(i32t, s.last_chunk, "omp.last.chunk.v");
            let so_far = b.load(i32t, s.last, "omp.last.v");
            let sticky = LLVMBuildOr(b.raw, so_far, this_chunk, name("omp.last.sticky").as_ptr());
            b.store(sticky, s.last);
            let mut more = LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntNE,
                got,
                LLVMConstInt(i32t, 0, 0),
                name("omp.more").as_ptr(),
            );
            if let Some(flag) = cancel_flag {
                more = drain_if_cancelled(g, flag, got, more, marker);
            }
            let lb = b.load(i64t, s.lb, "omp.lb.v");
            let ub = b.load(i64t, s.ub, "omp.ub.v");
            (
                more,
                lb,
                LLVMBuildAdd(b.raw, ub, c(1), name("omp.hi").as_ptr()),
            )
        };
        // Without work the bounds are meaningless: make them an empty range. Iteration
        // numbers are never negative; clearing the sign bit (a no-op here) tells LLVM so, and
        // indexing with them then needs no wraparound check. (An llvm.assume would say the
        // same, but CodeExtractor drops assumes from outlined code.)
        let lo = LLVMBuildSelect(b.raw, more, lo, c(0), name("omp.lo.safe").as_ptr());
        let hi = LLVMBuildSelect(b.raw, more, hi, c(0), name("omp.hi.safe").as_ptr());
        let lo = LLVMBuildAnd(b.raw, lo, c(i64::MAX), name("omp.lo.nonneg").as_ptr());
        let hi = LLVMBuildAnd(b.raw, hi, c(i64::MAX), name("omp.hi.nonneg").as_ptr());
        let more = if LLVMGetTypeKind(LLVMStructGetTypeAtIndex(ret_ty, 0))
            == llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind
            && LLVMGetIntTypeWidth(LLVMStructGetTypeAtIndex(ret_ty, 0)) != 1
        {
            LLVMBuildZExt(
                b.raw,
                more,
                LLVMStructGetTypeAtIndex(ret_ty, 0),
                name("omp.more.z").as_ptr(),
            )
        } else {
            more
        };
        let mut v = LLVMGetUndef(ret_ty);
        for (i, part) in [more, lo, hi].into_iter().enumerate() {
            v = LLVMBuildInsertValue(b.raw, v, part, i as u32, name("omp.chunk").as_ptr());
        }
        v
    }
}
