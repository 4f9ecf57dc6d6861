//! Finds the region markers the Python front end emitted and reads their JSON payloads.
//!
//! `call void (ptr, ...) @pyomp.region.enter(ptr @payload, <operands>)` opens a region and
//! `@pyomp.region.exit` with the same `id` closes it. The payload names the construct, the
//! clause operands and each variable's data-sharing decision (see numba_ext/pyomp/markers.py).

use crate::error::{PassError, PassResult, SourceLoc};
use crate::ir::{self, Value};
use serde::Deserialize;

pub const ENTER: &str = "pyomp.region.enter";
pub const EXIT: &str = "pyomp.region.exit";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    Shared,
    Private,
    Firstprivate,
    Lastprivate,
    Reduction,
    Copyprivate,
}

/// What the pass must know of a variable's Numba type (LLVM integers carry no sign).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TypeInfo {
    Bool,
    Int { signed: bool, bits: u32 },
    Float { bits: u32 },
    Complex { bits: u32 },
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VarSpec {
    pub name: String,
    pub sharing: Sharing,
    pub why: String,
    pub op: Option<String>,
    /// Index into the enter marker's operands (after the payload), when the variable had a
    /// value at region entry.
    pub operand: Option<usize>,
    #[serde(rename = "type")]
    pub ty: Option<TypeInfo>,
    pub numba_type: Option<String>,
    /// `void(ptr)` helpers Numba emitted for reference-counted types.
    pub incref: Option<String>,
    pub decref: Option<String>,
    /// Array reductions: `i32(ptr original, ptr private)` helpers Numba emitted that fill a
    /// new private array with the identity, and combine it into the original.
    pub red_init: Option<String>,
    pub red_combine: Option<String>,
    /// An array named in private/firstprivate/lastprivate: an `i32(ptr original, ptr
    /// private)` helper Numba emitted that stores a new array (a copy, or one shaped like
    /// the original) into the private copy (numba_ext/pyomp/array_copies.py).
    pub array_init: Option<String>,
    /// `reduction(op: a[lo:hi])`: the enter marker operands holding lo and hi (the
    /// helpers then take them as two more i64 arguments).
    pub section: Option<Vec<usize>>,
    /// lastprivate that is firstprivate too: the private copy starts with the value.
    #[serde(default)]
    pub first: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Clauses {
    pub num_threads: Option<usize>,
    #[serde(rename = "if")]
    pub if_: Option<usize>,
    pub proc_bind: Option<String>,
    pub schedule: Option<Schedule>,
    #[serde(default)]
    pub nowait: bool,
    /// `for ordered`: iterations pass an ordered ticket on (see lower/worksharing/ordered.rs).
    #[serde(default)]
    pub ordered: bool,
    /// masked(filter): the filter's operand index.
    pub filter: Option<usize>,
    /// target / target data: the operand holding the construct's device record
    /// (crate::device), ended when the construct ends.
    pub record: Option<usize>,
    /// teams num_teams(e) / thread_limit(e): operand indices.
    pub num_teams: Option<usize>,
    pub thread_limit: Option<usize>,
    /// A `distribute` loop: a worksharing loop over the teams of a league (its static
    /// schedule counts teams, not threads; no barrier).
    #[serde(default)]
    pub distribute: bool,
    /// critical(name): the name ("" for the unnamed critical section).
    pub name: Option<String>,
    /// cancel / cancellation point: what it cancels (parallel, for, sections) and the id
    /// of that construct's region.
    pub cancel: Option<String>,
    pub binds: Option<u64>,
    /// A worksharing loop a `cancel` inside may cancel.
    #[serde(default)]
    pub cancellable: bool,
    /// A worksharing loop whose threads read an original that the thread of the last
    /// iteration writes back (linear, firstprivate + lastprivate): a barrier after the
    /// construct's start.
    #[serde(default)]
    pub barrier_after_starts: bool,
    /// `task untied`: the task may move between threads.
    #[serde(default)]
    pub untied: bool,
    /// taskloop grainsize(e) / num_tasks(e): operand indices; nogroup.
    pub grainsize: Option<usize>,
    pub num_tasks: Option<usize>,
    #[serde(default)]
    pub nogroup: bool,
    /// task final(e) / priority(e): operand indices.
    #[serde(rename = "final")]
    pub final_: Option<usize>,
    pub priority: Option<usize>,
    /// A taskloop's chunk task with lastprivate variables: the operand holding the bool
    /// that is true when its chunk holds the loop's last iteration.
    pub last: Option<usize>,
    /// task / taskwait depend(...): one entry per list item.
    #[serde(default)]
    pub depend: Vec<Depend>,
}

/// One dependence: kmp_depend_info's flag for its type, and the operand giving its address
/// (`kind` "variable": a value loaded from the variable's alloca; "address": an integer).
#[derive(Debug, Clone, Deserialize)]
pub struct Depend {
    pub flag: u64,
    pub operand: usize,
    pub kind: String,
}

/// `schedule([modifiers:] kind[, chunk])`; `chunk` indexes the enter marker's operands.
#[derive(Debug, Clone, Deserialize)]
pub struct Schedule {
    pub kind: String,
    #[serde(default)]
    pub modifiers: Vec<String>,
    pub chunk: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Loc {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnterPayload {
    pub id: u64,
    pub construct: String,
    pub directive: String,
    pub loc: Loc,
    #[serde(default)]
    pub clauses: Clauses,
    pub vars: Vec<VarSpec>,
    /// An orphaned construct with a barrier: every reference-counted variable of the
    /// function, with its decref helper, released when the barrier tells the thread to
    /// leave the function (crate::team_frame).
    #[serde(default)]
    pub leave_release: Vec<LeaveRelease>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LeaveRelease {
    pub name: String,
    pub decref: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExitPayload {
    pub id: u64,
    pub vars: Vec<String>,
    /// `single copyprivate(...)`: the variables broadcast after the block.
    #[serde(default)]
    pub copyprivate: Vec<String>,
    /// Variables the region gives a value (none at its start).
    #[serde(default)]
    pub fresh: Vec<String>,
    /// Reference-count helpers (`void(ptr)`) of the copyprivate and fresh variables of
    /// reference-counted types.
    #[serde(default)]
    pub helpers: std::collections::HashMap<String, RefHelpers>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RefHelpers {
    pub incref: Option<String>,
    pub decref: Option<String>,
}

/// One region's pair of markers in a function.
#[derive(Debug, Clone)]
pub struct MarkedRegion {
    pub enter: Value,
    pub exit: Value,
    pub payload: EnterPayload,
    /// Enter operands (after the payload pointer).
    pub enter_operands: Vec<Value>,
    /// (variable name, value) of the exit marker's operands.
    pub exit_operands: Vec<(String, Value)>,
    /// copyprivate variables and their helpers (from the exit marker).
    pub copyprivate: Vec<(String, RefHelpers)>,
    /// Variables the region gives a value, with their decref helpers (reference-counted
    /// types only): what a failure leaving the function releases besides `payload.vars`.
    pub fresh: Vec<(String, String)>,
}

impl MarkedRegion {
    pub fn source_loc(&self) -> SourceLoc {
        SourceLoc {
            file: self.payload.loc.file.clone(),
            line: self.payload.loc.line,
            column: self.payload.loc.column,
        }
    }

    pub fn error(&self, message: impl Into<String>) -> PassError {
        PassError::Region {
            message: message.into(),
            loc: Some(self.source_loc()),
        }
    }
}

fn payload_text(call: Value) -> PassResult<String> {
    let args = ir::call_args(call);
    args.first()
        .and_then(|&p| ir::global_string(p))
        .ok_or_else(|| PassError::Internal {
            message: "region marker without a payload string".into(),
        })
}

fn bad_payload(e: serde_json::Error) -> PassError {
    PassError::Internal {
        message: format!("unreadable region marker payload: {e}"),
    }
}

/// Every operand index of an enter payload points at one of the marker's `n` operands
/// (the lowering indexes them without checking again).
fn check_operand_indices(p: &EnterPayload, n: usize) -> PassResult<()> {
    let c = &p.clauses;
    let clauses = [
        c.num_threads,
        c.if_,
        c.filter,
        c.grainsize,
        c.num_tasks,
        c.final_,
        c.priority,
        c.last,
        c.schedule.as_ref().and_then(|s| s.chunk),
    ];
    let vars = p.vars.iter().flat_map(|v| {
        v.operand
            .into_iter()
            .chain(v.section.iter().flatten().copied())
    });
    let depends = c.depend.iter().map(|d| d.operand);
    match clauses
        .into_iter()
        .flatten()
        .chain(vars)
        .chain(depends)
        .find(|&i| i >= n)
    {
        Some(i) => Err(PassError::Internal {
            message: format!(
                "region {} marker payload names operand {i}, but the marker has {n}",
                p.id
            ),
        }),
        None => Ok(()),
    }
}

/// The clause operands the lowering computes with as integers are integers (or bools): a
/// float `num_threads(x)` or `if(x)` is the user's error, reported at the directive.
fn check_operand_types(p: &EnterPayload, operands: &[Value]) -> PassResult<()> {
    let c = &p.clauses;
    let clauses = [
        ("num_threads", c.num_threads),
        ("if", c.if_),
        ("filter", c.filter),
        ("grainsize", c.grainsize),
        ("num_tasks", c.num_tasks),
        ("final", c.final_),
        ("priority", c.priority),
        ("lastprivate", c.last),
        ("schedule", c.schedule.as_ref().and_then(|s| s.chunk)),
    ];
    let sections = p.vars.iter().flat_map(|v| v.section.iter().flatten());
    let depends = c.depend.iter().filter(|d| d.kind != "variable");
    let checked = clauses
        .into_iter()
        .filter_map(|(name, i)| Some((name, i?)))
        .chain(sections.map(|&i| ("reduction", i)))
        .chain(depends.map(|d| ("depend", d.operand)));
    for (clause, i) in checked {
        let ty = ir::type_of(operands[i]);
        // SAFETY: a type of the module's context; the printed string is disposed of below.
        let is_int = unsafe {
            llvm_sys::core::LLVMGetTypeKind(ty) == llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind
        };
        if !is_int {
            let name = unsafe {
                let raw = llvm_sys::core::LLVMPrintTypeToString(ty);
                let name = std::ffi::CStr::from_ptr(raw).to_string_lossy().into_owned();
                llvm_sys::core::LLVMDisposeMessage(raw);
                name
            };
            return Err(PassError::Region {
                message: format!(
                    "the {clause} clause needs an integer (or bool) value, not a value of LLVM \
                     type {name}"
                ),
                loc: Some(SourceLoc {
                    file: p.loc.file.clone(),
                    line: p.loc.line,
                    column: p.loc.column,
                }),
            });
        }
    }
    Ok(())
}

/// All marker calls of `func`, paired by region id.
pub fn find_regions(func: Value) -> PassResult<Vec<MarkedRegion>> {
    let mut enters = Vec::new();
    let mut exits = Vec::new();
    for block in ir::blocks(func) {
        for inst in ir::instructions(block) {
            match ir::called_name(inst).as_deref() {
                Some(ENTER) => enters.push(inst),
                Some(EXIT) => exits.push(inst),
                _ => {}
            }
        }
    }
    let mut exit_by_id = Vec::new();
    for call in exits {
        let p: ExitPayload = serde_json::from_str(&payload_text(call)?).map_err(bad_payload)?;
        exit_by_id.push((p, call));
    }
    let mut out = Vec::new();
    for enter in enters {
        let payload: EnterPayload =
            serde_json::from_str(&payload_text(enter)?).map_err(bad_payload)?;
        let Some(pos) = exit_by_id.iter().position(|(p, _)| p.id == payload.id) else {
            return Err(PassError::Region {
                message: "OpenMP region has no end marker (unreachable end of region?)".into(),
                loc: Some(SourceLoc {
                    file: payload.loc.file.clone(),
                    line: payload.loc.line,
                    column: payload.loc.column,
                }),
            });
        };
        let (exit_payload, exit) = exit_by_id.remove(pos);
        let copyprivate = exit_payload
            .copyprivate
            .iter()
            .map(|n| {
                let h = exit_payload.helpers.get(n).cloned().unwrap_or_default();
                (n.clone(), h)
            })
            .collect();
        let fresh = exit_payload
            .fresh
            .iter()
            .filter_map(|n| Some((n.clone(), exit_payload.helpers.get(n)?.decref.clone()?)))
            .collect();
        let exit_values = ir::call_args(exit)[1..].to_vec();
        if exit_values.len() != exit_payload.vars.len() {
            return Err(PassError::Internal {
                message: format!(
                    "region {} end marker has {} operands for its {} variables",
                    payload.id,
                    exit_values.len(),
                    exit_payload.vars.len()
                ),
            });
        }
        let exit_operands = exit_payload.vars.into_iter().zip(exit_values).collect();
        let enter_operands = ir::call_args(enter)[1..].to_vec();
        check_operand_indices(&payload, enter_operands.len())?;
        check_operand_types(&payload, &enter_operands)?;
        out.push(MarkedRegion {
            enter,
            exit,
            payload,
            enter_operands,
            exit_operands,
            copyprivate,
            fresh,
        });
    }
    if let Some((p, _)) = exit_by_id.first() {
        return Err(PassError::Internal {
            message: format!("region end marker {} without a start", p.id),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_deserialises() {
        let text = r#"{"id":1,"construct":"parallel","directive":"parallel num_threads(n+1)",
            "loc":{"file":"t.py","line":7,"column":1},"clauses":{"num_threads":0},
            "vars":[{"name":"nt","sharing":"shared","why":"default","op":null,"operand":2,
            "type":{"kind":"int","signed":true,"bits":64},"numba_type":"int64"},
            {"name":"tid","sharing":"private","why":"default","op":null,"operand":null}]}"#;
        let p: EnterPayload = serde_json::from_str(text).unwrap();
        assert_eq!(p.clauses.num_threads, Some(0));
        assert_eq!(
            p.vars[0].ty,
            Some(TypeInfo::Int {
                signed: true,
                bits: 64
            })
        );
        assert_eq!(p.vars[1].sharing, Sharing::Private);
        assert_eq!(p.vars[1].operand, None);
    }
}
