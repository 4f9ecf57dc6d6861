//! Runs the pass over a textual IR file and prints the result (a debugging aid):
//! `cargo run --example lower_ll -- module.ll`.
fn main() {
    env_logger::init();
    let path = std::env::args().nth(1).expect("usage: lower_ll FILE.ll");
    let text = std::fs::read_to_string(&path).expect("readable file");
    let opts = pyomp_pass::Options { keep_ir: true };
    match pyomp_pass::lower_module(&text, &path, opts) {
        Ok(out) => {
            println!("{}", out.ir.unwrap_or_default());
            eprintln!("{}", serde_json::to_string_pretty(&out.regions).unwrap());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
