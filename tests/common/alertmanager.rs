//! A real Alertmanager (Debian's prometheus-alertmanager) on loopback, sending its alerts to
//! hale's webhook.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Service, wait_http_ok};

/// Starts Alertmanager on loopback `port`, sending every alert to hale's webhook (with
/// the token) after 1 s; returns it and its URL.
pub fn alertmanager(dir: &Path, port: u16, hale_api: &str, token_path: &Path) -> (Service, String) {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hale\n  group_by: ['...']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n- name: hale\n  webhook_configs:\n  - url: {hale_api}/api/v1/alertmanager\n    send_resolved: true\n    http_config:\n      authorization:\n        type: Bearer\n        credentials_file: {}\n",
            token_path.display()
        ),
    )
    .unwrap();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "the tests need Alertmanager: `apt-get install prometheus-alertmanager` (.ci/run does)",
        );
    let url = format!("http://127.0.0.1:{port}");
    let service = Service(child);
    wait_http_ok(&format!("{url}/-/ready"), Duration::from_secs(40));
    (service, url)
}
