//! Read-modify-write of a variable by compare-and-swap, for updates no hardware atomic
//! does (`atomic` `x *= e`; a reduction's combine with `*`, `max`, floating-point `+`):
//! read, compute, swap if unchanged, else retry with the value seen. Floats are swapped
//! as integers of their width (cmpxchg takes integers and pointers only).

use crate::ir::{self, Builder, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::{LLVMAtomicOrdering, LLVMTypeKind};

/// Width of an integer or floating-point type.
pub fn bits_of(ty: LLVMTypeRef) -> u32 {
    unsafe {
        match LLVMGetTypeKind(ty) {
            LLVMTypeKind::LLVMFloatTypeKind => 32,
            LLVMTypeKind::LLVMDoubleTypeKind => 64,
            LLVMTypeKind::LLVMHalfTypeKind => 16,
            _ => LLVMGetIntTypeWidth(ty),
        }
    }
}

/// Whether values of `ty` can be swapped whole: an integer of 8, 16, 32 or 64 bits, or a
/// float or double.
pub fn swappable(ty: LLVMTypeRef) -> bool {
    unsafe {
        match LLVMGetTypeKind(ty) {
            LLVMTypeKind::LLVMFloatTypeKind | LLVMTypeKind::LLVMDoubleTypeKind => true,
            LLVMTypeKind::LLVMIntegerTypeKind => {
                matches!(LLVMGetIntTypeWidth(ty), 8 | 16 | 32 | 64)
            }
            _ => false,
        }
    }
}

/// Orderings of the first read and of the swap.
pub struct Orders {
    pub load: LLVMAtomicOrdering,
    pub swap: LLVMAtomicOrdering,
}

/// Before `at` (which starts the block the loop exits to): `*addr = new(old)` atomically,
/// `addr` holding a value of `ty` (see `swappable`). `new` builds the new value from the
/// old one with the builder it is given. Returns (old, new), usable from `at` on; `b` is
/// left positioned before `at`.
pub fn cas_loop(
    b: &Builder,
    at: Value,
    addr: Value,
    ty: LLVMTypeRef,
    orders: Orders,
    new: impl FnOnce(&Builder, Value) -> Value,
) -> (Value, Value) {
    unsafe {
        let ctx = LLVMGetTypeContext(ty);
        let is_float = LLVMGetTypeKind(ty) != LLVMTypeKind::LLVMIntegerTypeKind;
        let bits = if is_float {
            LLVMIntTypeInContext(ctx, bits_of(ty))
        } else {
            ty
        };
        let start = ir::parent_block(at);
        b.before(at);
        let first = b.load(bits, addr, "omp.cas.first");
        LLVMSetOrdering(first, orders.load);
        LLVMSetAlignment(first, (LLVMGetIntTypeWidth(bits) / 8).max(1));
        // split: start -> retry (the loop) -> rest (from `at` on)
        let rest = ir::split_before(at, "omp.cas.done");
        let func = ir::parent_function(start);
        let retry = LLVMAppendBasicBlockInContext(ctx, func, ir::cstr("omp.cas.retry").as_ptr());
        LLVMMoveBasicBlockAfter(retry, start);
        ir::erase(ir::terminator(start).expect("split leaves a branch"));
        b.at_end(start);
        b.br(retry);
        b.at_end(retry);
        let seen_bits = LLVMBuildPhi(b.raw, bits, ir::cstr("omp.cas.seen").as_ptr());
        let to_ty = |v: Value, t: LLVMTypeRef| {
            if is_float {
                LLVMBuildBitCast(b.raw, v, t, ir::cstr("omp.cas.cast").as_ptr())
            } else {
                v
            }
        };
        let old = to_ty(seen_bits, ty);
        let new = new(b, old);
        let new_bits = to_ty(new, bits);
        let pair = LLVMBuildAtomicCmpXchg(
            b.raw,
            addr,
            seen_bits,
            new_bits,
            orders.swap,
            orders.load,
            0,
        );
        let now = LLVMBuildExtractValue(b.raw, pair, 0, ir::cstr("omp.cas.now").as_ptr());
        let swapped = LLVMBuildExtractValue(b.raw, pair, 1, ir::cstr("omp.cas.ok").as_ptr());
        b.cond_br(swapped, rest, retry);
        let mut values = [first, now];
        let mut blocks = [start, retry];
        LLVMAddIncoming(seen_bits, values.as_mut_ptr(), blocks.as_mut_ptr(), 2);
        b.before(at);
        (old, new)
    }
}
