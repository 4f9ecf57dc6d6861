//! Python exceptions raised by a team's threads reach the caller of the region.
//!
//! Numba's calling convention returns -1 for "a Python exception is set": object-mode code
//! (`with numba.objmode(...)`) set it in the thread's Python state, under the GIL it took
//! with `numba_gil_ensure` (`PyGILState_Ensure`), and returns right after giving the GIL
//! back (`numba_gil_release`). On a team's
//! thread other than the encountering one that state is the thread's own (and CPython
//! deletes it, exception and all, at that release, since the thread had none before):
//! after the join the encountering thread would return -1 with no exception set.
//!
//! So inside a parallel region each such release becomes a call of
//! `pyomp.pyerr.release.<release>`: while the thread still holds the GIL, an exception it has set is
//! fetched (`PyErr_Fetch`) into the team's slot (type, value, traceback) if no team mate's
//! is there yet (a compare-and-swap on the type; a later one is released). After the join,
//! `pyomp.pyerr.settle`: if the team failed with -1 the exception is restored
//! (`PyErr_Restore`) in the encountering thread, or, for a region inside another team's
//! region, handed to that team's slot; otherwise it is released. A -1 whose exception is
//! nowhere (set in a function the region calls, on another thread) becomes a RuntimeError
//! saying so rather than Python's "returned NULL without setting an exception".

use crate::ir::{self, Block, Builder, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::{LLVMAtomicOrdering, LLVMIntPredicate, LLVMLinkage, LLVMOpcode};

/// The team's slot: `[3 x ptr]`, an alloca of the region's `alloc_block` (its name starts
/// with "omp.team." so data sharing never privatises it).
const SLOT: &str = "omp.team.pyerr";
const RELEASE: &str = "pyomp.pyerr.release";
/// How Numba's code gives the GIL back: its helper (`pythonapi.gil_release`, a pointer to
/// the state) or CPython's own function.
const RELEASES: [&str; 2] = ["numba_gil_release", "PyGILState_Release"];
const SETTLE: &str = "pyomp.pyerr.settle";

const LOST: &str = "a Python exception raised on a thread of an OpenMP region was lost: it \
was raised in object mode inside a function the region calls; pyomp passes on the ones \
raised by `numba.objmode` blocks written in the region itself";

fn ptr_t(ctx: LLVMContextRef) -> LLVMTypeRef {
    unsafe { LLVMPointerTypeInContext(ctx, 0) }
}

fn slot_t(ctx: LLVMContextRef) -> LLVMTypeRef {
    unsafe { LLVMArrayType2(ptr_t(ctx), 3) }
}

/// The function `name` of `module`, declared with type `fty` if it is not there.
fn declared(module: LLVMModuleRef, name: &str, fty: LLVMTypeRef) -> Value {
    unsafe {
        let f = LLVMGetNamedFunction(module, ir::cstr(name).as_ptr());
        if f.is_null() {
            LLVMAddFunction(module, ir::cstr(name).as_ptr(), fty)
        } else {
            f
        }
    }
}

fn fn_type(ret: LLVMTypeRef, params: &[LLVMTypeRef]) -> LLVMTypeRef {
    let mut p = params.to_vec();
    unsafe { LLVMFunctionType(ret, p.as_mut_ptr(), p.len() as u32, 0) }
}

fn call(b: &Builder, module: LLVMModuleRef, name: &str, fty: LLVMTypeRef, args: &[Value]) -> Value {
    let f = declared(module, name, fty);
    b.call(fty, f, args, "")
}

/// The team's slot in `alloc_block`, if a region made one there (LLVM numbers the name of
/// a second one in the function: a nested region's, made first, has the plain name).
pub fn find_slot(alloc_block: Block) -> Option<Value> {
    ir::instructions(alloc_block).into_iter().find(|&i| {
        ir::opcode(i) == LLVMOpcode::LLVMAlloca
            && ir::name_of(i)
                .strip_prefix(SLOT)
                .is_some_and(|n| n.bytes().all(|c| c.is_ascii_digit()))
    })
}

/// The team's slot for a region whose team-wide slots live in `alloc_block`, null again
/// before each run of the region (at the end of `pre`).
pub fn team_slot(ctx: LLVMContextRef, alloc_block: Block, pre: Block) -> Value {
    let b = Builder::new(ctx);
    let slot = find_slot(alloc_block).unwrap_or_else(|| {
        b.at_start(alloc_block);
        b.alloca(slot_t(ctx), SLOT)
    });
    let term = ir::terminator(pre).expect("pre block ends in a branch");
    let reset = ir::instructions(pre)
        .into_iter()
        .any(|i| ir::opcode(i) == LLVMOpcode::LLVMStore && ir::operands(i).get(1) == Some(&slot));
    if !reset {
        b.before(term);
        b.store(unsafe { LLVMConstNull(slot_t(ctx)) }, slot);
    }
    slot
}

/// Makes every `PyGILState_Release` in `blocks` (a parallel region, before lowering)
/// keep the exception its thread set in `slot` (module doc). Returns whether there was one.
pub fn keep_exceptions(module: LLVMModuleRef, blocks: &[Block], slot: Value) -> bool {
    let mut any = false;
    for &block in blocks {
        for inst in ir::instructions(block) {
            if ir::opcode(inst) != LLVMOpcode::LLVMCall {
                continue;
            }
            let Some(name) = ir::called_name(inst).filter(|n| RELEASES.contains(&n.as_str()))
            else {
                continue;
            };
            let args = ir::call_args(inst);
            let Some(&state) = args.first() else { continue };
            let ctx = unsafe { LLVMGetModuleContext(module) };
            let f = release_fn(module, &name, ir::type_of(state));
            let b = Builder::new(ctx);
            b.before(inst);
            b.call(unsafe { LLVMGlobalGetValueType(f) }, f, &[state, slot], "");
            ir::erase(inst);
            any = true;
        }
    }
    any
}

/// `void pyomp.pyerr.release.<release>(state, ptr slot)`, then `release(state)`: see the
/// module doc.
fn release_fn(module: LLVMModuleRef, release: &str, state_t: LLVMTypeRef) -> Value {
    unsafe {
        let own = format!("{RELEASE}.{release}");
        let existing = LLVMGetNamedFunction(module, ir::cstr(&own).as_ptr());
        if !existing.is_null() {
            return existing;
        }
        let ctx = LLVMGetModuleContext(module);
        let ptr = ptr_t(ctx);
        let void = LLVMVoidTypeInContext(ctx);
        let f = LLVMAddFunction(
            module,
            ir::cstr(&own).as_ptr(),
            fn_type(void, &[state_t, ptr]),
        );
        LLVMSetLinkage(f, LLVMLinkage::LLVMInternalLinkage);
        let (state, slot) = (LLVMGetParam(f, 0), LLVMGetParam(f, 1));
        let block = |name: &str| LLVMAppendBasicBlockInContext(ctx, f, ir::cstr(name).as_ptr());
        let (entry, fetch, keep, drop, done) = (
            block("entry"),
            block("fetch"),
            block("keep"),
            block("drop"),
            block("done"),
        );
        let b = Builder::new(ctx);
        b.at_end(entry);
        let parts: Vec<Value> = ["type", "value", "tb"]
            .iter()
            .map(|n| b.alloca(ptr, n))
            .collect();
        let pending = call(&b, module, "PyErr_Occurred", fn_type(ptr, &[]), &[]);
        let set = LLVMBuildIsNotNull(b.raw, pending, ir::cstr("set").as_ptr());
        b.cond_br(set, fetch, done);
        b.at_end(fetch);
        call(
            &b,
            module,
            "PyErr_Fetch",
            fn_type(void, &[ptr, ptr, ptr]),
            &parts,
        );
        let got: Vec<Value> = parts.iter().map(|&p| b.load(ptr, p, "")).collect();
        let pair = LLVMBuildAtomicCmpXchg(
            b.raw,
            slot_field(&b, ctx, slot, 0),
            LLVMConstNull(ptr),
            got[0],
            LLVMAtomicOrdering::LLVMAtomicOrderingSequentiallyConsistent,
            LLVMAtomicOrdering::LLVMAtomicOrderingSequentiallyConsistent,
            0,
        );
        let won = LLVMBuildExtractValue(b.raw, pair, 1, ir::cstr("first").as_ptr());
        b.cond_br(won, keep, drop);
        b.at_end(keep);
        b.store(got[1], slot_field(&b, ctx, slot, 1));
        b.store(got[2], slot_field(&b, ctx, slot, 2));
        b.br(done);
        b.at_end(drop);
        decref_all(&b, module, &got);
        b.br(done);
        b.at_end(done);
        call(&b, module, release, fn_type(void, &[state_t]), &[state]);
        LLVMBuildRetVoid(b.raw);
        f
    }
}

fn slot_field(b: &Builder, ctx: LLVMContextRef, slot: Value, i: u64) -> Value {
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let mut idx = [LLVMConstInt(i32t, 0, 0), LLVMConstInt(i32t, i, 0)];
        LLVMBuildInBoundsGEP2(
            b.raw,
            slot_t(ctx),
            slot,
            idx.as_mut_ptr(),
            2,
            ir::cstr("").as_ptr(),
        )
    }
}

fn decref_all(b: &Builder, module: LLVMModuleRef, objects: &[Value]) {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let fty = fn_type(unsafe { LLVMVoidTypeInContext(ctx) }, &[ptr_t(ctx)]);
    for &o in objects {
        call(b, module, "Py_DecRef", fty, &[o]); // Py_DecRef(NULL) does nothing
    }
}

/// At the end of `join` (before its terminator; the encountering thread, after the team
/// joined): settles the team's Python exception (module doc). `outer`: the enclosing
/// team's slot, for a region inside another team's region.
pub fn settle_after_join(
    module: LLVMModuleRef,
    join: Block,
    status: Value,
    slot: Value,
    outer: Option<Value>,
) {
    unsafe {
        let ctx = LLVMGetModuleContext(module);
        let f = settle_fn(module);
        let b = Builder::new(ctx);
        b.before(ir::terminator(join).expect("join ends in a branch"));
        let code = b.load(LLVMInt32TypeInContext(ctx), status, "omp.err.status.v");
        let outer = match outer {
            Some(o) if o != slot => o,
            _ => LLVMConstNull(ptr_t(ctx)),
        };
        b.call(LLVMGlobalGetValueType(f), f, &[code, slot, outer], "");
    }
}

/// The blocks of `pyomp.pyerr.settle` (see settle_fn).
struct SettleBlocks {
    empty: Block,
    check_lost: Block,
    lost: Block,
    held: Block,
    failed: Block,
    pass_up: Block,
    passed: Block,
    restore: Block,
    drop: Block,
    release: Block,
    done: Block,
}

/// What the two halves of `pyomp.pyerr.settle` test: the status is -1 (a Python error),
/// there is no outer slot (the top of the region nest).
struct SettleFlags {
    is_exc: Value,
    no_outer: Value,
}

/// `void pyomp.pyerr.settle(i32 status, ptr slot, ptr outer)`: see the module doc.
fn settle_fn(module: LLVMModuleRef) -> Value {
    unsafe {
        let existing = LLVMGetNamedFunction(module, ir::cstr(SETTLE).as_ptr());
        if !existing.is_null() {
            return existing;
        }
        let ctx = LLVMGetModuleContext(module);
        let (ptr, i32t) = (ptr_t(ctx), LLVMInt32TypeInContext(ctx));
        let void = LLVMVoidTypeInContext(ctx);
        let f = LLVMAddFunction(
            module,
            ir::cstr(SETTLE).as_ptr(),
            fn_type(void, &[i32t, ptr, ptr]),
        );
        LLVMSetLinkage(f, LLVMLinkage::LLVMInternalLinkage);
        let (status, slot, outer) = (LLVMGetParam(f, 0), LLVMGetParam(f, 1), LLVMGetParam(f, 2));
        let block = |name: &str| LLVMAppendBasicBlockInContext(ctx, f, ir::cstr(name).as_ptr());
        let entry = block("entry");
        let (empty, check_lost, lost, held) = (
            block("empty"),
            block("check.lost"),
            block("lost"),
            block("held"),
        );
        let (failed, pass_up, passed, restore, drop, release, done) = (
            block("failed"),
            block("pass.up"),
            block("passed"),
            block("restore"),
            block("drop"),
            block("release"),
            block("done"),
        );
        let blocks = SettleBlocks {
            empty,
            check_lost,
            lost,
            held,
            failed,
            pass_up,
            passed,
            restore,
            drop,
            release,
            done,
        };
        let b = Builder::new(ctx);
        b.at_end(entry);
        let minus_one = LLVMConstInt(i32t, u64::MAX, 1);
        let is_exc = LLVMBuildICmp(
            b.raw,
            LLVMIntPredicate::LLVMIntEQ,
            status,
            minus_one,
            ir::cstr("py").as_ptr(),
        );
        let no_outer = LLVMBuildIsNull(b.raw, outer, ir::cstr("top").as_ptr());
        let t = b.load(ptr, slot_field(&b, ctx, slot, 0), "type");
        let has = LLVMBuildIsNotNull(b.raw, t, ir::cstr("has").as_ptr());
        b.cond_br(has, held, empty);
        let flags = SettleFlags { is_exc, no_outer };
        settle_nothing_kept(&b, module, f, &blocks, &flags);
        settle_kept(&b, module, &blocks, &flags, (slot, outer, t));
        b.at_end(done);
        LLVMBuildRetVoid(b.raw);
        f
    }
}

/// Nothing kept in the slot: a -1 at the top must have its exception set in this thread
/// (else a RuntimeError says it was lost).
unsafe fn settle_nothing_kept(
    b: &Builder,
    module: LLVMModuleRef,
    f: Value,
    blocks: &SettleBlocks,
    flags: &SettleFlags,
) {
    let ctx = LLVMGetModuleContext(module);
    let (ptr, i32t) = (ptr_t(ctx), LLVMInt32TypeInContext(ctx));
    let void = LLVMVoidTypeInContext(ctx);
    let ensure_t = fn_type(i32t, &[]);
    let release_t = fn_type(void, &[i32t]);
    b.at_end(blocks.empty);
    let top_exc = LLVMBuildAnd(
        b.raw,
        flags.is_exc,
        flags.no_outer,
        ir::cstr("top.py").as_ptr(),
    );
    b.cond_br(top_exc, blocks.check_lost, blocks.done);
    b.at_end(blocks.check_lost);
    let g = call(b, module, "PyGILState_Ensure", ensure_t, &[]);
    let pending = call(b, module, "PyErr_Occurred", fn_type(ptr, &[]), &[]);
    let none = LLVMBuildIsNull(b.raw, pending, ir::cstr("none").as_ptr());
    let after_lost = LLVMAppendBasicBlockInContext(ctx, f, ir::cstr("after.lost").as_ptr());
    b.cond_br(none, blocks.lost, after_lost);
    b.at_end(blocks.lost);
    let exc_global = {
        let name = ir::cstr("PyExc_RuntimeError");
        let mut gv = LLVMGetNamedGlobal(module, name.as_ptr());
        if gv.is_null() {
            gv = LLVMAddGlobal(module, ptr, name.as_ptr());
        }
        gv
    };
    // Numba registers each `PyExc_*` symbol as the exception class itself
    // (numba.core.base), and so uses the global's address as the object.
    let exc = exc_global;
    let text = LLVMBuildGlobalStringPtr(
        b.raw,
        ir::cstr(LOST).as_ptr(),
        ir::cstr("omp.pyerr.lost").as_ptr(),
    );
    call(
        b,
        module,
        "PyErr_SetString",
        fn_type(void, &[ptr, ptr]),
        &[exc, text],
    );
    b.br(after_lost);
    b.at_end(after_lost);
    call(b, module, "PyGILState_Release", release_t, &[g]);
    b.br(blocks.done);
}

/// A kept exception (`t`, its type, loaded from `slot`): taken out of the slot, under the
/// GIL; then restored (a -1 at the top), passed up to the `outer` slot if that is still
/// empty, or dropped.
unsafe fn settle_kept(
    b: &Builder,
    module: LLVMModuleRef,
    blocks: &SettleBlocks,
    flags: &SettleFlags,
    (slot, outer, t): (Value, Value, Value),
) {
    let ctx = LLVMGetModuleContext(module);
    let (ptr, i32t) = (ptr_t(ctx), LLVMInt32TypeInContext(ctx));
    let void = LLVMVoidTypeInContext(ctx);
    let ensure_t = fn_type(i32t, &[]);
    let release_t = fn_type(void, &[i32t]);
    b.at_end(blocks.held);
    let g = call(b, module, "PyGILState_Ensure", ensure_t, &[]);
    let v = b.load(ptr, slot_field(b, ctx, slot, 1), "value");
    let tb = b.load(ptr, slot_field(b, ctx, slot, 2), "tb");
    b.store(LLVMConstNull(slot_t(ctx)), slot);
    b.cond_br(flags.is_exc, blocks.failed, blocks.drop);
    b.at_end(blocks.failed);
    b.cond_br(flags.no_outer, blocks.restore, blocks.pass_up);
    b.at_end(blocks.pass_up);
    let pair = LLVMBuildAtomicCmpXchg(
        b.raw,
        slot_field(b, ctx, outer, 0),
        LLVMConstNull(ptr),
        t,
        LLVMAtomicOrdering::LLVMAtomicOrderingSequentiallyConsistent,
        LLVMAtomicOrdering::LLVMAtomicOrderingSequentiallyConsistent,
        0,
    );
    let won = LLVMBuildExtractValue(b.raw, pair, 1, ir::cstr("first").as_ptr());
    b.cond_br(won, blocks.passed, blocks.drop);
    b.at_end(blocks.passed);
    b.store(v, slot_field(b, ctx, outer, 1));
    b.store(tb, slot_field(b, ctx, outer, 2));
    b.br(blocks.release);
    b.at_end(blocks.restore);
    call(
        b,
        module,
        "PyErr_Restore",
        fn_type(void, &[ptr, ptr, ptr]),
        &[t, v, tb],
    );
    b.br(blocks.release);
    b.at_end(blocks.drop);
    decref_all(b, module, &[t, v, tb]);
    b.br(blocks.release);
    b.at_end(blocks.release);
    call(b, module, "PyGILState_Release", release_t, &[g]);
    b.br(blocks.done);
}
