//! Rewrites IR syntax newer than LLVM 19 into an equivalent (or weaker, still correct)
//! LLVM 19 spelling, so the pass can parse what llvmlite (LLVM 22) prints.
//!
//! Numba's IR text comes from llvmlite.ir, which since llvmlite 0.50 prints LLVM 21's
//! `captures(none)` where LLVM 19 wants `nocapture` (measured: the only incompatibility in
//! 192 modules). Each rule is one row of `RULES`; a new llvmlite release that prints more
//! new syntax fails loudly in the parse step and gets a row here.

/// An attribute written `name(...)` and what to put in its place.
struct Rule {
    name: &'static str,
    rewrite: fn(args: &str) -> String,
}

const RULES: &[Rule] = &[
    // `captures(none)` is exactly the old `nocapture`; any other `captures(...)` only states
    // that *some* capture does not happen, so dropping it is a weaker but correct fact.
    Rule {
        name: "captures",
        rewrite: |args| {
            if args.trim() == "none" {
                "nocapture".into()
            } else {
                String::new()
            }
        },
    },
    // LLVM 20's `initializes((lo, hi))` is an optimisation hint: dropping it is correct.
    Rule {
        name: "initializes",
        rewrite: |_| String::new(),
    },
    // `memory(...)` naming a location LLVM 19 lacks (`errnomem`, LLVM 21's `target_mem0`,
    // `target_mem1`, in what llvmlite's optimiser prints): the whole attribute goes (no
    // statement about memory at all is the weakest, always correct, fact).
    Rule {
        name: "memory",
        rewrite: |args| {
            let known = args.split(',').all(|entry| match entry.split_once(':') {
                Some((location, _)) => matches!(location.trim(), "argmem" | "inaccessiblemem"),
                None => true,
            });
            if known {
                format!("memory({args})")
            } else {
                String::new()
            }
        },
    },
];

/// Attributes without arguments that LLVM 19 lacks and that only allow optimisations:
/// dropped (LLVM 22's `nocreateundeforpoison` on intrinsics, in optimised IR).
const DROPPED: &[&str] = &["nocreateundeforpoison"];

/// Returns the text with every rule applied outside quoted strings, or `None` when nothing
/// needed rewriting (the common case costs one scan and no allocation).
pub fn normalize(ir: &str) -> Option<String> {
    if !RULES.iter().any(|r| ir.contains(r.name)) && !DROPPED.iter().any(|w| ir.contains(w)) {
        return None;
    }
    let bytes = ir.as_bytes();
    let mut out = String::with_capacity(ir.len());
    let mut changed = false;
    let mut i = 0;
    let mut copied_to = 0;
    while i < bytes.len() {
        match bytes[i] {
            // LLVM strings (c"..", @"..", !"..") escape quotes as \22, so the next quote ends them.
            b'"' => {
                i += 1 + ir[i + 1..].find('"').map_or(ir.len() - i - 1, |n| n + 1);
            }
            // Comments run to the end of the line.
            b';' => {
                i += ir[i..].find('\n').unwrap_or(ir.len() - i);
            }
            c if c.is_ascii_lowercase() && (i == 0 || !is_name_char(bytes[i - 1])) => {
                let end = i + ir[i..].bytes().take_while(|b| is_ident(*b)).count();
                let word = &ir[i..end];
                if DROPPED.contains(&word) {
                    out.push_str(&ir[copied_to..i]);
                    changed = true;
                    i = end;
                    copied_to = i;
                    continue;
                }
                let rule = RULES.iter().find(|r| r.name == word);
                match (rule, bytes.get(end)) {
                    (Some(rule), Some(b'(')) => {
                        let Some(close) = matching_paren(ir, end) else {
                            i = end;
                            continue;
                        };
                        let new = (rule.rewrite)(&ir[end + 1..close]);
                        out.push_str(&ir[copied_to..i]);
                        // (a `memory(...)` LLVM 19 reads as it is comes out the same)
                        changed |= new != ir[i..=close];
                        out.push_str(&new);
                        i = close + 1;
                        copied_to = i;
                    }
                    _ => i = end,
                }
            }
            _ => i += 1,
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&ir[copied_to..]);
    Some(out)
}

/// A character that continues a word or sigils a value name (`%x`, `@f`, `!md`, `#0`): a
/// lowercase word right after one of these is a name, not an attribute.
fn is_name_char(b: u8) -> bool {
    is_ident(b) || matches!(b, b'%' | b'@' | b'!' | b'#')
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$' || b == b'-'
}

/// Index of the `)` that closes the `(` at `open`, if any.
fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, b) in s.as_bytes()[open..].iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + k);
                }
            }
            b'\n' => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn captures_none_becomes_nocapture() {
        let before = "declare void @f(i8* noalias captures(none) %a, i8* captures(none))\n";
        let after = "declare void @f(i8* noalias nocapture %a, i8* nocapture)\n";
        assert_eq!(normalize(before).as_deref(), Some(after));
    }

    #[test]
    fn other_captures_and_initializes_are_dropped() {
        let before = "define void @g(ptr captures(address, read_provenance) %p, ptr initializes((0, 8)) %q) {\n";
        let after = "define void @g(ptr  %p, ptr  %q) {\n";
        assert_eq!(normalize(before).as_deref(), Some(after));
    }

    #[test]
    fn strings_comments_and_names_are_untouched() {
        let ir = "@s = constant [15 x i8] c\"captures(none)\\00\"\n; captures(none) in a comment\n\
                  declare void @my_captures(i8*)\n  call void %captures(i8* null)\n%\"captures\" = type {}\n";
        assert_eq!(normalize(ir), None);
    }

    #[test]
    fn memory_locations_llvm_19_lacks_are_dropped() {
        let before = "attributes #3 = { nounwind memory(readwrite, inaccessiblemem: none, \
                      target_mem0: none, errnomem: write) }\n";
        let after = "attributes #3 = { nounwind  }\n";
        assert_eq!(normalize(before).as_deref(), Some(after));
        assert_eq!(
            normalize("attributes #1 = { memory(argmem: read) }\n"),
            None
        );
    }

    #[test]
    fn nothing_to_do_allocates_nothing() {
        assert_eq!(
            normalize("define i64 @f(i64 %x) {\n  ret i64 %x\n}\n"),
            None
        );
    }

    #[test]
    fn unbalanced_parenthesis_is_left_for_the_parser_to_report() {
        let ir = "declare void @f(i8* captures(none\n";
        assert_eq!(normalize(ir), None);
    }
}
