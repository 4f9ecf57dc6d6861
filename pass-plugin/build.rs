//! Compiles the C++ shim (shim/extract.cpp) against the same LLVM 19 that llvm-sys links.

use std::process::Command;

fn llvm_config(arg: &str) -> String {
    let prefix = std::env::var("LLVM_SYS_191_PREFIX").unwrap_or_else(|_| "/usr/lib/llvm-19".into());
    let exe = format!("{prefix}/bin/llvm-config");
    let out = Command::new(&exe)
        .arg(arg)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {exe} (install llvm-19-dev): {e}"));
    String::from_utf8(out.stdout)
        .expect("llvm-config prints UTF-8")
        .trim()
        .to_string()
}

fn main() {
    println!("cargo:rerun-if-changed=shim/extract.cpp");
    println!("cargo:rerun-if-env-changed=LLVM_SYS_191_PREFIX");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("shim/extract.cpp")
        .include(llvm_config("--includedir"));
    for flag in llvm_config("--cxxflags").split_whitespace() {
        // Keep LLVM's defines and language level; drop optimisation/warning choices.
        if flag.starts_with("-D") || flag.starts_with("-std=") || flag == "-fno-exceptions" {
            build.flag(flag);
        }
    }
    build
        .flag_if_supported("-fno-rtti")
        .warnings(false)
        .compile("pyomp_shim");
}
