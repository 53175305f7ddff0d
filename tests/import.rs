//! `hale import willfarrell` on willfarrell/autoheal's documented variables, end to end:
//! the files it writes pass `hale validate`, and `hale run` on them restarts the container
//! autoheal would have restarted (labelled with AUTOHEAL_CONTAINER_LABEL, unhealthy), and
//! leaves alone the one it would have left alone (not labelled).

mod common;

use std::time::Duration;

use common::{HEALTH, NEVER_HEALTHY, TestDocker, Workspace, hale_ok};

/// What a user waits for Docker's verdict plus hale's reaction; the figure itself is in
/// the reaction benchmark.
const WAIT: Duration = Duration::from_secs(30);

#[test]
fn imported_willfarrell_settings_validate_and_restart_what_autoheal_would() {
    let docker = TestDocker::new("import");
    // A label of this test's own, so the imported policy selects only its containers.
    let label = format!("heal-{}", docker.id);
    let ws = Workspace::new("");
    std::fs::remove_file(ws.policies().join("test.yaml")).unwrap();
    let env_file = ws.root().join("autoheal.env");
    std::fs::write(
        &env_file,
        format!(
            "# as in willfarrell/autoheal's README\nAUTOHEAL_CONTAINER_LABEL={label}\n\
AUTOHEAL_INTERVAL=5\nAUTOHEAL_START_PERIOD=0\nAUTOHEAL_DEFAULT_STOP_TIMEOUT=10\n\
AUTOHEAL_ONLY_MONITOR_RUNNING=false\nWEBHOOK_URL=\n"
        ),
    )
    .unwrap();
    let policies = ws.policies();
    // The containers run before the import, which lists the ones the policy selects.
    let label_arg = format!("{label}=true");
    let mut labelled = vec!["--label", label_arg.as_str()];
    labelled.extend_from_slice(HEALTH);
    let sick = docker.run("sick", &labelled, NEVER_HEALTHY);
    let unlabelled = docker.run("other", HEALTH, NEVER_HEALTHY);
    hale_ok([
        "import".as_ref(),
        "willfarrell".as_ref(),
        "--env-file".as_ref(),
        env_file.as_os_str(),
        "--out".as_ref(),
        policies.as_os_str(),
    ]);
    let written = std::fs::read_to_string(policies.join("autoheal.yaml")).unwrap();
    assert!(written.contains(&format!("AUTOHEAL_CONTAINER_LABEL={label} -> selector")));
    let sick_name = docker.name("sick");
    assert!(written.contains(&format!("#   {sick_name}\n")), "{written}");
    assert!(!written.contains(&docker.name("other")), "{written}");
    hale_ok([
        "validate".as_ref(),
        "--strict".as_ref(),
        policies.as_os_str(),
    ]);

    // A second import into the same directory refuses to overwrite.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(["import", "willfarrell", "--env-file"])
        .arg(&env_file)
        .arg("--out")
        .arg(&policies)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let inspect_started =
        |id: &str| common::docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", id]);
    let (sick_started, other_started) = (inspect_started(&sick), inspect_started(&unlabelled));
    let hale = ws.start(&[], &[]);
    hale.wait_audit("action_succeeded", &sick_name, WAIT);
    docker.wait_field("other", "{{.State.Health.Status}}", "unhealthy", WAIT);
    assert!(
        hale.audit("action_started", &docker.name("other"))
            .is_empty(),
        "the unlabelled container is not autoheal's, and not hale's"
    );
    assert_eq!(
        inspect_started(&unlabelled),
        other_started,
        "the unlabelled container was not touched"
    );
    assert_ne!(
        inspect_started(&sick),
        sick_started,
        "the labelled one was restarted"
    );
    hale.stop();
}
