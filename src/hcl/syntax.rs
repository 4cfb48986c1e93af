//! HCL syntax -> a small tree with byte spans, for the literal subset Git Sync files are made of.
//!
//! Blocks with labels, attributes, and the expressions a literal value needs: strings, numbers,
//! `true`/`false`/`null`, lists, objects, parentheses, negative numbers and function calls; names
//! and traversals (`segment_source.id-abc`) are kept so that the caller can say what they are.
//! Anything else (operators, templates with interpolation, heredocs, `for` expressions) is a
//! syntax error here; [`super::guard`] refuses most of it earlier, with a more telling message.
//!
//! Why not `hcl-edit`: its object parser checks each key against all the keys before it (a
//! vector map), so a flat object of n keys costs n²: 40,000 keys took 10 s. This parser does one
//! pass, never backtracks, and holds its recursion to [`MAX_BRACKETS`], so its time is linear in
//! the input and its stack bounded. It checks syntax only: what the values mean, duplicate keys
//! included, is the caller's job. It records where the first comment is, so that a caller that
//! rewrites the file can refuse to drop it.

use std::ops::Range;

use super::guard::MAX_BRACKETS;

/// A syntax error at a byte offset.
#[derive(Debug)]
pub(super) struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

pub(super) struct Body<'s> {
    pub structures: Vec<Structure<'s>>,
}

pub(super) enum Structure<'s> {
    Attribute(Attribute<'s>),
    Block(Block<'s>),
}

impl Structure<'_> {
    pub fn span(&self) -> Range<usize> {
        match self {
            Structure::Attribute(a) => a.span.clone(),
            Structure::Block(b) => b.span.clone(),
        }
    }
}

pub(super) struct Attribute<'s> {
    pub key: Ident<'s>,
    pub value: Expr<'s>,
    pub span: Range<usize>,
}

pub(super) struct Ident<'s> {
    pub name: &'s str,
    pub span: Range<usize>,
}

pub(super) struct Block<'s> {
    pub ident: Ident<'s>,
    pub labels: Vec<Label>,
    pub body: Body<'s>,
    pub span: Range<usize>,
}

/// A block label, bare (`resource x`) or quoted (`resource "x"`), by its value.
pub(super) struct Label {
    pub text: String,
    pub span: Range<usize>,
}

pub(super) struct Expr<'s> {
    pub kind: ExprKind<'s>,
    pub span: Range<usize>,
}

pub(super) enum ExprKind<'s> {
    Null,
    Bool(bool),
    Number(Number),
    /// A quoted string, unescaped.
    String(String),
    Array(Vec<Expr<'s>>),
    /// Keys as written: a bare name is a [`ExprKind::Variable`] (or `Null`/`Bool` for the
    /// keywords), a quoted one a [`ExprKind::String`].
    Object(Vec<(Expr<'s>, Expr<'s>)>),
    /// `name(args)` or `ns::name(args)`: the namespace parts, then the name.
    Call {
        name: Vec<&'s str>,
        args: Vec<Expr<'s>>,
    },
    Variable(&'s str),
    /// `root.name`, `root[0]`, ...: what follows the root, as attribute names where it is one.
    Traversal {
        root: Box<Expr<'s>>,
        ops: Vec<Option<&'s str>>,
    },
    Neg(Box<Expr<'s>>),
    Paren(Box<Expr<'s>>),
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Number {
    U64(u64),
    F64(f64),
}

/// A parsed file and the offset of its first comment, if any.
pub(super) struct File<'s> {
    pub body: Body<'s>,
    pub first_comment: Option<usize>,
}

pub(super) fn parse(source: &str) -> Result<File<'_>, SyntaxError> {
    let mut p = P {
        src: source,
        bytes: source.as_bytes(),
        pos: 0,
        depth: 0,
        first_comment: None,
    };
    let body = p.body(false)?;
    Ok(File {
        body,
        first_comment: p.first_comment,
    })
}

struct P<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
    depth: usize,
    first_comment: Option<usize>,
}

type R<T> = Result<T, SyntaxError>;

fn is_id_start(c: char) -> bool {
    unicode_ident::is_xid_start(c) || c == '_'
}

fn is_id_continue(c: char) -> bool {
    unicode_ident::is_xid_continue(c) || c == '-'
}

impl<'s> P<'s> {
    fn err<T>(&self, offset: usize, message: impl Into<String>) -> R<T> {
        Err(SyntaxError {
            offset,
            message: message.into(),
        })
    }

    fn peek(&self) -> u8 {
        self.bytes.get(self.pos).copied().unwrap_or(0)
    }

    fn peek_at(&self, ahead: usize) -> u8 {
        self.bytes.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek_char(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn comment_at(&mut self, at: usize) {
        self.first_comment.get_or_insert(at);
    }

    /// Blanks that cannot end a line: spaces, tabs and `/* */` comments.
    fn skip_inline(&mut self) -> R<()> {
        loop {
            match self.peek() {
                b' ' | b'\t' => self.pos += 1,
                b'/' if self.peek_at(1) == b'*' => {
                    let start = self.pos;
                    self.comment_at(start);
                    match self.src[self.pos + 2..].find("*/") {
                        Some(i) => self.pos += 2 + i + 2,
                        None => return self.err(start, "unterminated `/*` comment"),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// A newline, or a line comment and the newline that ends it (or the end of input).
    /// False when neither is here.
    fn line_end(&mut self) -> bool {
        match self.peek() {
            b'\n' => self.pos += 1,
            b'\r' if self.peek_at(1) == b'\n' => self.pos += 2,
            b'#' => self.line_comment(),
            b'/' if self.peek_at(1) == b'/' => self.line_comment(),
            _ => return false,
        }
        true
    }

    fn line_comment(&mut self) {
        self.comment_at(self.pos);
        match self.src[self.pos..].find('\n') {
            Some(i) => self.pos += i + 1,
            None => self.pos = self.bytes.len(),
        }
    }

    /// All blanks, newlines and comments included.
    fn skip_all(&mut self) -> R<()> {
        loop {
            self.skip_inline()?;
            if !self.line_end() {
                return Ok(());
            }
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_BRACKETS {
            return self.err(
                self.pos,
                format!("brackets nested deeper than {MAX_BRACKETS} levels"),
            );
        }
        Ok(())
    }

    fn expect(&mut self, c: u8, what: &str) -> R<()> {
        if self.peek() == c {
            self.pos += 1;
            Ok(())
        } else {
            self.err(self.pos, format!("expected {what}"))
        }
    }

    fn ident(&mut self) -> R<Ident<'s>> {
        let start = self.pos;
        match self.peek_char() {
            Some(c) if is_id_start(c) => self.pos += c.len_utf8(),
            _ => return self.err(start, "expected a name"),
        }
        while let Some(c) = self.peek_char().filter(|c| is_id_continue(*c)) {
            self.pos += c.len_utf8();
        }
        Ok(Ident {
            name: &self.src[start..self.pos],
            span: start..self.pos,
        })
    }

    /// Attributes and blocks up to the end of input, or up to `}` when `nested`.
    fn body(&mut self, nested: bool) -> R<Body<'s>> {
        let mut structures = Vec::new();
        loop {
            self.skip_all()?;
            if self.at_end() {
                if nested {
                    return self.err(self.pos, "expected `}` to close the block");
                }
                break;
            }
            if nested && self.peek() == b'}' {
                break;
            }
            let ident = self.ident()?;
            self.skip_inline()?;
            let structure = if self.peek() == b'=' && self.peek_at(1) != b'=' {
                self.pos += 1;
                self.skip_inline()?;
                let value = self.expr()?;
                let span = ident.span.start..value.span.end;
                Structure::Attribute(Attribute {
                    key: ident,
                    value,
                    span,
                })
            } else {
                Structure::Block(self.block(ident)?)
            };
            structures.push(structure);
            self.skip_inline()?;
            // One structure per line; a one-line block may close right after it.
            if !(self.at_end() || self.line_end() || (nested && self.peek() == b'}')) {
                return self.err(self.pos, "expected a newline after the attribute or block");
            }
        }
        Ok(Body { structures })
    }

    fn block(&mut self, ident: Ident<'s>) -> R<Block<'s>> {
        let mut labels = Vec::new();
        loop {
            let start = self.pos;
            match self.peek() {
                b'{' => break,
                b'"' => {
                    let text = self.string()?;
                    labels.push(Label {
                        text,
                        span: start..self.pos,
                    });
                }
                _ => match self.ident() {
                    Ok(label) => labels.push(Label {
                        text: label.name.to_owned(),
                        span: label.span,
                    }),
                    Err(_) => {
                        return self.err(
                            start,
                            format!("expected `=`, a block label or `{{` after `{}`", ident.name),
                        );
                    }
                },
            }
            self.skip_inline()?;
        }
        self.enter()?;
        self.pos += 1;
        let body = self.body(true)?;
        self.expect(b'}', "`}`")?;
        self.depth -= 1;
        Ok(Block {
            span: ident.span.start..self.pos,
            ident,
            labels,
            body,
        })
    }

    fn expr(&mut self) -> R<Expr<'s>> {
        let start = self.pos;
        let kind = match self.peek() {
            b'"' => ExprKind::String(self.string()?),
            b'[' => self.array()?,
            b'{' => self.object()?,
            b'(' => {
                self.enter()?;
                self.pos += 1;
                self.skip_all()?;
                let inner = self.expr()?;
                self.skip_all()?;
                self.expect(b')', "`)`")?;
                self.depth -= 1;
                ExprKind::Paren(Box::new(inner))
            }
            b'0'..=b'9' => ExprKind::Number(self.number()?),
            b'-' => {
                self.pos += 1;
                self.skip_inline()?;
                let at = self.pos;
                if !self.peek().is_ascii_digit() {
                    return self.err(start, "expected a number after `-`");
                }
                let n = self.number()?;
                ExprKind::Neg(Box::new(Expr {
                    kind: ExprKind::Number(n),
                    span: at..self.pos,
                }))
            }
            _ => self.identlike()?,
        };
        let mut expr = Expr {
            kind,
            span: start..self.pos,
        };
        // A traversal: `.name`, `.0` or `[...]` right after a term.
        let mut ops = Vec::new();
        loop {
            match self.peek() {
                b'.' if self.peek_at(1) != b'.' => {
                    self.pos += 1;
                    if self.peek().is_ascii_digit() {
                        self.number()?;
                        ops.push(None);
                    } else {
                        ops.push(Some(self.ident()?.name));
                    }
                }
                b'[' => {
                    self.enter()?;
                    self.pos += 1;
                    self.skip_all()?;
                    self.expr()?;
                    self.skip_all()?;
                    self.expect(b']', "`]`")?;
                    self.depth -= 1;
                    ops.push(None);
                }
                _ => break,
            }
        }
        if !ops.is_empty() {
            expr = Expr {
                kind: ExprKind::Traversal {
                    root: Box::new(expr),
                    ops,
                },
                span: start..self.pos,
            };
        }
        Ok(expr)
    }

    fn identlike(&mut self) -> R<ExprKind<'s>> {
        let start = self.pos;
        let Ok(first) = self.ident() else {
            return self.err(start, "expected an expression");
        };
        let mut name = vec![first.name];
        while self.peek() == b':' && self.peek_at(1) == b':' {
            self.pos += 2;
            name.push(self.ident()?.name);
        }
        let before_args = self.pos;
        self.skip_inline()?;
        if self.peek() == b'(' {
            return self.call(name);
        }
        self.pos = before_args;
        if name.len() > 1 {
            return self.err(self.pos, "expected `(` after a namespaced function name");
        }
        Ok(match first.name {
            "null" => ExprKind::Null,
            "true" => ExprKind::Bool(true),
            "false" => ExprKind::Bool(false),
            other => ExprKind::Variable(other),
        })
    }

    fn call(&mut self, name: Vec<&'s str>) -> R<ExprKind<'s>> {
        self.enter()?;
        self.pos += 1;
        let mut args = Vec::new();
        loop {
            self.skip_all()?;
            if self.peek() == b')' {
                break;
            }
            args.push(self.expr()?);
            self.skip_all()?;
            match self.peek() {
                b',' => self.pos += 1,
                b')' => break,
                _ => return self.err(self.pos, "expected `,` or `)`"),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(ExprKind::Call { name, args })
    }

    fn array(&mut self) -> R<ExprKind<'s>> {
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_all()?;
            if self.peek() == b']' {
                break;
            }
            items.push(self.expr()?);
            self.skip_all()?;
            match self.peek() {
                b',' => self.pos += 1,
                b']' => break,
                _ => return self.err(self.pos, "expected `,` or `]`"),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(ExprKind::Array(items))
    }

    fn object(&mut self) -> R<ExprKind<'s>> {
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_all()?;
            if self.peek() == b'}' {
                break;
            }
            let key = self.expr()?;
            self.skip_inline()?;
            match self.peek() {
                b'=' | b':' => self.pos += 1,
                _ => return self.err(self.pos, "expected `=` or `:` after the object key"),
            }
            self.skip_inline()?;
            let value = self.expr()?;
            items.push((key, value));
            self.skip_inline()?;
            match self.peek() {
                b',' => self.pos += 1,
                b'}' => break,
                _ if self.line_end() => {}
                _ => return self.err(self.pos, "expected `,`, a newline or `}`"),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(ExprKind::Object(items))
    }

    /// Digits, an optional fraction and an optional exponent. Integers that do not fit a `u64`
    /// are floats, as in HCL.
    fn number(&mut self) -> R<Number> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_ascii_digit() {
                p.pos += 1;
            }
            p.pos > from
        };
        digits(self);
        let mut float = false;
        if self.peek() == b'.' && self.peek_at(1).is_ascii_digit() {
            self.pos += 1;
            digits(self);
            float = true;
        }
        if matches!(self.peek(), b'e' | b'E') {
            self.pos += 1;
            if matches!(self.peek(), b'+' | b'-') {
                self.pos += 1;
            }
            if !digits(self) {
                return self.err(self.pos, "expected a digit in the exponent");
            }
            float = true;
        }
        let text = &self.src[start..self.pos];
        if !float && let Ok(n) = text.parse::<u64>() {
            return Ok(Number::U64(n));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Number::F64(f)),
            _ => self.err(start, format!("the number {text} is out of range")),
        }
    }

    /// A quoted string, unescaped: `\n \r \t \" \\ \uXXXX \UXXXXXXXX`, `$${` and `%%{`.
    fn string(&mut self) -> R<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return self.err(start, "unterminated string");
            };
            match b {
                b'"' | b'\\' | b'$' | b'%' | b'\n' => {
                    out.push_str(&self.src[run..self.pos]);
                }
                _ => {
                    self.pos += 1;
                    continue;
                }
            }
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\n' => return self.err(start, "unterminated string"),
                b'\\' => out.push(self.escape()?),
                _ => {
                    // `$${` and `%%{` stand for `${` and `%{`; a lone `${` starts a template.
                    if self.peek_at(1) == b && self.peek_at(2) == b'{' {
                        out.push(b as char);
                        out.push('{');
                        self.pos += 3;
                    } else if self.peek_at(1) == b'{' {
                        return self.err(self.pos, "template interpolation is not allowed");
                    } else {
                        out.push(b as char);
                        self.pos += 1;
                    }
                }
            }
            run = self.pos;
        }
    }

    fn escape(&mut self) -> R<char> {
        let at = self.pos;
        self.pos += 2;
        let hex = |p: &mut Self, n: usize| {
            let digits = p
                .src
                .get(p.pos..p.pos + n)
                .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
            let c = digits
                .and_then(|d| u32::from_str_radix(d, 16).ok())
                .and_then(char::from_u32);
            p.pos += n;
            c.map_or_else(|| p.err(at, "invalid unicode escape"), Ok)
        };
        match self.bytes.get(at + 1) {
            Some(b'n') => Ok('\n'),
            Some(b'r') => Ok('\r'),
            Some(b't') => Ok('\t'),
            Some(b'\\') => Ok('\\'),
            Some(b'"') => Ok('"'),
            Some(b'u') => hex(self, 4),
            Some(b'U') => hex(self, 8),
            _ => self.err(
                at,
                "invalid escape sequence; expected one of \\n \\r \\t \\\" \\\\ \\u \\U",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_blocks_objects_and_comments() {
        let src = "a { b = 1 }\n# note\nc = { \"k\" : [1, -2.5e3], d = null } // end";
        let file = parse(src).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(file.body.structures.len(), 2);
        assert_eq!(file.first_comment, Some(12));
    }

    #[test]
    fn errors_name_the_offset() {
        let at = |src: &str| parse(src).err().map(|e| e.offset);
        assert_eq!(at("a = = 1"), Some(4));
        assert_eq!(at("a = [1 2]"), Some(7));
        assert_eq!(at("a = { b = 1 c = 2 }"), Some(12));
        assert_eq!(at("a = \"x\\q\""), Some(6));
        assert_eq!(at("a = 1 b = 2"), Some(6));
        assert_eq!(at("a {\nb = 1\n"), Some(10));
    }
}
