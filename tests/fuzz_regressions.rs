//! Inputs the fuzzer (`fuzz/fuzz_targets/parse.rs`) found, kept so they stay fixed. Each must hold
//! the fuzz target's invariant: whatever parses renders and parses back to the same model.
//! The `slow-*` files once took the HCL parser seconds to minutes; they are now refused at their
//! first operator before the parser runs.

use gitsync::hcl::{RenderError, parse, render};

#[test]
fn fuzz_findings_hold_the_round_trip_invariant() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        seen += 1;
        match parse(&text, &name) {
            Ok(resource) => match render(&resource) {
                Ok(rendered) => {
                    let again = parse(&rendered, &name)
                        .unwrap_or_else(|e| panic!("{name}: {e}\n{rendered}"));
                    assert_eq!(again, resource, "{name}");
                }
                Err(RenderError::InvalidName { .. }) => {}
                Err(e) => panic!("{name}: parsed but cannot render: {e}"),
            },
            Err(e) if name.starts_with("slow-") => {
                let refused = e.to_string();
                assert!(
                    refused.contains("an operator expression is not allowed")
                        || refused.contains("heredoc strings are not supported"),
                    "{name}: {e}"
                );
            }
            Err(_) => {}
        }
    }
    assert_eq!(
        seen,
        6,
        "expected the six recorded findings in {}",
        dir.display()
    );
}
