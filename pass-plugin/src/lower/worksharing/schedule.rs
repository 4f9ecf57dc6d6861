//! Step 1 of a worksharing loop: the schedule clause as libomp's `sched_type`, and whether
//! the loop is a static one (bounds computed once per thread) or a dispatched one (chunks
//! handed out by a runtime on each `next`).

use crate::markers::{MarkedRegion, Schedule, Sharing};

// libomp's sched_type values.
pub const STATIC_CHUNKED: u64 = 33;
pub const STATIC: u64 = 34;
pub const DYNAMIC_CHUNKED: u64 = 35;
pub const GUIDED_CHUNKED: u64 = 36;
pub const RUNTIME: u64 = 37;
pub const AUTO: u64 = 38;
/// Added to a schedule type for a loop with the `ordered` clause (kmp_ord_*).
pub const ORDERED: u64 = 32;
const MONOTONIC: u64 = 1 << 29;
const NONMONOTONIC: u64 = 1 << 30;

/// How loop region `r` is scheduled: (schedule type for the runtime, is it a static
/// schedule whose bounds the thread computes once).
pub fn schedule_of(r: &MarkedRegion) -> Result<(u64, bool), String> {
    let clauses = &r.payload.clauses;
    let (sched, is_static) = sched_type(clauses.schedule.as_ref(), clauses.ordered)?;
    // A cancellable loop is dispatched (static schedules too: dispatch_init takes them), so
    // a cancelled thread can drain its share (see next.rs).
    let is_static = is_static && !clauses.cancellable;
    // Monotonic is a valid way to run a nonmonotonic schedule; lastprivate needs it (see
    // plain_sched_type).
    let has_lastprivate = r
        .payload
        .vars
        .iter()
        .any(|v| v.sharing == Sharing::Lastprivate);
    let sched = if has_lastprivate {
        sched & !NONMONOTONIC
    } else {
        sched
    };
    Ok((sched, is_static))
}

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
    // the last chunk; see schedule_of.)
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

/// The chunk size operand of the schedule clause, if it has one.
pub fn chunk_operand(r: &MarkedRegion) -> Option<crate::ir::Value> {
    r.payload
        .clauses
        .schedule
        .as_ref()
        .and_then(|s| s.chunk)
        .map(|i| r.enter_operands[i])
}
