//! Model -> file bytes, exactly as Segment's Git Sync writes them.
//!
//! Git Sync's files are Terraform's "generate config" output (`internal/genconfig`) behind an
//! `import` block; this module reproduces it: configurable attributes in name order, `null` for
//! unset optional ones, computed attributes left out, nested objects and lists of nested objects
//! written out one attribute per line, JSON attributes (and plain strings that hold a JSON object
//! or array) as `jsonencode(...)` in HCL object syntax with sorted keys, and no trailing newline.
//! The layout itself is [`super::format`]'s job. The renderer never reads files and never
//! guesses: a value that does not fit its attribute's type is an error.

use std::borrow::Cow;

use super::format::{Token, TokenKind as K, format_to_string};
use super::literal::{escape_string, is_identifier, needs_no_escape, number_text};
use crate::model::{AttrType, Attribute, IdentityError, NestingError, Resource, Value};

/// Why a resource cannot be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Deeper than the parser reads back: the file would be refused by `fmt` and by a sync of
    /// its pull request.
    #[error(transparent)]
    TooDeep(#[from] NestingError),
    #[error(
        "{ty}: `{name}` is not a valid Terraform resource name; its import id must be made of letters, digits, `_`, `-` and `:`"
    )]
    InvalidName { ty: String, name: String },
    #[error("{ty} has no attribute `{path}`")]
    UnknownAttribute { ty: String, path: String },
    #[error("{ty}: attribute `{path}` must be {expected}")]
    TypeMismatch {
        ty: String,
        path: String,
        expected: String,
    },
}

/// Renders one resource as its Git Sync file.
pub fn render(resource: &Resource) -> Result<String, RenderError> {
    let mut tokens = Vec::with_capacity(256);
    render_tokens(resource, &mut tokens)?;
    Ok(format_to_string(&mut tokens))
}

struct Renderer<'r, 'a> {
    resource: &'r Resource,
    out: &'a mut Vec<Token<'r>>,
}

fn render_tokens<'r>(resource: &'r Resource, out: &mut Vec<Token<'r>>) -> Result<(), RenderError> {
    resource.check_nesting()?;
    let ty = resource.ty.terraform_type();
    let name = resource.terraform_name()?;
    if !is_identifier(&name) {
        return Err(RenderError::InvalidName {
            ty: ty.to_owned(),
            name,
        });
    }
    let mut r = Renderer { resource, out };

    if resource.new_name.is_none() {
        let import_id = resource.import_id()?;
        r.ident("import");
        r.push(K::OBrace, "{");
        r.newline();
        r.ident("to");
        r.push(K::Equal, "=");
        r.ident(format!("{ty}.{name}"));
        r.newline();
        r.ident("id");
        r.push(K::Equal, "=");
        r.string(Cow::Owned(import_id));
        r.newline();
        r.push(K::CBrace, "}");
        r.newline();
        r.newline();
    }

    r.ident("resource");
    r.string(Cow::Borrowed(ty));
    r.string(Cow::Owned(name));
    r.push(K::OBrace, "{");
    r.newline();
    r.check_known(resource.kind().attributes, resource.attributes.keys(), "")?;
    r.attributes(
        resource.kind().attributes,
        |n| resource.attributes.get(n),
        "",
    )?;
    r.push(K::CBrace, "}");
    Ok(())
}

impl<'r> Renderer<'r, '_> {
    fn push(&mut self, kind: K, text: impl Into<Cow<'r, str>>) {
        self.out.push(Token::new(kind, text));
    }

    fn ident(&mut self, text: impl Into<Cow<'r, str>>) {
        self.push(K::Ident, text);
    }

    fn newline(&mut self) {
        self.push(K::Newline, "\n");
    }

    fn string(&mut self, s: Cow<'r, str>) {
        string_tokens(s, self.out);
    }

    fn mismatch(&self, path: &str, ty: &AttrType) -> RenderError {
        RenderError::TypeMismatch {
            ty: self.resource.ty.to_string(),
            path: path.to_owned(),
            expected: ty.describe(),
        }
    }

    /// Values in the model must all belong to the schema; a stray key is a bug upstream, and
    /// dropping it silently would lose data.
    fn check_known<'k>(
        &self,
        schema: &[Attribute],
        keys: impl Iterator<Item = &'k String>,
        prefix: &str,
    ) -> Result<(), RenderError> {
        for key in keys {
            if !schema.iter().any(|a| a.name == key && a.is_configurable()) {
                return Err(RenderError::UnknownAttribute {
                    ty: self.resource.ty.to_string(),
                    path: format!("{prefix}{key}"),
                });
            }
        }
        Ok(())
    }

    /// genconfig's `writeConfigAttributesFromExisting`.
    fn attributes(
        &mut self,
        schema: &'static [Attribute],
        get: impl Fn(&str) -> Option<&'r Value>,
        prefix: &str,
    ) -> Result<(), RenderError> {
        for attr in schema.iter().filter(|a| a.is_configurable()) {
            let value = get(attr.name).unwrap_or(&Value::Null);
            let path = format!("{prefix}{}", attr.name);
            self.ident(attr.name);
            self.push(K::Equal, "=");
            match attr.ty {
                AttrType::Object(nested) => self.nested_object(nested, value, &path)?,
                AttrType::ObjectList(nested) | AttrType::ObjectSet(nested) => {
                    self.nested_list(nested, value, &path)?
                }
                _ => self.value(&attr.ty, value, &path)?,
            }
            self.newline();
        }
        Ok(())
    }

    fn object_fields(
        &self,
        value: &'r Value,
        nested: &'static [Attribute],
        path: &str,
        ty: &AttrType,
    ) -> Result<&'r std::collections::BTreeMap<String, Value>, RenderError> {
        match value {
            Value::Object(map) => {
                self.check_known(nested, map.keys(), &format!("{path}."))?;
                Ok(map)
            }
            _ => Err(self.mismatch(path, ty)),
        }
    }

    fn nested_object(
        &mut self,
        nested: &'static [Attribute],
        value: &'r Value,
        path: &str,
    ) -> Result<(), RenderError> {
        if value.is_null() {
            self.ident("null");
            return Ok(());
        }
        let map = self.object_fields(value, nested, path, &AttrType::Object(nested))?;
        self.push(K::OBrace, "{");
        self.newline();
        self.attributes(nested, |n| map.get(n), &format!("{path}."))?;
        self.push(K::CBrace, "}");
        Ok(())
    }

    fn nested_list(
        &mut self,
        nested: &'static [Attribute],
        value: &'r Value,
        path: &str,
    ) -> Result<(), RenderError> {
        let items = match value {
            Value::Null => {
                self.ident("null");
                return Ok(());
            }
            Value::List(items) => items,
            _ => return Err(self.mismatch(path, &AttrType::ObjectList(nested))),
        };
        self.push(K::OBrack, "[");
        self.newline();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let map = self.object_fields(item, nested, &item_path, &AttrType::Object(nested))?;
            self.push(K::OBrace, "{");
            self.newline();
            self.attributes(nested, |n| map.get(n), &format!("{item_path}."))?;
            self.push(K::CBrace, "}");
            self.push(K::Comma, ",");
            self.newline();
        }
        self.push(K::CBrack, "]");
        Ok(())
    }

    /// hclwrite's `TokensForValue`, with genconfig's JSON rule for strings.
    fn value(&mut self, ty: &AttrType, value: &'r Value, path: &str) -> Result<(), RenderError> {
        match (ty, value) {
            (_, Value::Null) => self.ident("null"),
            (AttrType::Bool, Value::Bool(b)) => self.ident(if *b { "true" } else { "false" }),
            (AttrType::Number, Value::Number(n)) => self.push(K::NumberLit, number_text(n)),
            (AttrType::String, Value::String(s)) => self.plain_string(s),
            (AttrType::Json, Value::Json(json)) => match json {
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => self.jsonencode(json),
                // A lone JSON primitive stays a string holding its JSON text, as in genconfig.
                primitive => self.string(Cow::Owned(primitive.to_string())),
            },
            (AttrType::List(elem) | AttrType::Set(elem), Value::List(items)) => {
                self.push(K::OBrack, "[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(K::Comma, ",");
                    }
                    self.value(elem, item, &format!("{path}[{i}]"))?;
                }
                self.push(K::CBrack, "]");
            }
            _ => return Err(self.mismatch(path, ty)),
        }
        Ok(())
    }

    /// genconfig writes any string attribute whose text is a JSON object or array as
    /// `jsonencode(...)`, not only the JSON-typed ones; so do we.
    fn plain_string(&mut self, s: &'r str) {
        let looks_like_json = matches!(s.trim_start().as_bytes().first(), Some(b'{' | b'['));
        if looks_like_json
            && let Ok(json @ (serde_json::Value::Array(_) | serde_json::Value::Object(_))) =
                serde_json::from_str::<serde_json::Value>(s)
        {
            self.jsonencode_owned(json);
            return;
        }
        self.string(Cow::Borrowed(s));
    }

    fn jsonencode(&mut self, json: &'r serde_json::Value) {
        self.ident("jsonencode");
        self.push(K::OParen, "(");
        json_tokens(json, self.out);
        self.push(K::CParen, ")");
    }

    /// Rare path (a plain string holding JSON): the parsed value lives only here, so its
    /// tokens are made owned.
    fn jsonencode_owned(&mut self, json: serde_json::Value) {
        let mut scratch = Vec::new();
        json_tokens(&json, &mut scratch);
        self.ident("jsonencode");
        self.push(K::OParen, "(");
        self.out.extend(
            scratch
                .into_iter()
                .map(|t| Token::new(t.kind, Cow::Owned(t.text.into_owned()))),
        );
        self.push(K::CParen, ")");
    }
}

fn string_tokens<'a>(s: Cow<'a, str>, out: &mut Vec<Token<'a>>) {
    out.push(Token::new(K::OQuote, "\""));
    if !s.is_empty() {
        let text = match s {
            Cow::Borrowed(b) if needs_no_escape(b) => Cow::Borrowed(b),
            other => Cow::Owned(escape_string(&other)),
        };
        out.push(Token::new(K::QuotedLit, text));
    }
    out.push(Token::new(K::CQuote, "\""));
}

fn json_tokens<'a>(json: &'a serde_json::Value, out: &mut Vec<Token<'a>>) {
    match json {
        serde_json::Value::Null => out.push(Token::new(K::Ident, "null")),
        serde_json::Value::Bool(b) => {
            out.push(Token::new(K::Ident, if *b { "true" } else { "false" }))
        }
        serde_json::Value::Number(n) => out.push(Token::new(K::NumberLit, number_text(n))),
        serde_json::Value::String(s) => string_tokens(Cow::Borrowed(s), out),
        serde_json::Value::Array(items) => {
            out.push(Token::new(K::OBrack, "["));
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(Token::new(K::Comma, ","));
                }
                json_tokens(item, out);
            }
            out.push(Token::new(K::CBrack, "]"));
        }
        serde_json::Value::Object(map) => {
            out.push(Token::new(K::OBrace, "{"));
            if !map.is_empty() {
                out.push(Token::new(K::Newline, "\n"));
            }
            // serde_json's map is a BTreeMap: keys come out in byte order, as cty sorts them.
            for (key, item) in map {
                key_tokens(key, out);
                json_tokens(item, out);
                out.push(Token::new(K::Newline, "\n"));
            }
            out.push(Token::new(K::CBrace, "}"));
        }
    }
}

/// One value as a file writes it, for showing it beside its attribute (a plan's before and
/// after): the same tokens and layout as [`render`], from the value's JSON form and the type of
/// the attribute it belongs to (`None`: a value inside a JSON document, or of no known
/// attribute). A string is never written as a heredoc: a caller showing a multi-line string
/// shows its lines itself.
pub fn render_value(ty: Option<&AttrType>, value: &serde_json::Value) -> String {
    let mut tokens = Vec::new();
    value_tokens(ty, value, &mut tokens);
    format_to_string(&mut tokens)
}

fn value_tokens<'a>(ty: Option<&AttrType>, value: &'a serde_json::Value, out: &mut Vec<Token<'a>>) {
    use serde_json::Value as J;
    match (ty, value) {
        (_, J::Null) => out.push(Token::new(K::Ident, "null")),
        (Some(AttrType::Json), J::Array(_) | J::Object(_)) => {
            out.push(Token::new(K::Ident, "jsonencode"));
            out.push(Token::new(K::OParen, "("));
            json_tokens(value, out);
            out.push(Token::new(K::CParen, ")"));
        }
        (Some(AttrType::Json), J::Bool(_) | J::Number(_)) => {
            string_tokens(Cow::Owned(value.to_string()), out)
        }
        (Some(AttrType::String), J::String(s)) => {
            let looks_like_json = matches!(s.trim_start().as_bytes().first(), Some(b'{' | b'['));
            match serde_json::from_str::<serde_json::Value>(s) {
                Ok(json @ (J::Array(_) | J::Object(_))) if looks_like_json => {
                    let mut scratch = Vec::new();
                    json_tokens(&json, &mut scratch);
                    out.push(Token::new(K::Ident, "jsonencode"));
                    out.push(Token::new(K::OParen, "("));
                    out.extend(
                        scratch
                            .into_iter()
                            .map(|t| Token::new(t.kind, Cow::Owned(t.text.into_owned()))),
                    );
                    out.push(Token::new(K::CParen, ")"));
                }
                _ => string_tokens(Cow::Borrowed(s), out),
            }
        }
        (Some(AttrType::List(item) | AttrType::Set(item)), J::Array(items)) => {
            out.push(Token::new(K::OBrack, "["));
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(Token::new(K::Comma, ","));
                }
                value_tokens(Some(item), v, out);
            }
            out.push(Token::new(K::CBrack, "]"));
        }
        (Some(AttrType::ObjectList(nested) | AttrType::ObjectSet(nested)), J::Array(items)) => {
            out.push(Token::new(K::OBrack, "["));
            out.push(Token::new(K::Newline, "\n"));
            for v in items {
                nested_object_tokens(nested, v, out);
                out.push(Token::new(K::Comma, ","));
                out.push(Token::new(K::Newline, "\n"));
            }
            out.push(Token::new(K::CBrack, "]"));
        }
        (Some(AttrType::Object(nested)), J::Object(_)) => nested_object_tokens(nested, value, out),
        _ => json_tokens(value, out),
    }
}

/// `key =` of an object's attribute: the key bare where it is an identifier, quoted otherwise.
fn key_tokens<'a>(key: &'a str, out: &mut Vec<Token<'a>>) {
    if is_identifier(key) {
        out.push(Token::new(K::Ident, key));
    } else {
        string_tokens(Cow::Borrowed(key), out);
    }
    out.push(Token::new(K::Equal, "="));
}

/// A nested object as genconfig writes it: one attribute per line, in name order, each with
/// the type its schema gives it.
fn nested_object_tokens<'a>(
    nested: &'static [Attribute],
    value: &'a serde_json::Value,
    out: &mut Vec<Token<'a>>,
) {
    let serde_json::Value::Object(map) = value else {
        json_tokens(value, out);
        return;
    };
    out.push(Token::new(K::OBrace, "{"));
    out.push(Token::new(K::Newline, "\n"));
    for (key, item) in map {
        key_tokens(key, out);
        let ty = nested
            .iter()
            .find(|a| a.name == key.as_str())
            .map(|a| &a.ty);
        value_tokens(ty, item, out);
        out.push(Token::new(K::Newline, "\n"));
    }
    out.push(Token::new(K::CBrace, "}"));
}
