//! Errors the pass returns instead of panicking: each one serialises to JSON so Python can
//! raise it as a located `pyomp.errors.PassError`.

use serde::Serialize;
use std::fmt;

/// Where in the user's program a problem lies, as carried by a region marker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceLoc {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

/// Every way the pass can fail. Python turns `kind` into a message and an exception class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PassError {
    /// LLVM could not parse the textual IR (usually newer syntax than LLVM 19 knows).
    Parse {
        message: String,
        /// 1-based line in the IR text, and the text of that line, when LLVM named one.
        ir_line: Option<u32>,
        ir_text: Option<String>,
    },
    /// The module parsed but the verifier rejected it (before or after a pass step).
    Verify { stage: String, message: String },
    /// A problem in the user's OpenMP program found by the pass (region shape, sharing).
    Region {
        message: String,
        loc: Option<SourceLoc>,
    },
    /// A bug in the pass itself: reported, never a crash of the user's process.
    Internal { message: String },
}

impl PassError {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            // Serialising a plain enum of strings cannot fail; keep a fallback anyway.
            r#"{"kind":"internal","message":"unserialisable error"}"#.to_string()
        })
    }
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassError::Parse {
                message,
                ir_line,
                ir_text,
            } => {
                write!(
                    f,
                    "LLVM {} cannot parse the module: {message}",
                    crate::llvm_version()
                )?;
                if let (Some(line), Some(text)) = (ir_line, ir_text) {
                    write!(f, " (IR line {line}: `{}`)", text.trim())?;
                }
                Ok(())
            }
            PassError::Verify { stage, message } => {
                write!(f, "invalid module {stage}: {message}")
            }
            PassError::Region { message, loc } => match loc {
                Some(l) => write!(f, "{}:{}:{}: {message}", l.file, l.line, l.column),
                None => write!(f, "{message}"),
            },
            PassError::Internal { message } => write!(f, "internal error in the pass: {message}"),
        }
    }
}

impl std::error::Error for PassError {}

pub type PassResult<T> = Result<T, PassError>;
