use std::process::ExitCode;

fn main() -> ExitCode {
    gitsync::cli::main()
}
