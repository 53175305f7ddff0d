//! `hale run --docker ssh://…` end to end: a real `sshd` (Debian's openssh-server) on a
//! loopback port, with host and client keys made here, in front of the host's Docker
//! daemon (`docker system dial-stdio` on the far side, as the docker CLI does). hale heals a
//! container through it, and refuses a host whose key is not the one in `known_hosts`.
//!
//! Nothing of the machine's own SSH setup is read or written: hale finds an `ssh` on its
//! `PATH` that runs the system client with this test's own config file (`-F`), so the
//! keys, `known_hosts` and the control sockets all live in the test's directory.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{HEALTH, NEVER_HEALTHY, TestDocker, Workspace, free_port};

const WAIT: Duration = Duration::from_secs(60);
const SSHD: &str = "/usr/sbin/sshd";

/// An `sshd` of the test's own, killed when dropped.
struct Sshd {
    child: Child,
    port: u16,
    /// `[127.0.0.1]:PORT <key>`: the line `known_hosts` needs to trust this server.
    known_host: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs (Debian: openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Starts an sshd on a free loopback port that lets in only `client_key.pub`, as root.
fn start_sshd(dir: &Path) -> Sshd {
    assert!(
        Path::new(SSHD).exists(),
        "the SSH transport test needs {SSHD} (Debian: apt-get install openssh-server)"
    );
    // sshd insists on its privilege-separation directory.
    std::fs::create_dir_all("/run/sshd").unwrap();
    keygen(&dir.join("host_key"));
    keygen(&dir.join("client_key"));
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    let port = free_port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nAuthorizedKeysFile {dir}/authorized_keys\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
        .spawn()
        .expect("sshd starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sshd did not listen: {}",
            read(&dir.join("sshd.log"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let host_key = read(&dir.join("host_key.pub"));
    let key: Vec<&str> = host_key.split_whitespace().take(2).collect();
    Sshd {
        child,
        port,
        known_host: format!("[127.0.0.1]:{port} {}", key.join(" ")),
    }
}

/// The host alias the test's SSH config gives the sshd (its address and port): bollard's
/// SSH transport cannot take a port in the address, so the port goes in the config, as
/// hale's error for `ssh://HOST:PORT` tells users to do.
const ALIAS: &str = "hale-ssh-test";

/// A directory holding an `ssh` that runs the system client with the test's config, for
/// the front of hale's `PATH`; `known_hosts` is what that config trusts.
fn ssh_wrapper(dir: &Path, port: u16, known_hosts: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(dir.join("known_hosts"), format!("{known_hosts}\n")).unwrap();
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Host {ALIAS}\n  HostName 127.0.0.1\n  Port {port}\nHost *\n  IdentityFile {dir}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {dir}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  BatchMode yes\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    let ssh = bin.join("ssh");
    std::fs::write(
        &ssh,
        format!(
            "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
            dir.join("ssh_config").display()
        ),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&ssh).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&ssh, permissions).unwrap();
    bin
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn hale_heals_a_container_through_an_ssh_endpoint() {
    let docker = TestDocker::new("ssh-heal");
    let dir = tempfile::tempdir().unwrap();
    let sshd = start_sshd(dir.path());
    let bin = ssh_wrapper(dir.path(), sshd.port, &sshd.known_host);
    let policy = docker.policy(
        "ssh",
        "  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 3s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 2s}\n",
    );
    let workspace = Workspace::new(&policy);
    let endpoint = format!("ssh://root@{ALIAS}");
    let path = path_with(&bin);
    let hale = workspace.start(&["--docker", &endpoint], &[("PATH", &path)]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    let restarted = hale.wait_audit("action_succeeded", &name, WAIT);
    assert_eq!(restarted["action"], "restart", "{restarted}");
    // The restart went through the SSH session: sshd logged root's key login.
    let log = read(&dir.path().join("sshd.log"));
    assert!(
        log.contains("Accepted publickey for root"),
        "sshd saw no key login: {log}"
    );
    assert!(hale.stop().success());
}

#[test]
fn a_host_whose_key_is_not_in_known_hosts_is_refused() {
    let _docker = TestDocker::new("ssh-refused");
    let dir = tempfile::tempdir().unwrap();
    let sshd = start_sshd(dir.path());
    // known_hosts names another key for this host: a man in the middle, or a rebuilt host.
    keygen(&dir.path().join("other_key"));
    let other = read(&dir.path().join("other_key.pub"));
    let other: Vec<&str> = other.split_whitespace().take(2).collect();
    let bin = ssh_wrapper(
        dir.path(),
        sshd.port,
        &format!("[127.0.0.1]:{} {}", sshd.port, other.join(" ")),
    );
    let workspace = Workspace::new("");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(["run", "--log-format", "json", "--policies"])
        .arg(workspace.policies())
        .arg("--state-dir")
        .arg(workspace.state())
        .args(["--docker", &format!("ssh://root@{ALIAS}")])
        .env("PATH", path_with(&bin))
        .env("HALE_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    let refusal = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) if line.to_lowercase().contains("host key") => break line,
            Ok(line) => {
                assert!(
                    !line.contains("connected to Docker; containers relisted"),
                    "hale connected to a host whose key it does not know: {line}"
                );
                seen.push(line);
            }
            Err(_) => panic!("hale did not say the host key was refused: {seen:#?}"),
        }
    };
    assert!(
        refusal.contains(ALIAS),
        "the refusal names the endpoint: {refusal}"
    );
    let log = read(&dir.path().join("sshd.log"));
    assert!(
        !log.contains("Accepted publickey"),
        "the client logged in anyway: {log}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
