//! A real OTLP collector (rotel, from PyPI) for the trace tests: where its binary is, how
//! to start it forwarding to a receiver of the test's, and how to read what it forwards.

use std::time::{Duration, Instant};

use super::{Service, free_port};

/// Decompresses with the system's gzip (the tests link no compression crate): rotel
/// compresses what it forwards.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.wait_with_output().unwrap().stdout
}

/// rotel's collector binary, installed by `pip install rotel`; fails the test, saying how
/// to install it, when it is missing.
pub fn rotel_agent() -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .expect("python3 runs");
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success() && std::path::Path::new(&path).exists(),
        "this test needs the rotel collector: `pip install rotel` (.ci/run does)"
    );
    path
}

/// A running rotel (killed when dropped) and the loopback ports it takes OTLP on.
pub struct Rotel {
    /// The process.
    pub service: Service,
    /// Its OTLP/HTTP port.
    pub http_port: u16,
    /// Its OTLP/gRPC port.
    pub grpc_port: u16,
}

/// Starts rotel on loopback forwarding everything over OTLP/HTTP to `receiver_port`, once
/// it listens.
pub fn start_rotel(receiver_port: u16) -> Rotel {
    let http_port = free_port();
    let grpc_port = free_port();
    let service = Service(
        std::process::Command::new(rotel_agent())
            .args([
                "start",
                "--otlp-http-endpoint",
                &format!("127.0.0.1:{http_port}"),
                "--otlp-grpc-endpoint",
                &format!("127.0.0.1:{grpc_port}"),
                "--exporter",
                "otlp",
                "--otlp-exporter-endpoint",
                &format!("http://127.0.0.1:{receiver_port}"),
                "--otlp-exporter-protocol",
                "http",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("rotel starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err() {
        assert!(Instant::now() < deadline, "rotel did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    Rotel {
        service,
        http_port,
        grpc_port,
    }
}
