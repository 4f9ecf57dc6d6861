//! Step 3 of a worksharing loop: the `pyomp.loop.init(id, n)` marker, i.e. the bounds of
//! the iteration space 0..n and the schedule's setup: a team's static loop computes this
//! thread's share itself, a dispatched loop starts pyomp's dispatcher or libomp's
//! (`__kmpc_dispatch_init_8`), an orphaned static loop calls `__kmpc_for_static_init_8`.
//! Zero-trip loops (n <= 0) are passed to the runtime as lb = 0, ub = -1, which libomp
//! hands out as no chunk at all.

use crate::abi;
use crate::ir::{self, Value};
use llvm_sys::core::*;
use llvm_sys::LLVMIntPredicate;

use super::schedule::{DYNAMIC_CHUNKED, GUIDED_CHUNKED, ORDERED, RUNTIME, STATIC_CHUNKED};
use super::state::{to_i64, LoopCodegen, OwnDispatch};

/// Emits, where the builder stands (before the init marker), the state's first values and
/// the schedule's setup for `chunk` (the schedule clause's chunk operand, if any).
pub fn emit_init(g: &LoopCodegen, chunk: Option<Value>) {
    let (b, ctx, s) = (g.b, g.ctx, g.s);
    unsafe {
        let (i32t, i64t) = (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx));
        let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
        let n = to_i64(b, ctx, g.n);
        let ub = LLVMBuildSub(b.raw, n, c(1), ir::cstr("omp.n.minus1").as_ptr());
        b.store(c(0), s.lb);
        b.store(ub, s.ub);
        b.store(c(1), s.stride);
        b.store(LLVMConstInt(i32t, 0, 0), s.last_chunk);
        b.store(LLVMConstInt(i32t, 0, 0), s.last);
        b.store(LLVMConstInt(i32t, 0, 0), s.started);
        b.store(LLVMConstInt(i32t, 0, 0), s.skip);
        let chunk = positive_chunk(g, chunk);
        if let Some(own) = g.own {
            emit_own_dispatch_start(g, own, n, chunk);
        } else if let (true, Some(ids)) = (g.is_static, g.team_ids) {
            static_bounds(g, ids, n, chunk);
        } else if g.is_static {
            emit_static_init(g, chunk);
        } else {
            emit_dispatch_init(g, ub, chunk);
        }
    }
}

/// The chunk as an i64: a chunk below 1 means the default (1); OpenMP requires a positive
/// chunk. Without a chunk clause: 0 for static_init (its default), 1 for dispatch_init.
unsafe fn positive_chunk(g: &LoopCodegen, chunk: Option<Value>) -> Value {
    let (b, ctx) = (g.b, g.ctx);
    let i64t = LLVMInt64TypeInContext(ctx);
    let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
    match chunk {
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
        None => c(if g.is_static { 0 } else { 1 }),
    }
}

/// An orphaned static loop: libomp computes the thread's bounds (`__kmpc_for_static_init_8`).
unsafe fn emit_static_init(g: &LoopCodegen, chunk: Value) {
    let (b, s) = (g.b, g.s);
    let i64t = LLVMInt64TypeInContext(g.ctx);
    let sched = LLVMConstInt(LLVMInt32TypeInContext(g.ctx), g.sched, 0);
    let one = LLVMConstInt(i64t, 1, 1);
    let (f, fty) = abi::runtime_fn(g.module, "__kmpc_for_static_init_8");
    let args = [
        g.ident, g.gtid, sched, s.last, s.lb, s.ub, s.stride, one, chunk,
    ];
    b.call(fty, f, &args, "");
}

/// A dispatched loop on libomp's dispatcher over 0..=ub: directly, or (an orphaned loop)
/// through team_frame.rs, which runs it on pyomp's dispatcher inside a pyomp region.
unsafe fn emit_dispatch_init(g: &LoopCodegen, ub: Value, chunk: Value) {
    let (b, module) = (g.b, g.module);
    let i64t = LLVMInt64TypeInContext(g.ctx);
    let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
    let sched = LLVMConstInt(LLVMInt32TypeInContext(g.ctx), g.sched, 0);
    if g.wrapped {
        let (init, _) = abi::runtime_fn(module, "__kmpc_dispatch_init_8");
        let (nth_fn, nth_ty) = abi::runtime_fn(module, "omp_get_num_threads");
        let nth = b.call(nth_ty, nth_fn, &[], "omp.nth");
        let (tid_fn, tid_ty) = abi::runtime_fn(module, "omp_get_thread_num");
        let tid = b.call(tid_ty, tid_fn, &[], "omp.tid");
        let (get_schedule, _) = abi::runtime_fn(module, "omp_get_schedule");
        let (f, fty) = abi::runtime_fn(module, "pyomp_orphan_dispatch_init");
        let args = [
            init,
            g.ident,
            g.gtid,
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
        b.call(fty, f, &[g.ident, g.gtid, sched, c(0), ub, c(1), chunk], "");
    }
}

/// A team's static schedule, computed here rather than by __kmpc_for_static_init (the same
/// assignment; libomp's call costs more than the arithmetic, and in a process that loaded
/// libquadmath, as NumPy does, its debug-string formatting costs more still). Stores the
/// thread's first lb, ub and whether it runs the last iteration.
unsafe fn static_bounds(g: &LoopCodegen, (tid, nth): (Value, Value), n: Value, chunk: Value) {
    let (b, ctx, s) = (g.b, g.ctx, g.s);
    let (i32t, i64t) = (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx));
    let tid = LLVMBuildSExt(b.raw, tid, i64t, ir::cstr("omp.tid64").as_ptr());
    let nth = LLVMBuildSExt(b.raw, nth, i64t, ir::cstr("omp.nth64").as_ptr());
    let neg = LLVMBuildICmp(
        b.raw,
        LLVMIntPredicate::LLVMIntSLT,
        n,
        LLVMConstInt(i64t, 0, 1),
        ir::cstr("omp.neg").as_ptr(),
    );
    let zero = LLVMConstInt(i64t, 0, 1);
    let nn = LLVMBuildSelect(b.raw, neg, zero, n, ir::cstr("omp.nn").as_ptr());
    let (lb, ub, last) = if g.sched == STATIC_CHUNKED {
        static_chunked_bounds(g, tid, nth, nn, chunk)
    } else {
        static_block_bounds(g, tid, nth, nn)
    };
    b.store(lb, s.lb);
    b.store(ub, s.ub);
    let last = LLVMBuildZExt(b.raw, last, i32t, ir::cstr("omp.islast32").as_ptr());
    b.store(last, s.last);
}

/// Chunked: thread t of T gets chunks t, t+T, t+2T, ... (the chunk loop steps by T*c, see
/// next.rs). (lb, ub, runs the last iteration) of its first chunk; stores the stride.
unsafe fn static_chunked_bounds(
    g: &LoopCodegen,
    tid: Value,
    nth: Value,
    nn: Value,
    chunk: Value,
) -> (Value, Value, Value) {
    let b = g.b;
    let i64t = LLVMInt64TypeInContext(g.ctx);
    let name = |x: &str| ir::cstr(x);
    let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
    let icmp = |p, l, r, n: &str| LLVMBuildICmp(b.raw, p, l, r, name(n).as_ptr());
    let lb = LLVMBuildMul(b.raw, tid, chunk, name("omp.lb0").as_ptr());
    let ub = LLVMBuildSub(
        b.raw,
        LLVMBuildAdd(b.raw, lb, chunk, name("omp.lbc").as_ptr()),
        c(1),
        name("omp.ub0").as_ptr(),
    );
    let stride = LLVMBuildMul(b.raw, nth, chunk, name("omp.st").as_ptr());
    b.store(stride, g.s.stride);
    // the thread of the chunk holding iteration n - 1
    let last_chunk = LLVMBuildSDiv(
        b.raw,
        LLVMBuildSub(b.raw, nn, c(1), name("omp.nm1").as_ptr()),
        chunk,
        name("omp.lastc").as_ptr(),
    );
    let owner = LLVMBuildSRem(b.raw, last_chunk, nth, name("omp.owner").as_ptr());
    let mine = icmp(LLVMIntPredicate::LLVMIntEQ, owner, tid, "omp.mine");
    let some = icmp(LLVMIntPredicate::LLVMIntSGT, nn, c(0), "omp.some");
    let last = LLVMBuildAnd(b.raw, mine, some, name("omp.islast").as_ptr());
    (lb, ub, last)
}

/// Unchunked: thread t of T gets the t-th of T contiguous blocks whose sizes differ by at
/// most one. (lb, ub, runs the last iteration) of its block.
unsafe fn static_block_bounds(
    g: &LoopCodegen,
    tid: Value,
    nth: Value,
    nn: Value,
) -> (Value, Value, Value) {
    let b = g.b;
    let i64t = LLVMInt64TypeInContext(g.ctx);
    let name = |x: &str| ir::cstr(x);
    let c = |v: i64| LLVMConstInt(i64t, v as u64, 1);
    let icmp = |p, l, r, n: &str| LLVMBuildICmp(b.raw, p, l, r, name(n).as_ptr());
    let q = LLVMBuildSDiv(b.raw, nn, nth, name("omp.q").as_ptr());
    let r = LLVMBuildSRem(b.raw, nn, nth, name("omp.r").as_ptr());
    let below = icmp(LLVMIntPredicate::LLVMIntSLT, tid, r, "omp.below");
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
    let some = icmp(LLVMIntPredicate::LLVMIntSGT, size, c(0), "omp.some");
    let at_end = icmp(LLVMIntPredicate::LLVMIntEQ, end, nn, "omp.atend");
    let last = LLVMBuildAnd(b.raw, some, at_end, name("omp.islast").as_ptr());
    (lb, ub, last)
}

/// A team's dispatched loop: pyomp_loop_start, and the schedule's arguments for
/// pyomp_loop_next (a runtime schedule is read here).
unsafe fn emit_own_dispatch_start(g: &LoopCodegen, own: &OwnDispatch, n: Value, chunk: Value) {
    let (b, module, ctx) = (g.b, g.module, g.ctx);
    let i32t = LLVMInt32TypeInContext(ctx);
    let i64t = LLVMInt64TypeInContext(ctx);
    let (f, fty) = abi::runtime_fn(module, "pyomp_loop_start");
    b.call(fty, f, &[own.state, n], "");
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
            let [kind_slot, chunk_slot] = own.sched_slots;
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
    // (guided chunks are a share of what is left per thread, and a team of one takes
    // the whole rest of a dynamic or guided loop at once: both need the team size)
    let (tid, nth) = match g.team_ids {
        Some(ids) => ids,
        _ => {
            let (f, fty) = abi::runtime_fn(module, "omp_get_thread_num");
            let tid = b.call(fty, f, &[], "omp.tid");
            let (f, fty) = abi::runtime_fn(module, "omp_get_num_threads");
            (tid, b.call(fty, f, &[], "omp.nth"))
        }
    };
    own.args.set(Some([kind, chunk, tid, nth]));
}
