//! Where every command's output goes: standard output, and the exit status of a usage
//! error.

use std::io::Write;
use std::process::ExitCode;

/// Exit status for a usage error, as clap uses for its own.
pub const USAGE_ERROR: u8 = 2;

/// Writes to stdout; a closed pipe (`hale schema | head`) is not an error worth a panic.
pub fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hale: cannot write output: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `message` as hale's one error line (`hale: ...`) and returns the failure status.
pub fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("hale: {message}");
    ExitCode::FAILURE
}
