//! NVIDIA GPUs, the first step (docs/design/gpu-offload.md): a loop body that Numba compiled
//! becomes a PTX kernel through LLVM 19's NVPTX backend, linked into this extension.
//!
//! ```text
//! kernel pyomp_kernel(i64 n, <the body's arguments>):   ; calling convention ptx_kernel
//!     i = ctaid.x * ntid.x + tid.x
//!     if i < n: body(&ret, &excinfo, i, <arguments>)      ; Numba's calling convention
//! ```
//! One GPU thread runs one iteration. What cannot run on the device is refused by name: a
//! call to anything but the module's own functions and LLVM intrinsics (the Python C API,
//! NRT allocation, libm without libdevice). Numba's reference counting (`NRT_incref`/
//! `NRT_decref`) does nothing there: device arrays have no owner in the kernel.

use crate::error::{PassError, PassResult};
use crate::module_io;
use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple,
};
use inkwell::types::BasicMetadataTypeEnum;
use inkwell::values::{AsValueRef, BasicMetadataValueEnum, FunctionValue};
use inkwell::{AddressSpace, IntPredicate, OptimizationLevel};

/// The kernel's name in the PTX.
pub const KERNEL: &str = "pyomp_kernel";
const TRIPLE: &str = "nvptx64-nvidia-cuda";
/// LLVM's calling convention number for PTX kernels (`ptx_kernel`).
const PTX_KERNEL: u32 = 71;
/// Numba's reference counting: a no-op on the device.
const REFCOUNTS: [&str; 2] = ["NRT_incref", "NRT_decref"];

/// PTX for `sm` (e.g. "sm_80") of a kernel running `body` (a function of `ir`, Numba's
/// calling convention, its first argument after the return and exception pointers the
/// iteration number) for iterations 0..n.
pub fn kernel_ptx(ir: &str, body: &str, sm: &str) -> PassResult<String> {
    let ctx = Context::create();
    let module = module_io::parse(&ctx, ir, "pyomp.gpu")?;
    let body_fn = module
        .get_function(body)
        .ok_or_else(|| internal(format!("the loop body `{body}` is not in the module")))?;
    for name in REFCOUNTS {
        if let Some(f) = module.get_function(name) {
            make_empty(&ctx, f);
        }
    }
    math_as_intrinsics(&module);
    let kernel = build_kernel(&ctx, &module, body_fn)?;
    let tm = target_machine(sm)?;
    // only what the kernel reaches stays (Numba's Python wrapper of the body goes)
    for f in module.get_functions() {
        if f != kernel && f.count_basic_blocks() > 0 {
            f.set_linkage(Linkage::Internal);
        }
    }
    for g in module.get_globals() {
        if g.get_initializer().is_some() {
            g.set_linkage(Linkage::Internal); // (Numba's environment pointers: unused)
        }
    }
    module
        .run_passes(
            "globaldce",
            &tm,
            inkwell::passes::PassBuilderOptions::create(),
        )
        .map_err(|e| internal(e.to_string()))?;
    check_device_calls(&module)?;
    for f in module.get_functions() {
        f.remove_string_attribute(inkwell::attributes::AttributeLoc::Function, "target-cpu");
        f.remove_string_attribute(
            inkwell::attributes::AttributeLoc::Function,
            "target-features",
        );
    }
    module.set_triple(&TargetTriple::create(TRIPLE));
    module.set_data_layout(&tm.get_target_data().get_data_layout());
    module_io::verify(&module, "as an NVPTX kernel")?;
    module
        .run_passes(
            "default<O3>",
            &tm,
            inkwell::passes::PassBuilderOptions::create(),
        )
        .map_err(|e| internal(e.to_string()))?;
    check_device_calls(&module)?; // (what the optimiser made of the math, checked again)
    let ptx = tm
        .write_to_memory_buffer(&module, FileType::Assembly)
        .map_err(|e| internal(e.to_string()))?;
    Ok(String::from_utf8_lossy(ptx.as_slice()).into_owned())
}

fn internal(message: String) -> PassError {
    PassError::Internal { message }
}

fn target_machine(sm: &str) -> PassResult<TargetMachine> {
    Target::initialize_nvptx(&InitializationConfig::default());
    let triple = TargetTriple::create(TRIPLE);
    let target = Target::from_triple(&triple).map_err(|e| internal(e.to_string()))?;
    target
        .create_target_machine(
            &triple,
            sm,
            "+ptx78",
            OptimizationLevel::Aggressive,
            RelocMode::Default,
            CodeModel::Default,
        )
        .ok_or_else(|| internal(format!("no NVPTX target machine for {sm}")))
}

/// `f` becomes a function that returns at once.
fn make_empty(ctx: &Context, f: FunctionValue<'_>) {
    for block in f.get_basic_blocks() {
        // SAFETY: the blocks belong to f and nothing outside f refers to them
        unsafe { block.delete() }.ok();
    }
    f.set_linkage(Linkage::Internal);
    let entry = ctx.append_basic_block(f, "entry");
    let b = ctx.create_builder();
    b.position_at_end(entry);
    b.build_return(None).ok();
}

/// libm functions the NVPTX backend has instructions for, as the LLVM intrinsics it lowers:
/// C name (double, float) -> intrinsic.
const MATH: [(&str, &str, &str); 7] = [
    ("sqrt", "sqrtf", "llvm.sqrt"),
    ("fabs", "fabsf", "llvm.fabs"),
    ("floor", "floorf", "llvm.floor"),
    ("ceil", "ceilf", "llvm.ceil"),
    ("trunc", "truncf", "llvm.trunc"),
    ("fmin", "fminf", "llvm.minnum"),
    ("fmax", "fmaxf", "llvm.maxnum"),
];

/// Calls of those libm functions become calls of their intrinsics.
fn math_as_intrinsics(module: &Module<'_>) {
    let ctx = module.get_context();
    for (double, float, intrinsic) in MATH {
        for (name, ty) in [
            (double, ctx.f64_type().into()),
            (float, ctx.f32_type().into()),
        ] {
            let Some(f) = module.get_function(name) else {
                continue;
            };
            let found = inkwell::intrinsics::Intrinsic::find(intrinsic)
                .and_then(|i| i.get_declaration(module, &[ty]));
            if let Some(decl) = found {
                if decl.get_type() == f.get_type() {
                    f.replace_all_uses_with(decl);
                }
            }
        }
    }
}

/// LLVM intrinsics the NVPTX backend lowers (the rest, `llvm.exp` and the other
/// transcendental functions among them, need NVIDIA's libdevice: LLVM would stop the
/// process with "no libcall available"). Prefixes of intrinsic names.
const DEVICE_INTRINSICS: &[&str] = &[
    "llvm.nvvm.",
    "llvm.memcpy",
    "llvm.memmove",
    "llvm.memset",
    "llvm.lifetime.",
    "llvm.assume",
    "llvm.expect",
    "llvm.dbg.",
    "llvm.experimental.noalias.scope.decl",
    "llvm.invariant.",
    "llvm.sqrt.",
    "llvm.fabs.",
    "llvm.floor.",
    "llvm.ceil.",
    "llvm.trunc.",
    "llvm.rint.",
    "llvm.nearbyint.",
    "llvm.minnum.",
    "llvm.maxnum.",
    "llvm.fma.",
    "llvm.fmuladd.",
    "llvm.copysign.",
    "llvm.smax.",
    "llvm.smin.",
    "llvm.umax.",
    "llvm.umin.",
    "llvm.abs.",
    "llvm.ctpop.",
    "llvm.ctlz.",
    "llvm.cttz.",
    "llvm.bswap.",
    "llvm.sadd.with.overflow.",
    "llvm.uadd.with.overflow.",
    "llvm.ssub.with.overflow.",
    "llvm.usub.with.overflow.",
    "llvm.smul.with.overflow.",
    "llvm.umul.with.overflow.",
];

/// Refuses a module that calls what has no code on the device: a function without a body,
/// or an intrinsic the NVPTX backend cannot lower.
fn check_device_calls(module: &Module<'_>) -> PassResult<()> {
    let runs_on_device = |name: &str| DEVICE_INTRINSICS.iter().any(|p| name.starts_with(p));
    let missing: Vec<String> = module
        .get_functions()
        .filter(|f| f.count_basic_blocks() == 0)
        .filter(|f| unsafe { !llvm_sys::core::LLVMGetFirstUse(f.as_value_ref()).is_null() })
        .map(|f| f.get_name().to_string_lossy().into_owned())
        .filter(|name| !runs_on_device(name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(PassError::Region {
        loc: None,
        message: format!(
            "the loop body cannot run on an NVIDIA GPU: it calls {} (host code: the Python \
             C API, Numba's allocator; or a math function that needs NVIDIA's libdevice, \
             not linked yet)",
            missing.join(", ")
        ),
    })
}

/// The kernel: the iteration number from the thread's position in the grid, then the body.
fn build_kernel<'ctx>(
    ctx: &'ctx Context,
    module: &Module<'ctx>,
    body: FunctionValue<'ctx>,
) -> PassResult<FunctionValue<'ctx>> {
    let i64t = ctx.i64_type();
    let params = body.get_type().get_param_types();
    if params.len() < 3 || params[2] != i64t.into() {
        return Err(internal(
            "the loop body must take the iteration number (an int64) first".into(),
        ));
    }
    let mut kernel_params: Vec<BasicMetadataTypeEnum> = vec![i64t.into()];
    kernel_params.extend(params[3..].iter().copied());
    let fty = ctx.void_type().fn_type(&kernel_params, false);
    let kernel = module.add_function(KERNEL, fty, None);
    kernel.set_call_conventions(PTX_KERNEL);
    let b = ctx.create_builder();
    let entry = ctx.append_basic_block(kernel, "entry");
    let run = ctx.append_basic_block(kernel, "run");
    let done = ctx.append_basic_block(kernel, "done");
    b.position_at_end(entry);
    let sreg = |name: &str| {
        let f = module
            .get_function(name)
            .unwrap_or_else(|| module.add_function(name, ctx.i32_type().fn_type(&[], false), None));
        let v = b
            .build_call(f, &[], name)
            .ok()?
            .try_as_basic_value()
            .basic()?;
        b.build_int_z_extend(v.into_int_value(), i64t, "sreg").ok()
    };
    let grid = (
        sreg("llvm.nvvm.read.ptx.sreg.ctaid.x"),
        sreg("llvm.nvvm.read.ptx.sreg.ntid.x"),
        sreg("llvm.nvvm.read.ptx.sreg.tid.x"),
    );
    let (Some(block), Some(size), Some(thread)) = grid else {
        return Err(internal("cannot read the thread's position".into()));
    };
    let err = |e: inkwell::builder::BuilderError| internal(e.to_string());
    let first = b.build_int_mul(block, size, "first").map_err(err)?;
    let i = b.build_int_add(first, thread, "i").map_err(err)?;
    let n = kernel.get_nth_param(0).expect("n").into_int_value();
    let inside = b
        .build_int_compare(IntPredicate::SLT, i, n, "inside")
        .map_err(err)?;
    b.build_conditional_branch(inside, run, done).map_err(err)?;
    b.position_at_end(run);
    // (Numba's return slot: room for any scalar the body returns; it returns none)
    let ret_slot = b
        .build_alloca(ctx.i64_type().array_type(8), "ret")
        .map_err(err)?;
    let exc_slot = b
        .build_alloca(ctx.ptr_type(AddressSpace::default()), "excinfo")
        .map_err(err)?;
    let mut args: Vec<BasicMetadataValueEnum> = vec![ret_slot.into(), exc_slot.into(), i.into()];
    args.extend(
        kernel
            .get_param_iter()
            .skip(1)
            .map(BasicMetadataValueEnum::from),
    );
    b.build_call(body, &args, "").map_err(err)?;
    b.build_unconditional_branch(done).map_err(err)?;
    b.position_at_end(done);
    b.build_return(None).map_err(err)?;
    Ok(kernel)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body in Numba's calling convention: status(ret*, excinfo*, i, data*, s) doing
    /// data[i] = data[i] * s.
    const SCALE: &str = r#"
define i32 @body(ptr %ret, ptr %exc, i64 %i, ptr %data, double %s) {
entry:
  %p = getelementptr double, ptr %data, i64 %i
  %x = load double, ptr %p
  %y = fmul double %x, %s
  store double %y, ptr %p
  call void @NRT_incref(ptr null)
  ret i32 0
}
declare void @NRT_incref(ptr)
"#;

    #[test]
    fn a_loop_body_becomes_a_ptx_kernel() {
        let ptx = kernel_ptx(SCALE, "body", "sm_80").expect("compiles");
        assert!(ptx.contains(".entry pyomp_kernel"), "{ptx}");
        assert!(ptx.contains(".target sm_80"));
        assert!(
            ptx.contains("mul.f64") || ptx.contains("mul.rn.f64"),
            "{ptx}"
        );
        assert!(ptx.contains("%tid.x") && ptx.contains("%ctaid.x"));
        assert!(
            !ptx.contains("NRT_incref"),
            "refcounts run nothing on the device"
        );
    }

    #[test]
    fn math_without_a_ptx_instruction_is_refused_not_a_crash() {
        let ir = SCALE
            .replace(
                "%y = fmul double %x, %s",
                "%y = call double @llvm.exp.f64(double %x)",
            )
            .replace(
                "declare void @NRT_incref(ptr)",
                "declare void @NRT_incref(ptr)\ndeclare double @llvm.exp.f64(double)",
            );
        let err = kernel_ptx(&ir, "body", "sm_80").unwrap_err();
        assert!(format!("{err:?}").contains("llvm.exp.f64"), "{err:?}");
    }

    #[test]
    fn host_calls_are_refused_by_name() {
        let ir = SCALE
            .replace(
                "declare void @NRT_incref(ptr)",
                "declare void @NRT_incref(ptr)\ndeclare void @PyErr_Clear()",
            )
            .replace("ret i32 0", "call void @PyErr_Clear()\n  ret i32 0");
        let err = kernel_ptx(&ir, "body", "sm_80").unwrap_err();
        assert!(format!("{err:?}").contains("PyErr_Clear"), "{err:?}");
    }
}
