//! `atomic` on a scalar variable, as one hardware atomic on the variable's storage.
//!
//! The front end (numba_ext/pyomp/atomics.py) turns the atomic statement into a call
//! `{T, T} @pyomp.atomic.<kind>.<op>.<order>.<T>(T %x, T %e)` whose first operand is loaded
//! from the variable's alloca (Numba IR has no address-of; the load names the alloca). The
//! call returns (old value, new value), from which capture forms take theirs:
//!
//! ```text
//! read            load atomic T, ptr %x.addr                  -> {v, v}
//! write           atomicrmw xchg ptr %x.addr, %e              -> {old, e}
//! update add/sub  atomicrmw [f]add / [f]sub ptr %x.addr, %e   -> {old, old op e}
//! update and/or/xor  atomicrmw and / or / xor
//! update mul      a compare-and-swap loop (no atomicrmw for it)
//! ```
//! Runs on every function before its regions are lowered: the parallel region's data
//! sharing then sees the variable written in the region (by the atomic) and passes its
//! address, and a private copy's replacement reaches the atomic's pointer too.

use crate::cas;
use crate::error::{PassError, PassResult};
use crate::ir::{self, Builder, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::{LLVMAtomicOrdering, LLVMAtomicRMWBinOp, LLVMOpcode, LLVMTypeKind};

pub const PREFIX: &str = "pyomp.atomic.";

/// Lowers every scalar atomic call in `func`.
pub fn lower_scalar_atomics(module: LLVMModuleRef, func: Value) -> PassResult<()> {
    let calls: Vec<Value> = ir::blocks(func)
        .into_iter()
        .flat_map(ir::instructions)
        .filter(|&i| {
            ir::called_name(i)
                .as_deref()
                .is_some_and(|n| n.starts_with(PREFIX))
        })
        .collect();
    for call in calls {
        lower_one(module, call)?;
    }
    Ok(())
}

fn internal(message: String) -> PassError {
    PassError::Internal { message }
}

fn ordering(name: &str) -> LLVMAtomicOrdering {
    match name {
        "seq_cst" => LLVMAtomicOrdering::LLVMAtomicOrderingSequentiallyConsistent,
        "acq_rel" => LLVMAtomicOrdering::LLVMAtomicOrderingAcquireRelease,
        "acquire" => LLVMAtomicOrdering::LLVMAtomicOrderingAcquire,
        "release" => LLVMAtomicOrdering::LLVMAtomicOrderingRelease,
        // OpenMP's default for atomics without a memory-order clause: relaxed
        _ => LLVMAtomicOrdering::LLVMAtomicOrderingMonotonic,
    }
}

/// Replaces one scalar atomic marker `pyomp.atomic.<kind>.<op>.<order>(x, e)` by the
/// atomic instruction(s) on x's storage.
fn lower_one(module: LLVMModuleRef, call: Value) -> PassResult<()> {
    let name = ir::called_name(call).unwrap_or_default();
    let parts: Vec<&str> = name[PREFIX.len()..].split('.').collect();
    let [kind, op, order, ..] = parts[..] else {
        return Err(internal(format!("malformed atomic marker {name}")));
    };
    let [x, e] = ir::call_args(call)[..] else {
        return Err(internal(format!("{name}: an atomic marker takes (x, e)")));
    };
    let addr = address_of(x)
        .ok_or_else(|| internal(format!("{name}: the variable's storage was not found")))?;
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let b = Builder::new(ctx);
    b.before(call);
    let ty = ir::type_of(x);
    let is_float = unsafe {
        matches!(
            LLVMGetTypeKind(ty),
            LLVMTypeKind::LLVMFloatTypeKind | LLVMTypeKind::LLVMDoubleTypeKind
        )
    };
    let order = ordering(order);
    let load_order = load_ordering(order);
    let (old, new) = unsafe {
        match (kind, op) {
            ("read", _) => {
                let v = b.load(ty, addr, "omp.atomic.read");
                LLVMSetOrdering(v, load_order);
                LLVMSetAlignment(v, (cas::bits_of(ty) / 8).max(1));
                (v, v)
            }
            ("write", _) => {
                let old = rmw(
                    &b,
                    LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpXchg,
                    addr,
                    e,
                    order,
                );
                (old, e)
            }
            ("update", "mul") => {
                let orders = cas::Orders {
                    load: load_order,
                    swap: order,
                };
                cas::cas_loop(&b, call, addr, ty, orders, |b, old| {
                    apply(b, "mul", is_float, old, e)
                })
            }
            ("update", op) => {
                let rmw_op = match (op, is_float) {
                    ("add", false) => LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpAdd,
                    ("add", true) => LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpFAdd,
                    ("sub", false) => LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpSub,
                    ("sub", true) => LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpFSub,
                    ("and", false) => LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpAnd,
                    ("or", false) => LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpOr,
                    ("xor", false) => LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpXor,
                    _ => return Err(internal(format!("{name}: no atomic for this operator"))),
                };
                let old = rmw(&b, rmw_op, addr, e, order);
                (old, apply(&b, op, is_float, old, e))
            }
            _ => return Err(internal(format!("unknown atomic marker {name}"))),
        }
    };
    replace_marker(&b, call, old, new);
    if ir::users(x).is_empty() {
        ir::erase(x);
    }
    Ok(())
}

/// The ordering of an atomic's load: loads may not be release; stores may not be acquire
/// (LLVM's rules).
fn load_ordering(order: LLVMAtomicOrdering) -> LLVMAtomicOrdering {
    match order {
        LLVMAtomicOrdering::LLVMAtomicOrderingRelease => {
            LLVMAtomicOrdering::LLVMAtomicOrderingMonotonic
        }
        LLVMAtomicOrdering::LLVMAtomicOrderingAcquireRelease => {
            LLVMAtomicOrdering::LLVMAtomicOrderingAcquire
        }
        o => o,
    }
}

/// Replaces the marker `call` by its result `{ old, new }` (the variable's value before and
/// after the atomic).
fn replace_marker(b: &Builder, call: Value, old: Value, new: Value) {
    let ret_ty = ir::type_of(call);
    let mut result = unsafe { LLVMGetUndef(ret_ty) };
    for (i, part) in [old, new].into_iter().enumerate() {
        result = unsafe {
            LLVMBuildInsertValue(
                b.raw,
                result,
                part,
                i as u32,
                ir::cstr("omp.atomic").as_ptr(),
            )
        };
    }
    unsafe { LLVMReplaceAllUsesWith(call, result) };
    ir::erase(call);
}

/// The alloca (or other pointer) `x` was loaded from.
fn address_of(x: Value) -> Option<Value> {
    (ir::is_instruction(x) && ir::opcode(x) == LLVMOpcode::LLVMLoad).then(|| ir::operands(x)[0])
}

unsafe fn rmw(
    b: &Builder,
    op: LLVMAtomicRMWBinOp,
    addr: Value,
    e: Value,
    order: LLVMAtomicOrdering,
) -> Value {
    LLVMBuildAtomicRMW(b.raw, op, addr, e, order, 0)
}

/// `old op e` in the variable's type.
unsafe fn apply(b: &Builder, op: &str, is_float: bool, old: Value, e: Value) -> Value {
    let n = ir::cstr("omp.atomic.new");
    match (op, is_float) {
        ("add", false) => LLVMBuildAdd(b.raw, old, e, n.as_ptr()),
        ("add", true) => LLVMBuildFAdd(b.raw, old, e, n.as_ptr()),
        ("sub", false) => LLVMBuildSub(b.raw, old, e, n.as_ptr()),
        ("sub", true) => LLVMBuildFSub(b.raw, old, e, n.as_ptr()),
        ("mul", false) => LLVMBuildMul(b.raw, old, e, n.as_ptr()),
        ("mul", true) => LLVMBuildFMul(b.raw, old, e, n.as_ptr()),
        ("and", _) => LLVMBuildAnd(b.raw, old, e, n.as_ptr()),
        ("or", _) => LLVMBuildOr(b.raw, old, e, n.as_ptr()),
        _ => LLVMBuildXor(b.raw, old, e, n.as_ptr()),
    }
}
