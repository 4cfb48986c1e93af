//! Checks HTTP exchanges against an OpenAPI 3.0 description: the operation exists, its required
//! parameters are there and every query parameter is one it declares with a value its schema
//! accepts, the request body fits `requestBody`, the status is declared, and the response body
//! fits the response's schema. One copy for every description the tests hold (Segment's, in
//! `conformance.rs`; GitHub's, in `util::github`).
//!
//! OpenAPI 3.0 is not JSON Schema: [`to_json_schema`] turns its `nullable: true` into JSON
//! Schema's `null` type (adding `null` to an `enum` too: GitHub's description marks
//! `check-run.conclusion` nullable with an enum that lacks `null`, and its own in-progress
//! example carries `null` — github.md §8.12). Schemas are validated as draft 4 (OpenAPI 3.0's
//! base) with the description's `components` beside them, so every `$ref` resolves locally.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value as Json, json};

/// Turns OpenAPI 3.0's `nullable: true` into JSON Schema: `type: [T, "null"]` (and `null` in
/// `enum`), or `anyOf: [schema, {type: null}]` around a `$ref`/composition.
pub fn to_json_schema(v: &mut Json) {
    match v {
        Json::Object(map) => {
            if map.remove("nullable") == Some(Json::Bool(true)) {
                if let Some(Json::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([t, "null"]));
                    if let Some(Json::Array(values)) = map.get_mut("enum")
                        && !values.contains(&Json::Null)
                    {
                        values.push(Json::Null);
                    }
                } else if map.contains_key("$ref")
                    || map.contains_key("allOf")
                    || map.contains_key("oneOf")
                    || map.contains_key("anyOf")
                {
                    let inner = Json::Object(std::mem::take(map));
                    map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                }
            }
            map.values_mut().for_each(to_json_schema);
        }
        Json::Array(items) => items.iter_mut().for_each(to_json_schema),
        _ => {}
    }
}

/// The errors of validating `instance` against `schema`, a schema of `spec` (its `$ref`s
/// pointing into `spec`'s `components`).
pub fn schema_violations(spec: &Json, schema: &Json, instance: &Json) -> Vec<String> {
    let root = json!({ "allOf": [schema], "components": spec["components"] });
    match jsonschema::draft4::new(&root) {
        Ok(validator) => validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect(),
        Err(e) => vec![format!("the schema does not compile: {e}")],
    }
}

/// The spec's path template an actual path matches (`/sources/abc/labels` ->
/// `/sources/{sourceId}/labels`), literal segments preferred over parameters. A parameter the
/// operation marks `x-multi-segment` (GitHub's `{ref}`) may span several segments.
pub fn template_of(spec: &Json, method: &str, path: &str) -> Option<String> {
    let actual: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, String)> = None;
    for (template, ops) in spec["paths"].as_object()? {
        let Some(op) = ops.get(method) else {
            continue;
        };
        let multi = multi_segment_params(spec, ops, op);
        let parts: Vec<&str> = template.split('/').collect();
        if let Some(literal) = fits(&parts, &actual, &multi)
            && best.as_ref().is_none_or(|(n, _)| literal > *n)
        {
            best = Some((literal, template.clone()));
        }
    }
    best.map(|(_, t)| t)
}

/// How many literal segments match, if `parts` matches `actual`.
fn fits(parts: &[&str], actual: &[&str], multi: &[String]) -> Option<usize> {
    match (parts.split_first(), actual.split_first()) {
        (None, None) => Some(0),
        (Some((t, rest)), Some((a, actual_rest))) => {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                if a.is_empty() {
                    return None;
                }
                if multi.iter().any(|m| m == name) {
                    // Take as many segments as leave the rest matching.
                    for take in (1..=actual.len()).rev() {
                        if let Some(n) = fits(rest, &actual[take..], multi) {
                            return Some(n);
                        }
                    }
                    None
                } else {
                    fits(rest, actual_rest, multi)
                }
            } else if t == a {
                fits(rest, actual_rest, multi).map(|n| n + 1)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A query string's component, `+` and `%XX` decoded.
fn percent_decoded(s: &str) -> String {
    gitsync::url::percent_decode(&s.replace('+', " "))
}

/// `$ref` -> the object it names in `spec`.
fn deref<'a>(spec: &'a Json, v: &'a Json) -> &'a Json {
    match v["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => spec.pointer(pointer).unwrap_or(&Json::Null),
        None => v,
    }
}

fn parameters<'a>(spec: &'a Json, path_item: &'a Json, op: &'a Json) -> Vec<&'a Json> {
    let mut all: Vec<&Json> = Vec::new();
    for list in [&path_item["parameters"], &op["parameters"]] {
        for p in list.as_array().into_iter().flatten() {
            all.push(deref(spec, p));
        }
    }
    all
}

fn multi_segment_params(spec: &Json, path_item: &Json, op: &Json) -> Vec<String> {
    parameters(spec, path_item, op)
        .into_iter()
        .filter(|p| p["x-multi-segment"] == json!(true))
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

/// Statuses GitHub answers on any operation without its description declaring them there:
/// 400 (a body that is not JSON), 401 (bad or expired credentials), 403 (no permission, or the
/// primary rate limit), 404 (no such repository, or no access to it), 429 (a secondary rate
/// limit), and server errors. Their bodies are still checked against `basic-error`.
pub const UNDECLARED_ANYWHERE: &[u16] = &[400, 401, 403, 404, 429, 500, 502, 503];

/// Answers GitHub gives on one operation that its description does not declare there (checked
/// against `basic-error` too): `repos/create-commit-status` declares only 201, but GitHub
/// answers 422 `No commit found for SHA: ...` for a commit it does not have.
pub const KNOWN_OMISSIONS: &[(&str, &str, u16)] =
    &[("POST", "/repos/{owner}/{repo}/statuses/{sha}", 422)];

/// One exchange to check. `path` is relative to the description's server (`/repos/o/r`),
/// `query` the raw query string.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub request_body: Option<Json>,
    pub status: u16,
    pub response_body: Option<Json>,
}

/// A description, with its validators compiled once per schema.
pub struct OpenApi {
    pub spec: Json,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl OpenApi {
    /// Reads a JSON description and makes its schemas JSON Schema ([`to_json_schema`]).
    pub fn load(path: &std::path::Path) -> OpenApi {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut spec: Json =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        to_json_schema(&mut spec);
        OpenApi {
            spec,
            cache: Mutex::default(),
        }
    }

    /// GitHub's description: the subset of operations gitsync uses
    /// (`tests/fixtures/forge/github-subset.openapi.json`).
    pub fn github() -> OpenApi {
        OpenApi::load(&super::fixtures_root().join("forge/github-subset.openapi.json"))
    }

    /// Validates `instance` against the schema at `pointer` (a JSON pointer into the spec).
    fn validate(&self, pointer: &str, instance: &Json) -> Vec<String> {
        let validator = {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(v) = cache.get(pointer) {
                v.clone()
            } else {
                let Some(schema) = self.spec.pointer(pointer) else {
                    return vec![format!("the description has no schema at {pointer}")];
                };
                let root = json!({ "allOf": [schema], "components": self.spec["components"] });
                match jsonschema::draft4::new(&root) {
                    Ok(v) => {
                        let v = Arc::new(v);
                        cache.insert(pointer.to_owned(), v.clone());
                        v
                    }
                    Err(e) => {
                        return vec![format!("the schema at {pointer} does not compile: {e}")];
                    }
                }
            }
        };
        validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// What is wrong with a webhook payload by the description's `x-webhooks` entry `key`
    /// (`pull-request-opened`, `issue-comment-created`, ...).
    pub fn check_webhook(&self, key: &str, body: &Json) -> Vec<String> {
        let pointer =
            format!("/x-webhooks/{key}/post/requestBody/content/application~1json/schema");
        self.validate(&pointer, body)
            .into_iter()
            .map(|e| format!("webhook {key}: {e}"))
            .collect()
    }

    /// Everything wrong with `ex` by the description; empty when it conforms.
    pub fn check(&self, ex: &Exchange) -> Vec<String> {
        if let Err(e) = self.operation(ex) {
            return vec![e];
        }
        let mut out = self.check_request(ex);
        out.extend(self.check_response(ex));
        out
    }

    /// The operation `ex` is, as (template, JSON pointer to it), or the violation.
    fn operation(&self, ex: &Exchange) -> Result<(String, String), String> {
        let method = ex.method.to_lowercase();
        let Some(template) = template_of(&self.spec, &method, &ex.path) else {
            return Err(format!(
                "{} {}: no such operation in the description",
                ex.method, ex.path
            ));
        };
        let escape = |s: &str| s.replace('~', "~0").replace('/', "~1");
        let pointer = format!("/paths/{}/{method}", escape(&template));
        Ok((template, pointer))
    }

    /// What is wrong with the request of `ex` (the client's side): the operation, its query
    /// parameters, its body.
    pub fn check_request(&self, ex: &Exchange) -> Vec<String> {
        let (template, op_pointer) = match self.operation(ex) {
            Ok(found) => found,
            Err(e) => return vec![e],
        };
        let method = ex.method.to_lowercase();
        let path_item = &self.spec["paths"][&template];
        let op = &path_item[&method];
        let mut out = Vec::new();

        // Query parameters: each one declared, its value of the declared type; the required
        // ones present.
        let query: Vec<(String, String)> = ex
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decoded(k), percent_decoded(v))
            })
            .collect();
        let params = parameters(&self.spec, path_item, op);
        for (name, value) in &query {
            let declared = params
                .iter()
                .find(|p| p["in"] == json!("query") && p["name"].as_str() == Some(name));
            let Some(declared) = declared else {
                out.push(format!("query parameter `{name}` is not declared"));
                continue;
            };
            let schema = &declared["schema"];
            let typed = match schema["type"].as_str() {
                Some("integer") => value.parse::<i64>().map_or(json!(value), |n| json!(n)),
                Some("boolean") => value.parse::<bool>().map_or(json!(value), |b| json!(b)),
                _ => json!(value),
            };
            for e in schema_violations(&self.spec, schema, &typed) {
                out.push(format!("query parameter `{name}`: {e}"));
            }
        }
        for p in &params {
            if p["in"] == json!("query")
                && p["required"] == json!(true)
                && !query
                    .iter()
                    .any(|(k, _)| Some(k.as_str()) == p["name"].as_str())
            {
                out.push(format!(
                    "required query parameter `{}` is missing",
                    p["name"]
                ));
            }
        }

        // The request body.
        let request = &op["requestBody"];
        match (
            &ex.request_body,
            request["content"]["application/json"].is_object(),
        ) {
            (Some(body), true) => {
                let pointer = format!("{op_pointer}/requestBody/content/application~1json/schema");
                for e in self.validate(&pointer, body) {
                    out.push(format!("request body: {e}"));
                }
            }
            (Some(body), false) => {
                out.push(format!("the operation takes no JSON body, but got {body}"));
            }
            (None, true) if request["required"] == json!(true) => {
                out.push("the operation requires a body, but none was sent".into());
            }
            (None, _) => {}
        }

        out.into_iter()
            .map(|e| format!("{} {}: {e}", ex.method, ex.path))
            .collect()
    }

    /// What is wrong with the answer of `ex` (the server's side): its status and its body.
    pub fn check_response(&self, ex: &Exchange) -> Vec<String> {
        let (template, op_pointer) = match self.operation(ex) {
            Ok(found) => found,
            Err(e) => return vec![e],
        };
        let op = &self.spec["paths"][&template][ex.method.to_lowercase()];
        let mut out = Vec::new();

        // The status and the response body.
        let status = ex.status.to_string();
        let response_pointer = if op["responses"].get(&status).is_some() {
            Some(format!("{op_pointer}/responses/{status}"))
        } else if op["responses"].get("default").is_some() {
            Some(format!("{op_pointer}/responses/default"))
        } else {
            None
        };
        let schema_pointer = match response_pointer {
            Some(pointer) => {
                let response = deref(
                    &self.spec,
                    self.spec.pointer(&pointer).unwrap_or(&Json::Null),
                );
                if response["content"]["application/json"]["schema"].is_object() {
                    // A shared response (`$ref: #/components/responses/not_found`) is read
                    // where it is defined.
                    let base = match self.spec.pointer(&pointer).and_then(|r| r["$ref"].as_str()) {
                        Some(r) => r.trim_start_matches('#').to_owned(),
                        None => pointer,
                    };
                    Some(format!("{base}/content/application~1json/schema"))
                } else {
                    if let Some(body) = &ex.response_body {
                        out.push(format!(
                            "{status} declares no JSON body, but the answer has {body}"
                        ));
                    }
                    None
                }
            }
            None if UNDECLARED_ANYWHERE.contains(&ex.status)
                || KNOWN_OMISSIONS
                    .iter()
                    .any(|(m, t, s)| *m == ex.method && *t == template && *s == ex.status) =>
            {
                Some("/components/schemas/basic-error".to_owned())
            }
            None => {
                out.push(format!(
                    "status {status} is not declared for {} {template}",
                    ex.method
                ));
                None
            }
        };
        if let Some(pointer) = schema_pointer {
            match &ex.response_body {
                Some(body) => {
                    for e in self.validate(&pointer, body) {
                        out.push(format!("{status} response body: {e}"));
                    }
                }
                None => out.push(format!("{status} response has no JSON body")),
            }
        }
        out.into_iter()
            .map(|e| format!("{} {}: {e}", ex.method, ex.path))
            .collect()
    }
}
