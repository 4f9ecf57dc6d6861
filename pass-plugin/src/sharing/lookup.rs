//! Finding a variable's storage: the alloca behind a value the front end passed to the
//! markers, and where an alloca is used (inside the region, outside it, written or read).

use crate::ir::{self, Block, Value};
use crate::markers::{MarkedRegion, VarSpec};
use llvm_sys::core::*;
use llvm_sys::LLVMOpcode;

/// The alloca a marker operand was loaded from. Numba packs a call's `*args` into a tuple
/// and unpacks it for the callee, so an operand may be `extractvalue (insertvalue ...), i`:
/// follow the chain to the value inserted at `i`.
pub fn alloca_behind(v: Value) -> Option<Value> {
    if !ir::is_instruction(v) {
        return None;
    }
    let v = if ir::opcode(v) == LLVMOpcode::LLVMExtractValue {
        inserted_value(v)?
    } else {
        v
    };
    if !ir::is_instruction(v) {
        return None;
    }
    let ptr = match ir::opcode(v) {
        LLVMOpcode::LLVMLoad => ir::operands(v)[0],
        LLVMOpcode::LLVMAlloca => return Some(v),
        _ => return None,
    };
    (ir::is_instruction(ptr) && ir::opcode(ptr) == LLVMOpcode::LLVMAlloca).then_some(ptr)
}

fn inserted_value(extract: Value) -> Option<Value> {
    let index = unsafe {
        if LLVMGetNumIndices(extract) != 1 {
            return None;
        }
        *LLVMGetIndices(extract)
    };
    let mut agg = ir::operands(extract)[0];
    while ir::is_instruction(agg) && ir::opcode(agg) == LLVMOpcode::LLVMInsertValue {
        let i = unsafe { (LLVMGetNumIndices(agg) == 1).then(|| *LLVMGetIndices(agg)) }?;
        if i == index {
            return Some(ir::operands(agg)[1]);
        }
        agg = ir::operands(agg)[0];
    }
    None
}

pub fn find_alloca(func: Value, r: &MarkedRegion, spec: &VarSpec) -> Option<Value> {
    if let Some(v) = spec
        .operand
        .and_then(|i| r.enter_operands.get(i))
        .and_then(|&v| alloca_behind(v))
    {
        return Some(v);
    }
    if let Some(v) = r
        .exit_operands
        .iter()
        .find(|(n, _)| *n == spec.name)
        .and_then(|(_, v)| alloca_behind(*v))
    {
        return Some(v);
    }
    // A variable that exists only inside the region has no marker operand: Numba names
    // its alloca after it.
    let entry = ir::blocks(func)[0];
    ir::instructions(entry)
        .into_iter()
        .find(|&i| ir::opcode(i) == LLVMOpcode::LLVMAlloca && ir::name_of(i) == spec.name)
}

pub(super) fn in_blocks(inst: Value, blocks: &[Block]) -> bool {
    ir::is_instruction(inst) && blocks.contains(&ir::parent_block(inst))
}

/// A store of a constant zero in the entry block: how Numba initialises every alloca.
fn is_zero_init(inst: Value, alloca: Value) -> bool {
    unsafe {
        ir::opcode(inst) == LLVMOpcode::LLVMStore
            && ir::parent_block(inst) == ir::parent_block(alloca)
            && LLVMGetOperand(inst, 1) == alloca
            && LLVMIsNull(LLVMGetOperand(inst, 0)) != 0
    }
}

/// Uses of `alloca` that matter outside the region: not its zero initialisation, and not
/// loads whose only users are the markers (those vanish with the markers).
pub(super) fn used_outside(alloca: Value, region: &[Block], markers: &[Value]) -> bool {
    ir::users(alloca).into_iter().any(|u| {
        if in_blocks(u, region) || is_zero_init(u, alloca) {
            return false;
        }
        if ir::opcode(u) == LLVMOpcode::LLVMLoad {
            let users = ir::users(u);
            return !users.iter().all(|x| markers.contains(x));
        }
        true
    })
}

pub(super) fn written_in(alloca: Value, region: &[Block]) -> bool {
    ir::users(alloca)
        .into_iter()
        .any(|u| in_blocks(u, region) && ir::opcode(u) != LLVMOpcode::LLVMLoad)
}

/// Numba's `try` depth: one alloca per function (`try_state`, from its calling
/// convention's `_get_try_state`), counted up and down by the `try` blocks; while it is
/// nonzero, an error status returned by a called function is kept for the `except` rather
/// than returned. The depth belongs to the code that runs: a region's thread (or task)
/// starts at zero (a region is never inside a `try` of its function: Numba does not follow
/// a `try` around a `with`), and one thread's `try` must not change another's.
pub(super) fn is_try_state(alloca: Value) -> bool {
    let name = ir::name_of(alloca);
    let numbered = |rest: &str| {
        rest.is_empty()
            || rest
                .strip_prefix('.')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
    };
    name.strip_prefix("try_state").is_some_and(numbered)
        && unsafe {
            LLVMGetTypeKind(ir::allocated_type(alloca))
                == llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind
        }
}
