//! Placeholder until the command parser lands: the first line, exactly the command.

/// An apply command's flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Command {
    pub allow_deletes: bool,
    pub allow_access_changes: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown flag {0}")]
pub struct CommandError(pub String);

pub fn parse_command(body: &str, command: &str) -> Result<Option<Command>, CommandError> {
    let first = body.lines().next().unwrap_or("").trim();
    let Some(rest) = first.strip_prefix(command) else {
        return Ok(None);
    };
    let mut out = Command::default();
    for flag in rest.split_whitespace() {
        match flag {
            "--allow-deletes" => out.allow_deletes = true,
            "--allow-access-changes" => out.allow_access_changes = true,
            other => return Err(CommandError(other.to_owned())),
        }
    }
    Ok(Some(out))
}
