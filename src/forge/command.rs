//! Whether a pull request's comment is the apply command (`segment apply`, or the GitSync's
//! `applyCommand`), and with which flags.
//!
//! It owns the command's syntax only: pure, no I/O. Who wrote the comment, whether it was edited
//! and whether the apply may run are decided by the workflow ([`crate::pulls`]). It must never
//! take for a command what a reader of the rendered comment would not: a quote, a code block,
//! a command in the middle of a sentence or on a later line.
//!
//! The rules:
//! - Only the comment's first line counts (blank lines before it are skipped: they render as
//!   nothing). A byte order mark at the very start is dropped.
//! - The line may be indented by up to 3 spaces; 4 columns or more (or a tab) make it an
//!   indented code block, which is not a command. A fence (```` ``` ````, `~~~`), a quote (`>`),
//!   an HTML comment, emphasis or inline code are not the command's first word, so they are not
//!   commands either.
//! - The line is the command's words, compared ASCII case-insensitively (a phone capitalises
//!   the first letter), separated by any run of spaces or tabs, then nothing but the flags
//!   `--allow-deletes` and `--allow-access-changes` (in any order, case-insensitive, repeatable).
//!   Any other character, a zero-width space or a non-breaking space included, makes a word
//!   something else: `segment applyx` and `segment apply;` are not the command.
//! - The command followed by anything else is the command given wrongly: an error that says
//!   what it takes, so the workflow can answer instead of staying silent.

/// The flag that lets an apply delete workspace resources.
pub const ALLOW_DELETES: &str = "--allow-deletes";
/// The flag that lets an apply change who may access the workspace.
pub const ALLOW_ACCESS_CHANGES: &str = "--allow-access-changes";

/// The apply command, as a comment gave it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Command {
    /// `--allow-deletes` was given.
    pub allow_deletes: bool,
    /// `--allow-access-changes` was given.
    pub allow_access_changes: bool,
}

/// The comment is the command, given wrongly. The message is meant to be posted as a reply: the
/// comment's own words are shown cut short, in a code span, with anything that is not plain
/// printable ASCII (or is a backtick) replaced by `?`, so that the reply can neither mention
/// anyone nor carry markup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error(
        "unknown flag `{}`; `{command}` takes {ALLOW_DELETES} and {ALLOW_ACCESS_CHANGES}",
        shown(flag)
    )]
    UnknownFlag { command: String, flag: String },
    #[error(
        "`{command}` takes no argument `{}`, only the flags {ALLOW_DELETES} and {ALLOW_ACCESS_CHANGES}",
        shown(argument)
    )]
    UnexpectedArgument { command: String, argument: String },
}

impl CommandError {
    /// A short CamelCase reason for logs and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            CommandError::UnknownFlag { .. } => "UnknownFlag",
            CommandError::UnexpectedArgument { .. } => "UnexpectedArgument",
        }
    }
}

/// At most this many characters of a comment's word are shown in an error.
const SHOWN_CHARS: usize = 40;

/// `word` safe to show in a reply: printable ASCII but the backtick, cut short.
fn shown(word: &str) -> String {
    let mut out: String = word
        .chars()
        .take(SHOWN_CHARS)
        .map(|c| {
            if c.is_ascii_graphic() && c != '`' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if word.chars().nth(SHOWN_CHARS).is_some() {
        out.push_str("...");
    }
    out
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Whether `body` (a comment's text) is the command `command` (such as `segment apply`):
/// `Ok(None)` if it is not, `Ok(Some(_))` with its flags if it is, `Err(_)` if it is the command
/// given with something it does not take. An empty `command` matches nothing.
pub fn parse_command(body: &str, command: &str) -> Result<Option<Command>, CommandError> {
    let words: Vec<&str> = command.split(is_blank).filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Ok(None);
    }
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    let Some(line) = body.lines().find(|l| !l.trim_matches(is_blank).is_empty()) else {
        return Ok(None);
    };
    // Markdown's indentation: up to 3 columns is a paragraph; 4 or more is code. A tab moves to
    // the next multiple of 4, so any tab in the indentation makes it code.
    let mut columns = 0;
    for c in line.chars().take_while(|c| is_blank(*c)) {
        columns = if c == '\t' { 4 } else { columns + 1 };
        if columns >= 4 {
            return Ok(None);
        }
    }
    let mut tokens = line.split(is_blank).filter(|t| !t.is_empty());
    for word in &words {
        match tokens.next() {
            Some(token) if token.eq_ignore_ascii_case(word) => {}
            _ => return Ok(None),
        }
    }
    let mut parsed = Command::default();
    for token in tokens {
        if token.eq_ignore_ascii_case(ALLOW_DELETES) {
            parsed.allow_deletes = true;
        } else if token.eq_ignore_ascii_case(ALLOW_ACCESS_CHANGES) {
            parsed.allow_access_changes = true;
        } else if token.starts_with('-') {
            return Err(CommandError::UnknownFlag {
                command: words.join(" "),
                flag: token.to_owned(),
            });
        } else {
            return Err(CommandError::UnexpectedArgument {
                command: words.join(" "),
                argument: token.to_owned(),
            });
        }
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPLY: &str = "segment apply";

    type Parsed = Result<Option<Command>, CommandError>;

    fn yes(
        allow_deletes: bool,
        allow_access_changes: bool,
    ) -> Result<Option<Command>, CommandError> {
        Ok(Some(Command {
            allow_deletes,
            allow_access_changes,
        }))
    }

    const NO: Result<Option<Command>, CommandError> = Ok(None);

    fn unknown(flag: &str) -> Result<Option<Command>, CommandError> {
        Err(CommandError::UnknownFlag {
            command: APPLY.into(),
            flag: flag.into(),
        })
    }

    fn argument(argument: &str) -> Result<Option<Command>, CommandError> {
        Err(CommandError::UnexpectedArgument {
            command: APPLY.into(),
            argument: argument.into(),
        })
    }

    #[test]
    fn comments_and_what_they_are() {
        let cases: &[(&str, &str, Parsed)] = &[
            // The command.
            ("plain", "segment apply", yes(false, false)),
            ("trailing newline", "segment apply\n", yes(false, false)),
            ("trailing spaces", "segment apply   \t", yes(false, false)),
            (
                "a run of spaces between words",
                "segment    apply",
                yes(false, false),
            ),
            ("a tab between words", "segment\tapply", yes(false, false)),
            ("capitalised by a phone", "Segment apply", yes(false, false)),
            ("shouted", "SEGMENT APPLY", yes(false, false)),
            ("indented 3 spaces", "   segment apply", yes(false, false)),
            (
                "CRLF, with a reason on the next line",
                "segment apply\r\nthe plan looks right",
                yes(false, false),
            ),
            (
                "blank lines first",
                "\n  \r\n\nsegment apply",
                yes(false, false),
            ),
            (
                "a leading byte order mark",
                "\u{feff}segment apply",
                yes(false, false),
            ),
            (
                "later lines are free text",
                "segment apply\n> segment apply --allow-deletes\n--allow-deletes",
                yes(false, false),
            ),
            // Flags.
            (
                "allow deletes",
                "segment apply --allow-deletes",
                yes(true, false),
            ),
            (
                "allow access changes",
                "segment apply --allow-access-changes",
                yes(false, true),
            ),
            (
                "both, any order",
                "segment apply --allow-access-changes  --allow-deletes",
                yes(true, true),
            ),
            (
                "repeated",
                "segment apply --allow-deletes --allow-deletes",
                yes(true, false),
            ),
            (
                "flag case",
                "segment apply --Allow-Deletes",
                yes(true, false),
            ),
            (
                "flags with CRLF",
                "segment apply --allow-deletes\r\n",
                yes(true, false),
            ),
            // The command given wrongly.
            ("unknown flag", "segment apply --force", unknown("--force")),
            (
                "a flag with a value",
                "segment apply --allow-deletes=true",
                unknown("--allow-deletes=true"),
            ),
            ("a short flag", "segment apply -d", unknown("-d")),
            (
                "a flag with a zero-width space",
                "segment apply --allow-deletes\u{200b}",
                unknown("--allow-deletes\u{200b}"),
            ),
            (
                "an em dash for two hyphens",
                "segment apply \u{2014}allow-deletes",
                argument("\u{2014}allow-deletes"),
            ),
            ("a word after", "segment apply please", argument("please")),
            (
                "a shell separator as a word",
                "segment apply ; rm -rf /",
                argument(";"),
            ),
            (
                "an HTML comment after",
                "segment apply <!-- hidden -->",
                argument("<!--"),
            ),
            (
                "a sentence starting with the command",
                "segment apply is what you need",
                argument("is"),
            ),
            // Not the command.
            ("empty", "", NO),
            ("blank", " \n\t\n", NO),
            ("one word", "segment", NO),
            ("the other word", "apply", NO),
            ("a longer word", "segment applyx", NO),
            ("a longer first word", "segments apply", NO),
            ("glued", "segmentapply", NO),
            ("hyphenated", "segment-apply", NO),
            ("a shell separator glued", "segment apply; rm -rf /", NO),
            ("glued to the next line's CR", "segment apply\rmore", NO),
            ("quoted", "> segment apply", NO),
            ("quoted without a space", ">segment apply", NO),
            ("indented 4 spaces: code", "    segment apply", NO),
            ("indented with a tab: code", "\tsegment apply", NO),
            ("two spaces and a tab: code", "  \tsegment apply", NO),
            ("in a backtick fence", "```\nsegment apply\n```", NO),
            ("in a tilde fence", "~~~\nsegment apply\n~~~", NO),
            (
                "in a fence with a language",
                "```sh\nsegment apply\n```",
                NO,
            ),
            ("inline code", "`segment apply`", NO),
            ("bold", "**segment apply**", NO),
            ("in an HTML comment", "<!-- segment apply -->", NO),
            ("after an HTML comment", "<!-- x --> segment apply", NO),
            (
                "an HTML comment first, the command next",
                "<!-- x -->\nsegment apply",
                NO,
            ),
            ("text before", "please segment apply", NO),
            ("text before, no space", "LGTM.segment apply", NO),
            ("on a later line", "Looks good!\nsegment apply", NO),
            (
                "on a later line after a blank one",
                "Looks good!\n\nsegment apply",
                NO,
            ),
            ("a zero-width space before", "\u{200b}segment apply", NO),
            ("a zero-width space between", "segment\u{200b}apply", NO),
            (
                "a zero-width space inside a word",
                "seg\u{200b}ment apply",
                NO,
            ),
            (
                "a zero-width joiner after a word",
                "segment\u{200d} apply",
                NO,
            ),
            ("a non-breaking space between", "segment\u{a0}apply", NO),
            ("an ideographic space before", "\u{3000}segment apply", NO),
            (
                "a byte order mark not at the start",
                "segment \u{feff}apply",
                NO,
            ),
            (
                "a second byte order mark",
                "\u{feff}\u{feff}segment apply",
                NO,
            ),
            (
                "a long s that folds to s in Unicode",
                "\u{17f}egment apply",
                NO,
            ),
            (
                "a Kelvin sign is no k",
                "segment apply".replace('e', "\u{212a}").leak(),
                NO,
            ),
            ("Cyrillic look-alikes", "s\u{435}gment apply", NO),
            ("a slash command", "/segment apply", NO),
            ("a NUL inside", "segment\0 apply", NO),
        ];
        for (name, body, want) in cases {
            assert_eq!(&parse_command(body, APPLY), want, "{name}: {body:?}");
        }
    }

    #[test]
    fn the_command_is_the_configured_one() {
        assert_eq!(parse_command("/apply", "/apply"), yes(false, false));
        assert_eq!(parse_command("segment apply", "/apply"), NO);
        assert_eq!(
            parse_command("gitsync  apply now", "gitsync apply   now"),
            yes(false, false)
        );
        assert_eq!(parse_command("gitsync apply", "gitsync apply now"), NO);
        assert_eq!(parse_command("anything", ""), NO);
        assert_eq!(parse_command("", "  "), NO);
    }

    #[test]
    fn errors_say_what_the_command_takes_and_cannot_carry_markup() {
        let e = parse_command("segment apply --force", APPLY).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown flag `--force`; `segment apply` takes --allow-deletes and --allow-access-changes"
        );
        assert_eq!(e.reason(), "UnknownFlag");
        let e = parse_command("segment apply @org/admins`<b>", APPLY).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`segment apply` takes no argument `@org/admins?<b>`, only the flags --allow-deletes and --allow-access-changes"
        );
        let long = format!("segment apply --{}", "x".repeat(500));
        let shown = parse_command(&long, APPLY).unwrap_err().to_string();
        assert!(shown.len() < 200 && shown.contains("xxx..."), "{shown}");
        let e = parse_command("segment apply --allow-deletes\u{200b}", APPLY).unwrap_err();
        assert!(e.to_string().contains("`--allow-deletes?`"), "{e}");
    }
}
