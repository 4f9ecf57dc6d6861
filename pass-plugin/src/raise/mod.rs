//! Exceptions raised inside a region propagate to the caller after the region.
//!
//! Numba's calling convention returns a status (0 ok, -1 Python error, >= 1 user
//! exception) and stores an exception-info pointer through the function's second
//! parameter. For each parallel region the pass makes a team-shared status and info slot
//! (reset before the fork) and gives each thread a private info slot in place of the
//! parameter. A `ret` inside the region becomes "record the first failure (atomic
//! compare-and-swap on the status), then leave": to the region's end code (its final
//! barrier), or, inside a worksharing construct, to the construct's end so the thread still
//! reaches its barrier. After the join the caller re-raises: it stores the recorded info
//! and returns the status.
//!
//! Barriers: a thread that stops early (raises, `cancel parallel`, or a cancellation point
//! that sees the team stop) skips the barriers left in the region body, so its team mates
//! must skip exactly one fewer barrier than they would pass. Every thread counts the team
//! barriers it has passed in the region (a per-thread slot); a thread that stops records
//! its count in the team's `stopped_at` (atomic minimum) before it meets its team at the
//! next barrier (the construct's or the region's final one). After each barrier a thread
//! leaves the region iff `stopped_at < its count`: that holds after exactly the barrier
//! where the first stopping thread arrives, for every thread at once (a thread that stops
//! after a barrier records that barrier's count, so a slow team mate still leaving that
//! barrier does not mistake it for the stop). Barriers are libomp's plain ones (they run
//! tasks while waiting); libomp's own cancellation (`__kmpc_cancel`, whose cancellation
//! barrier adds barriers of its own when the request comes between its two phases) is not
//! used by a team's code. Barriers in functions the region calls are counted too, at run
//! time (crate::team_frame), on the same per-thread count.
//!
//! record.rs keeps the team's failure record, redirect.rs sends a failing thread to the end
//! of its construct or region (and a team after a barrier out of it), reraise.rs raises the
//! recorded failure after the region.

mod record;
mod redirect;
mod reraise;

pub use record::TeamErrors;
pub use redirect::{branch_if_failed, redirect_returns, skip_if_gone};
pub use reraise::{reraise_after, reraise_after_releasing, ret_if_failed};
