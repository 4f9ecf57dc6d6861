//! Runtime lowering: turns each marked region into outlined code and `__kmpc_*` calls.
//! Regions are lowered innermost first, each through the same steps:
//! carve (region.rs) -> exceptions (raise.rs) -> data sharing (sharing.rs) ->
//! outline (outline.rs) -> fork (parallel.rs) -> re-raise after the join -> drop markers.

pub mod parallel;

use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Value};
use crate::markers::{self, MarkedRegion};
use crate::{outline, raise, region, sharing};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use serde::Serialize;

/// What was done to one region: shown by `pyomp.explain`.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    pub id: u64,
    pub construct: String,
    pub directive: String,
    pub line: u32,
    pub function: String,
    pub outlined: String,
    /// (variable, data-sharing attribute, why)
    pub sharing: Vec<sharing::Decision>,
    pub can_raise: bool,
}

/// Lowers every region of every function of the module.
pub fn lower_regions(module: LLVMModuleRef) -> PassResult<Vec<RegionReport>> {
    let mut reports = Vec::new();
    for func in ir::functions(module) {
        let regions = markers::find_regions(func)?;
        if regions.is_empty() {
            continue;
        }
        reports.extend(lower_function(module, func, regions)?);
    }
    drop_marker_declarations(module);
    Ok(reports)
}

fn lower_function(
    module: LLVMModuleRef,
    func: Value,
    regions: Vec<MarkedRegion>,
) -> PassResult<Vec<RegionReport>> {
    for r in &regions {
        if r.payload.construct != "parallel" {
            return Err(r.error(format!(
                "the pass cannot lower '{}' yet",
                r.payload.construct
            )));
        }
    }
    // Carve every region first, so that each knows its enclosing region's entry block
    // (where its own team-shared slots must live once the enclosing region is outlined).
    let shapes: Vec<region::Shape> = regions
        .iter()
        .map(region::carve)
        .collect::<PassResult<_>>()?;
    let block_sets: Vec<Vec<Block>> = regions
        .iter()
        .zip(&shapes)
        .map(|(r, s)| region::blocks(r, s))
        .collect::<PassResult<_>>()?;
    let depth = |i: usize| {
        (0..regions.len())
            .filter(|&j| j != i && block_sets[j].contains(&shapes[i].pre()))
            .count()
    };
    let mut order: Vec<usize> = (0..regions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(depth(i)));
    let entry = ir::blocks(func)[0];
    let mut reports = Vec::new();
    for i in order {
        // The innermost region enclosing this one (the smallest block set containing it).
        let enclosing = (0..regions.len())
            .filter(|&j| j != i && block_sets[j].contains(&shapes[i].pre()))
            .min_by_key(|&j| block_sets[j].len());
        let alloc_block = enclosing.map_or(entry, |j| shapes[j].entry);
        reports.push(lower_parallel(
            module,
            func,
            &regions[i],
            &shapes[i],
            alloc_block,
        )?);
    }
    Ok(reports)
}

fn lower_parallel(
    module: LLVMModuleRef,
    func: Value,
    r: &MarkedRegion,
    shape: &region::Shape,
    alloc_block: Block,
) -> PassResult<RegionReport> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    // Recomputed: inner regions lowered before this one replaced their blocks.
    let mut blocks = region::blocks(r, shape)?;
    let rets = region::returns(&blocks);
    let slot = raise::redirect_returns(ctx, func, &mut blocks, &rets, shape, alloc_block)?;
    let team_shared: Vec<Value> = slot.iter().flat_map(|s| [s.status, s.excinfo]).collect();
    let applied = sharing::apply(module, func, r, shape, &blocks, &team_shared)?;
    let suffix = format!("omp.parallel.{}", r.payload.id);
    let out = outline::extract(&blocks, alloc_block, &suffix)?;
    let join = parallel::emit_fork(module, r, &out, alloc_block)?;
    if let Some(slot) = slot {
        raise::reraise_after(ctx, func, join, shape.end, slot)?;
    }
    ir::erase_with_dead_operands(r.enter);
    ir::erase_with_dead_operands(r.exit);
    Ok(RegionReport {
        id: r.payload.id,
        construct: r.payload.construct.clone(),
        directive: r.payload.directive.clone(),
        line: r.payload.loc.line,
        function: ir::name_of(func),
        outlined: ir::name_of(out.function),
        sharing: applied.decisions,
        can_raise: slot.is_some(),
    })
}

fn drop_marker_declarations(module: LLVMModuleRef) {
    for name in [markers::ENTER, markers::EXIT] {
        unsafe {
            let f = LLVMGetNamedFunction(module, ir::cstr(name).as_ptr());
            if !f.is_null() && LLVMGetFirstUse(f).is_null() {
                LLVMDeleteFunction(f);
            }
        }
    }
}

/// Fails if any marker survived lowering (checked for every module the pass returns).
pub fn check_no_markers(module: LLVMModuleRef) -> PassResult<()> {
    for name in [markers::ENTER, markers::EXIT] {
        let f = unsafe { LLVMGetNamedFunction(module, ir::cstr(name).as_ptr()) };
        if !f.is_null() {
            return Err(PassError::Internal {
                message: format!("{name} survived lowering"),
            });
        }
    }
    Ok(())
}
