//! Reduction operators: each thread's private copy starts at the operator's identity and is
//! combined into the original variable at the end of the region: a scalar of up to 64 bits
//! by a hardware atomic (`lock xadd` for integer `+ - & | ^`, a compare-and-swap loop for
//! the others), as Clang's atomic reduction method does; complex numbers and arrays one
//! thread at a time (`__kmpc_critical` on a lock private to the module).
//!
//! Operators: `+ - * & | ^ && || max min` on integers (signedness from the Numba type),
//! `+ - * max min` on floats, `+ - *` on complex, `& | ^ && ||` on bools. OpenMP combines
//! the partial results of `-` with `+`.

use crate::abi;
use crate::calls::thread_id;
use crate::cas;
use crate::ir::{self, Builder, Value};
use crate::markers::{MarkedRegion, TypeInfo, VarSpec};
use crate::region::Shape;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::{LLVMIntPredicate, LLVMRealPredicate};

pub fn unsupported(op: &str, spec: &VarSpec) -> String {
    format!(
        "reduction({op}: {}) is not supported for a variable of type {}",
        spec.name,
        spec.numba_type.as_deref().unwrap_or("unknown")
    )
}

/// Whether values of kind `kind` are held in LLVM type `ty` (the identity and combine code
/// build constants and instructions of `kind` in `ty`; a mismatch crashed LLVM).
pub fn stored_as(kind: &TypeInfo, ty: LLVMTypeRef) -> bool {
    use llvm_sys::LLVMTypeKind::*;
    unsafe {
        let float = |t: LLVMTypeRef| {
            matches!(
                LLVMGetTypeKind(t),
                LLVMHalfTypeKind | LLVMFloatTypeKind | LLVMDoubleTypeKind
            )
        };
        match kind {
            TypeInfo::Int { bits, .. } => {
                LLVMGetTypeKind(ty) == LLVMIntegerTypeKind && LLVMGetIntTypeWidth(ty) == *bits
            }
            TypeInfo::Bool => LLVMGetTypeKind(ty) == LLVMIntegerTypeKind,
            TypeInfo::Float { .. } => float(ty),
            TypeInfo::Complex { .. } => {
                LLVMGetTypeKind(ty) == LLVMStructTypeKind
                    && LLVMCountStructElementTypes(ty) == 2
                    && float(LLVMStructGetTypeAtIndex(ty, 0))
                    && float(LLVMStructGetTypeAtIndex(ty, 1))
            }
            TypeInfo::Other => true,
        }
    }
}

/// The identity of `op` for values of LLVM type `ty` (None: unsupported combination).
pub fn identity(ctx: LLVMContextRef, op: &str, kind: &TypeInfo, ty: LLVMTypeRef) -> Option<Value> {
    unsafe {
        let _ = ctx;
        match kind {
            TypeInfo::Int { signed, bits } => {
                let bits = *bits;
                let v: u64 = match op {
                    "+" | "-" | "|" | "^" | "||" => 0,
                    "*" | "&&" => 1,
                    "&" => u64::MAX,
                    "max" if *signed => 1u64 << (bits - 1), // INT_MIN
                    "max" => 0,
                    "min" if *signed => (1u64 << (bits - 1)) - 1, // INT_MAX
                    "min" => u64::MAX,
                    _ => return None,
                };
                Some(LLVMConstInt(ty, v, 0))
            }
            TypeInfo::Bool => match op {
                "|" | "^" | "||" => Some(LLVMConstInt(ty, 0, 0)),
                "&" | "&&" => Some(LLVMConstInt(ty, 1, 0)),
                _ => None,
            },
            TypeInfo::Float { .. } => match op {
                "+" | "-" => Some(LLVMConstReal(ty, 0.0)),
                "*" => Some(LLVMConstReal(ty, 1.0)),
                "max" => Some(LLVMConstReal(ty, f64::NEG_INFINITY)),
                "min" => Some(LLVMConstReal(ty, f64::INFINITY)),
                _ => None,
            },
            TypeInfo::Complex { .. } => {
                let elt = LLVMStructGetTypeAtIndex(ty, 0);
                let (re, im) = match op {
                    "+" | "-" => (0.0, 0.0),
                    "*" => (1.0, 0.0),
                    _ => return None,
                };
                let mut parts = [LLVMConstReal(elt, re), LLVMConstReal(elt, im)];
                Some(LLVMConstNamedStruct(ty, parts.as_mut_ptr(), 2))
            }
            TypeInfo::Other => None,
        }
    }
}

/// `x op y` for a reduction variable of type `kind` (stored as `ty`); None for an
/// operator the type has no combine for.
fn combine(
    b: &Builder,
    op: &str,
    kind: &TypeInfo,
    ty: LLVMTypeRef,
    x: Value,
    y: Value,
) -> Option<Value> {
    let raw = b.raw;
    let n = ir::cstr("omp.red");
    unsafe {
        Some(match kind {
            TypeInfo::Int { signed, .. } => return combine_int(b, op, *signed, ty, x, y),
            TypeInfo::Bool => match op {
                "&" | "&&" => LLVMBuildAnd(raw, x, y, n.as_ptr()),
                "|" | "||" => LLVMBuildOr(raw, x, y, n.as_ptr()),
                "^" => LLVMBuildXor(raw, x, y, n.as_ptr()),
                _ => return None,
            },
            TypeInfo::Float { .. } => match op {
                "+" | "-" => LLVMBuildFAdd(raw, x, y, n.as_ptr()),
                "*" => LLVMBuildFMul(raw, x, y, n.as_ptr()),
                "max" | "min" => {
                    let pred = if op == "max" {
                        LLVMRealPredicate::LLVMRealOGT
                    } else {
                        LLVMRealPredicate::LLVMRealOLT
                    };
                    let c = LLVMBuildFCmp(raw, pred, x, y, n.as_ptr());
                    LLVMBuildSelect(raw, c, x, y, n.as_ptr())
                }
                _ => return None,
            },
            TypeInfo::Complex { .. } => return combine_complex(b, op, ty, x, y),
            TypeInfo::Other => return None,
        })
    }
}

/// `x op y` for integers (`signed` for max and min).
unsafe fn combine_int(
    b: &Builder,
    op: &str,
    signed: bool,
    ty: LLVMTypeRef,
    x: Value,
    y: Value,
) -> Option<Value> {
    let raw = b.raw;
    let n = ir::cstr("omp.red");
    Some(match op {
        "+" | "-" => LLVMBuildAdd(raw, x, y, n.as_ptr()),
        "*" => LLVMBuildMul(raw, x, y, n.as_ptr()),
        "&" => LLVMBuildAnd(raw, x, y, n.as_ptr()),
        "|" => LLVMBuildOr(raw, x, y, n.as_ptr()),
        "^" => LLVMBuildXor(raw, x, y, n.as_ptr()),
        "&&" | "||" => {
            let zero = LLVMConstInt(ty, 0, 0);
            let xb = LLVMBuildICmp(raw, LLVMIntPredicate::LLVMIntNE, x, zero, n.as_ptr());
            let yb = LLVMBuildICmp(raw, LLVMIntPredicate::LLVMIntNE, y, zero, n.as_ptr());
            let r = if op == "&&" {
                LLVMBuildAnd(raw, xb, yb, n.as_ptr())
            } else {
                LLVMBuildOr(raw, xb, yb, n.as_ptr())
            };
            LLVMBuildZExt(raw, r, ty, n.as_ptr())
        }
        "max" | "min" => {
            let pred = match (op, signed) {
                ("max", true) => LLVMIntPredicate::LLVMIntSGT,
                ("max", false) => LLVMIntPredicate::LLVMIntUGT,
                (_, true) => LLVMIntPredicate::LLVMIntSLT,
                (_, false) => LLVMIntPredicate::LLVMIntULT,
            };
            let c = LLVMBuildICmp(raw, pred, x, y, n.as_ptr());
            LLVMBuildSelect(raw, c, x, y, n.as_ptr())
        }
        _ => return None,
    })
}

/// `x op y` for complex numbers (`{re, im}` structs): + and *.
unsafe fn combine_complex(
    b: &Builder,
    op: &str,
    ty: LLVMTypeRef,
    x: Value,
    y: Value,
) -> Option<Value> {
    let raw = b.raw;
    let n = ir::cstr("omp.red");
    let part = |v: Value, i: u32| LLVMBuildExtractValue(raw, v, i, n.as_ptr());
    let (a, bb, c, d) = (part(x, 0), part(x, 1), part(y, 0), part(y, 1));
    let (re, im) = match op {
        "+" | "-" => (
            LLVMBuildFAdd(raw, a, c, n.as_ptr()),
            LLVMBuildFAdd(raw, bb, d, n.as_ptr()),
        ),
        "*" => {
            let ac = LLVMBuildFMul(raw, a, c, n.as_ptr());
            let bd = LLVMBuildFMul(raw, bb, d, n.as_ptr());
            let ad = LLVMBuildFMul(raw, a, d, n.as_ptr());
            let bc = LLVMBuildFMul(raw, bb, c, n.as_ptr());
            (
                LLVMBuildFSub(raw, ac, bd, n.as_ptr()),
                LLVMBuildFAdd(raw, ad, bc, n.as_ptr()),
            )
        }
        _ => return None,
    };
    let undef = LLVMGetUndef(ty);
    let v = LLVMBuildInsertValue(raw, undef, re, 0, n.as_ptr());
    Some(LLVMBuildInsertValue(raw, v, im, 1, n.as_ptr()))
}

/// The lock reduction combines take: the critical-section lock reserved for them.
fn reduction_lock(module: LLVMModuleRef) -> Value {
    crate::locks::critical_lock(module, ".reduction")
}

/// At the region's tail: original = original op private, atomically (a scalar that fits a
/// hardware atomic), else under the reduction lock.
#[allow(clippy::too_many_arguments)]
pub fn combine_at_end(
    b: &Builder,
    module: LLVMModuleRef,
    r: &MarkedRegion,
    shape: &Shape,
    op: &str,
    kind: &TypeInfo,
    ty: LLVMTypeRef,
    original: Value,
    private: Value,
) -> Option<()> {
    let end = ir::terminator(shape.tail())?;
    if cas::swappable(ty) && !matches!(kind, TypeInfo::Complex { .. } | TypeInfo::Other) {
        return combine_atomically(b, end, op, kind, ty, original, private);
    }
    let loc = &r.payload.loc;
    let ident = abi::ident(module, &loc.file, "reduction", loc.line, loc.column);
    let lock = reduction_lock(module);
    b.before(end);
    let gtid = thread_id(b, module, ident);
    let (enter, enter_ty) = abi::runtime_fn(module, "__kmpc_critical");
    let (leave, leave_ty) = abi::runtime_fn(module, "__kmpc_end_critical");
    b.call(enter_ty, enter, &[ident, gtid, lock], "");
    let mine = b.load(ty, private, "omp.red.mine");
    let total = b.load(ty, original, "omp.red.total");
    let sum = combine(b, op, kind, ty, total, mine)?;
    b.store(sum, original);
    b.call(leave_ty, leave, &[ident, gtid, lock], "");
    Some(())
}

/// Before `end`: original = original op private as one atomic operation (the combine's
/// result is the same as under the lock: `combine` computes it, in a compare-and-swap
/// loop, except for the integer operators a single instruction does).
fn combine_atomically(
    b: &Builder,
    end: Value,
    op: &str,
    kind: &TypeInfo,
    ty: LLVMTypeRef,
    original: Value,
    private: Value,
) -> Option<()> {
    use llvm_sys::LLVMAtomicOrdering::LLVMAtomicOrderingMonotonic as Monotonic;
    use llvm_sys::LLVMAtomicRMWBinOp::*;
    if !combinable(op, kind) {
        return None; // (before any instruction goes in)
    }
    b.before(end);
    let mine = b.load(ty, private, "omp.red.mine");
    // (the join barrier, or the construct's, orders the result for whoever reads it)
    let native = match (kind, op) {
        (TypeInfo::Int { .. }, "+" | "-") => Some(LLVMAtomicRMWBinOpAdd),
        (TypeInfo::Int { .. } | TypeInfo::Bool, "&") => Some(LLVMAtomicRMWBinOpAnd),
        (TypeInfo::Int { .. } | TypeInfo::Bool, "|") => Some(LLVMAtomicRMWBinOpOr),
        (TypeInfo::Int { .. } | TypeInfo::Bool, "^") => Some(LLVMAtomicRMWBinOpXor),
        _ => None,
    };
    if let Some(rmw) = native {
        unsafe {
            let v = LLVMBuildAtomicRMW(b.raw, rmw, original, mine, Monotonic, 0);
            LLVMSetAlignment(v, cas::bits_of(ty) / 8);
        }
        return Some(());
    }
    let orders = cas::Orders {
        load: Monotonic,
        swap: Monotonic,
    };
    cas::cas_loop(b, end, original, ty, orders, |b, old| {
        combine(b, op, kind, ty, old, mine).unwrap_or(old) // (combinable: never None)
    });
    Some(())
}

/// Whether `combine` has code for `op` on values of `kind` (it mirrors combine's match).
fn combinable(op: &str, kind: &TypeInfo) -> bool {
    match kind {
        TypeInfo::Int { .. } => matches!(
            op,
            "+" | "-" | "*" | "&" | "|" | "^" | "&&" | "||" | "max" | "min"
        ),
        TypeInfo::Bool => matches!(op, "&" | "&&" | "|" | "||" | "^"),
        TypeInfo::Float { .. } => matches!(op, "+" | "-" | "*" | "max" | "min"),
        TypeInfo::Complex { .. } => matches!(op, "+" | "-" | "*"),
        TypeInfo::Other => false,
    }
}

/// At the region's tail: lock; Numba's helper combines the private array into the original
/// element by element; unlock.
#[allow(clippy::too_many_arguments)]
pub fn combine_arrays_at_end(
    b: &Builder,
    module: LLVMModuleRef,
    r: &MarkedRegion,
    shape: &Shape,
    combine: &str,
    original: Value,
    private: Value,
    extra: &[Value],
) {
    let loc = &r.payload.loc;
    let ident = abi::ident(module, &loc.file, "reduction", loc.line, loc.column);
    let lock = reduction_lock(module);
    b.before(ir::terminator(shape.tail()).expect("tail ends in a branch"));
    let gtid = thread_id(b, module, ident);
    let (enter, enter_ty) = abi::runtime_fn(module, "__kmpc_critical");
    let (leave, leave_ty) = abi::runtime_fn(module, "__kmpc_end_critical");
    b.call(enter_ty, enter, &[ident, gtid, lock], "");
    crate::calls::call_helper2(b, module, combine, original, private, extra);
    b.call(leave_ty, leave, &[ident, gtid, lock], "");
}
