//! Runtime lowering: turns each marked region into outlined code and `__kmpc_*` calls.
//!
//! Per function: carve every region and see how they nest (nesting.rs); give each parallel
//! region its team's failure record (team_region.rs, raise/); then lower innermost first,
//! one module per construct family: worksharing loops in place (worksharing/), sync
//! constructs (sync/), cancel (cancel.rs), tasks and taskloops (task/), parallel regions
//! by data sharing (sharing/) -> outlining (outline.rs) -> fork (parallel.rs) -> re-raise
//! after the join (team_region.rs); the GIL a fork released is taken back at the returns
//! (gil.rs). Markers go last.
//!
//! Below the construct modules, shared by them (they do not use each other): barrier.rs
//! (barriers and the team's barrier protocol), loop_markers.rs (loop markers, loop state
//! and ordered slots), depend.rs (task dependences), nesting.rs (the region tree).

pub mod atomic;
pub mod barrier;
pub mod cancel;
pub mod depend;
pub mod gil;
pub mod loop_markers;
pub mod nesting;
pub mod parallel;
pub mod sync;
pub mod task;
pub mod team_region;
pub mod worksharing;

use crate::error::{PassError, PassResult};
use crate::ir::{self, Value};
use crate::markers::{self, MarkedRegion};
use crate::raise::TeamErrors;
use crate::sharing;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use nesting::{Kind, Tree};
use serde::Serialize;

/// What was done to one region: shown by `pyomp.explain`.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    pub id: u64,
    pub construct: String,
    pub directive: String,
    pub line: u32,
    pub function: String,
    /// The outlined function (parallel regions), or "" for constructs lowered in place.
    pub outlined: String,
    /// (variable, data-sharing attribute, why)
    pub sharing: Vec<sharing::Decision>,
    pub can_raise: bool,
}

impl RegionReport {
    /// The report of a construct lowered in place (no outlined function); its markers go.
    pub fn in_place(
        r: &MarkedRegion,
        func: Value,
        sharing: Vec<sharing::Decision>,
        can_raise: bool,
    ) -> Self {
        ir::erase_with_dead_operands(r.enter);
        ir::erase_with_dead_operands(r.exit);
        RegionReport {
            id: r.payload.id,
            construct: r.payload.construct.clone(),
            directive: r.payload.directive.clone(),
            line: r.payload.loc.line,
            function: ir::name_of(func),
            outlined: String::new(),
            sharing,
            can_raise,
        }
    }

    /// The report of a region outlined into function `outlined`; its markers go.
    pub fn outlined(
        r: &MarkedRegion,
        func: Value,
        outlined: Value,
        sharing: Vec<sharing::Decision>,
        can_raise: bool,
    ) -> Self {
        RegionReport {
            outlined: ir::name_of(outlined),
            ..RegionReport::in_place(r, func, sharing, can_raise)
        }
    }
}

/// Lowers every region of every function of the module.
pub fn lower_regions(module: LLVMModuleRef) -> PassResult<Vec<RegionReport>> {
    let mut reports = Vec::new();
    for func in ir::functions(module) {
        atomic::lower_scalar_atomics(module, func)?;
        let regions = markers::find_regions(func)?;
        if regions.is_empty() {
            continue;
        }
        reports.extend(lower_function(module, func, regions)?);
    }
    drop_marker_declarations(module);
    Ok(reports)
}

/// Lowers the regions of `func`, innermost first: failure records of the parallel regions
/// (innermost first: each claims the excinfo parameter's uses in its blocks before an
/// enclosing region claims the rest), then each region by its kind.
fn lower_function(
    module: LLVMModuleRef,
    func: Value,
    regions: Vec<MarkedRegion>,
) -> PassResult<Vec<RegionReport>> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let mut tree = Tree::build(func, regions)?;
    let order = tree.innermost_first();
    for &i in &order {
        if tree.nodes[i].kind == Kind::Parallel {
            tree.nodes[i].errors = Some(team_region::failure_record(ctx, func, &tree.nodes[i])?);
        }
    }
    let mut reports = Vec::new();
    // Tasks outside any parallel region of this function record failures here.
    let mut tasks_record: Option<TeamErrors> = None;
    for &i in &order {
        reports.push(lower_node(module, func, &mut tree, i, &mut tasks_record)?);
    }
    if let Some(record) = tasks_record {
        task::wait_at_returns(module, func, &record)?;
    }
    let leave_release = tree
        .nodes
        .iter()
        .map(|n| &n.r.payload.leave_release)
        .find(|l| !l.is_empty());
    if let Some(list) = leave_release {
        release_on_leave(module, func, list);
    }
    gil::take_back_at_returns(module, func); // (last: after any wait at the returns)
    Ok(reports)
}

/// Lowers region `i` of `tree` by its kind; a team that waits at a barrier inside learns it
/// here (its `has_barriers`, read when it is lowered).
fn lower_node(
    module: LLVMModuleRef,
    func: Value,
    tree: &mut Tree,
    i: usize,
    tasks_record: &mut Option<TeamErrors>,
) -> PassResult<RegionReport> {
    let team_index = tree.nodes[i].team;
    let team = team_index.map(|j| tree.team_record(j));
    let n = &tree.nodes[i];
    match n.kind {
        Kind::For => {
            if let (Some(j), false) = (team_index, n.r.payload.clauses.nowait) {
                tree.nodes[j].has_barriers = true;
            }
            let n = &tree.nodes[i];
            worksharing::lower_for(module, func, &n.r, &n.shape, team, n.has_tasks)
        }
        Kind::InPlace => {
            let c = n.r.payload.construct.as_str();
            let waits = c == "barrier" || (c == "single" && !n.r.payload.clauses.nowait);
            if let (Some(j), true) = (team_index, waits) {
                tree.nodes[j].has_barriers = true;
            }
            let n = &tree.nodes[i];
            let c = n.r.payload.construct.as_str();
            // Inside a task, the thread running the task is not the one that entered the
            // team's region: take its id there.
            let around = tree.enclosing(i).into_iter();
            let in_task = tree
                .innermost(
                    around.filter(|&j| matches!(tree.nodes[j].kind, Kind::Parallel | Kind::Task)),
                )
                .is_some_and(|j| tree.nodes[j].kind == Kind::Task);
            if c == "cancel" || c == "cancellation point" {
                cancel::lower_cancel(module, func, &n.r, &n.shape, team)
            } else {
                sync::lower_in_place(module, func, &n.r, &n.shape, team, in_task)
            }
        }
        Kind::Parallel => team_region::lower_parallel(module, func, n, team.as_ref()),
        Kind::Taskloop => task::lower_taskloop(module, func, &n.r, &n.shape),
        Kind::Task => {
            let ctx = unsafe { LLVMGetModuleContext(module) };
            let (record, replaces) = match team {
                Some(e) => (e, e.private),
                None => {
                    let r = *tasks_record.get_or_insert_with(|| task::function_record(ctx, func));
                    (r, unsafe { LLVMGetParam(func, 1) })
                }
            };
            task::lower_task(
                module,
                func,
                &n.r,
                &n.shape,
                n.alloc_block,
                &record,
                replaces,
            )
        }
    }
}

/// Where an orphaned construct's barrier tells its thread to leave the function
/// (`ret i32 team_frame::LEAVE_STATUS`): release the function's reference-counted
/// variables first, as Numba's `del`s after that point would (a slot already released
/// holds null). Emitted once the function's regions are lowered: a use of a variable's
/// slot outside a region, made earlier, would keep that region from privatising it.
fn release_on_leave(module: LLVMModuleRef, func: Value, list: &[markers::LeaveRelease]) {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let entry = ir::blocks(func)[0];
    let slots: Vec<(Value, &String)> = list
        .iter()
        .filter_map(|release| {
            let slot = ir::instructions(entry).into_iter().find(|&i| {
                ir::opcode(i) == llvm_sys::LLVMOpcode::LLVMAlloca && ir::name_of(i) == release.name
            })?;
            Some((slot, release.decref.as_ref()?))
        })
        .collect();
    let leave = crate::team_frame::LEAVE_STATUS as i64;
    for block in ir::blocks(func) {
        let Some(ret) = ir::terminator(block) else {
            continue;
        };
        let leaves = ir::opcode(ret) == llvm_sys::LLVMOpcode::LLVMRet
            && ir::operands(ret).first().is_some_and(|&v| unsafe {
                !LLVMIsAConstantInt(v).is_null() && LLVMConstIntGetSExtValue(v) == leave
            });
        if leaves {
            let b = ir::Builder::new(ctx);
            b.before(ret);
            for (slot, decref) in &slots {
                crate::calls::call_helper(&b, module, decref, *slot);
            }
        }
    }
}

/// Every function the front end calls to mark something for the pass.
const MARKERS: [&str; 8] = [
    markers::ENTER,
    markers::EXIT,
    loop_markers::INIT,
    loop_markers::NEXT,
    loop_markers::FINI,
    loop_markers::SKIP,
    loop_markers::ITERATION_END,
    loop_markers::LAST_OWNER,
];

/// The scalar atomics' markers (one declaration per kind and type).
fn atomic_markers(module: LLVMModuleRef) -> Vec<Value> {
    ir::functions(module)
        .into_iter()
        .filter(|&f| ir::name_of(f).starts_with(atomic::PREFIX))
        .collect()
}

fn drop_marker_declarations(module: LLVMModuleRef) {
    for f in atomic_markers(module) {
        unsafe {
            if LLVMGetFirstUse(f).is_null() {
                LLVMDeleteFunction(f);
            }
        }
    }
    for name in MARKERS {
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
    if let Some(&f) = atomic_markers(module).first() {
        return Err(PassError::Internal {
            message: format!("{} survived lowering", ir::name_of(f)),
        });
    }
    for name in MARKERS {
        let f = unsafe { LLVMGetNamedFunction(module, ir::cstr(name).as_ptr()) };
        if !f.is_null() {
            return Err(PassError::Internal {
                message: format!("{name} survived lowering"),
            });
        }
    }
    Ok(())
}
