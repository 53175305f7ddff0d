//! Why a delivery did not work: the one error every sink returns and the worker reads.

use std::time::Duration;

/// Why a delivery did not work, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// What went wrong, without secrets.
    pub message: String,
    /// A retry may succeed (network error, 5xx, 429, a transient SMTP reply).
    pub retryable: bool,
    /// The service asked to wait this long first.
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    pub(crate) fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }

    pub(crate) fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after: None,
        }
    }
}
