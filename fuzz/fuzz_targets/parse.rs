//! The parser on arbitrary input: it must never panic, and whatever it accepts must render and
//! parse back to the same model (render may refuse only a resource name that is not a valid
//! Terraform identifier).
#![no_main]

use gitsync::hcl::{RenderError, parse, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(resource) = parse(text, "fuzz.tf") else { return };
    match render(&resource) {
        Ok(rendered) => {
            let again = parse(&rendered, "rendered.tf")
                .unwrap_or_else(|e| panic!("rendering does not parse: {e}\n{rendered}"));
            assert_eq!(again, resource, "render/parse changed the model:\n{rendered}");
        }
        Err(RenderError::InvalidName { .. }) => {}
        Err(e) => panic!("parsed but cannot render: {e}"),
    }
});
