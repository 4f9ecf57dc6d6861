//! The GIL around a fork.
//!
//! A thread that keeps the GIL through a region starves every team mate that needs it
//! (print, objmode, np.random seeding, a prange launch): they wait for it forever while
//! the holder waits for them at a barrier. With the GIL released, each thread (the master
//! included) takes it only where Numba itself does (`PyGILState_Ensure`).
//!
//! ```text
//! a region of the function itself (not in another region or task):
//!   if (slot == null) { slot = CHECKED; if (PyGILState_Check()) slot = PyEval_SaveThread() }
//!   fork ...                                     ; the GIL stays released after the join
//!   ret:  if (slot is a thread state) PyEval_RestoreThread(slot)
//! a region inside another region or task of the function:
//!   s = (team > 1 && PyGILState_Check()) ? PyEval_SaveThread() : null
//!   fork ...; if (s != null) PyEval_RestoreThread(s)
//! ```
//! Released once per call, the GIL stays released from the first fork to the return, as a
//! `nogil=True` function's is for the whole call: the code between the regions is
//! nopython code, which takes the GIL itself where it needs it. A loop of regions pays one
//! check, one release and one re-acquire per call; every later fork a load and a branch
//! (the release per region cost ~0.06 us at two threads, the checks ~0.02 us at one). A
//! team of one releases it too: deciding per region would cost more than it saves.
//! A region inside another region or task keeps the per-fork release (a team of one there
//! keeps the GIL): an outlined function must hand the GIL back before it returns into its
//! team's region, and such a thread rarely holds it (only after `objmode` called back into
//! Python).

use crate::abi;
use crate::ir::{self, Block, Builder, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::{LLVMIntPredicate, LLVMOpcode};

/// The name of the function's slot of the thread state a fork saved.
const SLOT: &str = "omp.gil.saved.slot";

/// Before `at` (in its block): releases the GIL if this thread holds it. `once_per_call`:
/// keeps it released until the function returns (see the module doc) and returns None;
/// otherwise only for a team that may have more than one thread (`team` builds the size
/// asked for), and returns the saved thread state (null when it did not release it) for
/// `take_back`.
pub fn release_for_fork(
    module: LLVMModuleRef,
    at: Value,
    team: impl FnOnce(&Builder) -> Value,
    once_per_call: bool,
) -> Option<Value> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let head = ir::parent_block(at);
    let released = ir::split_before(at, "omp.gil.released");
    if once_per_call {
        release_once(module, head, function_slot(ctx, ir::parent_function(head)));
        return None;
    }
    let b = Builder::new(ctx);
    let check_block = head;
    let save_bb = ir::if_then_at_end(ctx, check_block, |b| {
        let several = unsafe {
            let team = team(b);
            LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntSGT,
                team,
                LLVMConstInt(LLVMTypeOf(team), 1, 0),
                ir::cstr("omp.team.several").as_ptr(),
            )
        };
        let is_held = holds_gil(b, module);
        unsafe {
            LLVMBuildAnd(
                b.raw,
                is_held,
                several,
                ir::cstr("omp.gil.release").as_ptr(),
            )
        }
    });
    b.before(ir::terminator(save_bb).expect("then block ends in a branch"));
    let state = save_thread(&b, module);
    // if_then_at_end put a continuation between `check_block` and `released`.
    let cont = ir::successors(save_bb)[0];
    b.at_start(cont);
    let ptr = ptr_type(ctx);
    unsafe {
        let phi = LLVMBuildPhi(b.raw, ptr, ir::cstr("omp.gil.saved").as_ptr());
        let mut values = [LLVMConstNull(ptr), state];
        let mut blocks = [check_block, save_bb];
        LLVMAddIncoming(phi, values.as_mut_ptr(), blocks.as_mut_ptr(), 2);
        debug_assert!(ir::successors(cont).contains(&released));
        Some(phi)
    }
}

/// At the end of `head` (which ends in the branch to the fork): the first fork of the call
/// checks and, if the thread holds the GIL, releases it; later forks find the slot set.
fn release_once(module: LLVMModuleRef, head: Block, slot: Value) {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let first = ir::if_then_at_end(ctx, head, |b| {
        let saved = b.load(ptr_type(ctx), slot, "omp.gil.saved");
        is_null(b, saved, LLVMIntPredicate::LLVMIntEQ)
    });
    let save_bb = ir::if_then_at_end(ctx, first, |b| {
        b.store(checked(ctx), slot);
        holds_gil(b, module)
    });
    let b = Builder::new(ctx);
    b.before(ir::terminator(save_bb).expect("then block ends in a branch"));
    let state = save_thread(&b, module);
    b.store(state, slot);
}

/// The slot's value once a fork of the call checked and had nothing to release (a thread
/// state is a real address, never 1).
fn checked(ctx: LLVMContextRef) -> Value {
    unsafe {
        let one = LLVMConstInt(LLVMInt64TypeInContext(ctx), 1, 0);
        LLVMConstIntToPtr(one, ptr_type(ctx))
    }
}

/// At the start of `join`: takes the GIL back if the fork released it (`saved` not null).
/// Returns the block after that, which ends in `join`'s old branch.
pub fn take_back(module: LLVMModuleRef, join: Block, saved: Value) -> Block {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let restore_bb = ir::if_then_at_end(ctx, join, |b| {
        is_null(b, saved, LLVMIntPredicate::LLVMIntNE)
    });
    restore(module, restore_bb, saved);
    ir::successors(restore_bb)[0]
}

/// Before each return of `func`: takes the GIL back if one of its forks released it for
/// the rest of the call (after everything else placed before the returns: a thread waiting
/// for its tasks must not hold the GIL a task may need).
pub fn take_back_at_returns(module: LLVMModuleRef, func: Value) {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let Some(slot) = existing_slot(func) else {
        return;
    };
    let rets: Vec<Value> = ir::blocks(func)
        .into_iter()
        .filter_map(ir::terminator)
        .filter(|&t| ir::opcode(t) == LLVMOpcode::LLVMRet)
        .collect();
    for ret in rets {
        let mut saved = None;
        let restore_bb = ir::if_then_at_end(ctx, ir::parent_block(ret), |b| unsafe {
            // a thread state: neither null (no fork yet) nor `checked` (nothing released)
            let s = b.load(ptr_type(ctx), slot, "omp.gil.saved");
            saved = Some(s);
            let bits = LLVMBuildPtrToInt(
                b.raw,
                s,
                LLVMInt64TypeInContext(ctx),
                ir::cstr("omp.gil.bits").as_ptr(),
            );
            LLVMBuildICmp(
                b.raw,
                LLVMIntPredicate::LLVMIntUGT,
                bits,
                LLVMConstInt(LLVMInt64TypeInContext(ctx), 1, 0),
                ir::cstr("omp.gil.released").as_ptr(),
            )
        });
        if let Some(s) = saved {
            restore(module, restore_bb, s);
        }
    }
}

/// Whether this thread holds the GIL (`PyGILState_Check() != 0`), at the builder.
fn holds_gil(b: &Builder, module: LLVMModuleRef) -> Value {
    let (check, check_ty) = abi::runtime_fn(module, "PyGILState_Check");
    let held = b.call(check_ty, check, &[], "omp.gil.held");
    is_null(b, held, LLVMIntPredicate::LLVMIntNE)
}

/// `PyEval_SaveThread()` at the builder: the saved thread state.
fn save_thread(b: &Builder, module: LLVMModuleRef) -> Value {
    let (save, save_ty) = abi::runtime_fn(module, "PyEval_SaveThread");
    b.call(save_ty, save, &[], "omp.gil.state")
}

/// `PyEval_RestoreThread(saved)` at the end of `block`.
fn restore(module: LLVMModuleRef, block: Block, saved: Value) {
    let b = Builder::new(unsafe { LLVMGetModuleContext(module) });
    b.before(ir::terminator(block).expect("then block ends in a branch"));
    let (f, fty) = abi::runtime_fn(module, "PyEval_RestoreThread");
    b.call(fty, f, &[saved], "");
}

/// The function's slot, made (null) at the start of its entry block the first time.
fn function_slot(ctx: LLVMContextRef, func: Value) -> Value {
    existing_slot(func).unwrap_or_else(|| {
        let b = Builder::new(ctx);
        let entry = ir::blocks(func)[0];
        b.at_start(entry);
        let slot = b.alloca(ptr_type(ctx), SLOT);
        let init = b.store(unsafe { LLVMConstNull(ptr_type(ctx)) }, slot);
        debug_assert!(!init.is_null());
        slot
    })
}

fn existing_slot(func: Value) -> Option<Value> {
    ir::instructions(ir::blocks(func)[0])
        .into_iter()
        .find(|&i| ir::opcode(i) == LLVMOpcode::LLVMAlloca && ir::name_of(i) == SLOT)
}

fn ptr_type(ctx: LLVMContextRef) -> LLVMTypeRef {
    unsafe { LLVMPointerTypeInContext(ctx, 0) }
}

fn is_null(b: &Builder, v: Value, pred: LLVMIntPredicate) -> Value {
    unsafe {
        LLVMBuildICmp(
            b.raw,
            pred,
            v,
            LLVMConstNull(LLVMTypeOf(v)),
            ir::cstr("omp.gil.null").as_ptr(),
        )
    }
}
