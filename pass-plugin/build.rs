//! Compiles the C++ shim (shim/extract.cpp) against the same LLVM 19 that llvm-sys links.

use std::process::Command;

/// What a source build needs and how to get it (the sdist's users read this).
const NEEDS_LLVM_19: &str = "building pyomp from source needs LLVM 19's development files \
(llvm-config, headers, static libraries): `apt-get install llvm-19-dev libpolly-19-dev \
zlib1g-dev libzstd-dev libffi-dev libxml2-dev` (Debian/Ubuntu), `dnf install llvm19-devel \
llvm19-static` (Fedora), `brew install llvm@19` (macOS); then set LLVM_SYS_191_PREFIX to \
its prefix (/usr/lib/llvm-19, /usr/lib64/llvm19, $(brew --prefix llvm@19)). Or install \
the wheel, which needs none of this: `pip install pyomp-rs`";

fn llvm_config(arg: &str) -> String {
    let prefix = std::env::var("LLVM_SYS_191_PREFIX").unwrap_or_else(|_| "/usr/lib/llvm-19".into());
    let exe = format!("{prefix}/bin/llvm-config");
    let out = match Command::new(&exe).arg(arg).output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => panic!("{exe} {arg} failed ({}): {NEEDS_LLVM_19}", out.status),
        Err(e) => panic!("cannot run {exe} ({e}): {NEEDS_LLVM_19}"),
    };
    String::from_utf8(out.stdout)
        .expect("llvm-config prints UTF-8")
        .trim()
        .to_string()
}

fn main() {
    println!("cargo:rerun-if-changed=shim/extract.cpp");
    println!("cargo:rerun-if-env-changed=LLVM_SYS_191_PREFIX");
    let version = llvm_config("--version");
    if !version.starts_with("19.") {
        panic!("found LLVM {version}, not 19: {NEEDS_LLVM_19}");
    }
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
