//! The profiler's instrumentation: after the regions are lowered, the runtime calls that
//! start, end or wait in a construct get the recorder's calls around them; then every
//! recorder call (these and those the loop and ordered lowerings emitted) goes behind a
//! test of `pyomp_profile_on` (one relaxed load and a branch when profiling is off).
//!
//! Every such call takes the construct's `ident_t` as its first argument, which becomes
//! the interval's site (its psource names file, function, line and column):
//!
//! ```text
//! __kmpc_fork_call / _teams      parallel around it; the microtask's body on each thread
//!                                (a = the region's argument struct, in both)
//! __kmpc_omp_task_alloc          the task entry's body (a = the task) on the thread running it
//! __kmpc_omp_task[_with_deps]    task creation around it (a = the task)
//! __kmpc_serialized_parallel .. end  parallel (an if(false) region; its body as above)
//! __kmpc_barrier, pyomp_orphan_barrier   barrier around it
//! __kmpc_critical ... end        critical wait around the first, critical held between
//! __kmpc_single / master / masked ... end   the body, on the thread that runs it
//! __kmpc_omp_taskwait, __kmpc_end_taskgroup  the wait around it
//! ```
//! Lock waits are recorded by the lock routines themselves (numba_ext/pyomp/runtime/
//! lock_waits.py: Numba compiles them in modules the pass never sees). Worksharing loops
//! and their chunks are computed inline by the pass (no runtime call to
//! wrap): worksharing/ emits their events with `emit_*` below.

use crate::abi;
use crate::ir::{self, Builder, Value};
use crate::profile::record::kind;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMAtomicOrdering;

/// What to emit at one runtime call.
enum Action {
    Around {
        kind: u32,
        arg_a: Option<u32>,
    },
    BeginAfter {
        kind: u32,
        gated: bool,
    },
    EndBefore {
        kind: u32,
    },
    /// The function passed as argument `arg` runs the construct's body: `kind` over it.
    Body {
        kind: u32,
        arg: u32,
        param_a: Option<u32>,
    },
}

const fn around(kind: u32) -> Action {
    Action::Around { kind, arg_a: None }
}

const fn begin_after(kind: u32, gated: bool) -> Action {
    Action::BeginAfter { kind, gated }
}

const fn end_before(kind: u32) -> Action {
    Action::EndBefore { kind }
}

fn action(name: &str) -> Vec<Action> {
    use Action::*;
    match name {
        // a = the region's argument struct, the same in the fork and in each thread's
        // body: which bodies belong to which region when regions of one site overlap
        // (several Python threads)
        "__kmpc_fork_call" | "__kmpc_fork_teams" => vec![
            Around {
                kind: match name {
                    "__kmpc_fork_teams" => kind::TEAMS,
                    _ => kind::PARALLEL,
                },
                arg_a: Some(3),
            },
            Body {
                kind: kind::BODY,
                arg: 2,
                param_a: Some(2),
            },
        ],
        "__kmpc_omp_task_alloc" => vec![Body {
            kind: kind::TASK,
            arg: 5,
            param_a: Some(1),
        }],
        "__kmpc_omp_task" | "__kmpc_omp_task_with_deps" => vec![Around {
            kind: kind::TASK_CREATE,
            arg_a: Some(2),
        }],
        "__kmpc_serialized_parallel" => vec![begin_after(kind::PARALLEL, false)],
        "__kmpc_end_serialized_parallel" => vec![end_before(kind::PARALLEL)],
        "__kmpc_barrier" | "pyomp_orphan_barrier" => vec![around(kind::BARRIER)],
        // Each action inserts right after the call: the last one listed runs first.
        "__kmpc_critical" => vec![
            begin_after(kind::CRITICAL, false),
            around(kind::CRITICAL_WAIT),
        ],
        "__kmpc_end_critical" => vec![end_before(kind::CRITICAL)],
        "__kmpc_single" => vec![begin_after(kind::SINGLE, true)],
        "__kmpc_end_single" => vec![end_before(kind::SINGLE)],
        "__kmpc_master" | "__kmpc_masked" => vec![begin_after(kind::MASTER, true)],
        "__kmpc_end_master" | "__kmpc_end_masked" => vec![end_before(kind::MASTER)],
        "__kmpc_omp_taskwait" => vec![around(kind::TASKWAIT)],
        "__kmpc_end_taskgroup" => vec![around(kind::TASKGROUP_WAIT)],
        _ => vec![],
    }
}

/// Instruments every function of `module` (after the regions are lowered).
pub fn instrument_module(module: LLVMModuleRef) {
    let mut calls = Vec::new();
    for f in ir::functions(module) {
        for block in ir::blocks(f) {
            for inst in ir::instructions(block) {
                if ir::opcode(inst) != llvm_sys::LLVMOpcode::LLVMCall {
                    continue;
                }
                if let Some(name) = ir::called_name(inst) {
                    calls.push((inst, name));
                }
            }
        }
    }
    let mut bodies = Vec::new();
    for (call, name) in calls {
        for act in action(&name) {
            apply(module, call, act, &mut bodies);
        }
    }
    guard_recorder_calls(module);
}

fn apply(module: LLVMModuleRef, call: Value, act: Action, bodies: &mut Vec<Value>) {
    let args = ir::call_args(call);
    // team_frame.rs's orphaned barrier takes libomp's barrier function first
    let site_at = match ir::called_name(call).as_deref() {
        Some("pyomp_orphan_barrier") => 1,
        _ => 0,
    };
    let Some(&site) = args.get(site_at) else {
        return;
    };
    let site = checked_site(module, call, site);
    match act {
        Action::Around { kind, arg_a } => {
            let a = arg_a.and_then(|i| args.get(i as usize).copied());
            emit_begin(module, call, kind, site, None, a);
            emit_end(module, next_instruction(call), kind, site);
        }
        Action::BeginAfter { kind, gated } => {
            let active = gated.then_some(call);
            emit_begin(module, next_instruction(call), kind, site, active, None);
        }
        Action::EndBefore { kind } => emit_end(module, call, kind, site),
        Action::Body { kind, arg, param_a } => {
            let Some(&f) = args.get(arg as usize) else {
                return;
            };
            let f = unsafe { strip_casts(f) };
            let skip = unsafe { LLVMIsAFunction(f).is_null() || LLVMCountBasicBlocks(f) == 0 };
            if skip || bodies.contains(&f) {
                return;
            }
            bodies.push(f);
            instrument_body(module, f, kind, site, param_a);
        }
    }
}

/// `site` if it is an `ident_t` constant; else one naming the calling function, no line:
/// the collector reads every site's psource, so nothing else may pass for one (the
/// front end's `tasks.wait_for_child_tasks` calls `__kmpc_omp_taskwait` with a null ident).
fn checked_site(module: LLVMModuleRef, call: Value, site: Value) -> Value {
    unsafe {
        let g = LLVMIsAGlobalVariable(site);
        if !g.is_null() {
            let init = LLVMGetInitializer(g);
            let is_ident = !init.is_null()
                && LLVMGetTypeKind(LLVMTypeOf(init)) == llvm_sys::LLVMTypeKind::LLVMStructTypeKind
                && LLVMCountStructElementTypes(LLVMTypeOf(init)) == 5;
            if is_ident {
                return site;
            }
        }
    }
    let func = ir::parent_function(ir::parent_block(call));
    abi::ident(module, "", &ir::name_of(func), 0, 0)
}

unsafe fn strip_casts(v: Value) -> Value {
    if !LLVMIsAConstantExpr(v).is_null() {
        return LLVMGetOperand(v, 0);
    }
    v
}

/// `kind` from the entry of `f` to each of its returns.
fn instrument_body(module: LLVMModuleRef, f: Value, kind: u32, site: Value, param: Option<u32>) {
    let blocks = ir::blocks(f);
    let rets: Vec<Value> = blocks
        .iter()
        .filter_map(|&b| ir::terminator(b))
        .filter(|&t| ir::opcode(t) == llvm_sys::LLVMOpcode::LLVMRet)
        .collect();
    let first = ir::instructions(blocks[0])
        .into_iter()
        .find(|&i| ir::opcode(i) != llvm_sys::LLVMOpcode::LLVMAlloca)
        .expect("a block ends in a terminator");
    let a = param.map(|i| unsafe { LLVMGetParam(f, i) });
    emit_begin(module, first, kind, site, None, a);
    for ret in rets {
        emit_end(module, ret, kind, site);
    }
}

fn next_instruction(inst: Value) -> Value {
    unsafe { LLVMGetNextInstruction(inst) }
}

/// `pyomp_prof_begin(kind, site, active, a)` before `at` (guarded by `guard_recorder_calls`).
pub fn emit_begin(
    module: LLVMModuleRef,
    at: Value,
    kind: u32,
    site: Value,
    active: Option<Value>,
    a: Option<Value>,
) {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let b = Builder::new(ctx);
        b.before(at);
        let (f, fty) = abi::runtime_fn(module, "pyomp_prof_begin");
        let i64t = LLVMInt64TypeInContext(ctx);
        let active = match active {
            Some(v) => LLVMBuildZExtOrBitCast(b.raw, v, i64t, ir::cstr("").as_ptr()),
            None => LLVMConstInt(i64t, 1, 0),
        };
        let a = match a {
            Some(v) => as_i64(&b, v),
            None => LLVMConstInt(i64t, 0, 0),
        };
        let k = LLVMConstInt(LLVMInt32TypeInContext(ctx), kind as u64, 0);
        b.call(fty, f, &[k, site, active, a], "");
    }
}

unsafe fn as_i64(b: &Builder, v: Value) -> Value {
    let i64t = LLVMInt64TypeInContext(LLVMGetTypeContext(LLVMTypeOf(v)));
    let name = ir::cstr("");
    match LLVMGetTypeKind(LLVMTypeOf(v)) {
        llvm_sys::LLVMTypeKind::LLVMPointerTypeKind => {
            LLVMBuildPtrToInt(b.raw, v, i64t, name.as_ptr())
        }
        _ => LLVMBuildZExtOrBitCast(b.raw, v, i64t, name.as_ptr()),
    }
}

/// `pyomp_prof_end(kind, site)` before `at` (guarded by `guard_recorder_calls`).
pub fn emit_end(module: LLVMModuleRef, at: Value, kind: u32, site: Value) {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let b = Builder::new(ctx);
        b.before(at);
        let (f, fty) = abi::runtime_fn(module, "pyomp_prof_end");
        let k = LLVMConstInt(LLVMInt32TypeInContext(ctx), kind as u64, 0);
        b.call(fty, f, &[k, site], "");
    }
}

/// Where `pyomp_prof_chunk` takes its gate (`emit_chunk`): `guard` tests it, not the flag.
const CHUNK_GATE: usize = 4;

/// The flag, read before `at`: a loop reads it once at its start and its chunks are
/// recorded by that reading (`emit_chunk`'s gate), which costs a chunk a register test,
/// not a load from memory.
pub fn read_flag(module: LLVMModuleRef, at: Value) -> Value {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let b = Builder::new(ctx);
        b.before(at);
        load_flag(module, &b)
    }
}

/// `pyomp_prof_chunk(site, more, lo, hi, gate)` at the builder's position (a loop's next
/// chunk), recorded when `gate` (`read_flag` at the loop's start) is nonzero.
pub fn emit_chunk(module: LLVMModuleRef, b: &Builder, site: Value, chunk: [Value; 3], gate: Value) {
    unsafe {
        let args = chunk.map(|v| as_i64(b, v));
        let (f, fty) = abi::runtime_fn(module, "pyomp_prof_chunk");
        let call_args = [site, args[0], args[1], args[2], gate];
        b.call(fty, f, &call_args, "");
    }
}

unsafe fn load_flag(module: LLVMModuleRef, b: &Builder) -> Value {
    let ctx = LLVMGetModuleContext(module);
    let i32t = LLVMInt32TypeInContext(ctx);
    let on = LLVMBuildLoad2(
        b.raw,
        i32t,
        profile_flag(module),
        ir::cstr("omp.prof.on").as_ptr(),
    );
    LLVMSetOrdering(on, LLVMAtomicOrdering::LLVMAtomicOrderingMonotonic);
    LLVMSetAlignment(on, 4);
    on
}

/// Puts each call to the recorder on a path taken only while `pyomp_profile_on` is set.
/// Done last, once every region is lowered: the construct lowerings emit plain calls, so
/// no block they hold is split under them.
fn guard_recorder_calls(module: LLVMModuleRef) {
    let mut calls = Vec::new();
    for f in ir::functions(module) {
        for block in ir::blocks(f) {
            for inst in ir::instructions(block) {
                let is_call = ir::opcode(inst) == llvm_sys::LLVMOpcode::LLVMCall;
                if is_call && ir::called_name(inst).is_some_and(|n| n.starts_with("pyomp_prof_")) {
                    calls.push(inst);
                }
            }
        }
    }
    for call in calls {
        guard(module, call);
    }
}

/// `block: ... call ... rest` -> `block: ... br on, then, cont`, `then: call; br cont`,
/// `cont: rest`.
fn guard(module: LLVMModuleRef, call: Value) {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let block = ir::parent_block(call);
        let then = ir::split_before(call, "omp.prof");
        let cont = ir::split_before(next_instruction(call), "omp.prof.cont");
        let br = ir::terminator(block).expect("split leaves a branch");
        let b = Builder::new(ctx);
        b.before(br);
        // a chunk's gate is its loop's reading of the flag (emit_chunk)
        let on = match ir::called_name(call).as_deref() {
            Some("pyomp_prof_chunk") => ir::call_args(call)[CHUNK_GATE],
            _ => load_flag(module, &b),
        };
        let zero = LLVMConstInt(LLVMInt32TypeInContext(ctx), 0, 0);
        let c = LLVMBuildICmp(
            b.raw,
            llvm_sys::LLVMIntPredicate::LLVMIntNE,
            on,
            zero,
            ir::cstr("omp.prof.is.on").as_ptr(),
        );
        let cond = b.cond_br(c, then, cont);
        // Rarely taken: keep the recorder's calls out of the hot path's layout.
        set_unlikely(ctx, cond);
        ir::erase(br);
    }
}

unsafe fn set_unlikely(ctx: LLVMContextRef, br: Value) {
    let i32t = LLVMInt32TypeInContext(ctx);
    let s = "branch_weights";
    let mut ops = [
        LLVMMDStringInContext2(ctx, s.as_ptr() as *const _, s.len()),
        LLVMValueAsMetadata(LLVMConstInt(i32t, 1, 0)),
        LLVMValueAsMetadata(LLVMConstInt(i32t, 1000, 0)),
    ];
    let md = LLVMMDNodeInContext2(ctx, ops.as_mut_ptr(), ops.len());
    let kind_name = "prof";
    let id = LLVMGetMDKindIDInContext(ctx, kind_name.as_ptr() as *const _, kind_name.len() as u32);
    LLVMSetMetadata(br, id, LLVMMetadataAsValue(ctx, md));
}

/// `@pyomp_profile_on`, the recorder's flag (crate::profile::record), declared on first use.
fn profile_flag(module: LLVMModuleRef) -> Value {
    unsafe {
        let name = ir::cstr("pyomp_profile_on");
        let g = LLVMGetNamedGlobal(module, name.as_ptr());
        if !g.is_null() {
            return g;
        }
        let ctx = LLVMGetModuleContext(module);
        LLVMAddGlobal(module, LLVMInt32TypeInContext(ctx), name.as_ptr())
    }
}
