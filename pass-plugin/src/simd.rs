//! `simd` loops (numba_ext/pyomp/simd.py): each call of the `pyomp.simd.loop` marker gives
//! the innermost loop around it `llvm.loop.vectorize.enable` (through the C++ shim's
//! LoopInfo; not a loop with loops inside it, which LLVM does not vectorise) and goes. Runs first, on every module, regions or not: a `simd` outside any
//! parallel region is a plain loop of its function.

use crate::ir::{self, Block, Value};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMBasicBlockRef, LLVMModuleRef};

/// The marker the front end puts at the start of a simd loop's body.
pub const SIMD_MARKER: &str = "pyomp.simd.loop";

extern "C" {
    fn pyomp_mark_vectorize(blocks: *mut LLVMBasicBlockRef, count: u32) -> u32;
}

/// Marks the loop of each marker call and removes the calls and the marker's declaration;
/// returns how many loops were marked.
pub fn mark_simd_loops(module: LLVMModuleRef) -> usize {
    let marker = unsafe { LLVMGetNamedFunction(module, ir::cstr(SIMD_MARKER).as_ptr()) };
    if marker.is_null() {
        return 0;
    }
    let calls: Vec<Value> = ir::users(marker)
        .into_iter()
        .filter(|&u| ir::called_function(u) == Some(marker))
        .collect();
    let mut per_function: Vec<(Value, Vec<Block>)> = Vec::new();
    for &call in &calls {
        let block = ir::parent_block(call);
        let func = ir::parent_function(block);
        match per_function.iter_mut().find(|(f, _)| *f == func) {
            Some((_, blocks)) => blocks.push(block),
            None => per_function.push((func, vec![block])),
        }
    }
    let mut marked = 0;
    for (func, mut blocks) in per_function {
        let n = unsafe { pyomp_mark_vectorize(blocks.as_mut_ptr(), blocks.len() as u32) };
        log::debug!("{}: {n} simd loop(s) marked", ir::name_of(func));
        marked += n as usize;
    }
    for call in calls {
        ir::erase(call);
    }
    if ir::users(marker).is_empty() {
        unsafe { LLVMDeleteFunction(marker) };
    }
    marked
}

#[cfg(test)]
mod tests {
    use crate::{lower_module, Options};

    const LOOP: &str = r#"
declare void @pyomp.simd.loop()

define double @sum(ptr %a, i64 %n) {
entry:
  br label %header
header:
  %i = phi i64 [ 0, %entry ], [ %next, %body ]
  %s = phi double [ 0.0, %entry ], [ %s2, %body ]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %exit
body:
  call void @pyomp.simd.loop()
  %p = getelementptr double, ptr %a, i64 %i
  %x = load double, ptr %p
  %s2 = fadd double %s, %x
  %next = add i64 %i, 1
  br label %header
exit:
  ret double %s
}
"#;

    #[test]
    fn the_loop_around_the_marker_gets_vectorize_enable_and_the_marker_goes() {
        let out = lower_module(LOOP, "m", Options { keep_ir: true }).unwrap();
        let ir = out.ir.unwrap();
        assert!(!ir.contains("pyomp.simd.loop"), "{ir}");
        let latch = ir
            .lines()
            .rfind(|l| l.contains("br label %header"))
            .unwrap();
        assert!(latch.contains("!llvm.loop"), "{ir}");
        assert!(
            ir.contains("!\"llvm.loop.vectorize.enable\", i32 1"),
            "{ir}"
        );
    }

    #[test]
    fn a_loop_with_a_loop_inside_is_not_marked() {
        let nested = LOOP
            .replace(
                "  %next = add i64 %i, 1\n",
                "  br label %inner\ninner:\n  %c = phi i64 [ 0, %body ], [ %c1, %inner ]\n  \
             %c1 = add i64 %c, 1\n  %again = icmp slt i64 %c1, 4\n  br i1 %again, label \
             %inner, label %latch\nlatch:\n  %next = add i64 %i, 1\n",
            )
            .replace(
                "[ %next, %body ], [ %s2, %body ]",
                "[ %next, %latch ], [ %s2, %latch ]",
            )
            .replace("[ %next, %body ]", "[ %next, %latch ]")
            .replace("[ %s2, %body ]", "[ %s2, %latch ]");
        let out = lower_module(&nested, "m", Options { keep_ir: true }).unwrap();
        let ir = out.ir.unwrap();
        assert!(
            !ir.contains("pyomp.simd.loop") && !ir.contains("llvm.loop"),
            "{ir}"
        );
    }

    #[test]
    fn a_marker_outside_any_loop_only_goes() {
        let ir = "declare void @pyomp.simd.loop()\ndefine void @f() {\n  call void \
                  @pyomp.simd.loop()\n  ret void\n}\n";
        let out = lower_module(ir, "m", Options { keep_ir: true })
            .unwrap()
            .ir
            .unwrap();
        assert!(
            !out.contains("pyomp.simd.loop") && !out.contains("llvm.loop"),
            "{out}"
        );
    }
}
