//! Worksharing loops (`for`, and the loop half of `parallel for`), lowered in place inside
//! the team's region.
//!
//! The front end rewrote the loop into a chunk loop over iteration numbers 0..n with
//! markers (numba_ext/pyomp/loops.py); `lower_for` turns them into runtime calls, one step
//! per module, in this order:
//!
//! ```text
//! schedule.rs        the schedule clause -> libomp's sched_type; static or dispatched
//! state.rs           construct start: the thread's loop state, gtid, taskgroup
//! init.rs            pyomp.loop.init(id, n): bounds 0..n and the schedule's setup
//! next.rs            pyomp.loop.next(id) -> { more, lo, hi }: the chunk loop
//! ordered.rs         pyomp.loop.skip / pyomp.loop.iteration_end: ordered turns
//! end.rs             pyomp.loop.fini(id); the construct's end, where raising paths go
//! private_copies.rs  private/lastprivate/linear/reduction copies (sharing/)
//! end.rs             the end barrier (unless nowait), and leaving after a raise
//! ```
//! Invariants: a loop has exactly one init marker, lowered before its next markers (the
//! dispatcher's arguments are computed there); `gtid` is taken where it dominates every use
//! (the team region's entry, or the construct's start); each thread's `last` flag is set
//! for exactly the thread that ran iteration n - 1 (lastprivate reads it); a thread that
//! raised still reaches the construct's end and its barrier, so team mates are not left
//! waiting (raise/ counts barriers).

mod end;
mod init;
mod next;
mod ordered;
mod private_copies;
mod schedule;
mod state;

use crate::abi;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Builder, Value};
use crate::lower::loop_markers::{
    marker_calls, orphan_cancel_flag, trip_count, FINI, INIT, ITERATION_END, LAST_OWNER, NEXT, SKIP,
};
use crate::lower::RegionReport;
use crate::markers::MarkedRegion;
use crate::profile::instrument;
use crate::profile::record::kind;
use crate::raise::TeamErrors;
use crate::region::{self, Shape};
use crate::sharing;
use llvm_sys::core::*;
use llvm_sys::prelude::*;

use state::{LoopCodegen, OwnDispatch};

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
    let clauses = &r.payload.clauses;
    let (sched, is_static) = schedule::schedule_of(r).map_err(|m| r.error(m))?;
    let blocks = region::blocks(r, shape)?;
    let b = Builder::new(ctx);
    let team = team.as_ref();
    let (state, gtid) =
        state::emit_construct_start(&b, module, shape.entry, team, ident, has_tasks);
    let id = r.payload.id;
    let init = init_marker(&blocks, id)?;
    let n = trip_count(init, id)?;
    let cancel_flag = clauses.cancellable.then(|| match team {
        Some(errors) => errors.loop_cancelled,
        None => orphan_cancel_flag(func, id),
    });
    let own = OwnDispatch::for_loop(ctx, team, is_static, id);
    b.before(init);
    let team_ids = team.map(|errors| match clauses.distribute {
        true => sharing::league_ids_at(errors.entry, module),
        false => sharing::team_ids_at(errors.entry, module),
    });
    let prof_gate = instrument::read_flag(module, init);
    let g = LoopCodegen {
        // An orphaned dynamic/guided loop goes through crate::team_frame, which runs it on
        // pyomp's dispatcher inside a pyomp region (libomp's otherwise).
        wrapped: team.is_none() && !is_static,
        own: own.as_ref(),
        team_ids,
        cancel_flag,
        team,
        b: &b,
        module,
        ctx,
        ident,
        gtid,
        s: &state,
        sched,
        is_static,
        ordered: clauses.ordered,
        n,
        prof_gate,
    };
    init::emit_init(&g, schedule::chunk_operand(r));
    instrument::emit_begin(module, init, kind::LOOP, ident, None, Some(n));
    ir::erase(init);
    lower_chunk_loop_and_end(&g, func, r, shape, &blocks, has_tasks)
}

/// The steps after the loop's start, in pipeline order: the chunk loop's markers, the
/// ordered ones, the runtime's end of the loop, the private copies, then the construct's
/// end (raising paths, barrier, leaving).
fn lower_chunk_loop_and_end(
    g: &LoopCodegen,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
    blocks: &[LLVMBasicBlockRef],
    has_tasks: bool,
) -> PassResult<RegionReport> {
    let (ctx, id, clauses) = (g.ctx, r.payload.id, &r.payload.clauses);
    next::lower_next_markers(g, marker_calls(blocks, NEXT, id));
    let body_start = ordered::lower_skip_markers(g, marker_calls(blocks, SKIP, id), id)?;
    let iteration_end =
        ordered::lower_iteration_end_markers(g, marker_calls(blocks, ITERATION_END, id), id);
    let finis = marker_calls(blocks, FINI, id);
    for &fini in &finis {
        instrument::emit_end(g.module, fini, kind::LOOP, g.ident);
    }
    end::lower_fini_markers(g, finis);
    let first_tail = end::split_construct_end(g, shape, has_tasks);
    private_copies::keep_last_in_owner_team(g, shape, marker_calls(blocks, LAST_OWNER, id));
    let applied = private_copies::emit_private_copies(g, func, r, shape, blocks)?;
    let rets = region::returns(blocks);
    let orphan_record = match g.team {
        Some(_) => None,
        None => Some(end::orphan_failure_record(ctx, func, shape, blocks)?),
    };
    let record = g
        .team
        .or(orphan_record.as_ref())
        .expect("a team's or its own");
    end::route_raises(
        g,
        func,
        &rets,
        record,
        first_tail,
        (body_start, iteration_end),
    )?;
    let last_tail = if clauses.nowait {
        shape.tail()
    } else {
        end::emit_end_barrier(g, func, shape, clauses.cancellable)
    };
    let can_raise = !rets.is_empty();
    end::leave_if_raised(g, func, shape, last_tail, record, clauses.nowait, can_raise)?;
    let sharing = applied.decisions;
    Ok(RegionReport::in_place(r, func, sharing, can_raise))
}

/// The loop's one `pyomp.loop.init(id, n)` marker.
fn init_marker(blocks: &[LLVMBasicBlockRef], id: u64) -> PassResult<Value> {
    let inits = marker_calls(blocks, INIT, id);
    match inits[..] {
        [init] => Ok(init),
        _ => Err(PassError::Internal {
            message: format!("loop region {id} has {} init markers", inits.len()),
        }),
    }
}
