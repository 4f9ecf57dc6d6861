//! The blocks of a marked region: single entry (the block after the enter marker), single
//! normal exit (the block that starts with the exit marker), plus `ret` exits that are
//! exceptions raised inside the region.
//!
//! `carve` splits blocks at the markers so the region is a set of whole blocks:
//!
//! ```text
//!   pre:   ...; call @pyomp.region.enter(...); br %omp.region        <- outside
//!   omp.region:  br %B42                                             <- region entry
//!   ...region body...
//!   tail:  br %omp.region.end                                        <- region (last block)
//!   omp.region.end: call @pyomp.region.exit(...); ...                <- outside
//! ```

use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Value};
use crate::markers::MarkedRegion;
use llvm_sys::LLVMOpcode;
use std::collections::HashSet;

/// The region's two fixed points; the blocks around them are looked up when needed,
/// because carving or lowering a neighbouring region can split the blocks next to them.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// The enter marker (it ends the block before the region).
    pub enter: Value,
    /// First block of the region.
    pub entry: Block,
    /// First block after the region (starts with the exit marker's operands).
    pub end: Block,
}

impl Shape {
    /// The block holding the enter marker; it falls through into `entry`.
    pub fn pre(&self) -> Block {
        ir::parent_block(self.enter)
    }

    /// The region's last block: its terminator jumps to `end`. Code every thread runs at
    /// the end of the region (reduction combines, releasing private copies) goes here.
    ///
    /// Other blocks may jump to `end` too (threads leaving a team early); the tail is the
    /// one that falls through to it unconditionally, as carving made it.
    pub fn tail(&self) -> Block {
        tail_of(self.end)
    }
}

/// The block that falls through to `end` unconditionally (see Shape::tail).
pub fn tail_of(end: Block) -> Block {
    {
        let preds = preds_of(end);
        let falls_through = |b: &Block| {
            ir::terminator(*b).is_some_and(|t| unsafe { llvm_sys::core::LLVMIsConditional(t) } == 0)
        };
        preds
            .iter()
            .copied()
            .find(falls_through)
            .or(preds.first().copied())
            .expect("a carved region's end has a predecessor")
    }
}

/// Splits the blocks around the markers (see the module doc).
pub fn carve(r: &MarkedRegion) -> PassResult<Shape> {
    let after_enter = next_instruction(r.enter).ok_or_else(|| PassError::Internal {
        message: "enter marker ends its block".into(),
    })?;
    let entry = ir::split_before(after_enter, "omp.region");
    // The exit marker's operands (loads, and the tuple Numba packs them into) are computed
    // just before it in its block: they belong after the region, so the split goes before
    // the first of them.
    let first = operand_tree(r.exit).into_iter().next().unwrap_or(r.exit);
    let end = ir::split_before(first, "omp.region.end");
    Ok(Shape {
        enter: r.enter,
        entry,
        end,
    })
}

/// The instructions of `call`'s block that only feed `call` (transitively), in block order,
/// followed by `call` itself.
fn operand_tree(call: Value) -> Vec<Value> {
    let block = ir::parent_block(call);
    let mut tree = vec![call];
    for inst in ir::instructions(block).into_iter().rev() {
        let users = ir::users(inst);
        if inst != call && !users.is_empty() && users.iter().all(|u| tree.contains(u)) {
            tree.push(inst);
        }
    }
    let order = ir::instructions(block);
    tree.sort_by_key(|i| order.iter().position(|x| x == i));
    tree
}

fn next_instruction(inst: Value) -> Option<Value> {
    let n = unsafe { llvm_sys::core::LLVMGetNextInstruction(inst) };
    (!n.is_null()).then_some(n)
}

pub fn preds_of(block: Block) -> Vec<Block> {
    let func = ir::parent_function(block);
    ir::blocks(func)
        .into_iter()
        .filter(|&b| ir::successors(b).contains(&block))
        .collect()
}

/// The region's blocks, entry first: everything reachable from `entry` without passing
/// `end`. Errors if a block in it can be entered from outside (not single-entry).
pub fn blocks(r: &MarkedRegion, shape: &Shape) -> PassResult<Vec<Block>> {
    let order = ir::reachable_without(shape.entry, shape.end);
    let seen: HashSet<Block> = order.iter().copied().collect();
    let func = ir::parent_function(shape.entry);
    for b in ir::blocks(func) {
        if seen.contains(&b) {
            continue;
        }
        for s in ir::successors(b) {
            if s != shape.entry && seen.contains(&s) {
                return Err(r.error("the OpenMP region can be entered other than at its start"));
            }
        }
    }
    Ok(order)
}

/// What `blocks` cannot see of a region's shape (a module whose markers no front end would
/// emit): its end is reached from its blocks, and its start is not one of them (a loop
/// back to the enter marker inside the region). Lowering such a region broke the function.
pub fn check_shape(r: &MarkedRegion, shape: &Shape, blocks: &[Block]) -> PassResult<()> {
    if !blocks
        .iter()
        .any(|&b| ir::successors(b).contains(&shape.end))
    {
        return Err(r.error("the OpenMP region never reaches its end marker"));
    }
    if blocks.contains(&shape.pre()) {
        return Err(r.error("the OpenMP region's start marker lies inside the region"));
    }
    Ok(())
}

/// The `ret` instructions inside the region: exits by exception (the front end rejects
/// `return` statements in regions).
pub fn returns(region_blocks: &[Block]) -> Vec<Value> {
    region_blocks
        .iter()
        .filter_map(|&b| ir::terminator(b))
        .filter(|&t| ir::opcode(t) == LLVMOpcode::LLVMRet)
        .collect()
}
