//! Literal spelling shared by the renderer and the parser: string escapes, identifiers and
//! numbers exactly as HashiCorp's `hclwrite` writes them.

use unicode_general_category::{GeneralCategory as G, get_general_category};

/// Escapes a string for a quoted HCL literal like hclwrite's `escapeQuotedStringLit`: `\n`,
/// `\r`, `\t`, `\"`, `\\`; `${` and `%{` doubled to `$${` and `%%{`; characters that are not
/// printable (Go's `unicode.IsPrint`) as `\uXXXX` / `\UXXXXXXXX`.
pub(crate) fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' | '%' => {
                out.push(c);
                if chars.peek() == Some(&'{') {
                    out.push(c);
                }
            }
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out
}

/// True when a string needs no escaping at all (the common case; lets the renderer borrow).
pub(crate) fn needs_no_escape(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' && b != b'$' && b != b'%')
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !matches!(
        get_general_category(c),
        G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
    )
}

/// hclsyntax's `ValidIdentifier`: `(ID_Start | '_') (ID_Continue | '-')*`. Object keys that are
/// identifiers are written bare, all others quoted.
///
/// HCL's scanner tables predate Unicode 15.1, which added the zero-width joiners U+200C and
/// U+200D to `ID_Continue`; they are not identifier characters there, so not here either.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if unicode_ident::is_xid_start(c) || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| {
        (unicode_ident::is_xid_continue(c) && !matches!(c, '\u{200c}' | '\u{200d}')) || c == '-'
    })
}

/// A number as Go's `big.Float.Text('f', -1)` writes it: plain decimal, no exponent, no
/// trailing zeros. JSON numbers reach Segment through float64, so f64 precision is what Git Sync
/// itself keeps; Rust's shortest round-trip `Display` gives the same digits.
pub(crate) fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() => format!("{f}"),
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_hclwrite() {
        assert_eq!(escape_string("a\"b\\c\n\t"), r#"a\"b\\c\n\t"#);
        assert_eq!(escape_string("${x} %{y} $z 100%"), "$${x} %%{y} $z 100%");
        assert_eq!(escape_string("\u{a0}\u{7}é•"), "\\u00a0\\u0007é•");
        assert_eq!(escape_string("\u{e0000}"), "\\U000e0000");
    }

    #[test]
    fn identifiers_match_hclsyntax() {
        assert!(is_identifier("X-Workflow-Api-Key"));
        assert!(is_identifier("__segment_internal_sync_mode"));
        assert!(is_identifier("café"));
        assert!(!is_identifier("@path"));
        assert!(!is_identifier("$schema"));
        assert!(!is_identifier("Product Name"));
        assert!(!is_identifier("-x"));
        assert!(!is_identifier("a\u{200d}"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn numbers_are_plain_decimals() {
        let n =
            |s: &str| number_text(&serde_json::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}")));
        assert_eq!(n("1"), "1");
        assert_eq!(n("-5"), "-5");
        assert_eq!(n("1.50"), "1.5");
        assert_eq!(n("1e3"), "1000");
        assert_eq!(n("1e21"), "1000000000000000000000");
        assert_eq!(n("1.5e-7"), "0.00000015");
        assert_eq!(n("18446744073709551615"), "18446744073709551615");
    }
}
