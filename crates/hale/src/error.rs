//! The one error type of hale's commands, and the exit status each kind maps to: 0 when
//! the command did what was asked, 1 when it failed, 2 when what was asked is wrong (as
//! clap does for its own usage errors). `commands::run` prints it, once, as
//! `hale COMMAND: message`.

use std::process::ExitCode;

use crate::api_client::ApiError;

/// Exit status for a usage error, as clap uses for its own.
pub const USAGE_ERROR: u8 = 2;

/// Why a command did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// What was asked cannot be done as written: a missing path, an unknown field or
    /// notifier, a malformed filter. Exit status 2.
    #[error("{0}")]
    Usage(String),
    /// The command ran and failed: the store or a service refused, a file could not be
    /// written. Exit status 1.
    #[error("{0}")]
    Failed(String),
    /// A request to the running controller failed. Exit status 1.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The state store could not be read. Exit status 1.
    #[error(transparent)]
    Store(#[from] hale_store::StoreError),
    /// The async runtime could not start. Exit status 1.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// Standard output could not be written (a closed pipe is not an error). Exit status 1.
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
}

impl From<crate::import::ImportError> for CliError {
    /// A wrong file, key, value or flag is a usage error; a service that failed (Redis,
    /// Coolify) or output that does not validate (a bug) is a failure.
    fn from(error: crate::import::ImportError) -> Self {
        if error.is_usage() {
            Self::Usage(error.to_string())
        } else {
            Self::Failed(error.to_string())
        }
    }
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(USAGE_ERROR),
            _ => ExitCode::FAILURE,
        }
    }
}

/// What a command returns: its exit status when it ran (a validation that found errors
/// ran, and exits 1 after printing its report), or why it could not.
pub type CommandResult = Result<ExitCode, CliError>;

/// A current-thread runtime for a command that waits on the network.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}
