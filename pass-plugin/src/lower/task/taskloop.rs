//! `taskloop`: the encountering thread cuts the loop into chunks (pyomp's dispatcher with a
//! static chunked schedule for one thread) and creates a task per chunk; the front end made
//! the chunk loop that task's region, already lowered (mod.rs). Lowered in place:
//!
//! ```text
//! pyomp.loop.init(id, n)   pyomp_loop_start(state, n); the chunk size; __kmpc_taskgroup
//! pyomp.loop.next(id)      pyomp_loop_next(.., static chunked, chunk, tid 0, nth 1, &lo, &hi)
//! pyomp.loop.fini(id)      __kmpc_end_taskgroup (unless nogroup)
//! ```

use crate::abi;
use crate::calls::thread_id;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Builder, Value};
use crate::lower::loop_markers::{marker_calls, trip_count, FINI, INIT, NEXT};
use crate::lower::RegionReport;
use crate::markers::MarkedRegion;
use crate::region::{self, Shape};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMIntPredicate;

/// The encountering thread's chunk loop: its dispatcher state and chunk bounds.
struct ChunkLoop {
    state: Value,
    /// The team's `next` counter pyomp_loop_next takes; unused by a one-thread loop.
    unused: Value,
    lb: Value,
    ub: Value,
    chunk: Value,
}

/// Lowers taskloop region `r`. The chunk size comes from `grainsize(g)`, or `num_tasks(k)`
/// (ceil(n / k)), or else four chunks per thread of the team. Unless `nogroup`, the loop is
/// a taskgroup: it waits for its tasks (and theirs).
pub fn lower_taskloop(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &Shape,
) -> PassResult<RegionReport> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let loc = &r.payload.loc;
    let ident = abi::ident(module, &loc.file, &ir::name_of(func), loc.line, loc.column);
    let blocks = region::blocks(r, shape)?;
    let id = r.payload.id;
    let nogroup = r.payload.clauses.nogroup;
    let b = Builder::new(ctx);
    unsafe {
        let i64t = LLVMInt64TypeInContext(ctx);
        b.at_start(shape.entry);
        let state_ty = LLVMArrayType2(i64t, 4);
        let state = b.alloca(state_ty, "omp.taskloop.state");
        let unused = b.alloca(i64t, "omp.taskloop.next");
        let lb = b.alloca(i64t, "omp.taskloop.lo");
        let ub = b.alloca(i64t, "omp.taskloop.hi");
        b.store(LLVMConstNull(state_ty), state);
        let gtid = thread_id(&b, module, ident);
        let inits = marker_calls(&blocks, INIT, id);
        let [init] = inits[..] else {
            return Err(PassError::Internal {
                message: format!("taskloop {id} has {} init markers", inits.len()),
            });
        };
        b.before(init);
        let n = LLVMBuildIntCast2(
            b.raw,
            trip_count(init, id)?,
            i64t,
            1,
            ir::cstr("omp.n").as_ptr(),
        );
        let (f, fty) = abi::runtime_fn(module, "pyomp_loop_start");
        b.call(fty, f, &[state, n], "");
        let chunk = chunk_size(&b, module, r, n);
        if !nogroup {
            let (f, fty) = abi::runtime_fn(module, "__kmpc_taskgroup");
            b.call(fty, f, &[ident, gtid], "");
        }
        ir::erase(init);
        let chunks = ChunkLoop {
            state,
            unused,
            lb,
            ub,
            chunk,
        };
        for next in marker_calls(&blocks, NEXT, id) {
            b.before(next);
            let v = emit_next_chunk(&b, module, &chunks, ir::type_of(next));
            LLVMReplaceAllUsesWith(next, v);
            ir::erase(next);
        }
        for fini in marker_calls(&blocks, FINI, id) {
            if !nogroup {
                b.before(fini);
                let (f, fty) = abi::runtime_fn(module, "__kmpc_end_taskgroup");
                b.call(fty, f, &[ident, gtid], "");
            }
            ir::erase(fini);
        }
    }
    Ok(RegionReport::in_place(r, func, Vec::new(), false))
}

/// The chunk size (at least 1) for a loop of `n` iterations: the grainsize, or ceil(n / k)
/// for `num_tasks(k)`, or ceil(n / (4 * threads)).
unsafe fn chunk_size(b: &Builder, module: LLVMModuleRef, r: &MarkedRegion, n: Value) -> Value {
    let i64t = LLVMInt64TypeInContext(LLVMGetModuleContext(module));
    let clauses = &r.payload.clauses;
    let operand = |i: Option<usize>| i.and_then(|i| r.enter_operands.get(i)).copied();
    let one = LLVMConstInt(i64t, 1, 0);
    let at_least_one = |b: &Builder, v: Value, small: &str, name: &str| {
        let is_small = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntSLT,
            v,
            one,
            ir::cstr(small).as_ptr(),
        );
        LLVMBuildSelect(b.raw, is_small, one, v, ir::cstr(name).as_ptr())
    };
    let div_up = |b: &Builder, a: Value, d: Value| {
        let d = at_least_one(b, d, "omp.small", "omp.d");
        let a1 = LLVMBuildAdd(
            b.raw,
            a,
            LLVMBuildSub(b.raw, d, one, ir::cstr("omp.dm1").as_ptr()),
            ir::cstr("omp.a1").as_ptr(),
        );
        LLVMBuildSDiv(b.raw, a1, d, ir::cstr("omp.q").as_ptr())
    };
    let chunk = match (operand(clauses.grainsize), operand(clauses.num_tasks)) {
        (Some(g), _) => LLVMBuildIntCast2(b.raw, g, i64t, 1, ir::cstr("omp.grain").as_ptr()),
        (None, Some(k)) => {
            let k = LLVMBuildIntCast2(b.raw, k, i64t, 1, ir::cstr("omp.ntasks").as_ptr());
            div_up(b, n, k)
        }
        (None, None) => {
            let (f, fty) = abi::runtime_fn(module, "omp_get_num_threads");
            let nth = b.call(fty, f, &[], "omp.nth");
            let nth = LLVMBuildIntCast2(b.raw, nth, i64t, 1, ir::cstr("omp.nth64").as_ptr());
            let four = LLVMConstInt(i64t, 4, 0);
            let k = LLVMBuildMul(b.raw, nth, four, ir::cstr("omp.k").as_ptr());
            div_up(b, n, k)
        }
    };
    at_least_one(b, chunk, "omp.c0", "omp.chunk")
}

/// A next marker's `{ more, lo, hi }`: the encountering thread's next chunk.
unsafe fn emit_next_chunk(
    b: &Builder,
    module: LLVMModuleRef,
    c: &ChunkLoop,
    ret_ty: LLVMTypeRef,
) -> Value {
    let ctx = LLVMGetModuleContext(module);
    let (i32t, i64t) = (LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx));
    let (f, fty) = abi::runtime_fn(module, "pyomp_loop_next");
    let args = [
        c.unused,
        c.state,
        LLVMConstInt(i32t, crate::runtime::STATIC_CHUNKED as u64, 0),
        c.chunk,
        LLVMConstInt(i32t, 0, 0),
        LLVMConstInt(i32t, 1, 0),
        c.lb,
        c.ub,
    ];
    let got = b.call(fty, f, &args, "omp.chunk.got");
    let more = LLVMBuildICmp(
        b.raw,
        LLVMIntPredicate::LLVMIntNE,
        got,
        LLVMConstInt(i32t, 0, 0),
        ir::cstr("omp.more").as_ptr(),
    );
    let lo = b.load(i64t, c.lb, "omp.lo");
    let hi = b.load(i64t, c.ub, "omp.hi");
    let first = LLVMStructGetTypeAtIndex(ret_ty, 0);
    let more = if LLVMGetIntTypeWidth(first) != 1 {
        LLVMBuildZExt(b.raw, more, first, ir::cstr("omp.more.z").as_ptr())
    } else {
        more
    };
    let mut v = LLVMGetUndef(ret_ty);
    for (i, part) in [more, lo, hi].into_iter().enumerate() {
        v = LLVMBuildInsertValue(b.raw, v, part, i as u32, ir::cstr("omp.chunk").as_ptr());
    }
    v
}
