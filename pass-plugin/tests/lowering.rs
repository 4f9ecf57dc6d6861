//! The pass on small Numba-shaped IR fixtures: IR before (built here), facts after.
//!
//! Each fixture is a function with Numba's calling convention
//! (`i32 @f(ptr %retptr, ptr %excinfo, ...)`) holding a region delimited by the markers the
//! Python front end emits, with a JSON payload like the front end's.

use pyomp_pass::{lower_module, Options, PassError};

/// `@name = internal constant [N x i8] c"<json>\00"` with N computed.
fn payload(name: &str, json: &str) -> String {
    let escaped = json.replace('"', "\\22");
    format!(
        "@{name} = internal constant [{} x i8] c\"{escaped}\\00\"\n",
        json.len() + 1
    )
}

const DECLS: &str = "declare void @pyomp.region.enter(ptr, ...)\n\
                     declare void @pyomp.region.exit(ptr, ...)\n\
                     declare i32 @omp_get_thread_num()\n";

fn enter_json(id: u32, clauses: &str, vars: &str) -> String {
    format!(
        r#"{{"id":{id},"construct":"parallel","directive":"parallel","loc":{{"file":"t.py","line":{},"column":5}},"clauses":{{{clauses}}},"vars":[{vars}]}}"#,
        id + 2
    )
}

fn var(name: &str, sharing: &str, operand: Option<usize>, extra: &str) -> String {
    let operand = operand.map_or("null".to_string(), |i| i.to_string());
    format!(
        r#"{{"name":"{name}","sharing":"{sharing}","why":"test","op":null,"operand":{operand}{extra}}}"#
    )
}

fn lower(ir: &str) -> Result<(String, Vec<serde_json::Value>), PassError> {
    let out = lower_module(ir, "fixture", Options { keep_ir: true })?;
    let reports = serde_json::to_value(&out.regions).unwrap();
    Ok((out.ir.unwrap(), reports.as_array().unwrap().clone()))
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

/// `nt` is written in the region and read after (shared), `n` only read (shared, passed by
/// value), `tid` lives only in the region (private).
fn basic_region(clauses: &str, extra_enter_args: &str) -> String {
    let vars = [
        var("n", "shared", Some(0), ""),
        var("nt", "shared", Some(1), ""),
        var("tid", "private", None, ""),
    ]
    .join(",");
    payload("enter.1", &enter_json(1, clauses, &vars))
        + &payload("exit.1", r#"{"id":1,"vars":["nt"]}"#)
        + DECLS
        + &format!(
            "define i32 @f(ptr %retptr, ptr %excinfo, i64 %arg.n, i64 %k, i1 %c) {{\n\
entry:\n  %n = alloca i64\n  store i64 0, ptr %n\n  %nt = alloca i64\n  store i64 0, ptr %nt\n\
  %tid = alloca i32\n  store i32 0, ptr %tid\n  store i64 %arg.n, ptr %n\n  br label %B0\n\
B0:\n  %n.v = load i64, ptr %n\n  %nt.v = load i64, ptr %nt\n\
  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1, i64 %n.v, i64 %nt.v{extra_enter_args})\n  br label %B1\n\
B1:\n  %t = call i32 @omp_get_thread_num()\n  store i32 %t, ptr %tid\n  %t2 = load i32, ptr %tid\n\
  %t3 = sext i32 %t2 to i64\n  %nn = load i64, ptr %n\n  %t4 = add i64 %t3, %nn\n  store i64 %t4, ptr %nt\n  br label %B2\n\
B2:\n  %nt.x = load i64, ptr %nt\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1, i64 %nt.x)\n\
  %r = load i64, ptr %nt\n  store i64 %r, ptr %retptr\n  ret i32 0\n}}\n"
        )
}

#[test]
fn parallel_region_is_outlined_and_forked() {
    let (ir, reports) = lower(&basic_region("", "")).unwrap();
    assert!(!ir.contains("pyomp.region"), "no marker survives:\n{ir}");
    let f = function(&ir, "f");
    assert!(f.contains("call void (ptr, i32, ptr, ...) @__kmpc_fork_call(ptr @.pyomp.ident, i32 1, ptr @f.omp.parallel.1.omp_microtask"));
    // shared and written: by address; shared and only read: by value; private: its own alloca
    let outlined = function(&ir, "f.omp.parallel.1");
    assert!(
        outlined.starts_with("define internal void @f.omp.parallel.1(i64 %n.shared, ptr %nt)"),
        "{outlined}"
    );
    assert!(
        outlined.contains("%tid.private = alloca i32"),
        "tid is private to each thread:\n{outlined}"
    );
    assert!(
        outlined.contains("%t4 = add i64 %t3, %n.shared"),
        "n is read from the by-value copy"
    );
    assert!(
        !f.contains("@omp_get_thread_num"),
        "the region's code left the caller"
    );
    let micro = function(&ir, "f.omp.parallel.1.omp_microtask");
    assert!(
        micro.contains("call void @f.omp.parallel.1(i64 %omp.arg1, ptr %omp.arg3)"),
        "{micro}"
    );
    assert!(
        ir.contains(r#"c";t.py;f;3;5;;\00""#),
        "ident carries the source location"
    );
    let sharing = &reports[0]["sharing"];
    assert_eq!(sharing[2], serde_json::json!(["tid", "private", "test"]));
    assert_eq!(reports[0]["can_raise"], false);
}

#[test]
fn num_threads_and_if_clauses() {
    let ir = basic_region(r#""num_threads":2,"if":3"#, ", i64 %k, i1 %c");
    let (out, _) = lower(&ir).unwrap();
    let f = function(&out, "f");
    assert!(f.contains("%omp.i32 = trunc i64 %k to i32"), "{f}");
    assert!(f.contains(
        "call void @__kmpc_push_num_threads(ptr @.pyomp.ident, i32 %omp.gtid, i32 %omp.i32)"
    ));
    assert!(
        f.contains("br i1 %c, label %omp.fork, label %omp.serial"),
        "{f}"
    );
    assert!(f.contains("call void @__kmpc_serialized_parallel"));
    assert!(f.contains("call void @f.omp.parallel.1.omp_microtask(ptr %omp.gtid.addr, ptr %omp.zero.addr, ptr %omp.args)"));
    assert!(f.contains("call void @__kmpc_end_serialized_parallel"));
}

#[test]
fn firstprivate_and_reduction() {
    let int = r#","type":{"kind":"int","signed":true,"bits":64}"#;
    let vars = [var("x", "firstprivate", Some(0), int), {
        let mut s = var("s", "reduction", Some(1), int);
        s = s.replace(r#""op":null"#, r#""op":"+""#);
        s
    }]
    .join(",");
    let ir = payload("enter.1", &enter_json(1, "", &vars))
        + &payload("exit.1", r#"{"id":1,"vars":["x","s"]}"#)
        + DECLS
        + "define i32 @f(ptr %retptr, ptr %excinfo) {\n\
entry:\n  %x = alloca i64\n  store i64 0, ptr %x\n  %s = alloca i64\n  store i64 0, ptr %s\n\
  store i64 7, ptr %x\n  br label %B0\n\
B0:\n  %x.v = load i64, ptr %x\n  %s.v = load i64, ptr %s\n\
  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1, i64 %x.v, i64 %s.v)\n  br label %B1\n\
B1:\n  %a = load i64, ptr %x\n  %b = add i64 %a, 1\n  store i64 %b, ptr %x\n\
  %c = load i64, ptr %s\n  %d = add i64 %c, %b\n  store i64 %d, ptr %s\n  br label %B2\n\
B2:\n  %x.x = load i64, ptr %x\n  %s.x = load i64, ptr %s\n\
  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1, i64 %x.x, i64 %s.x)\n\
  %r = load i64, ptr %s\n  store i64 %r, ptr %retptr\n  ret i32 0\n}\n";
    let (out, _) = lower(&ir).unwrap();
    let outlined = function(&out, "f.omp.parallel.1");
    // firstprivate: the copy is initialised from the original; reduction: from 0, combined
    // into the original by one atomic add (no critical section)
    assert!(outlined.contains("%x.in = load i64, ptr %x"), "{outlined}");
    assert!(outlined.contains("store i64 0, ptr"), "{outlined}");
    assert!(
        outlined.contains("atomicrmw add ptr %s, i64 %omp.red.mine monotonic"),
        "{outlined}"
    );
    assert!(!outlined.contains("@__kmpc_critical("), "{outlined}");
}

#[test]
fn unsupported_reduction_is_a_located_error() {
    let float = r#","type":{"kind":"float","bits":64},"numba_type":"float64""#;
    let vars = var("s", "reduction", Some(0), float).replace(r#""op":null"#, r#""op":"&""#);
    let ir = payload("enter.1", &enter_json(1, "", &vars))
        + &payload("exit.1", r#"{"id":1,"vars":["s"]}"#)
        + DECLS
        + "define i32 @f(ptr %retptr, ptr %excinfo) {\n\
entry:\n  %s = alloca double\n  store double 0.0, ptr %s\n  br label %B0\n\
B0:\n  %s.v = load double, ptr %s\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1, double %s.v)\n  br label %B1\n\
B1:\n  store double 1.0, ptr %s\n  br label %B2\n\
B2:\n  %s.x = load double, ptr %s\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1, double %s.x)\n  ret i32 0\n}\n";
    match lower(&ir) {
        Err(PassError::Region {
            message,
            loc: Some(loc),
        }) => {
            assert_eq!(
                message,
                "reduction(&: s) is not supported for a variable of type float64"
            );
            assert_eq!((loc.file.as_str(), loc.line), ("t.py", 3));
        }
        other => panic!("expected a region error, got {other:?}"),
    }
}

#[test]
fn exception_in_region_is_recorded_and_reraised_after_the_join() {
    let vars = var("n", "shared", Some(0), "");
    let ir = payload("enter.1", &enter_json(1, "", &vars))
        + &payload("exit.1", r#"{"id":1,"vars":["n"]}"#)
        + DECLS
        + "@exc = internal constant i8 0\n\
define i32 @f(ptr %retptr, ptr %excinfo, i64 %arg) {\n\
entry:\n  %n = alloca i64\n  store i64 0, ptr %n\n  store i64 %arg, ptr %n\n  br label %B0\n\
B0:\n  %n.v = load i64, ptr %n\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1, i64 %n.v)\n  br label %B1\n\
B1:\n  %v = load i64, ptr %n\n  %bad = icmp sgt i64 %v, 3\n  br i1 %bad, label %raise, label %B2\n\
raise:\n  store ptr @exc, ptr %excinfo\n  ret i32 1\n\
B2:\n  %n.x = load i64, ptr %n\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1, i64 %n.x)\n  ret i32 0\n}\n";
    let (out, reports) = lower(&ir).unwrap();
    assert_eq!(reports[0]["can_raise"], true);
    let outlined = function(&out, "f.omp.parallel.1");
    assert!(
        !outlined.contains("ret i32"),
        "no return of the function from inside the region"
    );
    assert!(
        outlined.contains("cmpxchg ptr %omp.err.status, i32 0, i32 1 seq_cst seq_cst"),
        "{outlined}"
    );
    assert!(
        outlined.contains("store ptr @exc, ptr %omp.excinfo.private"),
        "private excinfo slot:\n{outlined}"
    );
    let f = function(&out, "f");
    assert!(
        f.contains("store i32 0, ptr %omp.err.status"),
        "status reset before the region"
    );
    assert!(f.contains("store ptr %omp.err.info.v, ptr %excinfo"), "{f}");
    assert!(f.contains("ret i32 %omp.err.status.v"), "{f}");
}

/// A function whose parallel region (id 1) holds another (id 2), sharing `a`.
fn nested_region_ir() -> String {
    let outer_vars = var("a", "shared", Some(0), "");
    let inner_vars = var("a", "shared", Some(0), "");
    let inner = enter_json(2, "", &inner_vars);
    payload("enter.1", &enter_json(1, "", &outer_vars))
        + &payload("enter.2", &inner)
        + &payload("exit.1", r#"{"id":1,"vars":["a"]}"#)
        + &payload("exit.2", r#"{"id":2,"vars":["a"]}"#)
        + DECLS
        + "define i32 @f(ptr %retptr, ptr %excinfo, ptr %arg) {\n\
entry:\n  %a = alloca ptr\n  store ptr null, ptr %a\n  store ptr %arg, ptr %a\n  br label %B0\n\
B0:\n  %a.v = load ptr, ptr %a\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1, ptr %a.v)\n  br label %B1\n\
B1:\n  %a.w = load ptr, ptr %a\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.2, ptr %a.w)\n  br label %B2\n\
B2:\n  %p = load ptr, ptr %a\n  %t = call i32 @omp_get_thread_num()\n  store i32 %t, ptr %p\n  br label %B3\n\
B3:\n  %a.x = load ptr, ptr %a\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.2, ptr %a.x)\n\
  %a.y = load ptr, ptr %a\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1, ptr %a.y)\n  ret i32 0\n}\n"
}

#[test]
fn nested_regions_fork_inside_the_outer_outlined_function() {
    let ir = nested_region_ir();
    let (out, reports) = lower(&ir).unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["id"], 2, "the inner region is lowered first");
    let outer = function(&out, "f.omp.parallel.1");
    assert!(
        outer.contains(
            "@__kmpc_fork_call(ptr @.pyomp.ident.1, i32 1, ptr @f.omp.parallel.2.omp_microtask"
        ) || outer.contains("@f.omp.parallel.2.omp_microtask"),
        "{out}"
    );
    assert!(
        outer.contains("alloca { ptr }"),
        "the inner argument block is private to each outer thread:\n{outer}"
    );
    assert!(function(&out, "f").contains("@f.omp.parallel.1.omp_microtask"));
}

/// The GIL (lower/gil.rs): the function's own region releases it once per call (a slot in
/// the function's frame, checked before the fork, taken back at the return); a region
/// nested in it releases it for its own fork only, for a team of more than one thread.
#[test]
fn the_gil_is_released_once_per_call_and_per_fork_in_a_nested_region() {
    let ir = nested_region_ir();
    let (out, _) = lower(&ir).unwrap();
    let f = function(&out, "f");
    // once per call: the slot starts null, the first fork checks and releases, the
    // return takes the GIL back; nothing is taken back between the fork and the return
    // (the check's blocks come last in the text: each part is looked for on its own)
    contains_all(
        f,
        &[
            "%omp.gil.saved.slot = alloca ptr",
            "store ptr null, ptr %omp.gil.saved.slot",
            "icmp eq ptr %omp.gil.saved",
            "store ptr inttoptr (i64 1 to ptr), ptr %omp.gil.saved.slot",
            "call i32 @PyGILState_Check()",
            "call ptr @PyEval_SaveThread()",
            "@__kmpc_fork_call(",
            "icmp ugt i64 %omp.gil.bits, 1",
            "call void @PyEval_RestoreThread(",
            "ret i32 0",
        ],
    );
    assert_eq!(f.matches("@PyEval_RestoreThread(").count(), 1, "{f}");
    assert!(
        !f.contains("@omp_get_max_threads"),
        "no team-size query:\n{f}"
    );
    // nested: the team size asked for decides, and the join takes the GIL back
    let outer = function(&out, "f.omp.parallel.1");
    contains_all(
        outer,
        &[
            "call i32 @omp_get_max_threads()",
            "call i32 @PyGILState_Check()",
            "call ptr @PyEval_SaveThread()",
            "@__kmpc_fork_call(",
            "call void @PyEval_RestoreThread(",
        ],
    );
    assert!(!outer.contains("omp.gil.saved.slot"), "{outer}");
}

/// Each of `parts` occurs in `text`.
fn contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part} missing in\n{text}");
    }
}

#[test]
fn region_without_end_marker_is_a_located_error() {
    let vars = var("n", "shared", None, "");
    let ir = payload("enter.1", &enter_json(1, "", &vars))
        + DECLS
        + "define i32 @f(ptr %retptr, ptr %excinfo) {\n\
entry:\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1)\n  ret i32 0\n}\n";
    match lower(&ir) {
        Err(PassError::Region { loc: Some(loc), .. }) => assert_eq!(loc.line, 3),
        other => panic!("expected a region error, got {other:?}"),
    }
}

#[test]
fn unreadable_payload_is_an_internal_error_not_a_panic() {
    let ir = payload("enter.1", "{not json")
        + DECLS
        + "define i32 @f(ptr %retptr, ptr %excinfo) {\n\
entry:\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1)\n  ret i32 0\n}\n";
    assert!(matches!(lower(&ir), Err(PassError::Internal { .. })));
}

/// A `parallel` region (id 1) holding a worksharing loop (id 2) shaped like the front end's
/// chunk loop: init(id, n); loop { next(id) -> {more, lo, hi}; ... }; fini(id).
fn loop_region(for_clauses: &str) -> String {
    let for_enter = enter_json(2, for_clauses, &var("i", "private", None, ""))
        .replace(r#""construct":"parallel""#, r#""construct":"for""#);
    payload("enter.1", &enter_json(1, "", ""))
        + &payload("enter.2", &for_enter)
        + &payload("exit.1", r#"{"id":1,"vars":[]}"#)
        + &payload("exit.2", r#"{"id":2,"vars":[]}"#)
        + DECLS
        + "declare void @pyomp.loop.init(i64, i64)\n\
declare {i1, i64, i64} @pyomp.loop.next(i64)\n\
declare void @pyomp.loop.fini(i64)\n\
define i32 @f(ptr %retptr, ptr %excinfo, i64 %n, ptr %out) {\n\
entry:\n  %i = alloca i64\n  store i64 0, ptr %i\n  br label %B0\n\
B0:\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1)\n  br label %B1\n\
B1:\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.2)\n  br label %B2\n\
B2:\n  call void @pyomp.loop.init(i64 2, i64 %n)\n  br label %D\n\
D:\n  %c = call {i1, i64, i64} @pyomp.loop.next(i64 2)\n  %more = extractvalue {i1, i64, i64} %c, 0\n\
  %lo = extractvalue {i1, i64, i64} %c, 1\n  %hi = extractvalue {i1, i64, i64} %c, 2\n  br i1 %more, label %L, label %X\n\
L:\n  %k = phi i64 [ %lo, %D ], [ %k1, %L ]\n  store i64 %k, ptr %i\n  %p = getelementptr i64, ptr %out, i64 %k\n  store i64 %k, ptr %p\n\
  %k1 = add i64 %k, 1\n  %go = icmp slt i64 %k1, %hi\n  br i1 %go, label %L, label %D\n\
X:\n  call void @pyomp.loop.fini(i64 2)\n  br label %E\n\
E:\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.2)\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1)\n  ret i32 0\n}\n"
}

#[test]
fn static_loop_computes_its_block_and_ends_with_a_barrier() {
    let (ir, reports) = lower(&loop_region("")).unwrap();
    assert!(
        !ir.contains("pyomp.loop") && !ir.contains("pyomp.region"),
        "{ir}"
    );
    let outlined = function(&ir, "f.omp.parallel.1");
    // A team's static schedule is arithmetic on the thread number and team size, taken once
    // at the region's entry: no __kmpc_for_static_init call.
    assert!(!outlined.contains("__kmpc_for_static"), "{outlined}");
    for part in [
        "call i32 @omp_get_thread_num()",
        "call i32 @omp_get_num_threads()",
        "%omp.q = sdiv i64 %omp.nn, %omp.nth64",
        "%omp.r = srem i64 %omp.nn, %omp.nth64",
    ] {
        assert!(outlined.contains(part), "{part} missing:\n{outlined}");
    }
    assert!(
        outlined.contains("%omp.lo.nonneg = and i64 %omp.lo.safe, 9223372036854775807"),
        "iteration numbers are known to be non-negative:\n{outlined}"
    );
    // No thread can leave the region outside the loop: a plain barrier ends the loop.
    assert!(
        outlined.contains("@__kmpc_barrier("),
        "a barrier ends the loop"
    );
    assert!(!outlined.contains("cancel_barrier"), "{outlined}");
    assert_eq!(reports[0]["construct"], "for");
    assert_eq!(
        reports[0]["sharing"][0],
        serde_json::json!(["i", "private", "test"])
    );
}

#[test]
fn dynamic_nowait_loop_uses_pyomps_dispatcher_and_no_barrier() {
    let (ir, _) = lower(&loop_region(
        r#""schedule":{"kind":"dynamic","modifiers":["nonmonotonic"],"chunk":null},"nowait":true"#,
    ))
    .unwrap();
    let outlined = function(&ir, "f.omp.parallel.1");
    // The dispatch state lives in the region: a counter shared by the team (passed in) and
    // a LoopState per thread.
    assert!(outlined.contains("ptr %omp.team.next.2"), "{outlined}");
    assert!(
        outlined.contains("call void @pyomp_loop_start(ptr %omp.loop.state.2, i64 %"),
        "{outlined}"
    );
    // kind 2 = dynamic, chunk 1 by default; the team size too (a team of one takes the
    // whole rest at once: a team size of 1 passed for every dynamic loop once gave the
    // whole loop to the first thread that asked)
    assert!(outlined.contains("call i32 @pyomp_loop_next(ptr %omp.team.next.2, ptr %omp.loop.state.2, i32 2, i64 1, i32 %omp_get_thread_num, i32 %omp_get_num_threads, ptr %omp.lb, ptr %omp.ub)"), "{outlined}");
    assert!(!outlined.contains("__kmpc_dispatch"), "{outlined}");
    assert!(
        !outlined.contains("barrier"),
        "nowait: no barrier\n{outlined}"
    );
}

/// A `for ordered` loop (id 2, in parallel region 1) whose body holds an `ordered` block
/// (id 3), shaped like the front end's output: each iteration starts with the skip check
/// and ends at the iteration-end marker.
fn ordered_loop_region() -> String {
    let for_enter = enter_json(2, r#""ordered":true"#, &var("i", "private", None, ""))
        .replace(r#""construct":"parallel""#, r#""construct":"for""#);
    let ordered_enter = enter_json(3, r#""binds":2"#, "")
        .replace(r#""construct":"parallel""#, r#""construct":"ordered""#);
    payload("enter.1", &enter_json(1, "", ""))
        + &payload("enter.2", &for_enter)
        + &payload("enter.3", &ordered_enter)
        + &payload("exit.1", r#"{"id":1,"vars":[]}"#)
        + &payload("exit.2", r#"{"id":2,"vars":[]}"#)
        + &payload("exit.3", r#"{"id":3,"vars":[]}"#)
        + DECLS
        + "declare void @pyomp.loop.init(i64, i64)\n\
declare {i1, i64, i64} @pyomp.loop.next(i64)\n\
declare void @pyomp.loop.fini(i64)\n\
declare i1 @pyomp.loop.skip(i64, i64, i64)\n\
declare void @pyomp.loop.iteration_end(i64)\n\
define i32 @f(ptr %retptr, ptr %excinfo, i64 %n, ptr %out, ptr %pos) {\n\
entry:\n  %i = alloca i64\n  store i64 0, ptr %i\n  br label %B0\n\
B0:\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1)\n  br label %B1\n\
B1:\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.2)\n  br label %B2\n\
B2:\n  call void @pyomp.loop.init(i64 2, i64 %n)\n  br label %D\n\
D:\n  %c = call {i1, i64, i64} @pyomp.loop.next(i64 2)\n  %more = extractvalue {i1, i64, i64} %c, 0\n\
  %lo = extractvalue {i1, i64, i64} %c, 1\n  %hi = extractvalue {i1, i64, i64} %c, 2\n  br i1 %more, label %L, label %X\n\
L:\n  %k = phi i64 [ %lo, %D ], [ %k1, %END ]\n  store i64 %k, ptr %i\n  %skip = call i1 @pyomp.loop.skip(i64 2, i64 %lo, i64 %k)\n  br i1 %skip, label %END, label %O\n\
O:\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.3)\n  br label %OB\n\
OB:\n  %at = load i64, ptr %pos\n  %p = getelementptr i64, ptr %out, i64 %at\n  store i64 %k, ptr %p\n\
  %at1 = add i64 %at, 1\n  store i64 %at1, ptr %pos\n  br label %OE\n\
OE:\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.3)\n  br label %END\n\
END:\n  call void @pyomp.loop.iteration_end(i64 2)\n  %k1 = add i64 %k, 1\n  %go = icmp slt i64 %k1, %hi\n  br i1 %go, label %L, label %D\n\
X:\n  call void @pyomp.loop.fini(i64 2)\n  br label %E\n\
E:\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.2)\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1)\n  ret i32 0\n}\n"
}

#[test]
fn ordered_loop_takes_pyomps_turns_one_per_iteration() {
    let (ir, reports) = lower(&ordered_loop_region()).unwrap();
    assert!(
        !ir.contains("pyomp.loop") && !ir.contains("pyomp.region"),
        "{ir}"
    );
    let outlined = function(&ir, "f.omp.parallel.1");
    // A team's ordered loop: pyomp's dispatcher and turn counter (crate::runtime), shared
    // by the team; no libomp dispatch buffers to leave stale.
    assert!(!outlined.contains("__kmpc_dispatch"), "{outlined}");
    assert!(!outlined.contains("__kmpc_ordered"), "{outlined}");
    for call in [
        "@pyomp_loop_next(",
        "@pyomp_ordered_wait(ptr %omp.team.ticket.2",
        "@pyomp_ordered_pass(ptr %omp.team.ticket.2",
        "@pyomp_ordered_end(ptr %omp.team.ticket.2",
    ] {
        assert!(outlined.contains(call), "{call} missing:\n{outlined}");
    }
    // the iteration number is recorded for the block at each iteration's start
    assert!(outlined.contains("store i64 %omp.iter.v"), "{outlined}");
    let constructs: Vec<_> = reports.iter().map(|r| r["construct"].clone()).collect();
    assert_eq!(constructs, ["ordered", "for", "parallel"]);
}

/// Scalar atomics: the front end passes the variable's value, loaded from its alloca; the
/// pass puts the atomic instruction on the alloca and returns (old, new).
#[test]
fn scalar_atomics_act_on_the_variables_storage() {
    let ir = "declare [2 x i64] @pyomp.atomic.update.add.relaxed.i64(i64, i64)\n\
declare [2 x double] @pyomp.atomic.update.mul.seq_cst.double(double, double)\n\
declare [2 x i64] @pyomp.atomic.read.none.acquire.i64(i64, i64)\n\
define i32 @f(ptr %retptr, ptr %excinfo, ptr %out) {\n\
entry:\n  %x = alloca i64\n  %y = alloca double\n  store i64 0, ptr %x\n  store double 1.0, ptr %y\n\
  %xv = load i64, ptr %x\n  %p = call [2 x i64] @pyomp.atomic.update.add.relaxed.i64(i64 %xv, i64 3)\n\
  %old = extractvalue [2 x i64] %p, 0\n  store i64 %old, ptr %out\n\
  %yv = load double, ptr %y\n  %q = call [2 x double] @pyomp.atomic.update.mul.seq_cst.double(double %yv, double 2.0)\n\
  %xr = load i64, ptr %x\n  %r = call [2 x i64] @pyomp.atomic.read.none.acquire.i64(i64 %xr, i64 %xr)\n\
  ret i32 0\n}\n";
    let (out, _) = lower(ir).unwrap();
    assert!(!out.contains("pyomp.atomic"), "{out}");
    assert!(
        out.contains("atomicrmw add ptr %x, i64 3 monotonic"),
        "{out}"
    );
    // no atomicrmw multiplies: a compare-and-swap loop on the double's bits
    assert!(out.contains("cmpxchg ptr %y, i64"), "{out}");
    assert!(out.contains("seq_cst seq_cst"), "{out}");
    assert!(out.contains("load atomic i64, ptr %x acquire"), "{out}");
}

/// A task outside any parallel region of its function (as in a recursive fib): captured
/// values go into the task's allocation, and every return first waits for the child tasks.
#[test]
fn orphaned_task_is_allocated_spawned_and_awaited() {
    let task_enter = enter_json(1, "", &var("x", "firstprivate", Some(0), ""))
        .replace(r#""construct":"parallel""#, r#""construct":"task""#);
    let ir = payload("enter.1", &task_enter)
        + &payload("exit.1", r#"{"id":1,"vars":[]}"#)
        + DECLS
        + "define i32 @f(ptr %retptr, ptr %excinfo, ptr %out) {\n\
entry:\n  %x = alloca i64\n  store i64 7, ptr %x\n  br label %B0\n\
B0:\n  %xv = load i64, ptr %x\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1, i64 %xv)\n  br label %B1\n\
B1:\n  %v = load i64, ptr %x\n  store i64 %v, ptr %out\n  br label %E\n\
E:\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1)\n  ret i32 0\n}\n";
    let (out, reports) = lower(&ir).unwrap();
    let f = function(&out, "f");
    assert!(f.contains("call ptr @__kmpc_omp_task_alloc("), "{f}");
    assert!(f.contains("call i32 @__kmpc_omp_task("), "{f}");
    assert!(
        f.contains("%x.captured = load i64, ptr %x"),
        "captured at creation:\n{f}"
    );
    let wait = f
        .find("@__kmpc_omp_taskwait(")
        .expect("a return waits for the tasks");
    assert!(wait < f.rfind("ret i32").unwrap(), "{f}");
    assert!(out.contains("omp_task_entry(i32 %0, ptr %1)"), "{out}");
    assert_eq!(reports[0]["construct"], "task");
}

/// A parallel region whose threads create tasks: the tasks may still run when their
/// creator reaches the region's end, so the team waits for them (a barrier) before each
/// thread combines its reduction copy (which the tasks may write through in_reduction).
#[test]
fn region_with_tasks_waits_for_them_before_combining() {
    let int = r#","type":{"kind":"int","signed":true,"bits":64}"#;
    let task_enter = enter_json(2, "", &var("s", "reduction", Some(0), int))
        .replace(r#""construct":"parallel""#, r#""construct":"task""#);
    let ir = payload("enter.1", &enter_json(1, "", &var("s", "reduction", Some(0), int)))
        + &payload("exit.1", r#"{"id":1,"vars":["s"]}"#)
        + &payload("enter.2", &task_enter)
        + &payload("exit.2", r#"{"id":2,"vars":["s"]}"#)
        + DECLS
        + "define i32 @f(ptr %retptr, ptr %excinfo) {\n\
entry:\n  %s = alloca i64\n  store i64 0, ptr %s\n  br label %B0\n\
B0:\n  %sv = load i64, ptr %s\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1, i64 %sv)\n  br label %B1\n\
B1:\n  %sv2 = load i64, ptr %s\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.2, i64 %sv2)\n  br label %B2\n\
B2:\n  %a = load i64, ptr %s\n  %b = add i64 %a, 1\n  store i64 %b, ptr %s\n  br label %B3\n\
B3:\n  %sx2 = load i64, ptr %s\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.2, i64 %sx2)\n  br label %B4\n\
B4:\n  %sx = load i64, ptr %s\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1, i64 %sx)\n\
  %r = load i64, ptr %s\n  store i64 %r, ptr %retptr\n  ret i32 0\n}\n";
    let (out, reports) = lower(&ir).unwrap();
    let parallel = reports
        .iter()
        .find(|r| r["construct"] == "parallel")
        .expect("a parallel report");
    let body = function(&out, parallel["outlined"].as_str().unwrap());
    assert!(
        body.contains("@__kmpc_omp_task("),
        "the task is created here:\n{body}"
    );
    let barrier = body
        .find("@__kmpc_barrier(")
        .expect("a barrier for the tasks");
    let combine = body.find("atomicrmw add").expect("the reduction's combine");
    assert!(barrier < combine, "wait first, then combine:\n{body}");
}

/// A thread that raises after a barrier: it records how many barriers it passed and meets
/// its team at the region's final (plain) barrier; after each barrier a thread leaves iff a
/// team mate stopped before that barrier. No libomp cancellation.
#[test]
fn raise_after_a_barrier_counts_barriers_and_meets_the_team_at_a_plain_final_barrier() {
    let vars = var("n", "shared", Some(0), "");
    let barrier = r#"{"id":2,"construct":"barrier","directive":"barrier","loc":{"file":"t.py","line":5,"column":9},"clauses":{},"vars":[]}"#;
    let ir = payload("enter.1", &enter_json(1, "", &vars))
        + &payload("exit.1", r#"{"id":1,"vars":["n"]}"#)
        + &payload("enter.2", barrier)
        + &payload("exit.2", r#"{"id":2,"vars":[]}"#)
        + DECLS
        + "@exc = internal constant i8 0\n\
define i32 @f(ptr %retptr, ptr %excinfo, i64 %arg) {\n\
entry:\n  %n = alloca i64\n  store i64 0, ptr %n\n  store i64 %arg, ptr %n\n  br label %B0\n\
B0:\n  %n.v = load i64, ptr %n\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1, i64 %n.v)\n  br label %B1\n\
B1:\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.2)\n  br label %B2\n\
B2:\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.2)\n  br label %B3\n\
B3:\n  %v = load i64, ptr %n\n  %bad = icmp sgt i64 %v, 3\n  br i1 %bad, label %raise, label %B4\n\
raise:\n  store ptr @exc, ptr %excinfo\n  ret i32 1\n\
B4:\n  %n.x = load i64, ptr %n\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1, i64 %n.x)\n  ret i32 0\n}\n";
    let (out, _) = lower(&ir).unwrap();
    let outlined = function(&out, "f.omp.parallel.1");
    assert!(!outlined.contains("__kmpc_cancel"), "{outlined}");
    // the barrier construct and the region's final barrier
    assert_eq!(
        outlined.matches("call void @__kmpc_barrier(").count(),
        2,
        "{outlined}"
    );
    for part in [
        // reductions combine only when no thread failed
        "%omp.ok = icmp eq i32 %omp.err.status.v",
        "br i1 %omp.ok, label %omp.combine, label %omp.after.combine",
        // the thread that raises records the barriers it passed, unless a barrier in a
        // called function already told it to leave (team_frame.rs)
        "%omp.err.gone = icmp ult i32 %omp.stopped.at.v5, %omp.barriers.v4",
        "br i1 %omp.err.out, label %omp.err.leave, label %omp.err.stop",
        "call void @pyomp_team_stop(ptr %omp.barriers.passed, ptr %omp.err.stopped.at, \
         ptr %omp.team.gate, ptr @__kmpc_barrier, ptr @.pyomp.ident",
        // after the barrier: count it, leave iff a thread stopped before it
        "%omp.barriers.next = add i32 %omp.barriers.v",
        "load atomic i32, ptr %omp.err.stopped.at monotonic",
        "icmp ult i32 %omp.stopped.at.v, %omp.barriers.next",
    ] {
        assert!(outlined.contains(part), "{part} missing:\n{outlined}");
    }
    assert!(
        !outlined.contains("pyomp_team_enter"),
        "no call out of the region, no frame:\n{outlined}"
    );
    let f = function(&out, "f");
    assert!(
        f.contains("store i32 -1, ptr %omp.err.stopped.at"),
        "no thread stopped yet when the region starts:\n{f}"
    );
    // a thread that stops meets its team at the final barrier: the gate says so
    assert!(
        f.contains("store i64 -9223372036854775808, ptr %omp.team.gate"),
        "{f}"
    );
}

/// A barrier in a function without a parallel region of its own ("orphaned": the region is
/// in a caller): it goes through pyomp's runtime, which counts it on the caller's team, and
/// the function returns the leave status at once when that team stopped (team_frame.rs).
#[test]
fn an_orphaned_barrier_is_counted_on_the_callers_team_and_can_leave_the_function() {
    let barrier = r#"{"id":1,"construct":"barrier","directive":"barrier","loc":{"file":"t.py","line":5,"column":9},"clauses":{},"vars":[]}"#;
    let ir = payload("enter.1", barrier)
        + &payload("exit.1", r#"{"id":1,"vars":[]}"#)
        + DECLS
        + "define i32 @helper(ptr %retptr, ptr %excinfo) {\n\
entry:\n  br label %B0\n\
B0:\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1)\n  br label %B1\n\
B1:\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1)\n  ret i32 0\n}\n";
    let (out, _) = lower(&ir).unwrap();
    let f = function(&out, "helper");
    for part in [
        "%omp.orphan.leave = call i32 @pyomp_orphan_barrier(ptr @__kmpc_barrier, ptr @.pyomp.ident, i32 %omp.gtid)",
        "%omp.go.on = icmp eq i32 %omp.orphan.leave, 0",
        "ret i32 -100",
    ] {
        assert!(f.contains(part), "{part} missing:\n{f}");
    }
    assert!(
        !f.contains("call void @__kmpc_barrier"),
        "the runtime calls the barrier:\n{f}"
    );
}

/// A region that calls a function (which may hold such a barrier) and has no barrier of its
/// own: each thread pushes its frame and pops it on the way out; the gate starts at 0 (a
/// thread that raises meets its team at a barrier only if they already entered one); a
/// status from the call that says "leave" takes the thread past the end code.
#[test]
fn a_region_that_calls_out_enters_its_frame_and_leaves_when_told() {
    let vars = var("n", "shared", Some(0), "");
    let ir = payload("enter.1", &enter_json(1, "", &vars))
        + &payload("exit.1", r#"{"id":1,"vars":["n"]}"#)
        + DECLS
        + "declare i32 @helper(ptr, ptr)\n\
define i32 @f(ptr %retptr, ptr %excinfo, i64 %arg) {\n\
entry:\n  %n = alloca i64\n  store i64 0, ptr %n\n  store i64 %arg, ptr %n\n  br label %B0\n\
B0:\n  %n.v = load i64, ptr %n\n  call void (ptr, ...) @pyomp.region.enter(ptr @enter.1, i64 %n.v)\n  br label %B1\n\
B1:\n  %st = call i32 @helper(ptr %retptr, ptr %excinfo)\n  %bad = icmp ne i32 %st, 0\n  br i1 %bad, label %fail, label %B2\n\
fail:\n  ret i32 %st\n\
B2:\n  %n.x = load i64, ptr %n\n  call void (ptr, ...) @pyomp.region.exit(ptr @exit.1, i64 %n.x)\n  ret i32 0\n}\n";
    let (out, _) = lower(&ir).unwrap();
    let outlined = function(&out, "f.omp.parallel.1");
    for part in [
        "call void @pyomp_team_enter(ptr %omp.team.frame, ptr %omp.barriers.passed, \
         ptr %omp.err.stopped.at, ptr %omp.team.gate, ptr %omp.team.broadcast, \
         ptr %omp.team.orphan.loops)",
        "%omp.err.told = icmp eq i32 %st, -100",
        "br i1 %omp.err.out, label %omp.err.leave, label %omp.err.stop",
        "call void @pyomp_team_stop(ptr %omp.barriers.passed",
        "call void @pyomp_team_exit(ptr %omp.team.frame)",
    ] {
        assert!(outlined.contains(part), "{part} missing:\n{outlined}");
    }
    assert!(
        !outlined.contains("__kmpc_barrier("),
        "no barrier of its own, none at the end:\n{outlined}"
    );
}
