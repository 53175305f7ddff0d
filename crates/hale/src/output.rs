//! Where every command's output goes: standard output.

use std::io::Write;
use std::process::ExitCode;

use crate::error::{CliError, CommandResult};

/// Writes to stdout; a closed pipe (`hale schema | head`) is not an error worth a panic.
pub fn print(text: &str) -> CommandResult {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(error) => Err(CliError::Output(error)),
    }
}
