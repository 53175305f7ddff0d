//! A real SMTP server for the email tests (aiosmtpd, not a fake): plain, STARTTLS or
//! implicit TLS with a certificate from the test's private CA ([`crate::tls::Pki`]), a
//! client certificate it may require, and AUTH that accepts exactly one login. It keeps
//! every message it is sent and every login attempt, so a test can prove what hale did.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server script, written next to the sink's output when it starts.
const SCRIPT: &str = include_str!("smtp_sink.py");

/// How long aiosmtpd may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The transport security the server offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SinkTls {
    /// Plain SMTP, no STARTTLS.
    #[default]
    None,
    /// STARTTLS, required before mail (and before AUTH).
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// How an [`SmtpSink`] is set up.
#[derive(Debug, Clone, Default)]
pub struct SinkConfig {
    /// Transport security; `StartTls` and `Implicit` need `certificate`.
    pub tls: SinkTls,
    /// The server's certificate and key (PEM files), e.g. `server.pem`, `server-key.pem`
    /// of a [`crate::tls::Pki`].
    pub certificate: Option<(PathBuf, PathBuf)>,
    /// Require a client certificate signed by this CA (PEM).
    pub client_ca: Option<PathBuf>,
    /// Require AUTH with this user name and the password in this file.
    pub login: Option<(String, PathBuf)>,
}

/// A running aiosmtpd on a loopback port; stopped when dropped.
pub struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free loopback port and waits until it listens.
    ///
    /// # Panics
    /// When python3 with aiosmtpd is missing or the server does not start: the test
    /// cannot run without it and fails saying so.
    pub fn start(config: &SinkConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("smtp_sink.py");
        std::fs::write(&script, SCRIPT).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new("python3");
        command.arg(&script).arg(port.to_string()).arg(&out);
        if config.tls != SinkTls::None {
            let (cert, key) = config
                .certificate
                .as_ref()
                .expect("an SMTP sink with TLS needs a certificate");
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if config.tls == SinkTls::Implicit {
            command.arg("--implicit-tls");
        }
        if let Some(ca) = &config.client_ca {
            command.arg("--client-ca").arg(ca);
        }
        if let Some((user, password_file)) = &config.login {
            command
                .arg("--user")
                .arg(user)
                .arg("--password-file")
                .arg(password_file);
        }
        // Its stderr goes to a file: read when it fails to start, never a pipe that could
        // fill and stall it.
        let stderr_path = dir.path().join("stderr.log");
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect(
                "the email tests need python3 with aiosmtpd (`pip install aiosmtpd`; .ci/run does)",
            );
        let mut sink = Self { child, port, dir };
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sink.child.try_wait() {
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!(
                    "aiosmtpd exited ({status}): {stderr}\nthe email tests need python3 with aiosmtpd (`pip install aiosmtpd`; .ci/run does)"
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on 127.0.0.1:{port} within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, as raw RFC 5322 text, in order of arrival.
    pub fn mails(&self) -> Vec<String> {
        let out = self.dir.path().join("out");
        let mut numbered: Vec<(u64, String)> = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let name = path.file_name()?.to_str()?;
                let number = name
                    .strip_prefix("mail-")?
                    .strip_suffix(".eml")?
                    .parse()
                    .ok()?;
                Some((number, std::fs::read_to_string(&path).ok()?))
            })
            .collect();
        numbered.sort();
        numbered.into_iter().map(|(_, text)| text).collect()
    }

    /// Every AUTH attempt so far: `{mechanism, user, accepted, tls}` (never the password).
    pub fn logins(&self) -> Vec<serde_json::Value> {
        let log = self.dir.path().join("out").join("logins.jsonl");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
