//! A password kept out of a URL on the command line: read from a file (or an environment
//! variable) and put into the URL's user information only in memory, so that `ps` and the
//! shell's history never show it. Both the URL and the password are registered with the
//! redactor first, so no error or log line that carries the URL shows the password.

use std::path::{Path, PathBuf};

/// Where the password of one URL option comes from.
pub struct PasswordSource<'a> {
    /// The URL's option, for messages (`--fleet`).
    pub url_option: &'static str,
    /// The file option, for messages (`--fleet-password-file`).
    pub file_option: &'static str,
    /// The file given, if any; it wins over the environment.
    pub file: Option<&'a Path>,
    /// The environment variable that may hold it (`HALE_FLEET_PASSWORD`).
    pub env: &'static str,
    /// What a URL of this option looks like, for the error about one that is not.
    pub expected: &'static str,
}

/// Why the password could not be put into the URL.
#[derive(Debug, thiserror::Error)]
pub enum UrlPasswordError {
    /// The password file could not be read.
    #[error("{option} {path}: {source}", path = path.display())]
    File {
        /// The file option.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The URL cannot carry a password.
    #[error("{option}: {reason}; expected {expected}")]
    Url {
        /// The URL option.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
        /// What it should look like.
        expected: &'static str,
    },
}

/// `url` with the password from `source` put in, when there is one (a file's trailing line
/// break is not part of it); `url` unchanged otherwise.
///
/// # Errors
/// [`UrlPasswordError::File`] when the file cannot be read, [`UrlPasswordError::Url`] when
/// `url` is not a URL or cannot carry a password.
pub fn with_password(url: &str, source: &PasswordSource<'_>) -> Result<String, UrlPasswordError> {
    let password = match source.file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|error| UrlPasswordError::File {
                    option: source.file_option,
                    path: path.to_owned(),
                    source: error,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        ),
        None => std::env::var(source.env).ok(),
    };
    // Whatever path the URL takes (an error, a log line), its password never shows.
    hale_core::redact::register_url(url);
    let Some(password) = password else {
        return Ok(url.to_owned());
    };
    hale_core::redact::register(&password);
    let refused = |reason: String| UrlPasswordError::Url {
        option: source.url_option,
        reason,
        expected: source.expected,
    };
    let mut parsed =
        url::Url::parse(url).map_err(|error| refused(format!("not a URL ({error})")))?;
    parsed
        .set_password(Some(&password))
        .map_err(|()| refused("a password cannot be set on this URL".to_owned()))?;
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(file: Option<&Path>) -> PasswordSource<'_> {
        PasswordSource {
            url_option: "--alertmanager-url",
            file_option: "--alertmanager-password-file",
            file,
            env: "HALE_TEST_UNSET_PASSWORD",
            expected: "http://user@host:9093",
        }
    }

    #[test]
    fn the_files_password_goes_into_the_url_without_its_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        assert_eq!(
            with_password("http://hale@am:9093", &source(Some(&file))).unwrap(),
            "http://hale:s3cret@am:9093/"
        );
        assert_eq!(
            with_password("http://am:9093", &source(None)).unwrap(),
            "http://am:9093",
            "no file, no variable: the URL as given"
        );
    }

    #[test]
    fn a_missing_file_and_a_url_that_cannot_carry_a_password_say_which_option() {
        let missing = with_password(
            "http://hale@am:9093",
            &source(Some(Path::new("/nonexistent/pw"))),
        )
        .unwrap_err()
        .to_string();
        assert!(
            missing.starts_with("--alertmanager-password-file /nonexistent/pw: "),
            "{missing}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "x").unwrap();
        let not_url = with_password("am:9093 x", &source(Some(&file)))
            .unwrap_err()
            .to_string();
        assert!(
            not_url.starts_with("--alertmanager-url: ")
                && not_url.contains("expected http://user@host:9093"),
            "{not_url}"
        );
    }
}
