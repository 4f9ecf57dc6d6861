//! One test per lowering step that lowering.rs does not show: the IR before is a small
//! hand-written fixture (`tests/fixtures/steps/*.ll`, Numba's calling convention, the front
//! end's markers and payloads), the test states what the IR after holds.
//!
//! Where each lowering step is shown:
//! ```text
//! parallel (team_region.rs, parallel.rs)   lowering.rs  parallel_region_is_outlined_and_forked, ...
//! worksharing loop (lower/worksharing/)    lowering.rs  static_loop_..., dynamic_nowait_loop_...,
//!                                                       ordered_loop_takes_pyomps_turns_...
//! sync constructs (lower/sync/)            here         sync_constructs_guard_their_bodies
//! tasks (lower/task/)                      lowering.rs  orphaned_task_is_allocated_spawned_and_awaited
//! taskloop (lower/task/taskloop.rs)        here         taskloop_makes_a_task_per_chunk
//! atomic (lower/atomic.rs)                 lowering.rs  scalar_atomics_act_on_the_variables_storage
//! cancel (lower/cancel.rs)                 here         cancel_parallel_sets_the_teams_flag_and_stops
//! reduction (reduction.rs)                 lowering.rs  firstprivate_and_reduction (a team's);
//!                                          here         loop_copies_out_lastprivate_and_combines_...
//! sharing (sharing/)                       lowering.rs  firstprivate_and_reduction (a team's);
//!                                          here         loop_copies_out_lastprivate_and_combines_...
//! ```

use pyomp_pass::{lower_module, Options};

/// The lowered module's text and the constructs lowered, innermost first.
fn lower(before: &str) -> (String, Vec<String>) {
    let out = lower_module(before, "fixture", Options { keep_ir: true }).expect("lowers");
    let constructs = out.regions.iter().map(|r| r.construct.clone()).collect();
    (out.ir.expect("kept"), constructs)
}

/// The text of function `name` in the printed module.
fn function<'a>(ir: &'a str, name: &str) -> &'a str {
    let start = ir
        .find(&format!("@{name}("))
        .unwrap_or_else(|| panic!("no function {name} in\n{ir}"));
    let start = ir[..start].rfind("define").unwrap();
    let end = start + ir[start..].find("\n}\n").unwrap();
    &ir[start..end]
}

/// `parts` occur in `text` in this order.
fn in_order(text: &str, parts: &[&str]) {
    let mut at = 0;
    for part in parts {
        match text[at..].find(part) {
            Some(i) => at += i + part.len(),
            None => panic!("{part} missing (or out of order) in\n{text}"),
        }
    }
}

#[test]
fn sync_constructs_guard_their_bodies() {
    let (ir, constructs) = lower(include_str!("fixtures/steps/sync.ll"));
    assert!(!ir.contains("pyomp.region"), "no marker survives:\n{ir}");
    assert_eq!(
        constructs,
        ["single", "critical", "master", "barrier", "parallel"]
    );
    let team = function(&ir, "f.omp.parallel.1");
    in_order(
        team,
        &[
            // single: the chosen thread runs the body; every thread meets at its barrier
            // and leaves the region there if a team mate stopped before it
            "%omp.chosen = call i32 @__kmpc_single(",
            "br i1 %omp.mine, label %omp.body, label %omp.region.end",
            "call void @__kmpc_barrier(",
            "label %omp.release, label %omp.after.barrier",
            "store i64 1, ptr %out",
            "call void @__kmpc_end_single(",
            // critical: every thread, one at a time, under the lock named by the clause
            "call void @__kmpc_critical(ptr @.pyomp.ident.2, i32 %omp.gtid, ptr @__pyomp_critical_c)",
            "%v1 = add i64 %v, 1",
            "call void @__kmpc_end_critical(ptr @.pyomp.ident.2, i32 %omp.gtid, ptr @__pyomp_critical_c)",
            // master: thread 0 only, no barrier
            "call i32 @__kmpc_master(",
            "store i64 7, ptr %out",
            "call void @__kmpc_end_master(",
            // barrier: counted like the single's, with the same leave check
            "call void @__kmpc_barrier(",
        ],
    );
    // The thread's id is taken once, at the team region's entry, for all four.
    assert_eq!(
        team.matches("@__kmpc_global_thread_num(").count(),
        1,
        "{team}"
    );
}

#[test]
fn cancel_parallel_sets_the_teams_flag_and_stops() {
    let (ir, constructs) = lower(include_str!("fixtures/steps/cancel.ll"));
    assert_eq!(constructs, ["cancel", "barrier", "parallel"]);
    let team = function(&ir, "f.omp.parallel.1");
    in_order(
        team,
        &[
            // if(c) false: no cancellation, the thread goes on
            "br i1 %c, label %omp.cancel, label %omp.body",
            // a team's cancel is pyomp's flag, taken when cancellation is on
            "call i32 @omp_get_cancellation()",
            "label %omp.cancel.leave, label %omp.body",
            "omp.cancel.leave:",
            "store i32 1, ptr %omp.cancelled",
            // the thread stops: it records where, then goes to the region's end code,
            // where it meets its team at the final barrier
            "call void @pyomp_team_stop(",
            "br label %omp.end.code",
        ],
    );
    // the team's final barrier, which the stopping thread meets its team at
    in_order(team, &["omp.after.combine:", "call void @__kmpc_barrier("]);
    assert!(
        !team.contains("__kmpc_cancel"),
        "libomp's cancellation is not used:\n{team}"
    );
}

#[test]
fn taskloop_makes_a_task_per_chunk() {
    let (ir, constructs) = lower(include_str!("fixtures/steps/taskloop.ll"));
    assert!(
        !ir.contains("pyomp.loop") && !ir.contains("pyomp.region"),
        "{ir}"
    );
    assert_eq!(constructs, ["task", "taskloop"]);
    let f = function(&ir, "f");
    in_order(
        f,
        &[
            // the encountering thread's chunk loop on pyomp's dispatcher, chunks of
            // grainsize(g) (at least 1), inside a taskgroup
            "call void @pyomp_loop_start(ptr %omp.taskloop.state, i64 %n)",
            "%omp.chunk = select i1 %omp.c0, i64 1, i64 %g",
            "call void @__kmpc_taskgroup(",
            // kind 1 = static chunked, thread 0 of 1
            "call i32 @pyomp_loop_next(ptr %omp.taskloop.next, ptr %omp.taskloop.state, i32 1, i64 %omp.chunk, i32 0, i32 1, ptr %omp.taskloop.lo, ptr %omp.taskloop.hi)",
            // each chunk: a task holding the chunk's bounds (firstprivate)
            "call ptr @__kmpc_omp_task_alloc(",
            "store i64 %hi.captured",
            "store i64 %lo.captured",
            "call i32 @__kmpc_omp_task(",
            // the taskgroup waits for the chunks' tasks
            "call void @__kmpc_end_taskgroup(",
        ],
    );
    // the chunk's task: its body outlined, started by the task entry libomp calls
    let task = function(&ir, "f.omp.task.2");
    assert!(task.contains("store i64 %b, ptr %p"), "{task}");
    let entry = function(&ir, "f.omp.task.2.omp_task_entry");
    assert!(entry.contains("call void @f.omp.task.2("), "{entry}");
}

#[test]
fn loop_copies_out_lastprivate_and_combines_its_reduction() {
    let (ir, constructs) = lower(include_str!("fixtures/steps/loop_copies.ll"));
    assert_eq!(constructs, ["for", "parallel"]);
    let team = function(&ir, "f.omp.parallel.1");
    in_order(
        team,
        &[
            // each thread's copies at the loop's start: s from the identity of +
            "store i64 0, ptr %s.private",
            "store i64 0, ptr %x.private",
            // the body works on the copies
            "store i64 %k, ptr %x.private",
            "store i64 %acc1, ptr %s.private",
            // at the construct's end: the thread that ran the last iteration (its flag,
            // set by the static schedule) writes x back
            "%omp.last = load i32, ptr %omp.last.flag",
            "br i1 %omp.is.last, label %omp.then, label %omp.cont",
            "%x.last = load i64, ptr %x.private",
            "store i64 %x.last, ptr %x",
            // then every thread adds its s into the original, by one atomic add
            "%omp.red.mine = load i64, ptr %s.private",
            "atomicrmw add ptr %s, i64 %omp.red.mine monotonic",
            // and the loop ends at its barrier
            "call void @__kmpc_barrier(",
        ],
    );
}
