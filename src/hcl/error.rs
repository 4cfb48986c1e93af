//! Parse errors: what is wrong, and where (`file:line:column`).

use std::fmt;

/// A problem in a resource file, with its place. Displayed as `path:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {problem}")]
pub struct ParseError {
    /// The file as the caller named it.
    pub file: String,
    /// One-based line.
    pub line: usize,
    /// One-based column, in characters.
    pub column: usize,
    pub problem: Problem,
}

/// What is wrong in a resource file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not HCL at all; the message is the HCL parser's.
    Syntax(String),
    NoResource,
    SecondResource {
        first_line: usize,
    },
    SecondImport {
        first_line: usize,
    },
    /// `segment_*` but not a type the provider has.
    UnknownResourceType(String),
    /// A resource of another provider (`aws_s3_bucket`).
    OtherProvider(String),
    /// A block other than `import` and `resource` (`provider`, `variable`, `data`, ...).
    UnexpectedBlock(String),
    /// A top-level attribute, or an attribute in an `import` block other than `to` and `id`.
    UnexpectedAttribute {
        place: &'static str,
        name: String,
    },
    /// A nested block inside a resource (the provider uses nested attributes, `x = {...}`).
    NestedBlock {
        resource_type: String,
        name: String,
    },
    UnknownAttribute {
        path: String,
        resource_type: String,
    },
    ComputedAttribute {
        path: String,
    },
    MissingRequired {
        path: String,
        resource_type: String,
    },
    RequiredIsNull {
        path: String,
    },
    WrongType {
        path: String,
        expected: String,
        found: &'static str,
    },
    /// `var.x`
    Variable(String),
    /// `local.x`
    LocalValue(String),
    /// `segment_source.other.id`, `data.x.y`, or any other name.
    Reference(String),
    /// A function call other than `jsonencode(...)`.
    Function(String),
    JsonencodeArity(usize),
    /// `"${...}"` or `%{...}` in a string.
    Interpolation,
    /// `<<EOF` strings.
    Heredoc,
    /// Arithmetic, conditionals, `for` expressions.
    Expression(&'static str),
    InvalidJson {
        path: String,
        message: String,
    },
    InvalidObjectKey,
    DuplicateKey(String),
    /// The import block's `to` does not name the resource in the file.
    ImportTarget {
        to: String,
        resource: String,
    },
    /// The import id does not agree with the attributes it is made of.
    ImportId {
        id: String,
        expected: String,
    },
    /// A label (`resource "t" "name"`) that is missing or malformed.
    Labels(&'static str),
    /// The resource name is not the one its import id gives (`id-` + the id): rendering would
    /// rename the resource.
    NameMismatch {
        name: String,
        id: String,
        expected: String,
    },
    /// Lists and objects nested deeper than [`crate::model::MAX_NESTING`].
    TooDeep {
        path: String,
        max: usize,
    },
    /// Brackets nested past what the pre-scan reads: more than the value nesting allowed.
    NestedTooDeep {
        max: usize,
    },
    /// The file begins with a UTF-8 byte order mark, which editors hide.
    ByteOrderMark,
    /// An unresolved Git merge conflict: the marker line (`<<<<<<<`).
    ConflictMarker(&'static str),
    /// A comment, which the files Git Sync writes never hold: rewriting the file drops it.
    Comment,
    /// The file's bytes are not UTF-8 (the place is the first byte that is not).
    NotUtf8,
    /// A resource in the directory of another type (or in no type's directory): Git Sync
    /// reads each directory as one type, so the file would be misread or ignored.
    WrongDirectory {
        resource_type: String,
        directory: String,
        expected: &'static str,
    },
    /// A set or list with more items than the provider allows (`Attribute::max_items`).
    TooManyItems {
        path: String,
        max: usize,
        found: usize,
    },
    /// A second file defining the same resource (`segment_source.id-abc`): Terraform refuses
    /// two resources with one address, and a plan would write the resource twice.
    DuplicateResource {
        address: String,
        first_file: String,
    },
    /// `@@` in a value that does not begin a well-formed `@@name@@` secret placeholder.
    MalformedPlaceholder {
        path: String,
        text: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LITERAL_ONLY: &str = "Git Sync files hold literal values only";
        match self {
            Problem::Syntax(msg) => write!(f, "not valid HCL: {msg}"),
            Problem::NoResource => {
                f.write_str("no `resource` block; a resource file holds exactly one")
            }
            Problem::SecondResource { first_line } => write!(
                f,
                "a second `resource` block; a file holds exactly one resource (the first is on line {first_line})"
            ),
            Problem::SecondImport { first_line } => {
                write!(
                    f,
                    "a second `import` block (the first is on line {first_line})"
                )
            }
            Problem::UnknownResourceType(t) => write!(
                f,
                "unknown resource type `{t}`; the segment provider has: {}",
                crate::model::ResourceType::ALL
                    .map(|t| t.terraform_type())
                    .join(", ")
            ),
            Problem::OtherProvider(t) => write!(
                f,
                "`{t}` is a resource of another provider; only `segment_*` resources can be synced"
            ),
            Problem::UnexpectedBlock(b) => write!(
                f,
                "a `{b}` block does not belong in a resource file; only `import` and `resource` blocks do"
            ),
            Problem::UnexpectedAttribute { place, name } => {
                write!(f, "unexpected attribute `{name}` in {place}")
            }
            Problem::NestedBlock {
                resource_type,
                name,
            } => write!(
                f,
                "`{resource_type}` takes no `{name}` block; write nested values as an attribute: `{name} = {{ ... }}`"
            ),
            Problem::UnknownAttribute {
                path,
                resource_type,
            } => {
                write!(f, "`{resource_type}` has no attribute `{path}`")
            }
            Problem::ComputedAttribute { path } => {
                write!(
                    f,
                    "`{path}` is set by Segment and cannot be written; remove it"
                )
            }
            Problem::MissingRequired {
                path,
                resource_type,
            } => {
                write!(
                    f,
                    "`{resource_type}` is missing the required attribute `{path}`"
                )
            }
            Problem::RequiredIsNull { path } => {
                write!(f, "`{path}` is required and cannot be null")
            }
            Problem::WrongType {
                path,
                expected,
                found,
            } => {
                write!(f, "`{path}` must be {expected}, not {found}")
            }
            Problem::Variable(v) => write!(f, "`{v}` is a variable; {LITERAL_ONLY}"),
            Problem::LocalValue(v) => write!(f, "`{v}` is a local value; {LITERAL_ONLY}"),
            Problem::Reference(r) => {
                write!(f, "`{r}` is a reference to another object; {LITERAL_ONLY}")
            }
            Problem::Function(name) => {
                write!(
                    f,
                    "function `{name}` is not allowed; the only function is `jsonencode(...)`"
                )
            }
            Problem::JsonencodeArity(n) => {
                write!(f, "`jsonencode` takes exactly one argument, not {n}")
            }
            Problem::Interpolation => write!(
                f,
                "template interpolation is not allowed; {LITERAL_ONLY} (write `$${{` for a literal `${{`)"
            ),
            Problem::Heredoc => f.write_str(
                "heredoc strings are not supported; write the value as a quoted string, with \\n for line breaks",
            ),
            Problem::Expression(what) => write!(f, "{what} is not allowed; {LITERAL_ONLY}"),
            Problem::InvalidJson { path, message } => {
                write!(
                    f,
                    "`{path}` holds a string that is not valid JSON: {message}"
                )
            }
            Problem::InvalidObjectKey => {
                f.write_str("an object key must be a name or a quoted string")
            }
            Problem::DuplicateKey(k) => write!(f, "the key `{k}` appears twice"),
            Problem::ImportTarget { to, resource } => {
                write!(
                    f,
                    "the import block targets `{to}`, but the resource in this file is `{resource}`"
                )
            }
            Problem::ImportId { id, expected } => {
                write!(
                    f,
                    "import id \"{id}\" does not match the resource; expected \"{expected}\""
                )
            }
            Problem::Labels(msg) => f.write_str(msg),
            Problem::NameMismatch { name, id, expected } => write!(
                f,
                "the resource is named `{name}`, but its import id \"{id}\" makes it `{expected}`; change the name or the import id so that they agree"
            ),
            Problem::TooDeep { path, max } => write!(
                f,
                "`{path}` nests lists and objects deeper than the {max} levels allowed"
            ),
            Problem::NestedTooDeep { max } => write!(
                f,
                "lists and objects nest deeper than the {max} levels allowed"
            ),
            Problem::ByteOrderMark => f.write_str(
                "the file begins with a byte order mark (U+FEFF), which Git Sync files do not have: save it as UTF-8 without a BOM",
            ),
            Problem::ConflictMarker(marker) => write!(
                f,
                "a merge-conflict marker `{marker}`: the file holds an unresolved Git merge conflict; resolve it (keep one side), then commit"
            ),
            Problem::Comment => f.write_str(
                "a comment; the files Git Sync writes hold none, so the next rewrite of this file (after an apply, by a sync, or formatting) would drop it: remove it",
            ),
            Problem::NotUtf8 => f.write_str(
                "the file is not UTF-8 text; resource files are UTF-8 (save it as UTF-8)",
            ),
            Problem::WrongDirectory {
                resource_type,
                directory,
                expected,
            } => {
                let place = if directory.is_empty() {
                    "outside any resource directory".to_owned()
                } else {
                    format!("in `{directory}/`")
                };
                write!(
                    f,
                    "a `{resource_type}` resource {place}; it belongs in `{expected}/` (each directory holds one resource type)"
                )
            }
            Problem::TooManyItems { path, max, found } => write!(
                f,
                "`{path}` has {found} items; the provider allows at most {max}"
            ),
            Problem::DuplicateResource {
                address,
                first_file,
            } => write!(
                f,
                "`{address}` is also defined in {first_file}; a tree defines each resource once"
            ),
            Problem::MalformedPlaceholder { path, text } => write!(
                f,
                "`{path}` holds `{text}`, which is not a secret placeholder; a placeholder is `@@name@@` with a name of letters, digits, `_` and `-`"
            ),
        }
    }
}
