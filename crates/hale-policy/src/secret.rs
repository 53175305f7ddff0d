//! References to secrets: never inline, always `fromEnv` or `fromFile`.

use std::fmt;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a secret value (token, webhook URL, password) comes from.
///
/// Secrets are referenced, never written into policy files, so the files can live in Git.
/// Exactly one of `fromEnv` and `fromFile` must be set. The value is read when it is used,
/// so rotating a mounted secret file needs no reload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of an environment variable of the hale process that holds the value.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// Path of a file whose contents (trailing newline trimmed) are the value, e.g. a Docker
    /// or Kubernetes secret mount. Relative paths are relative to hale's working directory.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_file: Option<PathBuf>,
}

/// The reason a [`SecretRef`] could not be resolved. The message names the reference, never
/// the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set (or not valid UTF-8).
    #[error("environment variable {name} is not set")]
    MissingEnv {
        /// The variable's name.
        name: String,
    },
    /// The file could not be read.
    #[error("cannot read secret file {path}")]
    File {
        /// The file's path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Neither or both of `fromEnv` and `fromFile` are set.
    #[error("a secret reference needs exactly one of fromEnv or fromFile")]
    Ambiguous,
}

impl SecretRef {
    /// Reads the secret's current value.
    ///
    /// # Errors
    /// [`SecretError`] when the variable is unset, the file unreadable, or the reference is
    /// not exactly one of the two kinds.
    ///
    /// Every value read is registered with the process's [redactor](crate::redact::global),
    /// so it is removed from whatever hale writes out.
    pub fn resolve(&self) -> Result<String, SecretError> {
        let value = self.read()?;
        crate::redact::register(&value);
        Ok(value)
    }

    fn read(&self) -> Result<String, SecretError> {
        match (&self.from_env, &self.from_file) {
            (Some(name), None) => {
                std::env::var(name).map_err(|_| SecretError::MissingEnv { name: name.clone() })
            }
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                }),
            _ => Err(SecretError::Ambiguous),
        }
    }
}

/// The value of a field pair `url`/`urlFrom`: the plain URL, or the secret's value.
///
/// # Errors
/// [`SecretError`] when the secret cannot be read, or [`SecretError::Ambiguous`] when not
/// exactly one of the two is set (validation refuses such a policy).
pub fn url_or_secret(
    url: Option<&str>,
    url_from: Option<&SecretRef>,
) -> Result<String, SecretError> {
    match (url, url_from) {
        (Some(url), None) => Ok(url.to_owned()),
        (None, Some(secret)) => secret.resolve(),
        _ => Err(SecretError::Ambiguous),
    }
}

impl fmt::Display for SecretRef {
    /// Describes where the secret lives without revealing it, e.g. `env:SLACK_WEBHOOK_URL`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.from_env, &self.from_file) {
            (Some(name), _) => write!(f, "env:{name}"),
            (None, Some(path)) => write!(f, "file:{}", path.display()),
            (None, None) => f.write_str("<unset>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_secret_is_read_with_its_trailing_newline_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let secret = SecretRef {
            from_env: None,
            from_file: Some(path),
        };
        assert_eq!(secret.resolve().unwrap(), "s3cret");
    }

    #[test]
    fn a_missing_variable_names_the_variable_not_a_value() {
        let secret = SecretRef {
            from_env: Some("HALE_TEST_SURELY_UNSET_VARIABLE".into()),
            from_file: None,
        };
        let err = secret.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable HALE_TEST_SURELY_UNSET_VARIABLE is not set"
        );
    }

    #[test]
    fn display_shows_the_reference_only() {
        let secret = SecretRef {
            from_env: Some("TOKEN".into()),
            from_file: None,
        };
        assert_eq!(secret.to_string(), "env:TOKEN");
    }
}
