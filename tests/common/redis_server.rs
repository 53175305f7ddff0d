//! A real `redis-server` on a free loopback port with a password, persisting nothing, for
//! tests; killed when dropped. Fails with how to install it when it is missing. Shared by
//! the top-level tests (through `common`) and hale-fleet's own (through `#[path]`), so
//! there is one way to start one.

#![allow(dead_code)] // each test binary uses its own part of it

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The password every test server requires.
pub const PASSWORD: &str = "redis-test-pass";

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    /// Its loopback port.
    pub port: u16,
    /// The addresses it listens on beside loopback.
    also: Vec<String>,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers PING.
    pub fn start() -> Self {
        Self::start_on(&[])
    }

    /// Starts one on a free port of loopback and of each of `also` (local addresses, e.g.
    /// the host end of a veth pair that a node in a network namespace of its own reaches
    /// it over), and waits until it answers PING.
    pub fn start_on(also: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut server = Self {
            child: None,
            port,
            also: also.iter().map(|a| (*a).to_owned()).collect(),
        };
        server.restart();
        server
    }

    /// `redis://:PASSWORD@127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        self.url_on("127.0.0.1")
    }

    /// `redis://:PASSWORD@HOST:PORT/0`.
    pub fn url_on(&self, host: &str) -> String {
        format!("redis://:{PASSWORD}@{host}:{}/0", self.port)
    }

    /// A connection of the test's own, for reading or changing keys behind hale's back.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("the test server's URL is valid")
            .get_multiplexed_async_connection()
            .await
            .expect("the test server answers")
    }

    /// Kills the server (its data is lost: it persists nothing).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`RedisServer::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(&self.also)
            .args([
                "--requirepass",
                PASSWORD,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("this test needs redis-server: `apt-get install redis-server` (.ci/run does)");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).expect("a valid URL");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ping = client
                .get_connection_with_timeout(Duration::from_secs(1))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer: {ping:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
