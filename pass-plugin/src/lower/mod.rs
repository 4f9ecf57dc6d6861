//! Runtime lowering: turns each marked region into outlined code and `__kmpc_*` calls.
//!
//! Per function: carve every region (region.rs); give each parallel region its team's
//! failure record (raise.rs); then lower innermost first: worksharing loops in place
//! (worksharing/), parallel regions by data sharing (sharing.rs) -> outlining (outline.rs) ->
//! fork (parallel.rs) -> re-raise after the join. Markers go last.

pub mod atomic;
pub mod barrier;
pub mod cancel;
pub mod depend;
pub mod loop_markers;
pub mod parallel;
pub mod sync;
pub mod task;
pub mod worksharing;

use crate::error::{PassError, PassResult};
use crate::ir::{self, Block, Value};
use crate::markers::{self, MarkedRegion};
use crate::raise::{self, TeamErrors};
use crate::region::{self, Shape};
use crate::{outline, sharing};
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Parallel,
    For,
    /// barrier, master, masked, single, ...
    InPlace,
    /// an explicit task: outlined, created with __kmpc_omp_task
    Task,
    /// a taskloop: the encountering thread creates a task per chunk (in place)
    Taskloop,
}

/// A region of the function being lowered.
struct Node {
    r: MarkedRegion,
    kind: Kind,
    shape: Shape,
    /// The innermost enclosing parallel region (whose team runs this one).
    team: Option<usize>,
    /// Where allocations that must outlive one thread's run of the region go: the caller's
    /// side of the nearest enclosing outlined region (or the function's entry block).
    alloc_block: Block,
    errors: Option<TeamErrors>,
    /// Whether constructs inside (lowered before) wait at barriers.
    has_barriers: bool,
    /// Whether a `cancel parallel` or `cancellation point parallel` inside may send a
    /// thread to the region's end.
    cancels: bool,
    /// Whether tasks are created in the region (its own code, not a nested team's): a
    /// parallel region, or a worksharing loop (which then waits for them, see lower_for).
    has_tasks: bool,
    /// Whether the region lies inside a task of this function.
    in_task: bool,
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

fn lower_function(
    module: LLVMModuleRef,
    func: Value,
    regions: Vec<MarkedRegion>,
) -> PassResult<Vec<RegionReport>> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let mut kinds = Vec::new();
    for r in &regions {
        kinds.push(match r.payload.construct.as_str() {
            "parallel" => Kind::Parallel,
            "for" => Kind::For,
            "barrier" | "master" | "masked" | "single" | "critical" | "atomic" | "flush"
            | "ordered" | "cancel" | "cancellation point" | "taskwait" | "taskyield"
            | "taskgroup" => Kind::InPlace,
            "task" => Kind::Task,
            "taskloop" => Kind::Taskloop,
            other => return Err(r.error(format!("the pass cannot lower '{other}' yet"))),
        });
    }
    let shapes: Vec<Shape> = regions
        .iter()
        .map(region::carve)
        .collect::<PassResult<_>>()?;
    let sets: Vec<Vec<Block>> = regions
        .iter()
        .zip(&shapes)
        .map(|(r, s)| region::blocks(r, s))
        .collect::<PassResult<_>>()?;
    for ((r, shape), set) in regions.iter().zip(&shapes).zip(&sets) {
        region::check_shape(r, shape, set)?;
    }
    // Region j encloses region i when i's enter marker lies in j's blocks; the innermost
    // encloser has the fewest blocks.
    let count = regions.len();
    let enclosing = |i: usize| -> Vec<usize> {
        (0..count)
            .filter(|&j| j != i && sets[j].contains(&shapes[i].pre()))
            .collect()
    };
    let entry = ir::blocks(func)[0];
    let mut nodes: Vec<Node> = Vec::new();
    for (i, (r, kind)) in regions.into_iter().zip(kinds).enumerate() {
        nodes.push(Node {
            r,
            kind,
            shape: shapes[i],
            team: None,
            alloc_block: entry,
            errors: None,
            has_barriers: false,
            cancels: false,
            has_tasks: false,
            in_task: false,
        });
    }
    for i in 0..nodes.len() {
        let team = enclosing(i)
            .into_iter()
            .filter(|&j| nodes[j].kind == Kind::Parallel)
            .min_by_key(|&j| sets[j].len());
        nodes[i].team = team;
        nodes[i].alloc_block = team.map_or(entry, |j| shapes[j].entry);
        let around = enclosing(i);
        nodes[i].in_task = around
            .iter()
            .any(|&j| matches!(nodes[j].kind, Kind::Task | Kind::Taskloop));
        if let (Some(j), Kind::Task | Kind::Taskloop) = (team, nodes[i].kind) {
            nodes[j].has_tasks = true;
        }
    }
    for i in 0..nodes.len() {
        if !matches!(nodes[i].kind, Kind::Task | Kind::Taskloop) {
            continue;
        }
        // the loops around the task, up to its team's region
        let team = nodes[i].team;
        let inside_team = |j: usize| team.is_none_or(|t| sets[t].contains(&shapes[j].pre()));
        for j in enclosing(i) {
            if nodes[j].kind == Kind::For && inside_team(j) {
                nodes[j].has_tasks = true;
            }
        }
    }
    // Whether a cancel construct may send a thread of a parallel region to its end.
    for i in 0..nodes.len() {
        if nodes[i].kind != Kind::Parallel {
            continue;
        }
        nodes[i].cancels = (0..nodes.len()).any(|j| {
            let p = &nodes[j].r.payload;
            nodes[j].team == Some(i)
                && matches!(p.construct.as_str(), "cancel" | "cancellation point")
                && p.clauses.cancel.as_deref().unwrap_or("parallel") == "parallel"
        });
    }
    let depth = |i: usize| enclosing(i).len();
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(depth(i)));
    // Failure records, innermost parallel first: each claims the excinfo parameter's uses in
    // its blocks before an enclosing region claims the rest.
    for &i in &order {
        if nodes[i].kind == Kind::Parallel {
            let n = &nodes[i];
            // The region's end code will go in a block of its own (before `leave`), where
            // a thread that raised jumps: the body's last block may hold user code after
            // the call that raised (Numba merges blocks once it inlines a helper).
            let tail_branch = ir::terminator(n.shape.tail()).expect("tail ends in a branch");
            let end_code = ir::split_before(tail_branch, "omp.end.code");
            let end_branch = ir::terminator(end_code).expect("split leaves a branch");
            // then the releases of the thread's private copies (where threads that leave
            // early go too), then the way out
            let leave_path = ir::split_before(end_branch, "omp.release");
            let release_branch = ir::terminator(leave_path).expect("split leaves a branch");
            let leave = ir::split_before(release_branch, "omp.leave");
            let blocks = region::blocks(&n.r, &n.shape)?;
            let errors = TeamErrors::create(
                ctx,
                func,
                n.alloc_block,
                n.shape.pre(),
                n.shape.entry,
                &blocks,
                [end_code, leave_path, leave],
            )?;
            nodes[i].errors = Some(errors);
        }
    }
    let mut reports = Vec::new();
    // Tasks outside any parallel region of this function record failures here.
    let mut tasks_record: Option<TeamErrors> = None;
    for &i in &order {
        let report = match nodes[i].kind {
            Kind::For => {
                let team = nodes[i]
                    .team
                    .map(|j| nodes[j].errors.expect("parallel has a record"));
                if let (Some(j), false) = (nodes[i].team, nodes[i].r.payload.clauses.nowait) {
                    nodes[j].has_barriers = true;
                }
                let n = &nodes[i];
                worksharing::lower_for(module, func, &n.r, &n.shape, team, n.has_tasks)?
            }
            Kind::InPlace => {
                let team = nodes[i]
                    .team
                    .map(|j| nodes[j].errors.expect("parallel has a record"));
                let c = nodes[i].r.payload.construct.clone();
                let c = c.as_str();
                let waits = c == "barrier" || (c == "single" && !nodes[i].r.payload.clauses.nowait);
                if let (Some(j), true) = (nodes[i].team, waits) {
                    nodes[j].has_barriers = true;
                }
                let n = &nodes[i];
                // Inside a task, the thread running the task is not the one that entered the
                // team's region: take its id there.
                let in_task = enclosing(i)
                    .into_iter()
                    .filter(|&j| matches!(nodes[j].kind, Kind::Parallel | Kind::Task))
                    .min_by_key(|&j| sets[j].len())
                    .is_some_and(|j| nodes[j].kind == Kind::Task);
                if c == "cancel" || c == "cancellation point" {
                    cancel::lower_cancel(module, func, &n.r, &n.shape, team)?
                } else {
                    sync::lower_in_place(module, func, &n.r, &n.shape, team, in_task)?
                }
            }
            Kind::Parallel => {
                let outer = nodes[i]
                    .team
                    .map(|j| nodes[j].errors.expect("parallel has a record"));
                lower_parallel(module, func, &nodes[i], outer.as_ref())?
            }
            Kind::Taskloop => {
                let n = &nodes[i];
                task::lower_taskloop(module, func, &n.r, &n.shape)?
            }
            Kind::Task => {
                let n = &nodes[i];
                let (record, replaces) = match n.team {
                    Some(j) => {
                        let e = nodes[j].errors.expect("parallel has a record");
                        (e, e.private)
                    }
                    None => {
                        let r =
                            *tasks_record.get_or_insert_with(|| task::function_record(ctx, func));
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
                )?
            }
        };
        reports.push(report);
    }
    if let Some(record) = tasks_record {
        task::wait_at_returns(module, func, &record)?;
    }
    let leave_release = nodes
        .iter()
        .map(|n| &n.r.payload.leave_release)
        .find(|l| !l.is_empty());
    if let Some(list) = leave_release {
        release_on_leave(module, func, list);
    }
    Ok(reports)
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

fn lower_parallel(
    module: LLVMModuleRef,
    func: Value,
    n: &Node,
    outer: Option<&TeamErrors>,
) -> PassResult<RegionReport> {
    let ctx = unsafe { LLVMGetModuleContext(module) };
    let (r, shape) = (&n.r, &n.shape);
    let errors = n.errors.expect("parallel regions have a failure record");
    let end_code = errors.end_code;
    let after_combine = split_end_code(ctx, r, shape, &errors)?;
    // Recomputed: inner regions lowered before this one replaced or added blocks.
    let mut blocks = region::blocks(r, shape)?;
    let body = Shape {
        end: after_combine,
        ..*shape
    };
    log::debug!(
        "parallel {}: leave {} end_code {}",
        r.payload.id,
        ir::block_name(errors.leave),
        ir::block_name(end_code)
    );
    let rets = region::returns(&blocks);
    // A thread that raises outside the constructs inside (or in a `for nowait`, or is
    // cancelled) stops: it skips the barriers left in the body and meets its team mates at
    // a final barrier, after which they leave too, as they would after any barrier it meets
    // them at (see raise.rs; only needed when there are such barriers). Constructs inside
    // that send a stopping thread to the end code made it a second predecessor.
    let stops_inside = region::preds_of(end_code).len() > 1;
    let final_barrier = n.has_barriers && (!rets.is_empty() || n.cancels || stops_inside);
    let loc = &r.payload.loc;
    // A thread that passed, in a called function, the barrier where a stopped team mate met
    // the team, and went on (a `try` there caught the leave status), skips the end's
    // barriers: nobody else comes (team_frame.rs).
    let may_be_gone = calls_out(&blocks);
    // (returns the block the check split off, which belongs to the region)
    let barrier_before_end = |block: Block| -> Option<Block> {
        let split = may_be_gone.then(|| raise::skip_if_gone(ctx, block, &errors));
        let ident = crate::abi::ident(module, &loc.file, &ir::name_of(func), loc.line, loc.column);
        let b = ir::Builder::new(ctx);
        b.before(ir::terminator(split.unwrap_or(block)).expect("end code ends in a branch"));
        let gtid = crate::calls::thread_id(&b, module, ident);
        barrier::emit_barrier(&b, module, ident, gtid, false);
        split
    };
    let added = raise::redirect_returns(ctx, func, &rets, &errors, end_code, true)?;
    blocks.extend(added);
    // A task created in the region may still run when its creator reaches the end (after
    // `master`, `single nowait`, ...), and may write to the thread's private variables (a
    // reduction's copy through in_reduction, a `shared` one): the team first waits for its
    // tasks at the final barrier, placed before the end code combines and releases them
    // (Clang leaves this to the join barrier, after the outlined function has returned and
    // its frame is gone). Without tasks the final barrier, when needed, comes after it.
    if n.has_tasks {
        blocks.extend(barrier_before_end(end_code));
    }
    let can_raise = !rets.is_empty() || records_used(&errors);
    let team_shared = errors.team_slots();
    // A failure that leaves the function releases the function's reference-counted
    // variables the region uses; not inside another outlined region (a team or a task
    // there goes on using them).
    let outermost = outer.is_none() && !n.in_task;
    let release: Vec<(Value, String)> = if outermost {
        let given_a_value = r.fresh.iter().filter_map(|(name, decref)| {
            let (_, v) = r.exit_operands.iter().find(|(n, _)| n == name)?;
            Some((sharing::alloca_behind(*v)?, decref.clone()))
        });
        r.payload
            .vars
            .iter()
            .filter_map(|spec| Some((sharing::find_alloca(func, r, spec)?, spec.decref.clone()?)))
            .chain(given_a_value)
            .collect()
    } else {
        Vec::new()
    };
    let applied = sharing::apply(
        module,
        func,
        r,
        &body,
        &blocks,
        &team_shared,
        sharing::Mode::Parallel {
            release: errors.leave_path,
        },
    )?;
    if final_barrier && !n.has_tasks {
        blocks.extend(barrier_before_end(after_combine));
    }
    // A thread that stops meets its team at the end (team_frame.rs); barriers in
    // functions the region calls count on the thread's frame.
    errors.set_meets_at_end(final_barrier || n.has_tasks);
    if calls_out(&blocks) {
        errors.enter_frame(module);
    }
    let suffix = format!("omp.parallel.{}", r.payload.id);
    let out = outline::extract(&blocks, n.alloc_block, &suffix)?;
    let join = parallel::emit_fork(module, r, &out, n.alloc_block)?;
    if can_raise {
        match outer {
            Some(_) => raise::reraise_after(ctx, func, join, shape.end, &errors, outer)?,
            None => raise::reraise_after_releasing(ctx, func, join, shape.end, &errors, &release)?,
        }
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
        can_raise,
    })
}

/// Whether `blocks` call a function that may be user code (and so may hold an orphaned
/// construct's barrier): anything but the OpenMP runtime, pyomp's and Numba's runtime
/// helpers and LLVM intrinsics.
fn calls_out(blocks: &[Block]) -> bool {
    // (pyomp's runtime API as Numba compiles it: `pyomp.runtime.api`'s wrappers)
    const RUNTIME: [&str; 7] = [
        "__kmpc_",
        "omp_",
        "pyomp_",
        "pyomp.",
        "llvm.",
        "NRT_",
        "_ZN5pyomp7runtime",
    ];
    blocks.iter().flat_map(|&b| ir::instructions(b)).any(|i| {
        ir::opcode(i) == llvm_sys::LLVMOpcode::LLVMCall
            && ir::called_name(i).is_none_or(|name| !RUNTIME.iter().any(|p| name.starts_with(p)))
    })
}

/// Lays out the region's end code: the wait for tasks, if any (`end_code`); reductions
/// combined, unless a thread failed (a thread that raised may have released its copies),
/// in a block of their own (`omp.combine`); the final barrier, if needed (the block
/// returned, `omp.after.combine`); the releases (`leave_path`). Seen as a shape, the body
/// ends at the block returned, so the combines go in the one before it.
fn split_end_code(
    ctx: LLVMContextRef,
    r: &MarkedRegion,
    shape: &Shape,
    errors: &TeamErrors,
) -> PassResult<Block> {
    let end_code = errors.end_code;
    let combine = ir::split_before(
        ir::terminator(end_code).expect("end code ends in a branch"),
        "omp.combine",
    );
    let after_combine = ir::split_before(
        ir::terminator(combine).expect("split leaves a branch"),
        "omp.after.combine",
    );
    let may_fail = !region::returns(&region::blocks(r, shape)?).is_empty() || records_used(errors);
    if !may_fail {
        return Ok(after_combine);
    }
    let b = ir::Builder::new(ctx);
    let branch = ir::terminator(end_code).expect("split leaves a branch");
    b.before(branch);
    unsafe {
        let i32t = LLVMInt32TypeInContext(ctx);
        let status = b.load(i32t, errors.status, "omp.err.status.v");
        // (other threads write it atomically)
        LLVMSetOrdering(
            status,
            llvm_sys::LLVMAtomicOrdering::LLVMAtomicOrderingMonotonic,
        );
        LLVMSetAlignment(status, 4);
        let ok = LLVMBuildICmp(
            b.raw,
            llvm_sys::LLVMIntPredicate::LLVMIntEQ,
            status,
            LLVMConstInt(i32t, 0, 0),
            ir::cstr("omp.ok").as_ptr(),
        );
        b.cond_br(ok, combine, after_combine);
    }
    ir::erase(branch);
    Ok(after_combine)
}

/// Whether anything (an inner construct) records failures in this team's status.
fn records_used(errors: &TeamErrors) -> bool {
    ir::users(errors.status)
        .into_iter()
        .any(|u| ir::opcode(u) == llvm_sys::LLVMOpcode::LLVMAtomicCmpXchg)
}

/// Every function the front end calls to mark something for the pass.
const MARKERS: [&str; 7] = [
    markers::ENTER,
    markers::EXIT,
    loop_markers::INIT,
    loop_markers::NEXT,
    loop_markers::FINI,
    loop_markers::SKIP,
    loop_markers::ITERATION_END,
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
