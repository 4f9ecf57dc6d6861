//! Where a sync construct's body and end are, for the steps that wrap them (the guard,
//! the ordered turns, copyprivate's broadcast).

use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Value};
use crate::region::Shape;

/// The first instruction of the block after the construct, where every thread runs the
/// construct's end (its barrier, copyprivate's broadcast).
pub fn end_point(shape: &Shape) -> PassResult<Value> {
    ir::instructions(shape.end)
        .into_iter()
        .next()
        .ok_or_else(|| PassError::Internal {
            message: "empty block after a construct".into(),
        })
}

/// Values the body computes and code after the construct uses must not stay in registers:
/// the body may not run on this thread, or runs on a path that skips it.
pub fn demote_body_values(shape: &Shape, blocks: &[Block]) {
    let body: Vec<_> = blocks
        .iter()
        .copied()
        .filter(|&bb| bb != shape.entry)
        .collect();
    ir::demote_escaping(&body, shape.entry);
}
