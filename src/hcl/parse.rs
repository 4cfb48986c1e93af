//! File bytes -> model, for both forms Git Sync has written: the 2025 form (JSON attributes as
//! `jsonencode({...})`) and the 2024 form (JSON attributes as escaped JSON strings).
//!
//! HCL syntax is read by [`super::syntax`], which keeps byte spans; this module checks the result
//! against the provider schema and turns it into a [`Resource`]. Files that come from pull
//! requests are untrusted: anything that is not a literal value (a variable, a reference, a
//! function other than `jsonencode`, an interpolation) is refused with its place, never
//! evaluated. A file either parses whole or not at all. Lists and objects nested deeper than
//! [`MAX_NESTING`] are refused, the limit the renderer and the embedded workspace hold too.
//!
//! Files written by every provider release since 0.0.1 are read: an attribute that an older
//! release had and today's schema does not (`labels[].description`, a label's `id`, a source's
//! `schema_settings`), or a deprecated one that no longer reaches the API (a reverse ETL model's
//! `schedule_strategy` and `schedule_config`), is a legacy attribute of the schema
//! ([`ResourceType::legacy`]): its value is checked against its old type and dropped, because it
//! carries no workspace state. An attribute that no release ever had is an error with its place.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use super::error::{ParseError, Problem};
use super::guard;
use super::syntax::{
    self, Attribute as HclAttribute, Block, Body, Expr, ExprKind, Label, Structure,
};
use crate::model::{
    AttrType, Attribute, Attributes, ImportId, MAX_NESTING, Presence, Resource, ResourceType,
    Value, canonical_number, canonicalize_json,
};

/// Parses one resource file. `file` names it in errors (`sources/abc.tf`).
pub fn parse(source: &str, file: &str) -> Result<Resource, ParseError> {
    parse_file(source, file).map(|(resource, _)| resource)
}

/// The top-level attributes a file writes (`x = null` included), in file order: what tells a
/// file written before an attribute existed (it has no line for it) from one that unsets it.
/// `None` when the file does not parse.
pub fn stated_attributes(source: &str, file: &str) -> Option<Vec<String>> {
    Some(
        parse_located(source, file, true)
            .ok()?
            .keys
            .into_iter()
            .map(|(path, _)| path)
            .filter(|path| !path.contains(['.', '[']))
            .collect(),
    )
}

/// Where a file writes the value at `path` (`name`, `labels[0].key`; a path inside a JSON
/// document, `settings.apiKey`, by its attribute): the `(line, column)` of its key. `None` when
/// the file does not parse or does not write it.
pub fn attribute_position(source: &str, file: &str, path: &str) -> Option<(usize, usize)> {
    let located = parse_located(source, file, true).ok()?;
    let top = path.split(['.', '[']).next().unwrap_or(path);
    let at = located
        .keys
        .iter()
        .find(|(p, _)| p == path)
        .or_else(|| located.keys.iter().find(|(p, _)| p == top))?
        .1;
    Some(position(source, at))
}

/// Like [`parse`], and also gives the `(line, column)` of the file's first comment, which the
/// model cannot hold: a caller that rewrites the file would drop it.
pub fn parse_with_comments(
    source: &str,
    file: &str,
) -> Result<(Resource, Option<(usize, usize)>), ParseError> {
    parse_file(source, file).map(|(r, comment)| (r, comment.map(|at| position(source, at))))
}

/// A parsed file with the places of what is in it, for checks made after parsing (the
/// directory a resource belongs in, set limits) that must still name `file:line:column`.
pub(crate) struct Located {
    pub resource: Resource,
    /// Byte offset of the resource block's type label (`"segment_source"`).
    pub type_at: usize,
    /// Byte offset of the key of every attribute, by path as errors name it (`labels`,
    /// `labels[0].key`, `metadata.id`), in file order; empty unless asked for.
    pub keys: Vec<(String, usize)>,
    /// Attributes of older provider releases that were read and dropped, by path and byte
    /// offset of their key; empty unless asked for.
    pub dropped: Vec<(String, usize)>,
    /// Byte offset of the file's first comment, which a rewrite of the file would drop.
    pub comment: Option<usize>,
}

/// Parses like [`parse`], and also gives the places in [`Located`]. With `all` (validation),
/// it also gives the attribute keys' places and goes on after an error in an attribute or a
/// block to report the others too (every wrong attribute, every missing one), in file order;
/// without it, the first error alone, as [`parse`].
pub(crate) fn parse_located(
    source: &str,
    file: &str,
    all: bool,
) -> Result<Located, Vec<ParseError>> {
    let parser = Parser::new(source, file, all);
    let result = parser.run();
    let mut errors = parser.errors.map(RefCell::into_inner).unwrap_or_default();
    match result {
        Ok((resource, comment)) if errors.is_empty() => Ok(Located {
            resource,
            comment,
            type_at: parser.type_at.get(),
            keys: parser.keys.map(RefCell::into_inner).unwrap_or_default(),
            dropped: parser.dropped.map(RefCell::into_inner).unwrap_or_default(),
        }),
        Ok(_) => {
            errors.sort_by_key(|e| (e.line, e.column));
            Err(errors)
        }
        Err(e) => {
            errors.push(e);
            errors.sort_by_key(|e| (e.line, e.column));
            Err(errors)
        }
    }
}

/// An attribute of an older provider release that reading a file dropped: it carries nothing
/// today's model keeps, so rewriting the file (`fmt`) leaves it out. Told, so that nobody
/// wonders where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// `schedule_strategy`, `labels[0].description`.
    pub path: String,
    /// Why dropping it loses nothing (the schema's word).
    pub why: &'static str,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: `{}` is left out, as today's Git Sync leaves it out: {}",
            self.file, self.line, self.column, self.path, self.why
        )
    }
}

/// The older releases' attributes a file holds, which reading it drops; none when the file
/// does not parse (its errors say more).
pub fn dropped_attributes(source: &str, file: &str) -> Vec<Dropped> {
    let Ok(located) = parse_located(source, file, true) else {
        return Vec::new();
    };
    let ty = located.resource.ty;
    located
        .dropped
        .into_iter()
        .map(|(path, at)| {
            let (line, column) = position(source, at);
            let why = ty.legacy(&path).map_or("", |l| l.why);
            Dropped {
                file: file.to_owned(),
                line,
                column,
                path,
                why,
            }
        })
        .collect()
}

/// The one-based `(line, column)` of byte `offset` in `source`, the column in characters.
pub(crate) fn position(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset.min(source.len())).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn parse_file(source: &str, file: &str) -> Result<(Resource, Option<usize>), ParseError> {
    Parser::new(source, file, false).run()
}

struct Parser<'s> {
    source: &'s str,
    file: &'s str,
    /// Where the resource's type label is, once read.
    type_at: Cell<usize>,
    /// The attribute keys' places, when asked for.
    keys: Option<RefCell<Vec<(String, usize)>>>,
    /// The legacy attributes dropped, when asked for (with `keys`).
    dropped: Option<RefCell<Vec<(String, usize)>>>,
    /// When reporting every error: those found so far (parsing goes on after each).
    errors: Option<RefCell<Vec<ParseError>>>,
}

type Result<T, E = ParseError> = std::result::Result<T, E>;

/// What the import block says.
struct Import {
    to: String,
    to_at: usize,
    id: String,
    id_at: usize,
}

impl<'s> Parser<'s> {
    fn new(source: &'s str, file: &'s str, all: bool) -> Parser<'s> {
        Parser {
            source,
            file,
            type_at: Cell::new(0),
            keys: all.then(|| RefCell::new(Vec::new())),
            dropped: all.then(|| RefCell::new(Vec::new())),
            errors: all.then(|| RefCell::new(Vec::new())),
        }
    }

    /// An error in one attribute or block: kept, and parsing goes on, when reporting every
    /// error; otherwise the end of parsing.
    fn keep_going(&self, error: ParseError) -> Result<()> {
        match &self.errors {
            Some(errors) => {
                errors.borrow_mut().push(error);
                Ok(())
            }
            None => Err(error),
        }
    }

    fn error_count(&self) -> usize {
        self.errors.as_ref().map_or(0, |e| e.borrow().len())
    }

    fn run(&self) -> Result<(Resource, Option<usize>)> {
        // Untrusted input: refuse what the parser would only refuse later with a vaguer message.
        guard::check(self.source).map_err(|(offset, problem)| self.error(offset, problem))?;
        let parsed = syntax::parse(self.source)
            .map_err(|e| self.error(e.offset, Problem::Syntax(e.message)))?;
        let resource = self.file(&parsed.body)?;
        Ok((resource, parsed.first_comment))
    }

    fn error(&self, offset: usize, problem: Problem) -> ParseError {
        let (line, column) = self.position(offset);
        ParseError {
            file: self.file.to_owned(),
            line,
            column,
            problem,
        }
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        position(self.source, offset)
    }

    fn line_of(&self, offset: usize) -> usize {
        self.position(offset).0
    }

    fn file(&self, body: &Body) -> Result<Resource> {
        let mut import: Option<Import> = None;
        let mut import_at: Option<usize> = None;
        let mut resource: Option<&Block> = None;
        for structure in &body.structures {
            match structure {
                Structure::Attribute(attr) => {
                    self.keep_going(self.error(
                        attr.span.start,
                        Problem::UnexpectedAttribute {
                            place: "a resource file",
                            name: attr.key.name.to_owned(),
                        },
                    ))?;
                }
                Structure::Block(block) => {
                    let at = block.span.start;
                    match block.ident.name {
                        "import" => {
                            if let Some(first) = import_at {
                                let first_line = self.line_of(first);
                                self.keep_going(
                                    self.error(at, Problem::SecondImport { first_line }),
                                )?;
                                continue;
                            }
                            import_at = Some(at);
                            match self.import(block) {
                                Ok(i) => import = Some(i),
                                Err(e) => self.keep_going(e)?,
                            }
                        }
                        "resource" => {
                            if let Some(first) = resource {
                                let first_line = self.line_of(first.span.start);
                                self.keep_going(
                                    self.error(at, Problem::SecondResource { first_line }),
                                )?;
                                continue;
                            }
                            resource = Some(block);
                        }
                        other => {
                            self.keep_going(
                                self.error(at, Problem::UnexpectedBlock(other.to_owned())),
                            )?;
                        }
                    }
                }
            }
        }
        let Some(block) = resource else {
            return Err(self.error(0, Problem::NoResource));
        };
        self.resource(block, import)
    }

    fn import(&self, block: &Block) -> Result<Import> {
        if let Some(label) = block.labels.first() {
            return Err(self.error(
                label.span.start,
                Problem::Labels("an `import` block takes no labels"),
            ));
        }
        let (mut to, mut id) = (None, None);
        for structure in &block.body.structures {
            let Structure::Attribute(attr) = structure else {
                return Err(self.error(
                    structure.span().start,
                    Problem::UnexpectedBlock("nested".into()),
                ));
            };
            let at = attr.value.span.start;
            match attr.key.name {
                "to" => to = Some((self.import_target(&attr.value)?, at)),
                "id" => match &attr.value.kind {
                    ExprKind::String(s) => id = Some((s.clone(), at)),
                    _ => {
                        self.reject_non_literal(&attr.value)?;
                        return Err(self.wrong_type(&attr.value, "id", &AttrType::String));
                    }
                },
                name => {
                    return Err(self.error(
                        attr.span.start,
                        Problem::UnexpectedAttribute {
                            place: "an `import` block",
                            name: name.to_owned(),
                        },
                    ));
                }
            }
        }
        let missing = |name: &str| {
            self.error(
                block.span.start,
                Problem::MissingRequired {
                    path: name.to_owned(),
                    resource_type: "import".into(),
                },
            )
        };
        let (to, to_at) = to.ok_or_else(|| missing("to"))?;
        let (id, id_at) = id.ok_or_else(|| missing("id"))?;
        Ok(Import {
            to,
            to_at,
            id,
            id_at,
        })
    }

    /// `to = segment_source.id-abc`: a two-step traversal, the one reference allowed.
    fn import_target(&self, expr: &Expr) -> Result<String> {
        if let ExprKind::Traversal { root, ops } = &expr.kind
            && let (ExprKind::Variable(root), [Some(name)]) = (&root.kind, ops.as_slice())
        {
            return Ok(format!("{root}.{name}"));
        }
        Err(self.error(
            expr.span.start,
            Problem::Labels(
                "`to` must name the resource in this file, like `segment_source.id-abc`",
            ),
        ))
    }

    fn resource(&self, block: &Block, import: Option<Import>) -> Result<Resource> {
        let (type_label, name_label): (&Label, &Label) = match block.labels.as_slice() {
            [t, n] => (t, n),
            _ => {
                return Err(self.error(
                    block.span.start,
                    Problem::Labels("a `resource` block takes two labels: its type and its name"),
                ));
            }
        };
        let type_name = type_label.text.as_str();
        self.type_at.set(type_label.span.start);
        let ty = ResourceType::from_terraform_type(type_name).ok_or_else(|| {
            let problem = if type_name.starts_with("segment_") {
                Problem::UnknownResourceType(type_name.to_owned())
            } else {
                Problem::OtherProvider(type_name.to_owned())
            };
            self.error(type_label.span.start, problem)
        })?;
        let name = name_label.text.as_str();

        let errors_before = self.error_count();
        let attributes = self.body(&block.body, ty, ty.kind().attributes, "", block.span.start)?;
        let mut resource = Resource::new(ty, None, attributes);
        if self.error_count() > errors_before {
            // Attributes are missing that the import id is checked against: no more to say.
            return Ok(resource);
        }

        match import {
            None => resource.new_name = Some(name.to_owned()),
            Some(import) => {
                let target = format!("{type_name}.{name}");
                if import.to != target {
                    return Err(self.error(
                        import.to_at,
                        Problem::ImportTarget {
                            to: import.to,
                            resource: target,
                        },
                    ));
                }
                resource.id = self.own_id(&resource, &import.id).ok_or_else(|| {
                    let expected = expected_import_id(&resource);
                    self.error(
                        import.id_at,
                        Problem::ImportId {
                            id: import.id.clone(),
                            expected,
                        },
                    )
                })?;
                // The name is derived from the import id; one that disagrees would be renamed
                // by the next render, the resource in Terraform's state with it. The name
                // Git Sync gives a label gitsync names apart is Git Sync's file, and read.
                if let Ok(expected) = resource.terraform_name()
                    && expected != name
                    && resource.git_sync_terraform_name().as_deref() != Some(name)
                {
                    return Err(self.error(
                        name_label.span.start,
                        Problem::NameMismatch {
                            name: name.to_owned(),
                            id: import.id,
                            expected,
                        },
                    ));
                }
            }
        }
        Ok(resource)
    }

    /// Splits an import id into the resource's own id, checking the parts that repeat
    /// attributes. `None` when they disagree.
    fn own_id(&self, resource: &Resource, import_id: &str) -> Option<Option<String>> {
        let attr = |name: &str| match resource.get(name) {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        };
        match resource.kind().import_id {
            ImportId::OwnId => (!import_id.is_empty()).then(|| Some(import_id.to_owned())),
            ImportId::ParentAndOwnId { parent } => {
                let (p, own) = import_id.split_once(':')?;
                (Some(p) == attr(parent) && !own.is_empty()).then(|| Some(own.to_owned()))
            }
            ImportId::Attributes(names) => {
                let expected: Option<Vec<&str>> = names.iter().map(|n| attr(n)).collect();
                (expected?.join(":") == import_id).then_some(None)
            }
        }
    }

    /// The attributes of a resource or nested object body.
    fn body(
        &self,
        body: &Body,
        ty: ResourceType,
        schema: &'static [Attribute],
        prefix: &str,
        at: usize,
    ) -> Result<Attributes> {
        let mut seen: BTreeMap<String, Value> = BTreeMap::new();
        for structure in &body.structures {
            let attr = match structure {
                Structure::Attribute(attr) => attr,
                Structure::Block(block) => {
                    self.keep_going(self.error(
                        block.span.start,
                        Problem::NestedBlock {
                            resource_type: ty.to_string(),
                            name: block.ident.name.to_owned(),
                        },
                    ))?;
                    // Not also "missing" when it is a required attribute written as a block.
                    seen.insert(block.ident.name.to_owned(), Value::Null);
                    continue;
                }
            };
            let name = attr.key.name.to_owned();
            if seen.contains_key(&name) {
                self.keep_going(self.error(attr.key.span.start, Problem::DuplicateKey(name)))?;
                continue;
            }
            match self.attribute(attr, ty, schema, prefix) {
                Ok((name, value)) => {
                    seen.insert(name, value);
                }
                Err(e) => {
                    self.keep_going(e)?;
                    // Present but wrong: reported once, not also as missing.
                    seen.insert(name, Value::Null);
                }
            }
        }
        self.check_required(&seen, ty, schema, prefix, at)?;
        // The model never holds nulls: unset and `null` are the same thing.
        seen.retain(|_, v| !v.is_null());
        Ok(seen)
    }

    fn attribute(
        &self,
        attr: &HclAttribute,
        ty: ResourceType,
        schema: &'static [Attribute],
        prefix: &str,
    ) -> Result<(String, Value)> {
        let (name, value) = self.field(
            attr.key.name,
            &attr.value,
            attr.key.span.start,
            ty,
            schema,
            prefix,
        )?;
        // Top-level attributes only: nested ones are inside one of these.
        if prefix.is_empty() && value.depth() > MAX_NESTING {
            return Err(self.error(
                attr.value.span.start,
                Problem::TooDeep {
                    path: name,
                    max: MAX_NESTING,
                },
            ));
        }
        Ok((name, value))
    }

    /// One `name = value` of a resource body or of a nested object.
    fn field(
        &self,
        name: &str,
        expr: &Expr,
        key_at: usize,
        ty: ResourceType,
        schema: &'static [Attribute],
        prefix: &str,
    ) -> Result<(String, Value)> {
        let path = format!("{prefix}{name}");
        let Some(spec) = schema.iter().find(|a| a.name == name) else {
            // An attribute an older provider release had (or a deprecated one that carries
            // nothing): its value must still be well formed, then it is dropped (as a null,
            // which the caller removes), so the old form and today's form of a resource are
            // the same model.
            if let Some(legacy) = ty.legacy(&path) {
                self.value(expr, &legacy.ty, ty, &path)?;
                if let Some(dropped) = &self.dropped {
                    dropped.borrow_mut().push((path.clone(), key_at));
                }
                return Ok((name.to_owned(), Value::Null));
            }
            return Err(self.error(
                key_at,
                Problem::UnknownAttribute {
                    path,
                    resource_type: ty.to_string(),
                },
            ));
        };
        if spec.presence == Presence::Computed {
            return Err(self.error(key_at, Problem::ComputedAttribute { path }));
        }
        if let Some(keys) = &self.keys {
            keys.borrow_mut().push((path.clone(), key_at));
        }
        let value = self.value(expr, &spec.ty, ty, &path)?;
        if value.is_null() && spec.presence == Presence::Required {
            return Err(self.error(expr.span.start, Problem::RequiredIsNull { path }));
        }
        Ok((name.to_owned(), value))
    }

    fn check_required(
        &self,
        seen: &Attributes,
        ty: ResourceType,
        schema: &[Attribute],
        prefix: &str,
        at: usize,
    ) -> Result<()> {
        for missing in schema
            .iter()
            .filter(|a| a.presence == Presence::Required && !seen.contains_key(a.name))
        {
            self.keep_going(self.error(
                at,
                Problem::MissingRequired {
                    path: format!("{prefix}{}", missing.name),
                    resource_type: ty.to_string(),
                },
            ))?;
        }
        Ok(())
    }

    /// A value of the given attribute type.
    fn value(
        &self,
        expr: &Expr,
        attr_ty: &AttrType,
        ty: ResourceType,
        path: &str,
    ) -> Result<Value> {
        let expr = unparen(expr);
        self.reject_non_literal(expr)?;
        if matches!(expr.kind, ExprKind::Null) {
            return Ok(Value::Null);
        }
        match (attr_ty, &expr.kind) {
            (AttrType::Bool, ExprKind::Bool(b)) => Ok(Value::Bool(*b)),
            (AttrType::Number, _) => match self.number(expr) {
                Some(n) => Ok(Value::Number(n)),
                None => Err(self.wrong_type(expr, path, attr_ty)),
            },
            (AttrType::String, ExprKind::Call { .. }) => {
                // The inverse of genconfig's quirk: a string attribute holding JSON is written
                // as `jsonencode(...)`.
                let json = self.jsonencode_argument(expr)?;
                Ok(Value::String(json.to_string()))
            }
            (AttrType::String, ExprKind::String(s)) => Ok(Value::String(s.clone())),
            (AttrType::Json, ExprKind::Call { .. }) => {
                Ok(Value::Json(self.jsonencode_argument(expr)?))
            }
            // The 2024 form: the JSON document as an escaped string.
            (AttrType::Json, ExprKind::String(s)) => serde_json::from_str(s)
                .map(|mut json| {
                    canonicalize_json(&mut json);
                    Value::Json(json)
                })
                .map_err(|e| {
                    self.error(
                        expr.span.start,
                        Problem::InvalidJson {
                            path: path.to_owned(),
                            message: e.to_string(),
                        },
                    )
                }),
            (AttrType::List(elem) | AttrType::Set(elem), ExprKind::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.value(item, elem, ty, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>>>()
                .map(Value::List),
            (AttrType::Object(nested), ExprKind::Object(items)) => {
                self.object(expr, items, nested, ty, path)
            }
            (
                AttrType::ObjectList(nested) | AttrType::ObjectSet(nested),
                ExprKind::Array(items),
            ) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = format!("{path}[{i}]");
                    let item = unparen(item);
                    self.reject_non_literal(item)?;
                    match &item.kind {
                        ExprKind::Object(fields) => {
                            self.object(item, fields, nested, ty, &item_path)
                        }
                        _ => Err(self.wrong_type(item, &item_path, &AttrType::Object(nested))),
                    }
                })
                .collect::<Result<Vec<_>>>()
                .map(Value::List),
            _ => Err(self.wrong_type(expr, path, attr_ty)),
        }
    }

    fn object(
        &self,
        expr: &Expr,
        items: &[(Expr, Expr)],
        nested: &'static [Attribute],
        ty: ResourceType,
        path: &str,
    ) -> Result<Value> {
        let prefix = format!("{path}.");
        let mut fields = Attributes::new();
        for (key, value) in items {
            let name = match self.object_key(key) {
                Ok(name) => name,
                Err(e) => {
                    self.keep_going(e)?;
                    continue;
                }
            };
            if fields.contains_key(&name) {
                self.keep_going(self.error(key.span.start, Problem::DuplicateKey(name)))?;
                continue;
            }
            match self.field(&name, value, key.span.start, ty, nested, &prefix) {
                Ok((name, value)) => {
                    fields.insert(name, value);
                }
                Err(e) => {
                    self.keep_going(e)?;
                    fields.insert(name, Value::Null);
                }
            }
        }
        self.check_required(&fields, ty, nested, &prefix, expr.span.start)?;
        fields.retain(|_, v| !v.is_null());
        Ok(Value::Object(fields))
    }

    fn object_key(&self, key: &Expr) -> Result<String> {
        match &key.kind {
            ExprKind::Variable(name) => Ok((*name).to_owned()),
            // HCL reads the keywords as names in key position (`hcl.ExprAsKeyword`), and hclwrite
            // writes the keys "null", "true" and "false" bare.
            ExprKind::Null => Ok("null".to_owned()),
            ExprKind::Bool(b) => Ok(b.to_string()),
            _ => {
                let expr = unparen(key);
                match &expr.kind {
                    ExprKind::String(s) => Ok(s.clone()),
                    _ => {
                        self.reject_non_literal(expr)?;
                        Err(self.error(key.span.start, Problem::InvalidObjectKey))
                    }
                }
            }
        }
    }

    /// The argument of `jsonencode(...)` as JSON; any other call is refused.
    fn jsonencode_argument(&self, expr: &Expr) -> Result<serde_json::Value> {
        let ExprKind::Call { args, .. } = &expr.kind else {
            return Err(self.error(expr.span.start, Problem::Expression("this expression")));
        };
        self.check_function(expr)?;
        match args.as_slice() {
            [arg] => self.json(arg),
            args => Err(self.error(expr.span.start, Problem::JsonencodeArity(args.len()))),
        }
    }

    fn json(&self, expr: &Expr) -> Result<serde_json::Value> {
        let expr = unparen(expr);
        self.reject_non_literal(expr)?;
        if let Some(n) = self.number(expr) {
            return Ok(serde_json::Value::Number(n));
        }
        match &expr.kind {
            ExprKind::Null => Ok(serde_json::Value::Null),
            ExprKind::Bool(b) => Ok(serde_json::Value::Bool(*b)),
            ExprKind::String(s) => Ok(serde_json::Value::String(s.clone())),
            ExprKind::Array(items) => items
                .iter()
                .map(|i| self.json(i))
                .collect::<Result<_>>()
                .map(serde_json::Value::Array),
            ExprKind::Object(items) => {
                let mut map = serde_json::Map::new();
                for (key, value) in items {
                    let name = self.object_key(key)?;
                    if map.contains_key(&name) {
                        return Err(self.error(key.span.start, Problem::DuplicateKey(name)));
                    }
                    map.insert(name, self.json(value)?);
                }
                Ok(serde_json::Value::Object(map))
            }
            ExprKind::Call { .. } => self
                .jsonencode_argument(expr)
                .map(|inner| serde_json::Value::String(inner.to_string())),
            _ => Err(self.error(expr.span.start, Problem::Expression("this expression"))),
        }
    }

    /// A number literal, or a negated one.
    fn number(&self, expr: &Expr) -> Option<serde_json::Number> {
        match &unparen(expr).kind {
            ExprKind::Number(n) => to_json_number(*n, false),
            ExprKind::Neg(inner) => match &unparen(inner).kind {
                ExprKind::Number(n) => to_json_number(*n, true),
                _ => None,
            },
            _ => None,
        }
    }

    fn check_function(&self, expr: &Expr) -> Result<()> {
        if let ExprKind::Call { name, .. } = &expr.kind
            && name.as_slice() != ["jsonencode"]
        {
            return Err(self.error(expr.span.start, Problem::Function(name.join("::"))));
        }
        Ok(())
    }

    /// Refuses everything that would need evaluating: names, references and calls other than
    /// `jsonencode` (operators, conditionals, `for` expressions and interpolations never get
    /// past [`super::syntax`]).
    fn reject_non_literal(&self, expr: &Expr) -> Result<()> {
        let problem = match &expr.kind {
            ExprKind::Variable(v) => Problem::Reference((*v).to_owned()),
            ExprKind::Traversal { root, .. } => {
                let text = self.source_text(expr).to_owned();
                match &root.kind {
                    ExprKind::Variable("var") => Problem::Variable(text),
                    ExprKind::Variable("local") => Problem::LocalValue(text),
                    _ => Problem::Reference(text),
                }
            }
            ExprKind::Call { .. } => return self.check_function(expr),
            _ => return Ok(()),
        };
        Err(self.error(expr.span.start, problem))
    }

    fn source_text(&self, expr: &Expr) -> &str {
        self.source
            .get(expr.span.clone())
            .unwrap_or_default()
            .trim()
    }

    fn wrong_type(&self, expr: &Expr, path: &str, expected: &AttrType) -> ParseError {
        self.error(
            expr.span.start,
            Problem::WrongType {
                path: path.to_owned(),
                expected: expected.describe(),
                found: describe_expr(expr),
            },
        )
    }
}

fn unparen<'e, 's>(mut expr: &'e Expr<'s>) -> &'e Expr<'s> {
    while let ExprKind::Paren(inner) = &expr.kind {
        expr = inner;
    }
    expr
}

fn to_json_number(n: syntax::Number, negate: bool) -> Option<serde_json::Number> {
    let f = match n {
        syntax::Number::U64(u) if !negate => return Some(u.into()),
        syntax::Number::U64(u) => match i64::try_from(u) {
            Ok(i) => return Some((-i).into()),
            Err(_) => u as f64,
        },
        syntax::Number::F64(f) => f,
    };
    serde_json::Number::from_f64(if negate { -f } else { f }).map(canonical_number)
}

fn describe_expr(expr: &Expr) -> &'static str {
    match &expr.kind {
        ExprKind::Null => "null",
        ExprKind::Bool(_) => "a bool",
        ExprKind::Number(_) | ExprKind::Neg(_) => "a number",
        ExprKind::String(_) => "a string",
        ExprKind::Array(_) => "a list",
        ExprKind::Object(_) => "an object",
        ExprKind::Call { .. } => "a function call",
        _ => "an expression",
    }
}

/// What the import id should have been, for the error message.
fn expected_import_id(resource: &Resource) -> String {
    let placeholder = |name: &str| match resource.get(name) {
        Value::String(s) => s.clone(),
        _ => format!("<{name}>"),
    };
    match resource.kind().import_id {
        ImportId::OwnId => "<id>".to_owned(),
        ImportId::ParentAndOwnId { parent } => format!("{}:<id>", placeholder(parent)),
        ImportId::Attributes(names) => names
            .iter()
            .map(|n| placeholder(n))
            .collect::<Vec<_>>()
            .join(":"),
    }
}
