//! Bounded fuzzing of the pass: IR fixtures (`tests/fixtures/*.ll`: modules pyomp's front end
//! sends for small programs, and the hand-built modules of `lowering.rs`) are mutated line-
//! and payload-wise, and `lower_module` must return `Ok` or a `PassError`: never panic,
//! abort or hang. `lower_module` itself does not catch panics (the Python binding wraps it
//! in `catch_panics`), so a panic here is a failure, shrunk by proptest to a minimal input.
//!
//! The suite runs a thousand cases from a fixed seed (a few seconds);
//! `PYOMP_FUZZ_EXAMPLES=100000 cargo test --release --test fuzz_pass -- --nocapture` runs
//! more from a random seed (printed; `PYOMP_FUZZ_SEED=<n>` replays one;
//! `PYOMP_FUZZ_LAST=<file>` keeps each case's input in that file, for a case that crashes
//! the process).

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use pyomp_pass::{lower_module, Options, PassError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("fixtures/", $name, ".ll")))),*]
    };
}

/// (name, IR text) of every fixture.
const FIXTURES: &[(&str, &str)] = fixtures!(
    "hand_parallel",
    "hand_loop_dynamic",
    "hand_ordered",
    "hand_atomic",
    "hand_task",
    "numba_par_red",
    "numba_par_priv",
    "numba_ordered_loop",
    "numba_sync",
    "numba_tasks",
    "numba_taskloop",
    "numba_sections",
    "numba_raising",
    "numba_cancel",
    "numba_collapse",
    "numba_arr_red",
    "numba_scalar_atomic",
    "numba_task_clauses",
    "numba_threadprivate_copyin",
);

/// Values put into payload fields: other constructs, operators and schedules than the field
/// had, operand indices out of range, wrong types.
const STRINGS: &[&str] = &[
    "",
    "parallel",
    "for",
    "task",
    "taskloop",
    "taskwait",
    "taskgroup",
    "taskyield",
    "single",
    "master",
    "masked",
    "critical",
    "barrier",
    "ordered",
    "atomic",
    "flush",
    "sections",
    "cancel",
    "cancellation point",
    "static",
    "dynamic",
    "guided",
    "runtime",
    "auto",
    "shared",
    "private",
    "firstprivate",
    "lastprivate",
    "reduction",
    "copyprivate",
    "+",
    "*",
    "max",
    "min",
    "&&",
    "||",
    "^",
    "-",
    "variable",
    "address",
    "nonmonotonic",
    "pyomp.incref.1.0",
    "f",
    "x",
    "s",
    "n",
    "\u{e9}\u{0}\"\\",
];

#[derive(Debug, Clone)]
enum JsonValue {
    Int(i64),
    Big(u64),
    Float(f64),
    Str(usize),
    Bool(bool),
    Null,
    EmptyArray,
    EmptyObject,
}

impl JsonValue {
    fn to_value(&self) -> Value {
        match self {
            JsonValue::Int(i) => Value::from(*i),
            JsonValue::Big(u) => Value::from(*u),
            JsonValue::Float(f) => Value::from(*f),
            JsonValue::Str(i) => Value::from(STRINGS[i % STRINGS.len()]),
            JsonValue::Bool(b) => Value::from(*b),
            JsonValue::Null => Value::Null,
            JsonValue::EmptyArray => Value::Array(vec![]),
            JsonValue::EmptyObject => Value::Object(Default::default()),
        }
    }
}

fn json_value() -> impl Strategy<Value = JsonValue> {
    prop_oneof![
        3 => (-2i64..12).prop_map(JsonValue::Int),
        1 => prop_oneof![
            Just(u64::MAX),
            Just(u32::MAX as u64 + 1),
            Just(i64::MAX as u64)
        ]
        .prop_map(JsonValue::Big),
        1 => prop_oneof![Just(-1.5), Just(1e300), Just(0.0)].prop_map(JsonValue::Float),
        4 => any::<usize>().prop_map(JsonValue::Str),
        1 => any::<bool>().prop_map(JsonValue::Bool),
        1 => Just(JsonValue::Null),
        1 => Just(JsonValue::EmptyArray),
        1 => Just(JsonValue::EmptyObject),
    ]
}

/// Keys added to a payload object (clauses the construct did not have, and so on).
const KEYS: &[&str] = &[
    "id",
    "construct",
    "num_threads",
    "if",
    "schedule",
    "nowait",
    "ordered",
    "filter",
    "name",
    "cancel",
    "binds",
    "cancellable",
    "untied",
    "grainsize",
    "num_tasks",
    "nogroup",
    "final",
    "priority",
    "depend",
    "operand",
    "section",
    "red_init",
    "red_combine",
    "incref",
    "decref",
    "copyprivate",
    "helpers",
    "op",
    "type",
    "vars",
];

#[derive(Debug, Clone)]
enum JsonEdit {
    /// Replace the value at a node of the JSON tree (picked among all nodes).
    Set(Index, JsonValue),
    /// Remove a node (an object member or array element).
    Remove(Index),
    /// Add `key: value` to an object node.
    Add(Index, usize, JsonValue),
    /// Duplicate an array element (a variable listed twice, ...).
    DuplicateElement(Index),
    /// Cut the JSON text (no longer JSON).
    Truncate(Index),
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    MoveLine(Index, Index),
    /// Drop the text after a point (an incomplete module).
    Truncate(Index),
    /// Delete a marker call (region enter/exit, loop and atomic markers).
    DropMarker(Index),
    /// Swap two marker calls.
    SwapMarkers(Index, Index),
    /// Duplicate a marker call.
    DuplicateMarker(Index),
    /// Remove the last operand of a marker call.
    DropMarkerOperand(Index),
    /// Put another value (type) in place of an operand of a marker call.
    ReplaceMarkerOperand(Index, Index, usize),
    /// Move a marker call to another line.
    MoveMarker(Index, Index),
    /// Edit the JSON payload of a region marker.
    Payload(Index, JsonEdit),
    /// Give a region's enter and exit payloads another id.
    ChangeRegionId(Index, i64),
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        5 => (any::<Index>(), json_value()).prop_map(|(i, v)| JsonEdit::Set(i, v)),
        3 => any::<Index>().prop_map(JsonEdit::Remove),
        2 => (any::<Index>(), any::<usize>(), json_value())
            .prop_map(|(i, k, v)| JsonEdit::Add(i, k, v)),
        1 => any::<Index>().prop_map(JsonEdit::DuplicateElement),
        1 => any::<Index>().prop_map(JsonEdit::Truncate),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::DeleteLine),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::MoveLine(a, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        3 => any::<Index>().prop_map(Mutation::DropMarker),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapMarkers(a, b)),
        1 => any::<Index>().prop_map(Mutation::DuplicateMarker),
        2 => any::<Index>().prop_map(Mutation::DropMarkerOperand),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::MoveMarker(a, b)),
        3 => (any::<Index>(), any::<Index>(), any::<usize>())
            .prop_map(|(i, a, o)| Mutation::ReplaceMarkerOperand(i, a, o)),
        10 => (any::<Index>(), json_edit()).prop_map(|(i, e)| Mutation::Payload(i, e)),
        2 => (any::<Index>(), -1i64..40).prop_map(|(i, id)| Mutation::ChangeRegionId(i, id)),
    ]
}

/// A fixture and the mutations applied to it, in order.
fn case() -> impl Strategy<Value = (usize, Vec<Mutation>)> {
    (0..FIXTURES.len(), prop::collection::vec(mutation(), 1..4))
}

// -- applying mutations -------------------------------------------------------------------

fn is_marker_call(line: &str) -> bool {
    let l = line.trim_start();
    !l.starts_with("declare")
        && l.contains("call ")
        && (l.contains("pyomp.region.") || l.contains("pyomp.loop.") || l.contains("pyomp.atomic."))
}

/// `@g = internal constant [N x i8] c"{...}\00"`: (prefix up to `[`, JSON text).
fn payload_of(line: &str) -> Option<(&str, String)> {
    let at = line.find("internal constant [")?;
    let prefix = &line[..at + "internal constant ".len()];
    let rest = &line[prefix.len()..];
    let c = rest.find(" x i8] c\"")?;
    let body = rest[c + " x i8] c\"".len()..].strip_suffix("\\00\"")?;
    let bytes = unescape(body);
    let text = String::from_utf8(bytes).ok()?;
    text.starts_with('{').then_some((prefix, text))
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 2 < b.len() {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn payload_line(prefix: &str, text: &str) -> String {
    let mut body = String::new();
    for &c in text.as_bytes() {
        if c == b'"' || c == b'\\' || !(0x20..0x7f).contains(&c) {
            body.push_str(&format!("\\{c:02X}"));
        } else {
            body.push(c as char);
        }
    }
    format!("{prefix}[{} x i8] c\"{body}\\00\"", text.len() + 1)
}

/// JSON pointers of every node below the root.
fn nodes(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                nodes(child, p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                nodes(child, p, out);
            }
        }
        _ => {}
    }
}

fn split_pointer(p: &str) -> (&str, String) {
    let cut = p.rfind('/').unwrap();
    (
        &p[..cut],
        p[cut + 1..].replace("~1", "/").replace("~0", "~"),
    )
}

fn remove_node(v: &mut Value, pointer: &str) {
    let (parent, key) = split_pointer(pointer);
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&key);
        }
        Some(Value::Array(a)) => {
            a.remove(key.parse::<usize>().unwrap());
        }
        _ => {}
    }
}

fn edit_json(text: &str, edit: &JsonEdit) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(text) else {
        return text.to_string();
    };
    if let JsonEdit::Truncate(i) = edit {
        let mut cut = i.index(text.len().max(1));
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        return text[..cut].to_string();
    }
    let mut all = Vec::new();
    nodes(&v, String::new(), &mut all);
    let objects: Vec<String> = std::iter::once(String::new())
        .chain(all.iter().cloned())
        .filter(|p| v.pointer(p).is_some_and(Value::is_object))
        .collect();
    match edit {
        JsonEdit::Set(i, value) if !all.is_empty() => {
            *v.pointer_mut(&all[i.index(all.len())]).unwrap() = value.to_value();
        }
        JsonEdit::Remove(i) if !all.is_empty() => remove_node(&mut v, &all[i.index(all.len())]),
        JsonEdit::Add(i, k, value) => {
            let at = &objects[i.index(objects.len())];
            if let Some(Value::Object(m)) = v.pointer_mut(at) {
                m.insert(KEYS[k % KEYS.len()].to_string(), value.to_value());
            }
        }
        JsonEdit::DuplicateElement(i) => {
            let arrays: Vec<&String> = all
                .iter()
                .filter(|p| {
                    v.pointer(p)
                        .is_some_and(|x| x.as_array().is_some_and(|a| !a.is_empty()))
                })
                .collect();
            if !arrays.is_empty() {
                let p = arrays[i.index(arrays.len())].clone();
                let a = v.pointer_mut(&p).unwrap().as_array_mut().unwrap();
                let first = a[0].clone();
                a.push(first);
            }
        }
        _ => {}
    }
    v.to_string()
}

/// A marker call line split at its operand list: (text before the operands, the operands,
/// text after them).
fn split_call(line: &str) -> Option<(&str, Vec<&str>, &str)> {
    let open = line.rfind("\"(").map(|i| i + 1).or_else(|| {
        line.find("@pyomp")
            .and_then(|at| line[at..].find('(').map(|j| at + j))
    })?;
    let close = line.rfind(')').filter(|&c| c > open)?;
    let args = &line[open + 1..close];
    let mut out = Vec::new();
    let (mut depth, mut from) = (0i32, 0);
    for (i, c) in args.char_indices() {
        match c {
            '(' | '{' | '[' | '<' => depth += 1,
            ')' | '}' | ']' | '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(args[from..i].trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    if !args[from..].trim().is_empty() {
        out.push(args[from..].trim());
    }
    Some((&line[..open + 1], out, &line[close..]))
}

/// Operands put in place of a marker's operand: other types, constants, poison.
const OPERANDS: &[&str] = &[
    "i64 0",
    "i64 -1",
    "i64 9223372036854775807",
    "i32 7",
    "i1 true",
    "i8 3",
    "double 1.0",
    "float 0.5",
    "ptr null",
    "ptr undef",
    "i64 undef",
    "i64 poison",
    "{i64, i64} zeroinitializer",
    "[2 x i64] zeroinitializer",
    "<2 x i64> zeroinitializer",
];

fn edit_operands(line: &str, edit: impl FnOnce(&mut Vec<&str>)) -> String {
    let Some((head, mut args, tail)) = split_call(line) else {
        return line.to_string();
    };
    edit(&mut args);
    format!("{head}{}{tail}", args.join(", "))
}

fn apply(ir: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = ir.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        let markers: Vec<usize> = (0..n).filter(|&i| is_marker_call(&lines[i])).collect();
        let payloads: Vec<usize> = (0..n)
            .filter(|&i| payload_of(&lines[i]).is_some())
            .collect();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i.index(n));
            }
            Mutation::DuplicateLine(i) => {
                let k = i.index(n);
                lines.insert(k, lines[k].clone());
            }
            Mutation::SwapLines(a, b) => lines.swap(a.index(n), b.index(n)),
            Mutation::MoveLine(a, b) => {
                let l = lines.remove(a.index(n));
                lines.insert(b.index(n), l);
            }
            Mutation::Truncate(i) => lines.truncate(i.index(n)),
            Mutation::DropMarker(i) if !markers.is_empty() => {
                lines.remove(markers[i.index(markers.len())]);
            }
            Mutation::SwapMarkers(a, b) if !markers.is_empty() => {
                lines.swap(
                    markers[a.index(markers.len())],
                    markers[b.index(markers.len())],
                );
            }
            Mutation::DuplicateMarker(i) if !markers.is_empty() => {
                let k = markers[i.index(markers.len())];
                lines.insert(k, lines[k].clone());
            }
            Mutation::DropMarkerOperand(i) if !markers.is_empty() => {
                let k = markers[i.index(markers.len())];
                lines[k] = edit_operands(&lines[k], |args| {
                    args.pop();
                });
            }
            Mutation::ReplaceMarkerOperand(i, a, o) if !markers.is_empty() => {
                let k = markers[i.index(markers.len())];
                lines[k] = edit_operands(&lines[k], |args| {
                    if !args.is_empty() {
                        let at = a.index(args.len());
                        args[at] = OPERANDS[o % OPERANDS.len()];
                    }
                });
            }
            Mutation::MoveMarker(a, b) if !markers.is_empty() => {
                let l = lines.remove(markers[a.index(markers.len())]);
                lines.insert(b.index(n - 1).max(1), l);
            }
            Mutation::Payload(i, edit) if !payloads.is_empty() => {
                let k = payloads[i.index(payloads.len())];
                let (prefix, text) = payload_of(&lines[k]).unwrap();
                lines[k] = payload_line(prefix, &edit_json(&text, edit));
            }
            Mutation::ChangeRegionId(i, id) if !payloads.is_empty() => {
                let k = payloads[i.index(payloads.len())];
                let (_, text) = payload_of(&lines[k]).unwrap();
                let old = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["id"].as_i64());
                for &p in &payloads {
                    let (prefix, text) = payload_of(&lines[p]).unwrap();
                    let Ok(mut v) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    if old.is_some() && v["id"].as_i64() == old {
                        v["id"] = Value::from(*id);
                        lines[p] = payload_line(prefix, &v.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

// -- running ------------------------------------------------------------------------------

fn kind(r: &Result<pyomp_pass::Lowered, PassError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(PassError::Parse { .. }) => "parse error",
        Err(PassError::Verify { stage, .. }) if stage.starts_with("as received") => {
            "invalid input module"
        }
        Err(PassError::Verify { .. }) => "invalid module after lowering",
        Err(PassError::Region { .. }) => "region error",
        Err(PassError::Internal { .. }) => "internal error",
    }
}

thread_local! {
    /// Where the last panic on this thread happened (see `quiet_panics`).
    static PANIC_AT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Panics on threads named `fuzz*` are expected while proptest shrinks: record where they
/// happened (for the failure message) instead of printing each with its backtrace.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("fuzz"))
            {
                let at = info.location().map(|l| l.to_string()).unwrap_or_default();
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs the pass on `ir`; a panic becomes the test failure (with the panic's message).
fn check(ir: &str) -> Result<&'static str, TestCaseError> {
    let r = std::panic::catch_unwind(|| lower_module(ir, "fuzz", Options { keep_ir: false }));
    match r {
        Ok(result) => Ok(kind(&result)),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let at = PANIC_AT.with(|p| p.borrow().clone());
            Err(TestCaseError::fail(format!(
                "the pass panicked at {at}: {msg}"
            )))
        }
    }
}

/// The lines of `mutated` that `original` does not have (`+`) and the other way (`-`).
fn changed_lines(original: &str, mutated: &str) -> String {
    let old: std::collections::HashSet<&str> = original.lines().collect();
    let new: std::collections::HashSet<&str> = mutated.lines().collect();
    let mut out = String::new();
    for l in original.lines().filter(|l| !new.contains(l)) {
        out += &format!("- {l}\n");
    }
    for l in mutated.lines().filter(|l| !old.contains(l)) {
        out += &format!("+ {l}\n");
    }
    out
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn mutated_fixtures_give_results_or_errors_never_panics() {
    let long = env_number("PYOMP_FUZZ_EXAMPLES");
    let cases = long.unwrap_or(1000) as u32;
    let seed = env_number("PYOMP_FUZZ_SEED").or_else(|| {
        long.map(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
    });
    let rng = match seed {
        Some(s) => {
            eprintln!("fuzz_pass: {cases} cases, PYOMP_FUZZ_SEED={s}");
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&s.to_le_bytes());
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
        }
        None => TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    };
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 300,
        ..Config::default()
    };
    // A watchdog: the runner works in a thread and reports each case; a case that takes
    // too long is a hang, reported with its input.
    let current = Arc::new(Mutex::new(String::new()));
    let counts = Arc::new(Mutex::new(BTreeMap::<&'static str, u32>::new()));
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let last = std::env::var("PYOMP_FUZZ_LAST").ok();
    let worker = {
        let (current, counts) = (current.clone(), counts.clone());
        quiet_panics();
        std::thread::Builder::new()
            .name("fuzz".into())
            .spawn(move || {
                let mut runner = TestRunner::new_with_rng(config, rng);
                let result = runner.run(&case(), |(fixture, mutations)| {
                    *current.lock().unwrap() = format!("{} {mutations:?}", FIXTURES[fixture].0);
                    let ir = apply(FIXTURES[fixture].1, &mutations);
                    if let Some(path) = &last {
                        // (a crash kills the process: this file then holds its input)
                        let what = format!("; {} {mutations:?}\n{ir}", FIXTURES[fixture].0);
                        let _ = std::fs::write(path, what);
                    }
                    let outcome = check(&ir);
                    let _ = tx.send(None);
                    *counts.lock().unwrap().entry(outcome.clone()?).or_default() += 1;
                    outcome.map(|_| ())
                });
                let _ = tx.send(Some(match result {
                    Ok(()) => String::new(),
                    Err(TestError::Fail(why, (fixture, mutations))) => {
                        let (name, ir) = FIXTURES[fixture];
                        let mutated = apply(ir, &mutations);
                        format!(
                            "{why}\nminimal input: fixture {name}, {mutations:?}\n\
                         changed lines:\n{}",
                            changed_lines(ir, &mutated)
                        )
                    }
                    Err(e) => e.to_string(),
                }));
            })
            .unwrap()
    };
    let start = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(None) => continue,
            Ok(Some(failure)) => {
                worker.join().unwrap();
                assert!(failure.is_empty(), "{failure}");
                break;
            }
            Err(_) => panic!(
                "the pass hangs (no result for 60 s) on {}",
                current.lock().unwrap()
            ),
        }
    }
    eprintln!(
        "fuzz_pass: outcomes {:?} in {:.1} s",
        counts.lock().unwrap(),
        start.elapsed().as_secs_f64()
    );
    let counts = counts.lock().unwrap();
    // The mutations reach the pass itself, not only the IR parser and the verifier.
    assert!(counts.get("ok").copied().unwrap_or(0) > 0, "{counts:?}");
    assert!(
        counts.get("region error").copied().unwrap_or(0)
            + counts.get("internal error").copied().unwrap_or(0)
            > 0,
        "{counts:?}"
    );
}

/// Every fixture lowers as it is (so the mutations start from modules the pass accepts).
#[test]
fn fixtures_lower_unmutated() {
    for (name, ir) in FIXTURES {
        if let Err(e) = lower_module(ir, name, Options::default()) {
            panic!("fixture {name}: {e}");
        }
    }
}

/// Deterministic sweep over the hand-built fixtures: each marker call dropped in turn, and
/// each payload field removed in turn (the mistakes a broken front end would make).
#[test]
fn every_single_marker_and_payload_field_removed() {
    for (name, ir) in FIXTURES.iter().filter(|(n, _)| n.starts_with("hand_")) {
        let lines: Vec<&str> = ir.lines().collect();
        let mut variants = Vec::new();
        for (k, line) in lines.iter().enumerate() {
            if is_marker_call(line) {
                let mut copy = lines.clone();
                copy.remove(k);
                variants.push((format!("line {} dropped", k + 1), copy.join("\n") + "\n"));
            }
            let Some((prefix, text)) = payload_of(line) else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            let mut all = Vec::new();
            nodes(&v, String::new(), &mut all);
            for pointer in all {
                let mut edited = v.clone();
                remove_node(&mut edited, &pointer);
                let new_line = payload_line(prefix, &edited.to_string());
                let mut copy = lines.clone();
                copy[k] = &new_line;
                variants.push((
                    format!("line {}: {pointer} removed", k + 1),
                    copy.join("\n") + "\n",
                ));
            }
        }
        for (what, mutated) in variants {
            if let Err(e) = check(&mutated) {
                panic!("{name}, {what}: {e}\n{mutated}");
            }
        }
    }
}

// -- regressions: the minimal inputs of bugs this fuzzer found ----------------------------

/// `fixture` with `from` replaced by `to` (which must occur in it).
fn variant(fixture: &str, from: &str, to: &str) -> String {
    let ir = FIXTURES.iter().find(|(n, _)| *n == fixture).unwrap().1;
    assert!(ir.contains(from), "{from} not in {fixture}");
    ir.replacen(from, to, 1)
}

fn lower_err(ir: &str) -> PassError {
    match lower_module(ir, "regression", Options::default()) {
        Err(e) => e,
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn an_empty_payload_string_is_an_error_not_a_crash() {
    // `c"\00"` is a zeroinitializer, not a ConstantDataArray: reading it as a string
    // crashed (SIGSEGV in LLVMGetAsString).
    let ir = variant(
        "hand_parallel",
        r#"@exit.1 = internal constant [23 x i8] c"{\22id\22:1,\22vars\22:[\22nt\22]}\00""#,
        r#"@exit.1 = internal constant [1 x i8] c"\00""#,
    );
    assert!(matches!(lower_err(&ir), PassError::Internal { .. }));
}

#[test]
fn loop_markers_missing_operands_are_errors_not_panics() {
    // index out of bounds in lower/worksharing/ (init's n, and any marker's id)
    for (from, to) in [
        (
            "call void @pyomp.loop.init(i64 2, i64 %n)",
            "call void @pyomp.loop.init(i64 2)",
        ),
        (
            "call void @pyomp.loop.fini(i64 2)",
            "call void @pyomp.loop.fini()",
        ),
        (
            "call void @pyomp.loop.init(i64 2, i64 %n)",
            "call void @pyomp.loop.init(i64 2, double 1.0)",
        ),
        (
            "call void @pyomp.loop.fini(i64 2)",
            "call void @pyomp.loop.fini(i64 %n)",
        ),
    ] {
        let ir = variant("hand_loop_dynamic", from, to);
        assert!(matches!(lower_err(&ir), PassError::Internal { .. }), "{to}");
    }
}

#[test]
fn an_atomic_marker_missing_an_operand_is_an_error_not_a_panic() {
    let ir = variant(
        "hand_atomic",
        "@pyomp.atomic.update.add.relaxed.i64(i64 %xv, i64 3)",
        "@pyomp.atomic.update.add.relaxed.i64(i64 %xv)",
    );
    assert!(matches!(lower_err(&ir), PassError::Internal { .. }));
}

#[test]
fn a_payload_operand_index_out_of_range_is_an_error_not_a_panic() {
    // schedule(dynamic, <operand 5>) with no operands: index out of bounds
    let ir = variant(
        "hand_loop_dynamic",
        r#"\22chunk\22:null"#,
        r#"\22chunk\22:5"#,
    );
    let ir = ir.replace("[270 x i8]", "[267 x i8]");
    match lower_err(&ir) {
        PassError::Internal { message } => assert!(message.contains("operand 5"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_clause_operand_that_is_not_an_integer_is_a_located_error() {
    // if(<float>) folded `icmp ne float 0.5, 0.0` (SIGSEGV); a float variable gave an
    // invalid module after lowering.
    for value in ["float 0.5", "double %f", "ptr null"] {
        let ir = variant(
            "hand_parallel",
            "i64 %k, i1 %c)\n  br label %B1",
            &format!("i64 %k, {value})\n  br label %B1"),
        )
        .replace("i64 %k, i1 %c) {", "i64 %k, i1 %c, double %f) {");
        match lower_err(&ir) {
            PassError::Region { message, loc } => {
                assert!(
                    message.starts_with("the if clause needs an integer"),
                    "{message}"
                );
                assert_eq!(loc.unwrap().line, 3);
            }
            other => panic!("{value}: {other:?}"),
        }
    }
}

/// `ir` with `from` replaced by `to` in the JSON of the marker payloads that contain it.
fn edit_payloads(ir: &str, from: &str, to: &str) -> String {
    let mut found = false;
    let lines: Vec<String> = ir
        .lines()
        .map(|line| match payload_of(line) {
            Some((prefix, text)) if text.contains(from) => {
                found = true;
                payload_line(prefix, &text.replace(from, to))
            }
            _ => line.to_string(),
        })
        .collect();
    assert!(found, "{from} is in no payload");
    lines.join("\n") + "\n"
}

#[test]
fn an_end_marker_with_other_operands_than_variables_is_an_error_not_a_crash() {
    // the exit operands were zipped with the wrong names: a float reduction's identity
    // was built in an integer type (LLVM crashed in ConstantFP)
    let ir = FIXTURES
        .iter()
        .find(|(n, _)| *n == "numba_collapse")
        .unwrap()
        .1;
    let ir = edit_payloads(
        ir,
        r#"{"id":42,"vars":["m","s"]}"#,
        r#"{"id":42,"vars":["s"]}"#,
    );
    match lower_err(&ir) {
        PassError::Internal { message } => assert!(message.contains("2 operands"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_reduction_type_unlike_its_storage_is_an_error_not_a_crash() {
    let ir = FIXTURES
        .iter()
        .find(|(n, _)| *n == "numba_par_red")
        .unwrap()
        .1;
    let ir = edit_payloads(
        ir,
        r#""op":"+","operand":1,"type":{"kind":"int","signed":true,"bits":64}"#,
        r#""op":"+","operand":1,"type":{"kind":"float","bits":64}"#,
    );
    match lower_err(&ir) {
        PassError::Internal { message } => assert!(message.contains("storage"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_region_that_never_reaches_its_end_is_an_error_not_a_crash() {
    // the parallel region's entry jumped back before its start marker (two branch targets
    // swapped): lowering broke the function and LLVM's verifier crashed on it
    let ir = FIXTURES
        .iter()
        .find(|(n, _)| *n == "numba_scalar_atomic")
        .unwrap()
        .1;
    let ir = ir
        .replacen("  br label %\"B40\"", "  br label %\"B74.tmp\"", 1)
        .replacen("  br label %\"B74\"", "  br label %\"B40\"", 1)
        .replacen("  br label %\"B74.tmp\"", "  br label %\"B74\"", 1);
    match lower_err(&ir) {
        PassError::Region { message, .. } => assert!(message.contains("end"), "{message}"),
        other => panic!("{other:?}"),
    }
}
