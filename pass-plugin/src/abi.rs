//! Every OpenMP runtime entry point the pass emits, in one table (cf. LLVM's OMPKinds.def):
//! the libomp `__kmpc_*` ABI Clang uses. Only this module names them; Python's
//! `pyomp/runtime/symbols.py` lists the same names so the loader can check them at import
//! (a cargo test keeps the two in step).

use crate::ir::{cstr, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::*;

/// The types a runtime signature is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum T {
    Void,
    I32,
    I64,
    Ptr,
}

/// name, return type, parameters, variadic.
pub const RUNTIME: &[(&str, T, &[T], bool)] = &[
    // ident_t* -> global thread id of the caller
    ("__kmpc_global_thread_num", T::I32, &[T::Ptr], false),
    // ident_t*, argc, microtask(i32* gtid, i32* btid, ...), captured args...
    ("__kmpc_fork_call", T::Void, &[T::Ptr, T::I32, T::Ptr], true),
    (
        "__kmpc_push_num_threads",
        T::Void,
        &[T::Ptr, T::I32, T::I32],
        false,
    ),
    (
        "__kmpc_push_proc_bind",
        T::Void,
        &[T::Ptr, T::I32, T::I32],
        false,
    ),
    (
        "__kmpc_serialized_parallel",
        T::Void,
        &[T::Ptr, T::I32],
        false,
    ),
    (
        "__kmpc_end_serialized_parallel",
        T::Void,
        &[T::Ptr, T::I32],
        false,
    ),
    // ident_t*, gtid, kmp_critical_name* (int[8])
    ("__kmpc_critical", T::Void, &[T::Ptr, T::I32, T::Ptr], false),
    (
        "__kmpc_end_critical",
        T::Void,
        &[T::Ptr, T::I32, T::Ptr],
        false,
    ),
    ("__kmpc_barrier", T::Void, &[T::Ptr, T::I32], false),
    // ident_t*, gtid -> 1 for the thread that runs the block
    ("__kmpc_master", T::I32, &[T::Ptr, T::I32], false),
    ("__kmpc_end_master", T::Void, &[T::Ptr, T::I32], false),
    ("__kmpc_masked", T::I32, &[T::Ptr, T::I32, T::I32], false),
    ("__kmpc_end_masked", T::Void, &[T::Ptr, T::I32], false),
    ("__kmpc_single", T::I32, &[T::Ptr, T::I32], false),
    ("__kmpc_flush", T::Void, &[T::Ptr], false),
    // the user API, for schedule(runtime) in pyomp's own dispatcher
    ("omp_get_schedule", T::Void, &[T::Ptr, T::Ptr], false),
    ("omp_get_thread_num", T::I32, &[], false),
    ("omp_get_num_threads", T::I32, &[], false),
    // the team size a fork without num_threads asks for (the GIL is kept for a team of 1)
    ("omp_get_max_threads", T::I32, &[], false),
    // whether cancel constructs take effect (OMP_CANCELLATION)
    ("omp_get_cancellation", T::I32, &[], false),
    // pyomp_task_alloc_size asks them whether the thread is a root (runtime.rs)
    ("omp_get_level", T::I32, &[], false),
    ("omp_get_ancestor_thread_num", T::I32, &[T::I32], false),
    // a target region's end restores the default-device ICV (crate::device)
    ("omp_set_default_device", T::Void, &[T::I32], false),
    // teams: ident_t*, gtid, num_teams, thread_limit; ident_t*, argc, microtask, args...
    (
        "__kmpc_push_num_teams",
        T::Void,
        &[T::Ptr, T::I32, T::I32, T::I32],
        false,
    ),
    (
        "__kmpc_fork_teams",
        T::Void,
        &[T::Ptr, T::I32, T::Ptr],
        true,
    ),
    // a distribute loop's static schedule counts the league's teams
    ("omp_get_team_num", T::I32, &[], false),
    ("omp_get_num_teams", T::I32, &[], false),
    // ident_t*, gtid, flags (1 tied), sizeof_kmp_task_t (+ privates), sizeof_shareds,
    // entry i32(i32 gtid, ptr task) -> kmp_task_t*
    (
        "__kmpc_omp_task_alloc",
        T::Ptr,
        &[T::Ptr, T::I32, T::I32, T::I64, T::I64, T::Ptr],
        false,
    ),
    ("__kmpc_omp_task", T::I32, &[T::Ptr, T::I32, T::Ptr], false),
    // ident_t*, gtid, task, ndeps, kmp_depend_info*, ndeps_noalias, noalias list
    (
        "__kmpc_omp_task_with_deps",
        T::I32,
        &[T::Ptr, T::I32, T::Ptr, T::I32, T::Ptr, T::I32, T::Ptr],
        false,
    ),
    // ident_t*, gtid, ndeps, kmp_depend_info*, ndeps_noalias, noalias list
    (
        "__kmpc_omp_wait_deps",
        T::Void,
        &[T::Ptr, T::I32, T::I32, T::Ptr, T::I32, T::Ptr],
        false,
    ),
    // if(false): the encountering thread runs the task at once
    (
        "__kmpc_omp_task_begin_if0",
        T::Void,
        &[T::Ptr, T::I32, T::Ptr],
        false,
    ),
    (
        "__kmpc_omp_task_complete_if0",
        T::Void,
        &[T::Ptr, T::I32, T::Ptr],
        false,
    ),
    ("__kmpc_omp_taskwait", T::I32, &[T::Ptr, T::I32], false),
    (
        "__kmpc_omp_taskyield",
        T::I32,
        &[T::Ptr, T::I32, T::I32],
        false,
    ),
    ("__kmpc_taskgroup", T::Void, &[T::Ptr, T::I32], false),
    ("__kmpc_end_taskgroup", T::Void, &[T::Ptr, T::I32], false),
    // ident_t*, gtid: wait for / pass on the current iteration's turn
    ("__kmpc_ordered", T::Void, &[T::Ptr, T::I32], false),
    ("__kmpc_end_ordered", T::Void, &[T::Ptr, T::I32], false),
    // ident_t*, gtid: the end of one iteration of an ordered dynamic-dispatch loop
    ("__kmpc_dispatch_fini_8", T::Void, &[T::Ptr, T::I32], false),
    // ident_t*, gtid: after a thread's last dispatch_next (frees what libomp 19 allocates
    // for nonmonotonic work stealing; Clang 19 emits it after every dispatched loop)
    ("__kmpc_dispatch_deinit", T::Void, &[T::Ptr, T::I32], false),
    ("__kmpc_end_single", T::Void, &[T::Ptr, T::I32], false),
    // ident_t*, gtid, size, data (ptr[n] to the thread's variables), copy(dst, src), didit
    (
        "__kmpc_copyprivate",
        T::Void,
        &[T::Ptr, T::I32, T::I64, T::Ptr, T::Ptr, T::I32],
        false,
    ),
    // ident_t*, gtid, kind (1 parallel, 2 loop, 3 sections, 4 taskgroup) -> cancelled?
    ("__kmpc_cancel", T::I32, &[T::Ptr, T::I32, T::I32], false),
    // a barrier that returns nonzero (releasing its waiters) when the region was cancelled
    ("__kmpc_cancel_barrier", T::I32, &[T::Ptr, T::I32], false),
    // ident_t*, gtid, schedtype, i32* plastiter, i64* plower, i64* pupper, i64* pstride,
    // i64 incr, i64 chunk
    (
        "__kmpc_for_static_init_8",
        T::Void,
        &[
            T::Ptr,
            T::I32,
            T::I32,
            T::Ptr,
            T::Ptr,
            T::Ptr,
            T::Ptr,
            T::I64,
            T::I64,
        ],
        false,
    ),
    ("__kmpc_for_static_fini", T::Void, &[T::Ptr, T::I32], false),
    // ident_t*, gtid, schedtype, i64 lb, i64 ub, i64 st, i64 chunk
    (
        "__kmpc_dispatch_init_8",
        T::Void,
        &[T::Ptr, T::I32, T::I32, T::I64, T::I64, T::I64, T::I64],
        false,
    ),
    // ident_t*, gtid, i32* plastiter, i64* plower, i64* pupper, i64* pstride -> more?
    (
        "__kmpc_dispatch_next_8",
        T::I32,
        &[T::Ptr, T::I32, T::Ptr, T::Ptr, T::Ptr, T::Ptr],
        false,
    ),
];

fn llvm_type(ctx: LLVMContextRef, t: T) -> LLVMTypeRef {
    unsafe {
        match t {
            T::Void => LLVMVoidTypeInContext(ctx),
            T::I32 => LLVMInt32TypeInContext(ctx),
            T::I64 => LLVMInt64TypeInContext(ctx),
            T::Ptr => LLVMPointerTypeInContext(ctx, 0),
        }
    }
}

/// pyomp's own loop dispatcher (crate::runtime), registered with the JIT by `import pyomp`.
/// CPython's C API, resolved by the JIT in the Python process (Numba's own code calls
/// `PyGILState_Ensure` the same way); the loader checks these at import too.
pub const PYTHON_API: &[(&str, T, &[T], bool)] = &[
    // 1 when this thread holds the GIL
    ("PyGILState_Check", T::I32, &[], false),
    // releases the GIL -> the thread's state
    ("PyEval_SaveThread", T::Ptr, &[], false),
    ("PyEval_RestoreThread", T::Void, &[T::Ptr], false),
];

pub const PYOMP_RUNTIME: &[(&str, T, &[T], bool)] = &[
    // crate::profile::record: kind, site (ident_t*), active, a; kind, site; site, more, lo,
    // hi, gate (the loop's reading of the flag, which guards the call)
    (
        "pyomp_prof_begin",
        T::Void,
        &[T::I32, T::Ptr, T::I64, T::I64],
        false,
    ),
    ("pyomp_prof_end", T::Void, &[T::I32, T::Ptr], false),
    (
        "pyomp_prof_chunk",
        T::Void,
        &[T::Ptr, T::I64, T::I64, T::I64, T::I32],
        false,
    ),
    // crate::device: a target / target data construct's record -> the ICV to restore
    ("pyomp_target_end", T::I32, &[T::I64], false),
    // size, omp_get_level, omp_get_ancestor_thread_num -> the size to allocate
    (
        "pyomp_task_alloc_size",
        T::I64,
        &[T::I64, T::Ptr, T::Ptr],
        false,
    ),
    // LoopState*, n
    ("pyomp_loop_start", T::Void, &[T::Ptr, T::I64], false),
    // next*, LoopState*, kind, chunk, tid, nth, lo*, hi* -> got a chunk
    (
        "pyomp_loop_next",
        T::I32,
        &[
            T::Ptr,
            T::Ptr,
            T::I32,
            T::I64,
            T::I32,
            T::I32,
            T::Ptr,
            T::Ptr,
        ],
        false,
    ),
    // next*, LoopState*
    ("pyomp_loop_cancel", T::Void, &[T::Ptr, T::Ptr], false),
    // ticket*, LoopState*, iter, status*, cancelled* -> gave up (the team failed)
    (
        "pyomp_ordered_wait",
        T::I32,
        &[T::Ptr, T::Ptr, T::I64, T::Ptr, T::Ptr],
        false,
    ),
    // ticket*, LoopState*, iter
    (
        "pyomp_ordered_pass",
        T::Void,
        &[T::Ptr, T::Ptr, T::I64],
        false,
    ),
    // ticket*, LoopState*, iter, passed*, status*, cancelled*
    (
        "pyomp_ordered_end",
        T::Void,
        &[T::Ptr, T::Ptr, T::I64, T::Ptr, T::Ptr, T::Ptr],
        false,
    ),
    // crate::team_frame: frame*, passed*, stopped_at*, gate*, broadcast slot*, loop table*
    (
        "pyomp_team_enter",
        T::Void,
        &[T::Ptr, T::Ptr, T::Ptr, T::Ptr, T::Ptr, T::Ptr],
        false,
    ),
    ("pyomp_team_exit", T::Void, &[T::Ptr], false),
    // libomp's init fn, ident*, gtid, schedule, lb, ub, st, chunk, thread num, team size,
    // omp_get_schedule
    (
        "pyomp_orphan_dispatch_init",
        T::Void,
        &[
            T::Ptr,
            T::Ptr,
            T::I32,
            T::I32,
            T::I64,
            T::I64,
            T::I64,
            T::I64,
            T::I32,
            T::I32,
            T::Ptr,
        ],
        false,
    ),
    // libomp's next fn, ident*, gtid, last*, lb*, ub*, st* -> got a chunk
    (
        "pyomp_orphan_dispatch_next",
        T::I32,
        &[T::Ptr, T::Ptr, T::I32, T::Ptr, T::Ptr, T::Ptr, T::Ptr],
        false,
    ),
    // libomp's fini fn, ident*, gtid
    (
        "pyomp_orphan_dispatch_fini",
        T::Void,
        &[T::Ptr, T::Ptr, T::I32],
        false,
    ),
    // an orphaned ordered loop: iteration number; libomp's fn, ident*, gtid (-> skip)
    ("pyomp_orphan_iteration", T::Void, &[T::I64], false),
    (
        "pyomp_orphan_ordered_enter",
        T::I32,
        &[T::Ptr, T::Ptr, T::I32],
        false,
    ),
    (
        "pyomp_orphan_ordered_exit",
        T::Void,
        &[T::Ptr, T::Ptr, T::I32],
        false,
    ),
    (
        "pyomp_orphan_iteration_end",
        T::Void,
        &[T::Ptr, T::Ptr, T::I32],
        false,
    ),
    // barrier fn, copyprivate fn, ident*, gtid, size, data*, copy fn, chosen -> 1: leave
    (
        "pyomp_orphan_copyprivate",
        T::I32,
        &[
            T::Ptr,
            T::Ptr,
            T::Ptr,
            T::I32,
            T::I64,
            T::Ptr,
            T::Ptr,
            T::I32,
        ],
        false,
    ),
    // barrier fn, ident*, gtid -> 1: leave the region
    (
        "pyomp_orphan_barrier",
        T::I32,
        &[T::Ptr, T::Ptr, T::I32],
        false,
    ),
    // passed*, stopped_at*, gate*, barrier fn, ident*, gtid
    (
        "pyomp_team_stop",
        T::Void,
        &[T::Ptr, T::Ptr, T::Ptr, T::Ptr, T::Ptr, T::I32],
        false,
    ),
];

/// The declaration of runtime function `name` in `module` (added on first use) and its
/// function type. Panics only on a name missing from `RUNTIME` and `PYOMP_RUNTIME`: a bug
/// caught by tests.
pub fn runtime_fn(module: LLVMModuleRef, name: &str) -> (Value, LLVMTypeRef) {
    let &(_, ret, params, variadic) = RUNTIME
        .iter()
        .chain(PYOMP_RUNTIME)
        .chain(PYTHON_API)
        .find(|r| r.0 == name)
        .unwrap_or_else(|| panic!("{name} is not in abi::RUNTIME"));
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let mut ps: Vec<LLVMTypeRef> = params.iter().map(|&p| llvm_type(ctx, p)).collect();
        let fty = LLVMFunctionType(
            llvm_type(ctx, ret),
            ps.as_mut_ptr(),
            ps.len() as u32,
            variadic as i32,
        );
        let n = cstr(name);
        let mut f = LLVMGetNamedFunction(module, n.as_ptr());
        if f.is_null() {
            f = LLVMAddFunction(module, n.as_ptr(), fty);
        }
        (f, fty)
    }
}

/// `ident_t` for a source location: { i32 0, i32 flags, i32 0, i32 0, ptr ";file;func;line;col;;" }.
/// KMP_IDENT_KMPC (2) marks an ident made by a compiler for the kmpc ABI.
pub fn ident(module: LLVMModuleRef, file: &str, func: &str, line: u32, col: u32) -> Value {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let i32t = LLVMInt32TypeInContext(ctx);
        let ptr = LLVMPointerTypeInContext(ctx, 0);
        let psource = format!(";{file};{func};{line};{col};;");
        let bytes = cstr(&psource);
        let s = LLVMConstStringInContext2(ctx, bytes.as_ptr(), psource.len(), 0);
        let sg = LLVMAddGlobal(module, LLVMTypeOf(s), cstr(".pyomp.loc.str").as_ptr());
        LLVMSetInitializer(sg, s);
        LLVMSetGlobalConstant(sg, 1);
        LLVMSetLinkage(sg, llvm_sys::LLVMLinkage::LLVMPrivateLinkage);
        let mut fields = [
            LLVMConstInt(i32t, 0, 0),
            LLVMConstInt(i32t, 2, 0),
            LLVMConstInt(i32t, 0, 0),
            LLVMConstInt(i32t, 0, 0),
            sg,
        ];
        let mut ftys = [i32t, i32t, i32t, i32t, ptr];
        let sty = LLVMStructTypeInContext(ctx, ftys.as_mut_ptr(), 5, 0);
        let init = LLVMConstNamedStruct(sty, fields.as_mut_ptr(), 5);
        let g = LLVMAddGlobal(module, sty, cstr(".pyomp.ident").as_ptr());
        LLVMSetInitializer(g, init);
        LLVMSetGlobalConstant(g, 1);
        LLVMSetLinkage(g, llvm_sys::LLVMLinkage::LLVMPrivateLinkage);
        g
    }
}

#[cfg(test)]
mod tests {
    use super::{PYOMP_RUNTIME, PYTHON_API, RUNTIME};

    /// pyomp's own runtime functions: each one the pass may call is registered with the JIT
    /// (and each registered one is declared here), so no call goes unresolved.
    #[test]
    fn pyomp_runtime_declarations_match_the_registered_functions() {
        let mut registered: Vec<&str> = crate::runtime::symbols()
            .into_iter()
            .chain(crate::team_frame::symbols())
            .chain(crate::profile::record::symbols())
            .map(|(name, _)| name)
            .filter(|&name| name != "pyomp_profile_on") // the flag, not a function
            .chain(["pyomp_target_end"]) // the only device function the pass calls
            .collect();
        let mut declared: Vec<&str> = PYOMP_RUNTIME.iter().map(|r| r.0).collect();
        registered.sort_unstable();
        declared.sort_unstable();
        assert_eq!(registered, declared);
        let devices: Vec<&str> = crate::device::symbols().iter().map(|s| s.0).collect();
        assert!(devices.contains(&"pyomp_target_end"));
    }

    /// The Python loader checks these symbols at import; a name emitted here but missing
    /// there would be an unresolved call (a jump to address 0) at run time.
    #[test]
    fn every_runtime_function_is_checked_by_the_python_loader() {
        let symbols = include_str!("../../numba_ext/pyomp/runtime/symbols.py");
        for (name, ..) in RUNTIME.iter().chain(PYTHON_API) {
            assert!(
                symbols.contains(&format!("\"{name}\"")),
                "{name} missing from symbols.py"
            );
        }
    }
}
