//! Moves modules across the LLVM version boundary: textual IR from llvmlite in, verified
//! LLVM 19 module in memory, bitcode out (LLVM 22 reads LLVM 19 bitcode; not the reverse).

use crate::error::{PassError, PassResult};
use crate::normalize::normalize;
use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::module::Module;

/// Parses Numba's IR text (after normalising newer syntax) into `ctx`.
pub fn parse<'ctx>(ctx: &'ctx Context, ir: &str, name: &str) -> PassResult<Module<'ctx>> {
    let normalized = normalize(ir);
    let text = normalized.as_deref().unwrap_or(ir);
    let buffer = MemoryBuffer::create_from_memory_range_copy(text.as_bytes(), name);
    ctx.create_module_from_ir(buffer).map_err(|msg| {
        let message = msg.to_string();
        let ir_line = ir_line_of(&message);
        let ir_text = ir_line
            .and_then(|n| text.lines().nth(n as usize - 1))
            .map(str::to_string);
        PassError::Parse {
            message: first_line(&message),
            ir_line,
            ir_text,
        }
    })
}

/// Runs LLVM's verifier; `stage` says which step produced the module ("as received",
/// "after outlining"), so a broken module points at the step that broke it.
pub fn verify(module: &Module<'_>, stage: &str) -> PassResult<()> {
    module.verify().map_err(|msg| PassError::Verify {
        stage: stage.to_string(),
        message: msg.to_string(),
    })
}

pub fn to_bitcode(module: &Module<'_>) -> Vec<u8> {
    module.write_bitcode_to_memory().as_slice().to_vec()
}

/// LLVM's parser reports `<name>:LINE:COL: error: ...`; pull out LINE.
fn ir_line_of(message: &str) -> Option<u32> {
    let after_error = message.split(": error:").next()?;
    let mut parts = after_error.rsplit(':');
    let _col = parts.next()?;
    parts.next()?.trim().parse().ok().filter(|n| *n > 0)
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD: &str =
        "define i64 @add(i64 %a, i64 %b) {\nentry:\n  %s = add i64 %a, %b\n  ret i64 %s\n}\n";

    #[test]
    fn text_in_bitcode_out() {
        let ctx = Context::create();
        let m = parse(&ctx, ADD, "add").unwrap();
        verify(&m, "as received").unwrap();
        let bc = to_bitcode(&m);
        assert_eq!(&bc[..4], b"BC\xC0\xDE", "bitcode magic");
        // The bitcode reads back into an equal function.
        let back = Module::parse_bitcode_from_buffer(
            &MemoryBuffer::create_from_memory_range_copy(&bc, "bc"),
            &ctx,
        )
        .unwrap();
        assert!(back.get_function("add").is_some());
    }

    #[test]
    fn newer_syntax_is_normalised_before_parsing() {
        let ctx = Context::create();
        let ir = "declare void @g(i8* captures(none))\n";
        let m = parse(&ctx, ir, "m").unwrap();
        assert!(m.print_to_string().to_string().contains("nocapture"));
    }

    #[test]
    fn parse_error_names_the_line() {
        let ctx = Context::create();
        let ir = "define i64 @f() {\nentry:\n  ret i64 frobnicate\n}\n";
        match parse(&ctx, ir, "bad") {
            Err(PassError::Parse {
                ir_line,
                ir_text,
                message,
            }) => {
                assert_eq!(ir_line, Some(3), "{message}");
                assert_eq!(ir_text.as_deref(), Some("  ret i64 frobnicate"));
            }
            other => panic!("expected a parse error, got {other:?}"),
        };
    }

    #[test]
    fn verifier_errors_are_returned() {
        let ctx = Context::create();
        // Parses, but uses a value that does not dominate its use.
        let ir = "define i64 @f(i1 %c) {\nentry:\n  br i1 %c, label %a, label %b\na:\n  %x = add i64 1, 2\n  br label %b\nb:\n  ret i64 %x\n}\n";
        let m = parse(&ctx, ir, "m").unwrap();
        match verify(&m, "as received") {
            Err(PassError::Verify { stage, message }) => {
                assert_eq!(stage, "as received");
                assert!(message.contains("dominate"), "{message}");
            }
            other => panic!("expected a verifier error, got {other:?}"),
        };
    }
}
