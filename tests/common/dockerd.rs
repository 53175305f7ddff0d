//! A second, private Docker daemon for a test: its own network namespace, data and exec
//! roots, sockets and configuration, optionally behind TLS with certificates made in the
//! test; removed with every process and mount it made when the guard drops.
//!
//! Why a network namespace of its own: a second dockerd in the host's namespace deletes
//! the host daemon's `docker0` bridge (even with `--bridge=none`) and breaks every other
//! container on the machine. `unshare -n` (not `ip netns exec`, which remounts /sys and
//! hides the cgroups) gives it one; its unix socket is reachable from the host namespace,
//! its TCP port only from inside (run hale there with [`Hale::start_in_netns`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::{Hale, IMAGE, docker};

/// The port a TLS daemon listens on inside its namespace (Docker's convention for TLS).
pub const TLS_PORT: u16 = 2376;

/// How long a new daemon may take to answer.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The host daemon's address (the one every other test uses), for a hale that watches it
/// beside a private daemon.
pub fn host_daemon() -> String {
    format!("unix://{}", super::daemon_socket().display())
}

/// Certificates for a TLS daemon and its client, as the docker CLI lays them out: the
/// client's `ca.pem`, `cert.pem`, `key.pem` in [`TlsMaterial::client_dir`], the daemon's
/// in [`TlsMaterial::server_dir`].
pub struct TlsMaterial {
    root: PathBuf,
}

impl TlsMaterial {
    /// A new CA, a daemon certificate for 127.0.0.1 and localhost and a client certificate,
    /// written under `root`.
    pub fn generate(root: &Path) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.distinguished_name
            .push(DnType::CommonName, "hale test Docker CA");
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![usage];
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth);
        let material = Self {
            root: root.to_owned(),
        };
        for (dir, cert, key) in [
            (material.client_dir(), client_cert, client_key),
            (material.server_dir(), server_cert, server_key),
        ] {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
            std::fs::write(dir.join("cert.pem"), cert).unwrap();
            std::fs::write(dir.join("key.pem"), key).unwrap();
        }
        material
    }

    /// What `DOCKER_CERT_PATH` points at: the CA, hale's certificate and key.
    pub fn client_dir(&self) -> PathBuf {
        self.root.join("client")
    }

    /// The daemon's CA, certificate and key.
    pub fn server_dir(&self) -> PathBuf {
        self.root.join("server")
    }
}

/// A running private dockerd; dropping it stops it and removes everything it made.
pub struct Dockerd {
    dir: Option<tempfile::TempDir>,
    child: Child,
    /// Whether the daemon listens on [`TLS_PORT`] with TLS.
    pub tls: bool,
}

impl Dockerd {
    /// Starts a daemon (with TLS on [`TLS_PORT`] when `tls` is given), waits until it
    /// answers and loads the test image into it from the host daemon. The host daemon must
    /// have the image (create a `TestDocker` first).
    pub fn start(tls: Option<&TlsMaterial>) -> Self {
        for tool in ["dockerd", "unshare", "nsenter", "ip"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "the private-daemon tests need `{tool}` (Debian: docker.io, util-linux, iproute2)"
            );
        }
        // Short: containerd's sockets live under the exec root, and a unix socket path
        // has at most 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("hd-")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path();
        // The host's /etc/docker/daemon.json sets data-root and a storage driver: this
        // daemon reads an empty one instead.
        std::fs::write(root.join("daemon.json"), "{}").unwrap();
        let path = |name: &str| root.join(name).to_str().unwrap().to_owned();
        let mut args = vec![
            "dockerd".to_owned(),
            "--config-file".to_owned(),
            path("daemon.json"),
            "--data-root".to_owned(),
            path("data"),
            "--exec-root".to_owned(),
            path("x"),
            "--pidfile".to_owned(),
            path("dockerd.pid"),
            "-H".to_owned(),
            format!("unix://{}", path("docker.sock")),
            "--storage-driver".to_owned(),
            "vfs".to_owned(),
            "--bridge".to_owned(),
            "none".to_owned(),
            "--iptables=false".to_owned(),
            "--ip6tables=false".to_owned(),
        ];
        if let Some(tls) = tls {
            let server = tls.server_dir();
            let file = |name: &str| server.join(name).to_str().unwrap().to_owned();
            args.extend([
                "-H".to_owned(),
                format!("tcp://127.0.0.1:{TLS_PORT}"),
                "--tlsverify".to_owned(),
                "--tlscacert".to_owned(),
                file("ca.pem"),
                "--tlscert".to_owned(),
                file("cert.pem"),
                "--tlskey".to_owned(),
                file("key.pem"),
            ]);
        }
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        // unshare execs the shell in the new namespace and the shell execs dockerd, so the
        // child's PID is the daemon's.
        let child = Command::new("unshare")
            .args(["-n", "sh", "-c", "ip link set lo up && exec \"$@\"", "sh"])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("unshare starts");
        let daemon = Self {
            dir: Some(dir),
            child,
            tls: tls.is_some(),
        };
        daemon.wait_ready();
        daemon.load_test_image();
        daemon
    }

    fn root(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// The daemon's unix socket as a Docker address (reachable from any namespace).
    pub fn socket(&self) -> String {
        format!("unix://{}", self.root().join("docker.sock").display())
    }

    /// The daemon's TLS address, reachable from inside its namespace only.
    pub fn tcp(&self) -> String {
        format!("tcp://127.0.0.1:{TLS_PORT}")
    }

    /// The daemon's PID, whose network namespace is the daemon's.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `docker -H <this daemon's socket> ARGS`.
    pub fn docker(&self, args: &[&str]) -> Output {
        let socket = self.socket();
        let mut all = vec!["-H", socket.as_str()];
        all.extend_from_slice(args);
        docker(&all)
    }

    /// As [`Dockerd::docker`], returning trimmed stdout and failing the test on an error.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let output = self.docker(args);
        assert!(
            output.status.success(),
            "docker {} against the private daemon failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The daemon's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root().join("dockerd.log")).unwrap_or_default()
    }

    /// A command that runs `program` in the daemon's network namespace, without the
    /// Docker client variables of the test's own environment (the test sets what counts).
    pub fn in_netns(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/proc/{}/ns/net", self.pid()))
            .arg("--")
            .arg(program);
        for variable in [
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_CONFIG",
        ] {
            command.env_remove(variable);
        }
        command
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if self
                .docker(&["version", "--format", "{{.Server.Version}}"])
                .status
                .success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the private dockerd did not answer within {READY_WITHIN:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `docker save IMAGE | docker -H <socket> load`.
    fn load_test_image(&self) {
        let mut save = Command::new("docker")
            .args(["save", IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save starts");
        let load = Command::new("docker")
            .args(["-H", &self.socket(), "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .expect("docker load runs");
        assert!(save.wait().unwrap().success(), "docker save {IMAGE} failed");
        assert!(
            load.status.success(),
            "loading {IMAGE} into the private daemon failed: {}",
            String::from_utf8_lossy(&load.stderr)
        );
    }

    /// Every process whose command line names this daemon's directory (the daemon, its
    /// containerd, the shims it left running).
    fn processes(&self) -> Vec<u32> {
        let root = self.root().to_str().unwrap().as_bytes().to_vec();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmdline| cmdline.windows(root.len()).any(|w| w == root))
            })
            .collect()
    }

    /// Mount points under this daemon's directory, deepest first.
    fn mounts(&self) -> Vec<String> {
        let root = self.root().to_str().unwrap().to_owned();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split(' ').nth(4).map(str::to_owned))
            .filter(|point| point.starts_with(&root))
            .collect();
        mounts.sort_by_key(|point| std::cmp::Reverse(point.len()));
        mounts
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Containers first, so the daemon's shutdown does not wait on their stop timeouts.
        let ids = self.docker(&["ps", "-aq"]);
        let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = self.docker(&args);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Only processes of this daemon's directory: never another test's or the host's.
        for pid in self.processes() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        for point in self.mounts() {
            let _ = Command::new("umount").args(["-l", &point]).status();
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_owned();
            if dir.close().is_err() {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
}

impl Hale {
    /// Starts `hale run` as [`Hale::start`] does, in the network namespace of `daemon`
    /// (where its TCP port is).
    pub fn start_in_netns(
        daemon: &Dockerd,
        policies: &Path,
        state_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_through(
            daemon.in_netns(env!("CARGO_BIN_EXE_hale")),
            policies,
            state_dir,
            extra,
            env,
        )
    }
}
