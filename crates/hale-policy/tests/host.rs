//! The rules of host targets: disk probes and prune steps, asserted with their exact
//! `file:line:col: path: message`.

use hale_policy::{Action, FreeSpace, ImagePrune, load_str};

fn diagnostics(text: &str) -> Vec<String> {
    load_str("policies/disk.yaml", text)
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn policy(spec: &str) -> String {
    format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata:\n  name: disk\nspec:\n{spec}"
    )
}

const DISK: &str =
    "  probes:\n    - name: data\n      disk: {path: /var/lib/docker, freeBelow: 10%}\n";

#[test]
fn a_disk_policy_with_a_prune_step_is_valid_and_gets_the_defaults() {
    let text = policy(&format!(
        "{DISK}  remediation:\n    steps:\n      - action: prune\n      - action: notify\n"
    ));
    let report = load_str("policies/disk.yaml", &text);
    assert_eq!(diagnostics(&text), Vec::<String>::new());
    let spec = &report.set.policies[0].resource.spec;
    let disk = spec.probes[0].disk.as_ref().unwrap();
    assert_eq!(disk.free_below, FreeSpace::Percent(10.0));
    assert_eq!(spec.remediation.steps[0].action, Action::Prune);
    // No block: the step prunes with the defaults.
    assert!(spec.remediation.steps[0].prune.is_none());
    let defaults = hale_policy::PruneAction::default();
    assert!(defaults.containers && defaults.build_cache && defaults.networks);
    assert!(!defaults.volumes);
    assert_eq!(defaults.images, ImagePrune::Dangling);
}

#[test]
fn disk_and_prune_mistakes_are_refused_where_they_are() {
    let text = policy(
        "  selector:\n    matchLabels: {app: web}\n  probes:\n    - name: data\n      disk: {path: var/lib/docker, freeBelow: 10%}\n      conditions: [\"[STATUS] == 0\"]\n  remediation:\n    steps:\n      - action: restart\n        prune: {volumes: true}\n",
    );
    assert_eq!(
        diagnostics(&text),
        [
            "policies/disk.yaml:10:20: spec.probes[0].disk.path: path \"var/lib/docker\" must be absolute, e.g. /var/lib/docker (as hale sees it: mount the host's directory into hale's container)",
            "policies/disk.yaml:11:21: spec.probes[0].conditions[0]: conditions apply to httpGet, tcpSocket and exec probes only (a disk probe's rule is its freeBelow)",
            "policies/disk.yaml:15:9: spec.remediation.steps[0].prune: only `action: prune` takes a prune block",
        ]
    );
    let no_probe = policy(
        "  selector:\n    matchLabels: {app: web}\n  remediation:\n    steps:\n      - action: prune\n        prune: {volumes: true, until: 24h, labels: [\"\"]}\n",
    );
    assert_eq!(
        diagnostics(&no_probe),
        [
            "policies/disk.yaml:10:17: spec.remediation.steps[0].action: prune acts on the host target of a disk probe: add a probe with `disk: {path: /var/lib/docker, freeBelow: 10%}`",
            "policies/disk.yaml:11:26: warning: spec.remediation.steps[0].prune.volumes: removes every volume no container mounts, with its data, including those of stopped containers pruned in the same step",
            "policies/disk.yaml:11:39: warning: spec.remediation.steps[0].prune.until: Docker's volume prune has no age filter: volumes are pruned whatever their age",
            "policies/disk.yaml:11:54: spec.remediation.steps[0].prune.labels[0]: invalid label \"\": expected key or key=value",
        ]
    );
    let bad_threshold =
        policy("  probes:\n    - name: data\n      disk: {path: /d, freeBelow: \"5\"}\n");
    assert_eq!(
        diagnostics(&bad_threshold),
        [
            "policies/disk.yaml:8:36: spec.probes[0].disk.freeBelow: invalid free-space threshold \"5\" (expected a share such as \"10%\" or a size such as \"5GiB\" or \"500MB\")",
        ]
    );
}
