//! Step 6 of a worksharing loop: its data sharing. Private, firstprivate, lastprivate,
//! linear and reduction copies (sharing/), lastprivate's copy-out done by the thread whose
//! `last` flag is set; and the barrier after every thread read the starts of its copies,
//! where the clauses need one.

use crate::error::PassResult;
use crate::ir::{self, Builder, Value};
use crate::lower::barrier::{emit_barrier, emit_orphan_barrier};
use crate::markers::MarkedRegion;
use crate::raise::{self, TeamErrors};
use crate::region::Shape;
use crate::sharing;
use llvm_sys::core::*;
use llvm_sys::prelude::*;

use super::state::LoopCodegen;

/// The private copies of loop region `r` (its blocks `blocks`), the barrier after their
/// starts included. Returns what sharing/ decided, for the region's report.
/// A composite distribute's loop (`pyomp.loop.last_owner(id, owns)` markers): at the
/// construct's end, before the lastprivate copy-out reads it, this thread's last flag
/// stays set only in the team whose block holds the loop's last iteration.
pub fn keep_last_in_owner_team(g: &LoopCodegen, shape: &Shape, markers: Vec<Value>) {
    let b = g.b;
    for marker in markers {
        // (through a slot: a path that raised before the loop's setup reaches the end
        // without the marker's value, and owns nothing)
        unsafe {
            let i32t = LLVMInt32TypeInContext(g.ctx);
            b.at_start(shape.entry);
            let slot = b.alloca(i32t, "omp.owns.last.slot");
            b.store(LLVMConstInt(i32t, 0, 0), slot);
            b.before(marker);
            let owns = ir::call_args(marker)[1];
            let owns = LLVMBuildTrunc(b.raw, owns, i32t, ir::cstr("omp.owns.last").as_ptr());
            b.store(owns, slot);
            b.before(ir::terminator(shape.tail()).expect("tail ends in a branch"));
            let owns = b.load(i32t, slot, "omp.owns.last.v");
            let last = b.load(i32t, g.s.last, "omp.last.v");
            let kept = LLVMBuildAnd(b.raw, last, owns, ir::cstr("omp.last.kept").as_ptr());
            b.store(kept, g.s.last);
        }
        ir::erase(marker);
    }
}

pub fn emit_private_copies(
    g: &LoopCodegen,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
    blocks: &[LLVMBasicBlockRef],
) -> PassResult<sharing::Applied> {
    let applied = sharing::apply(
        g.module,
        func,
        r,
        shape,
        blocks,
        &[],
        sharing::Mode::Worksharing {
            last: Some(g.s.last),
        },
    )?;
    if r.payload.clauses.barrier_after_starts {
        barrier_after_starts(g.module, func, shape, g.team, g.ident, g.gtid);
    }
    Ok(applied)
}

/// A barrier at the end of the construct's entry block, after every thread has read the
/// starts of its private copies (a linear variable's start, a firstprivate and lastprivate
/// variable's first value), before the thread of the last iteration may write the original
/// back at the end. Counted like the team's other barriers (raise/, team_frame.rs).
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
