//! A linear pre-scan of untrusted files, run before the HCL parser.
//!
//! Files arrive from pull requests. gitsync accepts literal values only, so this scan refuses,
//! with their place and a message that says what is wrong, the constructs that cannot appear in
//! a valid file anyway: operators, `?`, template interpolation, and nesting deeper than
//! [`MAX_BRACKETS`]. What passes is brackets, names, numbers, quoted strings and comments.
//! It began as a shield for `hcl-edit`, whose expression parser backtracked exponentially on
//! chains of binary operators around unclosed brackets (`x+x+x[` repeated; found by fuzzing);
//! [`super::syntax`] never backtracks, but the scan still bounds its recursion before it runs.
//!
//! Heredocs are refused too: Git Sync never writes them, and parsers disagree on where one ends
//! (`hcl-edit` closed `<<EOF` at a line that merely starts with `EOF`, found by fuzzing).
//!
//! The scan understands just enough HCL to skip strings and comments; it never
//! accepts anything on its own: the parser still checks everything that passes.

use super::error::Problem;
use crate::model::MAX_NESTING;

/// Deepest bracket nesting accepted: a value nested [`MAX_NESTING`] deep (the limit the parser
/// then checks exactly, with the attribute's name) plus room for what surrounds it: the resource
/// block's `{`, `jsonencode(` and a few parentheses. Real Git Sync files stay under 20. Past
/// it, the message names [`MAX_NESTING`], the one limit a user can act on.
pub(crate) const MAX_BRACKETS: usize = MAX_NESTING + 8;

/// The first construct the parser must not see, with its byte offset.
pub(crate) fn check(source: &str) -> Result<(), (usize, Problem)> {
    // An editor's byte order mark: not HCL, and invisible, so say what it is.
    if source.starts_with('\u{feff}') {
        return Err((0, Problem::ByteOrderMark));
    }
    Scanner {
        src: source.as_bytes(),
        pos: 0,
        depth: 0,
        operand_may_start: true,
    }
    .run()
}

struct Scanner<'s> {
    src: &'s [u8],
    pos: usize,
    depth: usize,
    /// True after `=`, `,`, `:`, an opening bracket or the start: where a `-` begins a negative
    /// number rather than a subtraction.
    operand_may_start: bool,
}

const OPERATOR: Problem = Problem::Expression("an operator expression");

impl Scanner<'_> {
    fn peek(&self, ahead: usize) -> u8 {
        self.src.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn run(mut self) -> Result<(), (usize, Problem)> {
        while self.pos < self.src.len() {
            let start = self.pos;
            let c = self.src[self.pos];
            let mut operand_may_start = false;
            if let Some(marker) = self.conflict_marker() {
                return Err((start, Problem::ConflictMarker(marker)));
            }
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.pos += 1;
                    continue;
                }
                b'#' => self.skip_line(),
                b'/' if self.peek(1) == b'/' => self.skip_line(),
                b'/' if self.peek(1) == b'*' => self.skip_block_comment(),
                b'"' => self.string()?,
                b'<' if self.peek(1) == b'<' => return Err((start, Problem::Heredoc)),
                b'[' | b'{' | b'(' => {
                    self.depth += 1;
                    if self.depth > MAX_BRACKETS {
                        return Err((start, Problem::NestedTooDeep { max: MAX_NESTING }));
                    }
                    self.pos += 1;
                    operand_may_start = true;
                }
                b']' | b'}' | b')' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.pos += 1;
                }
                b'=' if self.peek(1) == b'=' => return Err((start, OPERATOR)),
                b'=' if self.peek(1) == b'>' => {
                    return Err((start, Problem::Expression("a `for` expression")));
                }
                b'=' | b',' | b':' => {
                    self.pos += 1;
                    operand_may_start = true;
                }
                b'-' => {
                    let next = self.src[self.pos + 1..]
                        .iter()
                        .find(|b| !matches!(b, b' ' | b'\t'));
                    if !(self.operand_may_start && next.is_some_and(u8::is_ascii_digit)) {
                        return Err((start, OPERATOR));
                    }
                    self.pos += 1;
                    operand_may_start = true;
                }
                b'?' => return Err((start, Problem::Expression("a conditional expression"))),
                b'+' | b'*' | b'/' | b'%' | b'!' | b'<' | b'>' | b'&' | b'|' => {
                    return Err((start, OPERATOR));
                }
                b'.' if self.peek(1) == b'.' => {
                    return Err((start, Problem::Expression("an expansion `...`")));
                }
                b'$' if self.peek(1) == b'{' => return Err((start, Problem::Interpolation)),
                _ => self.word(),
            }
            self.operand_may_start = operand_may_start;
        }
        Ok(())
    }

    /// A name, a number or a traversal (`a.b`, `a.0`), as one word. A `-` belongs to the word
    /// only inside a name segment (`id-abc`, `X-Api-Key`) or as an exponent sign (`1e-5`);
    /// after a number segment (`a.6-6`) it is a subtraction, left for the caller to refuse.
    fn word(&mut self) {
        let mut segment_is_name = !self.src[self.pos].is_ascii_digit();
        self.pos += 1;
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            let prev = self.src[self.pos - 1];
            let exponent_sign = !segment_is_name
                && matches!(c, b'-' | b'+')
                && matches!(prev, b'e' | b'E')
                && self.peek(1).is_ascii_digit();
            if c == b'.' {
                segment_is_name = !self.peek(1).is_ascii_digit();
                self.pos += 1;
            } else if c.is_ascii_alphanumeric()
                || c >= 0x80
                || c == b'_'
                || exponent_sign
                || (c == b'-' && segment_is_name)
            {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// A Git merge-conflict marker (`<<<<<<<`, `|||||||`, `=======`, `>>>>>>>`) starting the
    /// line at the current position: seven of one character, then the end of the line or a
    /// space. Outside a string no valid file holds one, and otherwise it would read as a
    /// heredoc or an operator.
    fn conflict_marker(&self) -> Option<&'static str> {
        let at_line_start = self.pos == 0 || self.src[self.pos - 1] == b'\n';
        let marker = match self.src[self.pos] {
            b'<' => "<<<<<<<",
            b'|' => "|||||||",
            b'=' => "=======",
            b'>' => ">>>>>>>",
            _ => return None,
        };
        let rest = &self.src[self.pos..];
        (at_line_start
            && rest.starts_with(marker.as_bytes())
            && matches!(rest.get(7), None | Some(b' ' | b'\t' | b'\r' | b'\n')))
        .then_some(marker)
    }

    fn skip_line(&mut self) {
        while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
            self.pos += 1;
        }
    }

    fn skip_block_comment(&mut self) {
        self.pos += 2;
        while self.pos < self.src.len() && !(self.src[self.pos] == b'*' && self.peek(1) == b'/') {
            self.pos += 1;
        }
        self.pos = (self.pos + 2).min(self.src.len());
    }

    /// A quoted string; interpolation and directives are refused, their escapes skipped.
    fn string(&mut self) -> Result<(), (usize, Problem)> {
        let start = self.pos;
        self.pos += 1;
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\n' => break,
                b'$' | b'%' => self.template_char()?,
                _ => self.pos += 1,
            }
        }
        Err((start, Problem::Syntax("unterminated string".into())))
    }

    /// At a `$` or `%` inside a template: `$${`/`%%{` are escapes, `${`/`%{` are refused.
    fn template_char(&mut self) -> Result<(), (usize, Problem)> {
        let c = self.src[self.pos];
        if self.peek(1) == c && self.peek(2) == b'{' {
            self.pos += 3;
            Ok(())
        } else if self.peek(1) == b'{' {
            Err((self.pos, Problem::Interpolation))
        } else {
            self.pos += 1;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(src: &str) -> Option<(usize, String)> {
        check(src).err().map(|(at, p)| (at, p.to_string()))
    }

    #[test]
    fn literal_files_pass() {
        let ok = [
            "a = -1\nb = [-2.5, 1e-5, 3E+2]\nc = { x = \"$${y} %%{z} 50% $\" }\n",
            "to = segment_source.id-abc\nX-Api-Key = \"k\"\n",
            "# comment with + and ?\n// more - stuff\n/* and * here */ a = 1",
            "a = jsonencode({ \"k\" : [1, 2] })",
        ];
        for src in ok {
            assert_eq!(problem(src), None, "{src}");
        }
    }

    #[test]
    fn operators_interpolation_and_depth_are_refused_with_their_offset() {
        assert_eq!(problem("a = x+x").map(|p| p.0), Some(5));
        assert_eq!(problem("a = 1 - 1").map(|p| p.0), Some(6));
        assert_eq!(problem("a = b.6-6").map(|p| p.0), Some(7));
        assert_eq!(problem("a = 1-1").map(|p| p.0), Some(5));
        assert_eq!(problem("a = x == y").map(|p| p.0), Some(6));
        assert_eq!(problem("a = b ? c : d").map(|p| p.0), Some(6));
        assert_eq!(problem("a = \"x${y}\"").map(|p| p.0), Some(6));
        assert_eq!(problem("a = <<EOF\nx\nEOF\n").map(|p| p.0), Some(4));
        let deep = format!("a = {}", "[".repeat(MAX_BRACKETS + 1));
        assert_eq!(
            problem(&deep),
            Some((
                4 + MAX_BRACKETS,
                format!("lists and objects nest deeper than the {MAX_NESTING} levels allowed")
            ))
        );
        assert_eq!(problem("a = \"open\nb = 1").map(|p| p.0), Some(4));
    }

    #[test]
    fn a_byte_order_mark_and_conflict_markers_are_named_as_what_they_are() {
        let cases: [(&str, Option<usize>, &str); 9] = [
            ("\u{feff}a = 1", Some(0), "byte order mark"),
            ("a = 1\n<<<<<<< HEAD\nb = 2\n", Some(6), "`<<<<<<<`"),
            ("a = 1\n=======\n", Some(6), "`=======`"),
            ("a = 1\n>>>>>>> main\n", Some(6), "`>>>>>>>`"),
            ("a = 1\n||||||| base\n", Some(6), "`|||||||`"),
            ("<<<<<<<\n", Some(0), "`<<<<<<<`"),
            // Not at the start of a line, or not seven: what they are otherwise.
            ("a = 1 <<<<<<< x\n", Some(6), "heredoc"),
            ("a = 1\n<<<<<<<< x\n", Some(6), "heredoc"),
            ("a = \"<<<<<<< \"\n", None, ""),
        ];
        for (src, at, words) in cases {
            let found = problem(src);
            assert_eq!(found.as_ref().map(|p| p.0), at, "{src:?}: {found:?}");
            if let Some((_, message)) = found {
                assert!(message.contains(words), "{src:?}: {message}");
            }
        }
    }
}
