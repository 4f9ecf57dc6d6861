//! A thread's private copy of a variable: made at the region's start (zeroed, or its
//! first value copied in), copied out by the thread of the last iteration (lastprivate),
//! released at the end.

use crate::calls::{call_helper, call_helper2};
use crate::ir::{self, Block, Builder, Value};
use crate::markers::{MarkedRegion, VarSpec};
use crate::region::Shape;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMOpcode;

use super::lookup::in_blocks;
use super::Mode;

/// A new alloca at the start of the region (outlining moves it into the outlined function),
/// replacing `alloca` inside the region; the builder is left right after it.
pub(super) fn private_copy(
    b: &Builder,
    alloca: Value,
    ty: LLVMTypeRef,
    shape: &Shape,
    region: &[Block],
    name: &str,
) -> Value {
    b.at_start(shape.entry);
    let copy = b.alloca_like(alloca, ty, &format!("{name}.private"));
    ir::replace_uses_in(alloca, copy, region);
    // Position after the alloca for the initialisation the caller emits.
    unsafe { LLVMPositionBuilderBefore(b.raw, LLVMGetNextInstruction(copy)) };
    copy
}

pub(super) fn pass_by_value(
    b: &Builder,
    alloca: Value,
    ty: LLVMTypeRef,
    shape: &Shape,
    region: &[Block],
) {
    b.before(ir::terminator(shape.pre()).expect("pre block ends in a branch"));
    let v = b.load(ty, alloca, &format!("{}.shared", ir::name_of(alloca)));
    for u in ir::users(alloca) {
        if in_blocks(u, region) && ir::opcode(u) == LLVMOpcode::LLVMLoad {
            unsafe { LLVMReplaceAllUsesWith(u, v) };
            ir::erase(u);
        }
    }
}

/// An array section's bounds as i64 (`reduction(op: a[lo:hi])`), from the enter marker.
pub(super) fn section_bounds(b: &Builder, r: &MarkedRegion, spec: &VarSpec) -> Vec<Value> {
    let Some(section) = &spec.section else {
        return Vec::new();
    };
    section
        .iter()
        .filter_map(|&i| r.enter_operands.get(i).copied())
        .map(|v| unsafe {
            let ctx = LLVMGetTypeContext(LLVMTypeOf(v));
            LLVMBuildIntCast2(
                b.raw,
                v,
                LLVMInt64TypeInContext(ctx),
                1,
                ir::cstr("omp.section.bound").as_ptr(),
            )
        })
        .collect()
}

/// A private copy that starts with the original's value (holding a reference of its own),
/// or, for an array named in a clause, with the new array Numba's `array_init` helper
/// makes from the original: a task captures it when it is created, other regions make it
/// when they start.
#[allow(clippy::too_many_arguments)]
pub(super) fn first_value_copy(
    b: &Builder,
    module: LLVMModuleRef,
    alloca: Value,
    ty: LLVMTypeRef,
    shape: &Shape,
    region: &[Block],
    spec: &VarSpec,
    mode: Mode,
) -> Value {
    if matches!(mode, Mode::Task { .. }) {
        let at = Builder::new(unsafe { LLVMGetModuleContext(module) });
        at.before(ir::terminator(shape.pre()).expect("pre block ends in a branch"));
        let v = match &spec.array_init {
            Some(init) => new_array_at_creation(&at, module, alloca, ty, init, spec),
            None => {
                let v = at.load(ty, alloca, &format!("{}.captured", spec.name));
                if let Some(incref) = &spec.incref {
                    call_helper(&at, module, incref, alloca);
                }
                v
            }
        };
        let copy = private_copy(b, alloca, ty, shape, region, &spec.name);
        b.store(v, copy);
        return copy;
    }
    let copy = private_copy(b, alloca, ty, shape, region, &spec.name);
    if let Some(init) = &spec.array_init {
        b.store(unsafe { LLVMConstNull(ty) }, copy);
        call_helper2(b, module, init, alloca, copy, &[]);
        return copy;
    }
    let v = b.load(ty, alloca, &format!("{}.in", spec.name));
    b.store(v, copy);
    if let Some(incref) = &spec.incref {
        call_helper(b, module, incref, copy);
    }
    copy
}

/// At the builder's position (a task's creation): the new array `init` makes from the
/// original, through a slot in the creating function's entry block.
fn new_array_at_creation(
    at: &Builder,
    module: LLVMModuleRef,
    alloca: Value,
    ty: LLVMTypeRef,
    init: &str,
    spec: &VarSpec,
) -> Value {
    let entry = ir::blocks(ir::parent_function(ir::parent_block(alloca)))[0];
    let slot_builder = Builder::new(unsafe { LLVMGetModuleContext(module) });
    slot_builder.at_start(entry);
    let slot = slot_builder.alloca(ty, &format!("{}.array.new", spec.name));
    at.store(unsafe { LLVMConstNull(ty) }, slot);
    call_helper2(at, module, init, alloca, slot, &[]);
    at.load(ty, slot, &format!("{}.captured", spec.name))
}

/// Releases a private copy of a reference-counted value at the end of the region (in
/// block `at`).
pub(super) fn release_at_end(
    b: &Builder,
    module: LLVMModuleRef,
    copy: Value,
    spec: &VarSpec,
    at: Block,
) {
    if let Some(decref) = &spec.decref {
        b.before(ir::terminator(at).expect("the release block ends in a branch"));
        call_helper(b, module, decref, copy);
    }
}

/// Who ran the sequentially last iteration, for lastprivate.
#[derive(Clone, Copy)]
pub(super) enum LastFlag {
    /// A loop's i32 slot the runtime (or pyomp's dispatcher) sets, read at the end.
    RuntimeSlot(Value),
    /// A taskloop's chunk task: an integer (bool) taken when the task was created.
    Value(Value),
}

/// At the end of a worksharing construct, the thread that ran the last iteration stores
/// its private value into the original (which takes over the reference the copy held;
/// the other threads' copies are released).
#[allow(clippy::too_many_arguments)]
pub(super) fn copy_out_if_last(
    ctx: LLVMContextRef,
    module: LLVMModuleRef,
    original: Value,
    copy: Value,
    ty: LLVMTypeRef,
    last: LastFlag,
    spec: &VarSpec,
    shape: &Shape,
) {
    let b = Builder::new(ctx);
    let tail = shape.tail();
    let then = ir::if_then_at_end(ctx, tail, |b| unsafe {
        let flag = match last {
            LastFlag::RuntimeSlot(slot) => b.load(LLVMInt32TypeInContext(ctx), slot, "omp.last"),
            LastFlag::Value(v) => v,
        };
        let flag_ty = ir::type_of(flag);
        LLVMBuildICmp(
            b.raw,
            llvm_sys::LLVMIntPredicate::LLVMIntNE,
            flag,
            LLVMConstNull(flag_ty),
            ir::cstr("omp.is.last").as_ptr(),
        )
    });
    b.before(ir::terminator(then).expect("then block ends in a branch"));
    if let Some(decref) = &spec.decref {
        call_helper(&b, module, decref, original);
    }
    let v = b.load(ty, copy, &format!("{}.last", spec.name));
    b.store(v, original);
    if spec.decref.is_some() {
        // the original took the copy's reference: the release that follows finds nothing
        b.store(unsafe { LLVMConstNull(ty) }, copy);
    }
}
