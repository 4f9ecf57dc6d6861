//! Step 4 of a worksharing loop: the chunk loop. Each `pyomp.loop.next(id)` marker becomes
//! the thread's next chunk `{ more, lo, hi }` (hi exclusive, both known >= 0):
//!
//! ```text
//! static (a team's):  this thread's block once / its chunks lb += st, ub += st
//! pyomp's dispatcher: pyomp_loop_next (a team's dispatched loop)
//! libomp's:           __kmpc_dispatch_next_8 (orphaned and ordered loops)
//! ```
//! A cancelled dispatched loop first takes the rest of the thread's share, so the runtime
//! sees it finish the loop, and runs no more iterations.

use crate::abi;
use crate::ir::{self, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;

use super::schedule::STATIC_CHUNKED;
use super::state::{to_i64, LoopCodegen, OwnDispatch};

/// Replaces each of the loop's next markers by the thread's next chunk.
pub fn lower_next_markers(g: &LoopCodegen, next_markers: Vec<Value>) {
    for next in next_markers {
        g.b.before(next);
        let value = emit_next(g, next);
        unsafe { LLVMReplaceAllUsesWith(next, value) };
        ir::erase(next);
    }
}

fn emit_next(g: &LoopCodegen, marker: Value) -> Value {
    let (b, ctx) = (g.b, g.ctx);
    unsafe {
        let i64t = LLVMInt64TypeInContext(ctx);
        let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
        let n = to_i64(b, ctx, g.n);
        let n_minus1 = LLVMBuildSub(b.raw, n, c(1), ir::cstr("omp.n.minus1").as_ptr());
        let (more, lo, hi) = if let Some(own) = g.own {
            own_dispatch_next(g, own, n, marker)
        } else if g.is_static {
            static_next(g, n_minus1)
        } else {
            libomp_dispatch_next(g, marker)
        };
        crate::profile::instrument::emit_chunk(g.module, b, g.ident, [more, lo, hi], g.prof_gate);
        chunk_value(g, ir::type_of(marker), more, lo, hi)
    }
}

/// The marker's `{ more, lo, hi }`. Without work the bounds are meaningless: make them an
/// empty range. Iteration numbers are never negative; clearing the sign bit (a no-op here)
/// tells LLVM so, and indexing with them then needs no wraparound check. (An llvm.assume
/// would say the same, but CodeExtractor drops assumes from outlined code.)
unsafe fn chunk_value(
    g: &LoopCodegen,
    ret_ty: LLVMTypeRef,
    more: Value,
    lo: Value,
    hi: Value,
) -> Value {
    let b = g.b;
    let i64t = LLVMInt64TypeInContext(g.ctx);
    let name = |s: &str| ir::cstr(s);
    let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
    let lo = LLVMBuildSelect(b.raw, more, lo, c(0), name("omp.lo.safe").as_ptr());
    let hi = LLVMBuildSelect(b.raw, more, hi, c(0), name("omp.hi.safe").as_ptr());
    let lo = LLVMBuildAnd(b.raw, lo, c(i64::MAX), name("omp.lo.nonneg").as_ptr());
    let hi = LLVMBuildAnd(b.raw, hi, c(i64::MAX), name("omp.hi.nonneg").as_ptr());
    // the marker's `more` may be a wider integer than i1
    let more_ty = LLVMStructGetTypeAtIndex(ret_ty, 0);
    let more = if LLVMGetTypeKind(more_ty) == llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind
        && LLVMGetIntTypeWidth(more_ty) != 1
    {
        LLVMBuildZExt(b.raw, more, more_ty, name("omp.more.z").as_ptr())
    } else {
        more
    };
    let mut v = LLVMGetUndef(ret_ty);
    for (i, part) in [more, lo, hi].into_iter().enumerate() {
        v = LLVMBuildInsertValue(b.raw, v, part, i as u32, name("omp.chunk").as_ptr());
    }
    v
}

/// A team's static loop: (more, lo, hi) of the block init.rs computed (the first call
/// only), or of the thread's next chunk, a stride further (chunked).
unsafe fn static_next(g: &LoopCodegen, n_minus1: Value) -> (Value, Value, Value) {
    let (b, s) = (g.b, g.s);
    let (i32t, i64t) = (LLVMInt32TypeInContext(g.ctx), LLVMInt64TypeInContext(g.ctx));
    let name = |s: &str| ir::cstr(s);
    let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
    let icmp = |p, l, r, n: &str| LLVMBuildICmp(b.raw, p, l, r, name(n).as_ptr());
    let started = b.load(i32t, s.started, "omp.started.v");
    let is_started = icmp(
        LLVMIntPredicate::LLVMIntNE,
        started,
        LLVMConstInt(i32t, 0, 0),
        "omp.again",
    );
    b.store(LLVMConstInt(i32t, 1, 0), s.started);
    let mut lb = b.load(i64t, s.lb, "omp.lb.v");
    let mut ub = b.load(i64t, s.ub, "omp.ub.v");
    let more = if g.sched == STATIC_CHUNKED {
        // later calls: the next chunk of this thread, a stride further
        let stride = b.load(i64t, s.stride, "omp.stride.v");
        let step = LLVMBuildSelect(b.raw, is_started, stride, c(0), name("omp.step").as_ptr());
        lb = LLVMBuildAdd(b.raw, lb, step, name("omp.lb.next").as_ptr());
        ub = LLVMBuildAdd(b.raw, ub, step, name("omp.ub.next").as_ptr());
        b.store(lb, s.lb);
        b.store(ub, s.ub);
        icmp(LLVMIntPredicate::LLVMIntSLE, lb, n_minus1, "omp.more")
    } else {
        // one block per thread: only the first call has work
        let first = LLVMBuildNot(b.raw, is_started, name("omp.first").as_ptr());
        let fits = icmp(LLVMIntPredicate::LLVMIntSLE, lb, ub, "omp.fits");
        LLVMBuildAnd(b.raw, first, fits, name("omp.more").as_ptr())
    };
    let over = icmp(LLVMIntPredicate::LLVMIntSGT, ub, n_minus1, "omp.over");
    let ub = LLVMBuildSelect(b.raw, over, n_minus1, ub, name("omp.ub.clamped").as_ptr());
    let hi = LLVMBuildAdd(b.raw, ub, c(1), name("omp.hi").as_ptr());
    (more, lb, hi)
}

/// libomp's dispatcher: (more, lo, hi) from __kmpc_dispatch_next_8 (through team_frame.rs
/// for an orphaned loop); `last` keeps the runtime's last-chunk flag once set.
unsafe fn libomp_dispatch_next(g: &LoopCodegen, marker: Value) -> (Value, Value, Value) {
    let (b, s) = (g.b, g.s);
    let (i32t, i64t) = (LLVMInt32TypeInContext(g.ctx), LLVMInt64TypeInContext(g.ctx));
    let name = |s: &str| ir::cstr(s);
    let got = call_dispatch_next(g, "omp.dispatch");
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
    if let Some(flag) = g.cancel_flag {
        more = drain_if_cancelled(g, flag, got, more, marker);
    }
    let lb = b.load(i64t, s.lb, "omp.lb.v");
    let ub = b.load(i64t, s.ub, "omp.ub.v");
    let one = LLVMConstInt(i64t, 1, 1);
    (
        more,
        lb,
        LLVMBuildAdd(b.raw, ub, one, name("omp.hi").as_ptr()),
    )
}

/// One call of __kmpc_dispatch_next_8 into the state's bounds: directly, or (an orphaned
/// loop) through team_frame.rs.
unsafe fn call_dispatch_next(g: &LoopCodegen, result: &str) -> Value {
    let s = g.s;
    if g.wrapped {
        let (next, _) = abi::runtime_fn(g.module, "__kmpc_dispatch_next_8");
        let (f, fty) = abi::runtime_fn(g.module, "pyomp_orphan_dispatch_next");
        let args = [next, g.ident, g.gtid, s.last_chunk, s.lb, s.ub, s.stride];
        g.b.call(fty, f, &args, result)
    } else {
        let (f, fty) = abi::runtime_fn(g.module, "__kmpc_dispatch_next_8");
        let args = [g.ident, g.gtid, s.last_chunk, s.lb, s.ub, s.stride];
        g.b.call(fty, f, &args, result)
    }
}

/// A cancelled loop's dispatch: when the flag is set and the runtime handed out a chunk,
/// take (and drop) chunks until the runtime has none left, so it sees this thread finish
/// the loop; the thread then runs no more iterations. Returns the new `more`.
unsafe fn drain_if_cancelled(
    g: &LoopCodegen,
    flag: Value,
    got: Value,
    more: Value,
    marker: Value,
) -> Value {
    let b = g.b;
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
    let again = call_dispatch_next(g, "omp.drain.next");
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

/// pyomp's dispatcher: (more, lo, hi exclusive) from pyomp_loop_next; a cancelled loop is
/// first exhausted (pyomp_loop_cancel).
unsafe fn own_dispatch_next(
    g: &LoopCodegen,
    own: &OwnDispatch,
    n: Value,
    marker: Value,
) -> (Value, Value, Value) {
    let (b, module, ctx, s) = (g.b, g.module, g.ctx, g.s);
    let i32t = LLVMInt32TypeInContext(ctx);
    let i64t = LLVMInt64TypeInContext(ctx);
    let name = |s: &str| ir::cstr(s);
    if let Some(flag) = g.cancel_flag {
        let v = b.load(i32t, flag, "omp.loop.cancelled.v");
        let cancelled = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntNE,
            v,
            LLVMConstInt(i32t, 0, 0),
            name("omp.loop.is.cancelled").as_ptr(),
        );
        let head = ir::parent_block(v);
        let cont = ir::split_before(marker, "omp.dispatch.go");
        let func = ir::parent_function(head);
        let stop = LLVMAppendBasicBlockInContext(ctx, func, name("omp.stop").as_ptr());
        ir::erase(ir::terminator(head).expect("split leaves a branch"));
        b.at_end(head);
        b.cond_br(cancelled, stop, cont);
        b.at_end(stop);
        let (f, fty) = abi::runtime_fn(module, "pyomp_loop_cancel");
        b.call(fty, f, &[own.next, own.state], "");
        b.br(cont);
        b.before(marker);
    }
    let [kind, chunk, tid, nth] = own.args.get().expect("the loop starts before it runs");
    let (f, fty) = abi::runtime_fn(module, "pyomp_loop_next");
    let args = [own.next, own.state, kind, chunk, tid, nth, s.lb, s.ub];
    let got = b.call(fty, f, &args, "omp.dispatch");
    let icmp = |p, l, r, n: &str| LLVMBuildICmp(b.raw, p, l, r, name(n).as_ptr());
    let more = icmp(
        LLVMIntPredicate::LLVMIntNE,
        got,
        LLVMConstInt(i32t, 0, 0),
        "omp.more",
    );
    let lo = b.load(i64t, s.lb, "omp.lb.v");
    let hi = b.load(i64t, s.ub, "omp.hi");
    // lastprivate: the thread whose chunk ends the loop ran its last iteration
    let ends = icmp(LLVMIntPredicate::LLVMIntEQ, hi, n, "omp.ends");
    let last_now = LLVMBuildAnd(b.raw, more, ends, name("omp.last.now").as_ptr());
    let last_now = LLVMBuildZExt(b.raw, last_now, i32t, name("omp.last.now.z").as_ptr());
    let so_far = b.load(i32t, s.last, "omp.last.v");
    let sticky = LLVMBuildOr(b.raw, so_far, last_now, name("omp.last.sticky").as_ptr());
    b.store(sticky, s.last);
    (more, lo, hi)
}
