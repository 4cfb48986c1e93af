//! File bytes -> model, for both forms Git Sync has written: the 2025 form (JSON attributes as
//! `jsonencode({...})`) and the 2024 form (JSON attributes as escaped JSON strings).
//!
//! HCL syntax is read by `hcl-edit`, which keeps byte spans; this module checks the result
//! against the provider schema and turns it into a [`Resource`]. Files that come from pull
//! requests are untrusted: anything that is not a literal value (a variable, a reference, a
//! function other than `jsonencode`, an interpolation) is refused with its place, never
//! evaluated. A file either parses whole or not at all.

use std::collections::BTreeMap;
use std::ops::Range;

use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator, UnaryOperator};
use hcl_edit::structure::{Attribute as HclAttribute, Block, BlockLabel, Body, Structure};
use hcl_edit::template::Element;
use hcl_edit::{Number, Span};

use super::error::{ParseError, Problem};
use super::guard;
use crate::model::{
    AttrType, Attribute, Attributes, ImportId, Presence, Resource, ResourceType, Value,
    canonical_number, canonicalize_json,
};

/// Parses one resource file. `file` names it in errors (`sources/abc.tf`).
pub fn parse(source: &str, file: &str) -> Result<Resource, ParseError> {
    let parser = Parser { source, file };
    // Untrusted input: refuse what would make the HCL parser slow before it runs.
    guard::check(source)
        .map_err(|(offset, problem)| parser.error(Some(offset..offset), problem))?;
    let body = hcl_edit::parser::parse_body(source).map_err(|e| ParseError {
        file: file.to_owned(),
        line: e.location().line(),
        column: e.location().column(),
        problem: Problem::Syntax(e.message().to_owned()),
    })?;
    parser.file(&body)
}

struct Parser<'s> {
    source: &'s str,
    file: &'s str,
}

type Result<T, E = ParseError> = std::result::Result<T, E>;

/// What the import block says.
struct Import {
    to: String,
    to_span: Option<Range<usize>>,
    id: String,
    id_span: Option<Range<usize>>,
}

impl Parser<'_> {
    fn error(&self, span: Option<Range<usize>>, problem: Problem) -> ParseError {
        let (line, column) = self.position(span.map_or(0, |s| s.start));
        ParseError {
            file: self.file.to_owned(),
            line,
            column,
            problem,
        }
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    fn line_of(&self, span: Option<Range<usize>>) -> usize {
        self.position(span.map_or(0, |s| s.start)).0
    }

    fn file(&self, body: &Body) -> Result<Resource> {
        let mut import: Option<(Import, Option<Range<usize>>)> = None;
        let mut resource: Option<&Block> = None;
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    return Err(self.error(
                        attr.span(),
                        Problem::UnexpectedAttribute {
                            place: "a resource file",
                            name: attr.key.to_string(),
                        },
                    ));
                }
                Structure::Block(block) => {
                    match block.ident.as_str() {
                        "import" => {
                            if let Some((_, first)) = &import {
                                let first_line = self.line_of(first.clone());
                                return Err(
                                    self.error(block.span(), Problem::SecondImport { first_line })
                                );
                            }
                            import = Some((self.import(block)?, block.span()));
                        }
                        "resource" => {
                            if let Some(first) = resource {
                                let first_line = self.line_of(first.span());
                                return Err(self
                                    .error(block.span(), Problem::SecondResource { first_line }));
                            }
                            resource = Some(block);
                        }
                        other => {
                            return Err(self
                                .error(block.span(), Problem::UnexpectedBlock(other.to_owned())));
                        }
                    }
                }
            }
        }
        let Some(block) = resource else {
            return Err(self.error(None, Problem::NoResource));
        };
        self.resource(block, import.map(|(i, _)| i))
    }

    fn import(&self, block: &Block) -> Result<Import> {
        if let Some(label) = block.labels.first() {
            return Err(self.error(
                label_span(label),
                Problem::Labels("an `import` block takes no labels"),
            ));
        }
        let (mut to, mut id) = (None, None);
        for structure in block.body.iter() {
            let Structure::Attribute(attr) = structure else {
                return Err(self.error(structure.span(), Problem::UnexpectedBlock("nested".into())));
            };
            match attr.key.as_str() {
                "to" => to = Some((self.import_target(&attr.value)?, attr.value.span())),
                "id" => match &attr.value {
                    Expression::String(s) => id = Some((s.value().clone(), attr.value.span())),
                    other => {
                        self.reject_non_literal(other)?;
                        return Err(self.wrong_type(other, "id", &AttrType::String));
                    }
                },
                name => {
                    return Err(self.error(
                        attr.span(),
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
                block.span(),
                Problem::MissingRequired {
                    path: name.to_owned(),
                    resource_type: "import".into(),
                },
            )
        };
        let (to, to_span) = to.ok_or_else(|| missing("to"))?;
        let (id, id_span) = id.ok_or_else(|| missing("id"))?;
        Ok(Import {
            to,
            to_span,
            id,
            id_span,
        })
    }

    /// `to = segment_source.id-abc`: a two-step traversal, the one reference allowed.
    fn import_target(&self, expr: &Expression) -> Result<String> {
        if let Expression::Traversal(t) = expr
            && let (Expression::Variable(root), [op]) = (&t.expr, t.operators.as_slice())
            && let TraversalOperator::GetAttr(name) = op.value()
        {
            return Ok(format!("{}.{}", root.as_str(), name.as_str()));
        }
        Err(self.error(
            expr.span(),
            Problem::Labels(
                "`to` must name the resource in this file, like `segment_source.id-abc`",
            ),
        ))
    }

    fn resource(&self, block: &Block, import: Option<Import>) -> Result<Resource> {
        let (type_label, name_label) = match block.labels.as_slice() {
            [t, n] => (t, n),
            _ => {
                return Err(self.error(
                    block.span(),
                    Problem::Labels("a `resource` block takes two labels: its type and its name"),
                ));
            }
        };
        let type_name = type_label.as_str();
        let ty = ResourceType::from_terraform_type(type_name).ok_or_else(|| {
            let problem = if type_name.starts_with("segment_") {
                Problem::UnknownResourceType(type_name.to_owned())
            } else {
                Problem::OtherProvider(type_name.to_owned())
            };
            self.error(label_span(type_label), problem)
        })?;
        let name = name_label.as_str();

        let attributes = self.body(&block.body, ty, ty.kind().attributes, "", block.span())?;
        let mut resource = Resource::new(ty, None, attributes);

        match import {
            None => resource.new_name = Some(name.to_owned()),
            Some(import) => {
                let target = format!("{type_name}.{name}");
                if import.to != target {
                    return Err(self.error(
                        import.to_span,
                        Problem::ImportTarget {
                            to: import.to,
                            resource: target,
                        },
                    ));
                }
                resource.id = self.own_id(&resource, &import.id).ok_or_else(|| {
                    let expected = expected_import_id(&resource);
                    self.error(
                        import.id_span.clone(),
                        Problem::ImportId {
                            id: import.id.clone(),
                            expected,
                        },
                    )
                })?;
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
        span: Option<Range<usize>>,
    ) -> Result<Attributes> {
        let mut seen: BTreeMap<String, Value> = BTreeMap::new();
        for structure in body.iter() {
            let attr = match structure {
                Structure::Attribute(attr) => attr,
                Structure::Block(block) => {
                    return Err(self.error(
                        block.span(),
                        Problem::NestedBlock {
                            resource_type: ty.to_string(),
                            name: block.ident.as_str().to_owned(),
                        },
                    ));
                }
            };
            let (name, value) = self.attribute(attr, ty, schema, prefix)?;
            if seen.contains_key(&name) {
                return Err(self.error(attr.key.span(), Problem::DuplicateKey(name)));
            }
            seen.insert(name, value);
        }
        self.check_required(&seen, ty, schema, prefix, span)?;
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
        let name = attr.key.as_str();
        self.field(name, &attr.value, attr.key.span(), ty, schema, prefix)
    }

    /// One `name = value` of a resource body or of a nested object.
    fn field(
        &self,
        name: &str,
        expr: &Expression,
        key_span: Option<Range<usize>>,
        ty: ResourceType,
        schema: &'static [Attribute],
        prefix: &str,
    ) -> Result<(String, Value)> {
        let path = format!("{prefix}{name}");
        let Some(spec) = schema.iter().find(|a| a.name == name) else {
            return Err(self.error(
                key_span,
                Problem::UnknownAttribute {
                    path,
                    resource_type: ty.to_string(),
                },
            ));
        };
        if spec.presence == Presence::Computed {
            return Err(self.error(key_span, Problem::ComputedAttribute { path }));
        }
        let value = self.value(expr, &spec.ty, ty, &path)?;
        if value.is_null() && spec.presence == Presence::Required {
            return Err(self.error(expr.span(), Problem::RequiredIsNull { path }));
        }
        Ok((name.to_owned(), value))
    }

    fn check_required(
        &self,
        seen: &Attributes,
        ty: ResourceType,
        schema: &[Attribute],
        prefix: &str,
        span: Option<Range<usize>>,
    ) -> Result<()> {
        match schema
            .iter()
            .find(|a| a.presence == Presence::Required && !seen.contains_key(a.name))
        {
            Some(missing) => Err(self.error(
                span,
                Problem::MissingRequired {
                    path: format!("{prefix}{}", missing.name),
                    resource_type: ty.to_string(),
                },
            )),
            None => Ok(()),
        }
    }

    /// A value of the given attribute type.
    fn value(
        &self,
        expr: &Expression,
        attr_ty: &AttrType,
        ty: ResourceType,
        path: &str,
    ) -> Result<Value> {
        let expr = unparen(expr);
        self.reject_non_literal(expr)?;
        if matches!(expr, Expression::Null(_)) {
            return Ok(Value::Null);
        }
        match (attr_ty, expr) {
            (AttrType::Bool, Expression::Bool(b)) => Ok(Value::Bool(*b.value())),
            (AttrType::Number, _) => match self.number(expr) {
                Some(n) => Ok(Value::Number(n)),
                None => Err(self.wrong_type(expr, path, attr_ty)),
            },
            (AttrType::String, Expression::FuncCall(_)) => {
                // The inverse of genconfig's quirk: a string attribute holding JSON is written
                // as `jsonencode(...)`.
                let json = self.jsonencode_argument(expr)?;
                Ok(Value::String(json.to_string()))
            }
            (AttrType::String, _) => match self.literal_string(expr)? {
                Some(s) => Ok(Value::String(s)),
                None => Err(self.wrong_type(expr, path, attr_ty)),
            },
            (AttrType::Json, Expression::FuncCall(_)) => {
                Ok(Value::Json(self.jsonencode_argument(expr)?))
            }
            (AttrType::Json, _) => match self.literal_string(expr)? {
                // The 2024 form: the JSON document as an escaped string.
                Some(s) => serde_json::from_str(&s)
                    .map(|mut json| {
                        canonicalize_json(&mut json);
                        Value::Json(json)
                    })
                    .map_err(|e| {
                        self.error(
                            expr.span(),
                            Problem::InvalidJson {
                                path: path.to_owned(),
                                message: e.to_string(),
                            },
                        )
                    }),
                None => Err(self.wrong_type(expr, path, attr_ty)),
            },
            (AttrType::List(elem) | AttrType::Set(elem), Expression::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.value(item, elem, ty, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>>>()
                .map(Value::List),
            (AttrType::Object(nested), Expression::Object(_)) => {
                self.object(expr, nested, ty, path)
            }
            (
                AttrType::ObjectList(nested) | AttrType::ObjectSet(nested),
                Expression::Array(items),
            ) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = format!("{path}[{i}]");
                    let item = unparen(item);
                    self.reject_non_literal(item)?;
                    match item {
                        Expression::Object(_) => self.object(item, nested, ty, &item_path),
                        other => Err(self.wrong_type(other, &item_path, &AttrType::Object(nested))),
                    }
                })
                .collect::<Result<Vec<_>>>()
                .map(Value::List),
            _ => Err(self.wrong_type(expr, path, attr_ty)),
        }
    }

    fn object(
        &self,
        expr: &Expression,
        nested: &'static [Attribute],
        ty: ResourceType,
        path: &str,
    ) -> Result<Value> {
        let Expression::Object(object) = expr else {
            return Err(self.wrong_type(expr, path, &AttrType::Object(nested)));
        };
        let prefix = format!("{path}.");
        let mut fields = Attributes::new();
        for (key, value) in object.iter() {
            let name = self.object_key(key)?;
            if fields.contains_key(&name) {
                return Err(self.error(key.span(), Problem::DuplicateKey(name)));
            }
            let (name, value) = self.field(&name, value.expr(), key.span(), ty, nested, &prefix)?;
            fields.insert(name, value);
        }
        self.check_required(&fields, ty, nested, &prefix, expr.span())?;
        fields.retain(|_, v| !v.is_null());
        Ok(Value::Object(fields))
    }

    fn object_key(&self, key: &ObjectKey) -> Result<String> {
        match key {
            ObjectKey::Ident(ident) => Ok(ident.as_str().to_owned()),
            // HCL reads the keywords as names in key position (`hcl.ExprAsKeyword`), and hclwrite
            // writes the keys "null", "true" and "false" bare.
            ObjectKey::Expression(Expression::Null(_)) => Ok("null".to_owned()),
            ObjectKey::Expression(Expression::Bool(b)) => Ok(b.value().to_string()),
            ObjectKey::Expression(expr) => {
                let expr = unparen(expr);
                match self.literal_string(expr)? {
                    Some(s) => Ok(s),
                    None => {
                        self.reject_non_literal(expr)?;
                        Err(self.error(key.span(), Problem::InvalidObjectKey))
                    }
                }
            }
        }
    }

    /// The argument of `jsonencode(...)` as JSON; any other call is refused.
    fn jsonencode_argument(&self, expr: &Expression) -> Result<serde_json::Value> {
        let Expression::FuncCall(call) = expr else {
            return Err(self.error(expr.span(), Problem::Expression("this expression")));
        };
        self.check_function(expr)?;
        match call.args.iter().collect::<Vec<_>>().as_slice() {
            [arg] if !call.args.expand_final() => self.json(arg),
            args => Err(self.error(expr.span(), Problem::JsonencodeArity(args.len()))),
        }
    }

    fn json(&self, expr: &Expression) -> Result<serde_json::Value> {
        let expr = unparen(expr);
        self.reject_non_literal(expr)?;
        if let Some(n) = self.number(expr) {
            return Ok(serde_json::Value::Number(n));
        }
        match expr {
            Expression::Null(_) => Ok(serde_json::Value::Null),
            Expression::Bool(b) => Ok(serde_json::Value::Bool(*b.value())),
            Expression::Array(items) => items
                .iter()
                .map(|i| self.json(i))
                .collect::<Result<_>>()
                .map(serde_json::Value::Array),
            Expression::Object(object) => {
                let mut map = serde_json::Map::new();
                for (key, value) in object.iter() {
                    let name = self.object_key(key)?;
                    if map.contains_key(&name) {
                        return Err(self.error(key.span(), Problem::DuplicateKey(name)));
                    }
                    map.insert(name, self.json(value.expr())?);
                }
                Ok(serde_json::Value::Object(map))
            }
            Expression::FuncCall(_) => self
                .jsonencode_argument(expr)
                .map(|inner| serde_json::Value::String(inner.to_string())),
            _ => match self.literal_string(expr)? {
                Some(s) => Ok(serde_json::Value::String(s)),
                None => Err(self.error(expr.span(), Problem::Expression("this expression"))),
            },
        }
    }

    /// A number literal, or a negated one.
    fn number(&self, expr: &Expression) -> Option<serde_json::Number> {
        match unparen(expr) {
            Expression::Number(n) => to_json_number(n.value(), false),
            Expression::UnaryOp(op) if *op.operator.value() == UnaryOperator::Neg => {
                match unparen(&op.expr) {
                    Expression::Number(n) => to_json_number(n.value(), true),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A quoted string without interpolation; `Ok(None)` for anything that is not a
    /// string at all.
    fn literal_string(&self, expr: &Expression) -> Result<Option<String>> {
        match expr {
            Expression::String(s) => Ok(Some(s.value().clone())),
            Expression::StringTemplate(template) => {
                self.template_literal(template.iter(), expr).map(Some)
            }
            // Refused by the guard before parsing; kept out here too.
            Expression::HeredocTemplate(_) => Err(self.error(expr.span(), Problem::Heredoc)),
            _ => Ok(None),
        }
    }

    fn template_literal<'e>(
        &self,
        elements: impl Iterator<Item = &'e Element>,
        expr: &Expression,
    ) -> Result<String> {
        let mut out = String::new();
        for element in elements {
            match element {
                Element::Literal(lit) => out.push_str(lit.value()),
                Element::Interpolation(_) | Element::Directive(_) => {
                    return Err(self.error(expr.span(), Problem::Interpolation));
                }
            }
        }
        Ok(out)
    }

    fn check_function(&self, expr: &Expression) -> Result<()> {
        if let Expression::FuncCall(call) = expr {
            let name = &call.name;
            if name.is_namespaced() || name.name.as_str() != "jsonencode" {
                let mut full: Vec<&str> = name.namespace.iter().map(|n| n.as_str()).collect();
                full.push(name.name.as_str());
                return Err(self.error(expr.span(), Problem::Function(full.join("::"))));
            }
        }
        Ok(())
    }

    /// Refuses everything that would need evaluating: names, references, calls other than
    /// `jsonencode`, operators, conditionals, `for` expressions and interpolations.
    fn reject_non_literal(&self, expr: &Expression) -> Result<()> {
        let problem = match expr {
            Expression::Variable(v) => Problem::Reference(v.as_str().to_owned()),
            Expression::Traversal(t) => {
                let text = self.source_text(expr.span()).unwrap_or_default();
                match &t.expr {
                    Expression::Variable(root) if root.as_str() == "var" => Problem::Variable(text),
                    Expression::Variable(root) if root.as_str() == "local" => {
                        Problem::LocalValue(text)
                    }
                    _ => Problem::Reference(text),
                }
            }
            Expression::FuncCall(_) => return self.check_function(expr),
            Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
                return self.literal_string(expr).map(|_| ());
            }
            Expression::Conditional(_) => Problem::Expression("a conditional expression"),
            Expression::BinaryOp(_) => Problem::Expression("an operator expression"),
            Expression::UnaryOp(_) if self.number(expr).is_some() => return Ok(()),
            Expression::UnaryOp(_) => Problem::Expression("an operator expression"),
            Expression::ForExpr(_) => Problem::Expression("a `for` expression"),
            _ => return Ok(()),
        };
        Err(self.error(expr.span(), problem))
    }

    fn source_text(&self, span: Option<Range<usize>>) -> Option<String> {
        span.and_then(|s| self.source.get(s))
            .map(|s| s.trim().to_owned())
    }

    fn wrong_type(&self, expr: &Expression, path: &str, expected: &AttrType) -> ParseError {
        self.error(
            expr.span(),
            Problem::WrongType {
                path: path.to_owned(),
                expected: expected.describe(),
                found: describe_expr(expr),
            },
        )
    }
}

fn unparen(mut expr: &Expression) -> &Expression {
    while let Expression::Parenthesis(p) = expr {
        expr = p.inner();
    }
    expr
}

fn label_span(label: &BlockLabel) -> Option<Range<usize>> {
    match label {
        BlockLabel::Ident(i) => i.span(),
        BlockLabel::String(s) => s.span(),
    }
}

fn to_json_number(n: &Number, negate: bool) -> Option<serde_json::Number> {
    if let Some(u) = n.as_u64() {
        if !negate {
            return Some(u.into());
        }
        if let Ok(i) = i64::try_from(u) {
            return Some((-i).into());
        }
    } else if let Some(i) = n.as_i64() {
        return Some((if negate { -i } else { i }).into());
    }
    let f = n.as_f64()?;
    serde_json::Number::from_f64(if negate { -f } else { f }).map(canonical_number)
}

fn describe_expr(expr: &Expression) -> &'static str {
    match expr {
        Expression::Null(_) => "null",
        Expression::Bool(_) => "a bool",
        Expression::Number(_) | Expression::UnaryOp(_) => "a number",
        Expression::String(_) | Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            "a string"
        }
        Expression::Array(_) => "a list",
        Expression::Object(_) => "an object",
        Expression::FuncCall(_) => "a function call",
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
