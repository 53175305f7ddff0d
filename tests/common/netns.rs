//! A network namespace of a test's own, reached from the host's over a veth pair: a node
//! run in it (`Hale::start_in`) reaches the host end's address, and the test can cut it off
//! from one port with `iptables` inside the namespace (packets dropped, not refused: a
//! partition, not a crash), while the node itself stays alive.
//!
//! The namespace is held by a `sleep` started with `unshare -n` (not `ip netns add`, which
//! leaves a named mount behind when a test dies); it and the veth pair go when the guard
//! drops.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::Hale;

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// A network namespace with a veth pair to the host's.
pub struct Netns {
    holder: Child,
    host_link: String,
    /// The host end's address, which the namespace reaches (bind services to it).
    pub host_ip: String,
    /// The namespace end's address.
    pub inner_ip: String,
}

impl Netns {
    /// Creates one, with a /30 of its own between the two ends.
    pub fn new() -> Self {
        for tool in ["unshare", "nsenter", "ip", "iptables"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "the partition tests need `{tool}` (Debian: util-linux, iproute2, iptables) and root"
            );
        }
        let holder = Command::new("unshare")
            .args(["-n", "sleep", "1000000"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare starts");
        // A name and a subnet no other test of this run (nor another run) takes.
        let pid = std::process::id();
        let n = SEQUENCE.fetch_add(1, Ordering::SeqCst);
        let host_link = format!("hn{}{}h", pid % 100_000, n);
        let inner_link = format!("hn{}{}n", pid % 100_000, n);
        let base = format!("10.213.{}.{}", pid % 250, (n % 63) * 4);
        let prefix = base.rsplit_once('.').unwrap().0.to_owned();
        let last: u32 = base.rsplit_once('.').unwrap().1.parse().unwrap();
        let netns = Self {
            holder,
            host_link: host_link.clone(),
            host_ip: format!("{prefix}.{}", last + 1),
            inner_ip: format!("{prefix}.{}", last + 2),
        };
        // The holder must be in its namespace before the link moves there.
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_link(format!("/proc/{}/ns/net", netns.pid())).ok() == Some(own.clone())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "unshare -n did not take"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let pid = netns.pid().to_string();
        host(&[
            "link",
            "add",
            &host_link,
            "type",
            "veth",
            "peer",
            "name",
            &inner_link,
        ]);
        host(&["link", "set", &inner_link, "netns", &pid]);
        host(&[
            "addr",
            "add",
            &format!("{}/30", netns.host_ip),
            "dev",
            &host_link,
        ]);
        host(&["link", "set", &host_link, "up"]);
        netns.run_ok("ip", &["link", "set", "lo", "up"]);
        netns.run_ok(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", netns.inner_ip),
                "dev",
                &inner_link,
            ],
        );
        netns.run_ok("ip", &["link", "set", &inner_link, "up"]);
        netns
    }

    /// The PID whose network namespace this is.
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// A command that runs `program` in the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/proc/{}/ns/net", self.pid()))
            .arg("--")
            .arg(program);
        command
    }

    /// Runs `program ARGS` in the namespace, failing the test when it fails.
    pub fn run_ok(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} {} in the test's network namespace: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Cuts the namespace off from TCP port `port` of the host end: its packets there are
    /// dropped (`iptables -A OUTPUT … -j DROP`), so connections hang rather than fail.
    pub fn drop_tcp_to(&self, port: u16) {
        self.run_ok(
            "iptables",
            &[
                "-A",
                "OUTPUT",
                "-p",
                "tcp",
                "-d",
                &self.host_ip,
                "--dport",
                &port.to_string(),
                "-j",
                "DROP",
            ],
        );
    }
}

/// `ip ARGS` in the host's namespace, failing the test when it fails.
fn host(args: &[&str]) {
    let output = Command::new("ip").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both.
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .output();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

impl Hale {
    /// Starts `hale run` as [`Hale::start`] does, in `netns` (its API then listens inside
    /// it: reach it with `netns.command(...)`).
    pub fn start_in(
        netns: &Netns,
        policies: &Path,
        state_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_through(
            netns.command(env!("CARGO_BIN_EXE_hale")),
            policies,
            state_dir,
            extra,
            env,
        )
    }
}
