//! Canonical HCL layout: indentation, spacing and `=` alignment.
//!
//! This is our implementation of the rules of HashiCorp's `hclwrite` formatter (the one behind
//! `terraform fmt` and `hclfmt`), which is what gives Git Sync files their shape. It works on a
//! token stream that the renderer builds, never on arbitrary text, so it needs no lexer. It
//! changes only the spaces before tokens, never the tokens themselves.
//!
//! The three passes, as in hclwrite:
//! - indent: each line is indented two spaces per open bracket level, counted per line: a line
//!   that opens more brackets than it closes starts a level, one that closes more ends as many
//!   levels as it closes (which is why `}, {` inside a JSON list sits one level deeper);
//! - spaces: one space between tokens except around brackets, before commas, inside strings and
//!   between a function name and its `(`;
//! - cells: consecutive lines whose `name = value` is complete on the line form a chain whose
//!   `=` are aligned one space after the longest name. Any other line ends the chain.

use std::borrow::Cow;
use unicode_segmentation::UnicodeSegmentation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Ident,
    Equal,
    OBrace,
    CBrace,
    OBrack,
    CBrack,
    OParen,
    CParen,
    Comma,
    Newline,
    OQuote,
    QuotedLit,
    CQuote,
    NumberLit,
}

#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    pub kind: TokenKind,
    pub text: Cow<'a, str>,
    spaces_before: usize,
}

impl<'a> Token<'a> {
    pub fn new(kind: TokenKind, text: impl Into<Cow<'a, str>>) -> Token<'a> {
        Token {
            kind,
            text: text.into(),
            spaces_before: 0,
        }
    }

    /// Net bracket change: +1 for an opener, -1 for a closer.
    fn bracket_change(&self) -> i32 {
        match self.kind {
            TokenKind::OBrace | TokenKind::OBrack | TokenKind::OParen => 1,
            TokenKind::CBrace | TokenKind::CBrack | TokenKind::CParen => -1,
            _ => 0,
        }
    }

    /// Display width in grapheme clusters, as hclwrite counts columns: per token of HCL's own
    /// scanner, which splits a quoted literal at a lone `$` or `%` (and at `$${` / `%%{`), so a
    /// combining mark after a `$` is a cluster of its own there.
    fn columns(&self) -> usize {
        if self.text.is_ascii() {
            self.text.len()
        } else if self.kind == TokenKind::QuotedLit {
            scanner_segments(&self.text)
                .map(|seg| seg.graphemes(true).count())
                .sum()
        } else {
            self.text.graphemes(true).count()
        }
    }
}

/// Splits quoted-literal text the way hclsyntax's scanner tokenizes it: runs of ordinary
/// characters and escapes; a `$` or `%` alone; `$${` or `%%{` (an escaped template opener).
fn scanner_segments(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let begin = start;
        let mut i = start;
        if matches!(bytes[i], b'$' | b'%') {
            let c = bytes[i];
            i += 1;
            if bytes.get(i) == Some(&c) && bytes.get(i + 1) == Some(&b'{') {
                i += 2;
            }
        } else {
            while i < bytes.len() && !matches!(bytes[i], b'$' | b'%') {
                // An escape takes the next character with it (`\$` never occurs: `$` is not
                // escaped in HCL, so this only matters for `\\` and `\"`).
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = i.min(bytes.len());
        }
        start = i;
        Some(&text[begin..i])
    })
}

/// One line: `lead` always; `assign` from a `=` whose right-hand side closes on the line.
/// Indices into the token vector.
struct Line {
    start: usize,
    /// Where the assign cell starts, if any (it runs to `end`).
    assign: Option<usize>,
    end: usize,
}

impl Line {
    fn lead_end(&self) -> usize {
        self.assign.unwrap_or(self.end)
    }
}

/// Lays out the tokens canonically and writes them out.
pub(crate) fn format_to_string(tokens: &mut [Token<'_>]) -> String {
    let lines = split_lines(tokens);
    indent(tokens, &lines);
    spaces(tokens, &lines);
    align(tokens, &lines);

    let mut out =
        String::with_capacity(tokens.iter().map(|t| t.text.len() + t.spaces_before).sum());
    for t in tokens.iter() {
        for _ in 0..t.spaces_before {
            out.push(' ');
        }
        out.push_str(&t.text);
    }
    out
}

fn split_lines(tokens: &[Token<'_>]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        if t.kind == TokenKind::Newline {
            lines.push(Line {
                start,
                assign: None,
                end: i + 1,
            });
            start = i + 1;
        }
    }
    if start < tokens.len() {
        lines.push(Line {
            start,
            assign: None,
            end: tokens.len(),
        });
    }
    for line in &mut lines {
        let lead = &tokens[line.start..line.end];
        if let Some(eq) = lead.iter().skip(1).position(|t| t.kind == TokenKind::Equal) {
            let eq = line.start + 1 + eq;
            let net: i32 = tokens[eq..line.end].iter().map(Token::bracket_change).sum();
            if net == 0 {
                line.assign = Some(eq);
            }
        }
    }
    lines
}

fn indent(tokens: &mut [Token<'_>], lines: &[Line]) {
    let mut levels: Vec<i32> = Vec::with_capacity(16);
    for line in lines {
        if line.start == line.end {
            continue;
        }
        if tokens[line.start].kind == TokenKind::Newline {
            tokens[line.start].spaces_before = 0;
            continue;
        }
        let net: i32 = tokens[line.start..line.end]
            .iter()
            .map(Token::bracket_change)
            .sum();
        if net > 0 {
            tokens[line.start].spaces_before = 2 * levels.len();
            levels.push(net);
            continue;
        }
        let mut closed = -net;
        while closed > 0 {
            let Some(top) = levels.last_mut() else { break };
            if closed >= *top {
                closed -= *top;
                levels.pop();
            } else {
                *top -= closed;
                closed = 0;
            }
        }
        tokens[line.start].spaces_before = 2 * levels.len();
    }
}

fn spaces(tokens: &mut [Token<'_>], lines: &[Line]) {
    for line in lines {
        space_cell(tokens, line.start, line.lead_end());
        if let Some(assign) = line.assign {
            tokens[assign].spaces_before = 1;
            space_cell(tokens, assign, line.end);
        }
    }
}

fn space_cell(tokens: &mut [Token<'_>], start: usize, end: usize) {
    for i in start..end.saturating_sub(1) {
        let before = if i > start {
            Some(tokens[i - 1].kind)
        } else {
            None
        };
        let space = space_after(&tokens[i], before, &tokens[i + 1]);
        tokens[i + 1].spaces_before = usize::from(space);
    }
}

/// hclwrite's `spaceAfterToken`, for the token kinds the renderer produces.
fn space_after(subject: &Token<'_>, before: Option<TokenKind>, after: &Token<'_>) -> bool {
    use TokenKind as K;
    let _ = before; // hclwrite consults it only for `-` and `in`, which we never emit as tokens.
    match (subject.kind, after.kind) {
        (_, K::Newline) => false,
        (K::Ident, K::OParen) => false,
        (_, K::Comma) => false,
        (K::Comma, _) => true,
        (K::QuotedLit | K::OQuote, _) | (_, K::QuotedLit | K::CQuote) => false,
        (K::Ident | K::NumberLit, K::OBrack) => false,
        (_, K::OBrack) if subject.bracket_change() < 0 => false,
        (K::OBrace, K::CBrace) => false,
        (K::OBrace, _) | (_, K::CBrace) => true,
        _ if subject.bracket_change() > 0 => false,
        _ if after.bracket_change() < 0 => false,
        _ => true,
    }
}

fn cell_columns(tokens: &[Token<'_>], start: usize, end: usize) -> usize {
    tokens[start..end]
        .iter()
        .map(|t| t.spaces_before + t.columns())
        .sum()
}

fn align(tokens: &mut [Token<'_>], lines: &[Line]) {
    let mut chain: Vec<&Line> = Vec::new();
    let flush = |chain: &mut Vec<&Line>, tokens: &mut [Token<'_>]| {
        let widest = chain
            .iter()
            .map(|l| cell_columns(tokens, l.start, l.lead_end()))
            .max()
            .unwrap_or(0);
        for line in chain.drain(..) {
            if let Some(assign) = line.assign {
                tokens[assign].spaces_before =
                    widest - cell_columns(tokens, line.start, assign) + 1;
            }
        }
    };
    for line in lines {
        if line.assign.is_some() {
            chain.push(line);
        } else if !chain.is_empty() {
            flush(&mut chain, tokens);
        }
    }
    flush(&mut chain, tokens);
}
