//! Every validation rule, asserted with its exact `file:line:col: path: message`.

use hale_policy::{Action, MaxUnhealthy, Mode, load_str};

/// The diagnostics for `text` read as `web.yaml`, as `hale validate` prints them.
fn diagnostics(text: &str) -> Vec<String> {
    load_str("policies/web.yaml", text)
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A valid policy header followed by `spec` (indented by the caller).
fn policy(spec: &str) -> String {
    format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata:\n  name: web\nspec:\n{spec}"
    )
}

const SELECT: &str = "  selector:\n    matchLabels: {app: web}\n";

#[test]
fn a_minimal_policy_is_valid_and_gets_every_default() {
    let report = load_str("p.yaml", &policy(SELECT));
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    let spec = &report.set.policies[0].resource.spec;
    assert_eq!(spec.mode, Mode::Enforce);
    assert_eq!(spec.remediation.steps[0].action, Action::Restart);
    assert_eq!(spec.remediation.steps[0].attempts, 3);
    assert_eq!(spec.remediation.cooldown.to_string(), "30s");
    assert_eq!(spec.remediation.backoff.initial.to_string(), "10s");
    assert_eq!(spec.remediation.backoff.max.to_string(), "5m");
    assert_eq!(spec.remediation.backoff.reset_after.to_string(), "10m");
    assert_eq!(spec.remediation.quarantine.after, 5);
    assert_eq!(spec.remediation.max_unhealthy, None);
}

#[test]
fn an_invalid_duration_points_at_the_value() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - name: h\n      dockerHealth: {{}}\n    - name: http\n      httpGet: {{port: 80}}\n      period: 10x\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:13:15: spec.probes[1].period: invalid duration \"10x\" (expected e.g. \"10s\", \"5m\", \"1h30m\")"
        ]
    );
}

#[test]
fn a_duration_without_unit_says_which_unit_to_add() {
    let text = policy(&format!("{SELECT}  remediation:\n    cooldown: 30\n"));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:9:15: spec.remediation.cooldown: invalid duration 30 (a unit is required, e.g. \"30s\")"
        ]
    );
}

#[test]
fn an_unknown_field_points_at_the_key_and_lists_the_known_ones() {
    let text = policy(&format!("{SELECT}  remediaton: {{}}\n"));
    let found = diagnostics(&text);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with(
            "policies/web.yaml:8:3: spec.remediaton: unknown field `remediaton`, expected one of `selector`"
        ),
        "{found:?}"
    );
    assert!(found[0].ends_with("(fields are case-sensitive; see `hale explain`)"));
}

#[test]
fn a_wrong_type_points_at_the_value() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - name: h\n      httpGet: {{port: 80}}\n      failureThreshold: many\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:11:25: spec.probes[0].failureThreshold: invalid type: string \"many\", expected u32"
        ]
    );
}

#[test]
fn a_missing_required_field_points_at_its_parent() {
    let text =
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata:\n  labels: {a: b}\nspec: {}\n";
    assert_eq!(
        diagnostics(text),
        ["policies/web.yaml:3:1: metadata: missing field `name`"]
    );
}

#[test]
fn the_api_version_and_kind_are_checked_first() {
    assert_eq!(
        diagnostics("apiVersion: hale.dev/v1\nkind: HealPolicy\n"),
        [
            "policies/web.yaml:1:13: apiVersion: unsupported apiVersion \"hale.dev/v1\" (expected \"hale.dev/v1alpha1\")"
        ]
    );
    assert_eq!(
        diagnostics("apiVersion: hale.dev/v1alpha1\nkind: HealPolicyy\n"),
        [
            "policies/web.yaml:2:7: kind: unknown kind \"HealPolicyy\" (expected HealPolicy or Notifier)"
        ]
    );
    assert_eq!(
        diagnostics("apiVersion: hale.dev/v1alpha1\nmetadata: {name: x}\n"),
        ["policies/web.yaml:1:1: kind: missing field `kind` (expected HealPolicy or Notifier)"]
    );
}

#[test]
fn every_error_in_every_document_is_reported_in_one_run() {
    let text = format!(
        "{}\n---\n{}---\n# an empty document is fine\n---\n{}",
        policy("  remediation: {cooldown: 1x}\n"),
        policy("  mode: Sometimes\n").replace("name: web", "name: two"),
        policy(&format!("{SELECT}  notify: [{{notifier: nobody}}]\n"))
            .replace("name: web", "name: three"),
    );
    let found = diagnostics(&text);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with(
            "policies/web.yaml:6:27: spec.remediation.cooldown: invalid duration \"1x\""
        )
    );
    assert!(
        found[1].starts_with("policies/web.yaml:14:9: spec.mode: unknown variant `Sometimes`"),
        "{found:?}"
    );
    assert_eq!(
        found[2],
        "policies/web.yaml:25:23: spec.notify[0].notifier: no Notifier named \"nobody\" (no Notifier is defined in the loaded files)"
    );
}

#[test]
fn names_must_be_unique_per_kind() {
    let text = format!("{}---\n{}", policy(SELECT), policy(SELECT));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:12:9: metadata.name: duplicate HealPolicy name \"web\", already defined at policies/web.yaml:1:1; names must be unique per kind"
        ]
    );
}

#[test]
fn a_notifier_and_a_policy_may_share_a_name() {
    let text = format!(
        "{}---\napiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: web}}\nspec:\n  ntfy: {{url: https://ntfy.sh/x}}\n",
        policy(SELECT)
    );
    assert_eq!(diagnostics(&text), Vec::<String>::new());
}

#[test]
fn names_follow_kubernetes_rules() {
    let text = policy(SELECT).replace("name: web", "name: Web_App");
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:4:9: metadata.name: invalid name \"Web_App\": may contain only lowercase letters, digits, '-' and '.'"
        ]
    );
}

#[test]
fn a_probe_has_exactly_one_handler() {
    let none = policy(&format!(
        "{SELECT}  probes:\n    - name: p\n      period: 5s\n"
    ));
    assert_eq!(
        diagnostics(&none),
        [
            "policies/web.yaml:9:7: spec.probes[0]: a probe needs exactly one handler: dockerHealth, exit, httpGet, tcpSocket, exec or disk"
        ]
    );
    let two = policy(&format!(
        "{SELECT}  probes:\n    - name: p\n      httpGet: {{port: 80}}\n      exec: {{command: [true]}}\n"
    ));
    assert_eq!(
        diagnostics(&two),
        [
            "policies/web.yaml:9:7: spec.probes[0]: a probe has exactly one handler, but this one has 2: httpGet, exec"
        ]
    );
}

#[test]
fn thresholds_are_at_least_one() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - name: p\n      exec: {{command: [true]}}\n      failureThreshold: 0\n      successThreshold: 0\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:11:25: spec.probes[0].failureThreshold: must be at least 1",
            "policies/web.yaml:12:25: spec.probes[0].successThreshold: must be at least 1",
        ]
    );
}

#[test]
fn timeout_must_be_shorter_than_period() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - name: p\n      tcpSocket: {{port: 5432}}\n      period: 5s\n      timeout: 5s\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:12:16: spec.probes[0].timeout: timeout 5s must be shorter than period 5s, or probes would overlap"
        ]
    );
}

#[test]
fn duplicate_probe_and_site_names_are_errors() {
    let text = policy(
        "  sites:\n    - {name: a, url: https://a.example}\n    - {name: a, url: https://b.example}\n  probes:\n    - {name: p, dockerHealth: {}}\n    - {name: p, exit: {}}\n",
    );
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:8:14: spec.sites[1].name: duplicate site name \"a\"",
            "policies/web.yaml:11:14: spec.probes[1].name: duplicate probe name \"p\"",
        ]
    );
}

#[test]
fn max_unhealthy_percent_is_between_0_and_100() {
    let text = policy(&format!("{SELECT}  remediation:\n    maxUnhealthy: 140%\n"));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:9:19: spec.remediation.maxUnhealthy: 140% is not a percentage between 0% and 100%"
        ]
    );
    let ok = load_str(
        "p.yaml",
        &policy(&format!("{SELECT}  remediation:\n    maxUnhealthy: 40%\n")),
    );
    assert_eq!(
        ok.set.policies[0].resource.spec.remediation.max_unhealthy,
        Some(MaxUnhealthy::Percent(40))
    );
    let garbage = policy(&format!("{SELECT}  remediation:\n    maxUnhealthy: most\n"));
    assert_eq!(
        diagnostics(&garbage),
        [
            "policies/web.yaml:9:19: spec.remediation.maxUnhealthy: invalid value \"most\" (expected a count such as 2 or a percentage such as \"40%\")"
        ]
    );
}

#[test]
fn the_ladder_must_not_be_empty() {
    let text = policy(&format!("{SELECT}  remediation:\n    steps: []\n"));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:9:5: spec.remediation.steps: the ladder needs at least one step (use `- action: notify` to only report)"
        ]
    );
}

#[test]
fn notify_must_name_an_existing_notifier() {
    let text = format!(
        "{}---\napiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: ops}}\nspec:\n  slack: {{webhookUrl: {{fromEnv: SLACK}}}}\n",
        policy(&format!("{SELECT}  notify:\n    - notifier: opps\n"))
    );
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:9:17: spec.notify[0].notifier: no Notifier named \"opps\" (defined: ops)"
        ]
    );
}

#[test]
fn site_ref_must_name_an_existing_site() {
    let text = policy(
        "  sites:\n    - {name: shop, url: https://shop.example}\n  probes:\n    - name: p\n      siteRef: shopp\n      httpGet: {}\n  alerts:\n    - matchLabels: {alertname: Down}\n      siteRef: nope\n",
    );
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:10:16: spec.probes[0].siteRef: no site named \"shopp\" in spec.sites",
            "policies/web.yaml:14:16: spec.alerts[0].siteRef: no site named \"nope\" (sites: shop)",
        ]
    );
}

#[test]
fn target_selected_marks_the_selection_and_names_no_other_target() {
    let valid = policy(&format!(
        "{SELECT}  alerts:\n    - matchLabels: {{alertname: HighLatency}}\n      targetSelected: true\n"
    ));
    let report = load_str("p.yaml", &valid);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    let rule = &report.set.policies[0].resource.spec.alerts[0];
    assert!(rule.target_selected);
    assert_eq!(rule.target_label(), "container", "the default, unused here");

    let both = policy(
        "  selector: {matchLabels: {app: web}}\n  sites:\n    - {name: shop, url: https://shop.example}\n  alerts:\n    - matchLabels: {alertname: Down}\n      targetSelected: true\n      siteRef: shop\n      targetLabel: container\n",
    );
    assert_eq!(
        diagnostics(&both),
        [
            "policies/web.yaml:11:23: spec.alerts[0].targetSelected: targetSelected marks every container the policy selects, siteRef one site: set only one of them",
            "policies/web.yaml:13:20: spec.alerts[0].targetLabel: not used with targetSelected: true, which marks every container the policy selects rather than the one a label names; remove one of them",
        ]
    );

    let nothing_selected = policy(
        "  sites:\n    - {name: shop, url: https://shop.example}\n  alerts:\n    - matchLabels: {alertname: Down}\n      targetSelected: true\n",
    );
    assert_eq!(
        diagnostics(&nothing_selected),
        [
            "policies/web.yaml:10:23: spec.alerts[0].targetSelected: targetSelected marks the containers this policy selects, and it selects none: add spec.selector"
        ]
    );

    let circuit = policy(&format!(
        "{SELECT}  alerts:\n    - matchLabels: {{alertname: Down}}\n      targetSelected: true\n  remediation:\n    maxUnhealthy: 1\n"
    ));
    let report = load_str("policies/web.yaml", &circuit);
    assert!(!report.has_errors(), "a warning, not an error");
    assert_eq!(
        report.diagnostics[0].to_string(),
        "policies/web.yaml:10:23: warning: spec.alerts[0].targetSelected: this alert marks every selected container failing at once, so with maxUnhealthy 1 the circuit holds back every action while it fires if more containers than that are selected"
    );
}

#[test]
fn a_site_can_only_be_probed_over_the_network() {
    let text = policy(
        "  sites:\n    - {name: shop, url: https://shop.example}\n  probes:\n    - name: p\n      siteRef: shop\n      exec: {command: [true]}\n",
    );
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:11:7: spec.probes[0].exec: a site can only be probed with httpGet or tcpSocket, not exec"
        ]
    );
}

#[test]
fn container_network_probes_need_a_port() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - name: p\n      httpGet: {{path: /healthz}}\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:10:7: spec.probes[0].httpGet: missing `port`: which container port should hale connect to?"
        ]
    );
}

#[test]
fn a_coolify_action_needs_a_coolify_site() {
    let text = policy(&format!(
        "{SELECT}  remediation:\n    steps:\n      - action: restart\n      - action: coolifyRedeploy\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:11:17: spec.remediation.steps[1].action: a Coolify action needs a site with `coolify: {applicationUuid: ...}` in spec.sites"
        ]
    );
    let with_site = policy(
        "  sites:\n    - name: shop\n      url: https://shop.example\n      coolify: {applicationUuid: abc123}\n  remediation:\n    steps:\n      - action: coolifyRestart\n      - action: coolifyRedeploy\n",
    );
    assert_eq!(diagnostics(&with_site), Vec::<String>::new());
}

#[test]
fn an_application_uuid_that_would_change_the_request_is_refused() {
    for uuid in [
        "\"../../servers\"",
        "\"a b\"",
        "\"u1,u2\"",
        "\"x?force=true\"",
    ] {
        let text = policy(&format!(
            "  sites:\n    - name: shop\n      url: https://shop.example\n      coolify: {{applicationUuid: {uuid}}}\n  remediation:\n    steps:\n      - action: coolifyRestart\n"
        ));
        let found = diagnostics(&text);
        assert_eq!(found.len(), 1, "{uuid}: {found:?}");
        assert!(
            found[0].contains("spec.sites[0].coolify.applicationUuid")
                && found[0].contains("may hold only letters, digits"),
            "{uuid}: {found:?}"
        );
    }
}

#[test]
fn selector_operators_are_well_formed() {
    let text = policy(
        "  selector:\n    matchExpressions:\n      - {key: env, operator: In}\n      - {key: tier, operator: Exists, values: [x]}\n      - {key: x, operator: Near}\n",
    );
    let found = diagnostics(&text);
    assert!(found[0].starts_with("policies/web.yaml:10:28: spec.selector.matchExpressions[2].operator: unknown variant `Near`, expected one of `In`, `NotIn`, `Exists`, `DoesNotExist`"), "{found:?}");
    let text = policy(
        "  selector:\n    matchExpressions:\n      - {key: env, operator: In}\n      - {key: tier, operator: Exists, values: [x]}\n",
    );
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:8:10: spec.selector.matchExpressions[0].values: operator In needs at least one value",
            "policies/web.yaml:9:39: spec.selector.matchExpressions[1].values: operator Exists takes no values; remove `values`",
        ]
    );
}

#[test]
fn a_policy_that_selects_nothing_is_a_warning_not_an_error() {
    let report = load_str("policies/web.yaml", &policy("  mode: DryRun\n"));
    assert!(!report.has_errors());
    assert_eq!(report.set.policies.len(), 1);
    assert_eq!(
        report
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "policies/web.yaml:5:1: warning: spec: this policy selects no containers and has no sites or disk probes, so it will never act; add spec.selector, spec.sites or a disk probe"
        ]
    );
}

#[test]
fn the_webhook_action_needs_its_request() {
    let text = policy(&format!(
        "{SELECT}  remediation:\n    steps:\n      - action: webhook\n      - action: restart\n        webhook: {{url: https://x.example}}\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:10:9: spec.remediation.steps[0]: action webhook needs a `webhook:` block with at least a url",
            "policies/web.yaml:12:9: spec.remediation.steps[1].webhook: only `action: webhook` takes a webhook block",
        ]
    );
}

#[test]
fn secrets_are_references_with_exactly_one_source() {
    let text = "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {name: ops}\nspec:\n  slack:\n    webhookUrl: {fromEnv: A, fromFile: /b}\n";
    assert_eq!(
        diagnostics(text),
        ["policies/web.yaml:6:5: spec.slack.webhookUrl: set only one of fromEnv and fromFile"]
    );
    let inline = "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {name: ops}\nspec:\n  slack:\n    webhookUrl: https://hooks.slack.com/services/T/B/secret\n";
    let found = diagnostics(inline);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("policies/web.yaml:6:17: spec.slack.webhookUrl: invalid type: string"),
        "{found:?}"
    );
}

#[test]
fn a_notifier_has_exactly_one_sink() {
    let text = "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {name: ops}\nspec:\n  ntfy: {url: https://ntfy.sh/a}\n  discord: {webhookUrl: {fromEnv: D}}\n";
    assert_eq!(
        diagnostics(text),
        [
            "policies/web.yaml:4:1: spec: a Notifier has exactly one sink, but this one has 2: discord, ntfy"
        ]
    );
    let none = "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {name: ops}\nspec: {}\n";
    assert_eq!(
        diagnostics(none),
        [
            "policies/web.yaml:4:1: spec: a Notifier needs exactly one sink: webhook, slack, discord, telegram, ntfy or email"
        ]
    );
}

#[test]
fn notifier_sinks_check_their_own_fields() {
    let text = "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {name: ops}\nspec:\n  email:\n    host: smtp.example.com\n    username: hale\n    from: hale.example.com\n    to: []\n";
    assert_eq!(
        diagnostics(text),
        [
            "policies/web.yaml:5:3: spec.email.password: a username needs a password",
            "policies/web.yaml:8:11: spec.email.from: \"hale.example.com\" is not an email address",
            "policies/web.yaml:9:5: spec.email.to: needs at least one recipient",
        ]
    );
    let ntfy = "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {name: ops}\nspec:\n  ntfy: {url: ntfy.sh/topic, priority: 9}\n";
    assert_eq!(
        diagnostics(ntfy),
        [
            "policies/web.yaml:5:15: spec.ntfy.url: invalid URL \"ntfy.sh/topic\": expected an absolute URL such as https://example.com/healthz",
            "policies/web.yaml:5:40: spec.ntfy.priority: priority 9 is not between 1 and 5",
        ]
    );
}

#[test]
fn an_smtp_login_is_refused_in_the_clear_except_to_this_machine() {
    let email = |host: &str, tls: &str| {
        format!(
            "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: ops}}\nspec:\n  email:\n    host: {host}\n    tls: {tls}\n    username: hale\n    password: {{fromEnv: SMTP_PASSWORD}}\n    from: hale@example.com\n    to: [oncall@example.com]\n"
        )
    };
    assert_eq!(
        diagnostics(&email("smtp.example.com", "None")),
        [
            "policies/web.yaml:7:10: spec.email.tls: tls: None would send the SMTP user name and password unencrypted to \"smtp.example.com\": use tls: StartTls (port 587) or tls: Tls (port 465); tls: None is for a relay on this machine (localhost, 127.0.0.1, ::1)"
        ]
    );
    // An address on another machine is no better than a name.
    assert_eq!(diagnostics(&email("192.0.2.10", "None")).len(), 1);
    for local in [
        "localhost",
        "127.0.0.1",
        "\"::1\"",
        "\"[::1]\"",
        "LOCALHOST",
    ] {
        assert_eq!(
            diagnostics(&email(local, "None")),
            Vec::<String>::new(),
            "{local}"
        );
    }
    for tls in ["StartTls", "Tls"] {
        assert_eq!(
            diagnostics(&email("smtp.example.com", tls)),
            Vec::<String>::new(),
            "{tls}"
        );
    }
    // Without a login, nothing secret travels: a plain relay elsewhere stays allowed.
    let anonymous = "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {name: ops}\nspec:\n  email: {host: relay.example.com, tls: None, from: hale@example.com, to: [oncall@example.com]}\n";
    assert_eq!(diagnostics(anonymous), Vec::<String>::new());
}

#[test]
fn a_rejected_document_does_not_take_valid_neighbours_with_it() {
    let text = format!(
        "{}---\n{}",
        policy("  mode: Sometimes\n"),
        policy(SELECT).replace("name: web", "name: good")
    );
    let report = load_str("p.yaml", &text);
    assert!(report.has_errors());
    let names: Vec<_> = report
        .set
        .policies
        .iter()
        .map(|p| p.resource.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["good"]);
}

#[test]
fn a_condition_typo_is_an_error_at_the_offending_character() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - name: http\n      httpGet: {{port: 80}}\n      conditions:\n        - \"[STATUS] == 200\"\n        - \"[STAUTS] == 200\"\n        - \"[BODY].items[x] == 1\"\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:13:12: spec.probes[0].conditions[1]: invalid condition: unknown placeholder [STAUTS]: expected [STATUS], [RESPONSE_TIME], [BODY], [CERTIFICATE_EXPIRATION] or [CONNECTED]",
            "policies/web.yaml:14:25: spec.probes[0].conditions[2]: invalid condition: array index \"x\" is not a number",
        ]
    );
}

#[test]
fn conditions_read_only_what_the_handler_produces() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - name: tcp\n      tcpSocket: {{port: 5432}}\n      conditions: [\"[STATUS] == 200\"]\n    - name: head\n      httpGet: {{port: 80, method: HEAD}}\n      conditions: [\"[BODY] == ok\"]\n    - name: health\n      dockerHealth: {{}}\n      conditions: [\"[CONNECTED] == true\"]\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:11:21: spec.probes[0].conditions[0]: tcpSocket probes do not produce [STATUS]",
            "policies/web.yaml:14:21: spec.probes[1].conditions[0]: a HEAD request has no body; use method GET to check [BODY]",
            "policies/web.yaml:17:21: spec.probes[2].conditions[0]: conditions apply to httpGet, tcpSocket and exec probes only (a disk probe's rule is its freeBelow)",
        ]
    );
}

#[test]
fn certificate_expiration_needs_an_https_probe() {
    let text = policy(&format!(
        "{SELECT}  sites:\n    - {{name: shop, url: \"https://shop.example.com\"}}\n    - {{name: plain, url: \"http://plain.example.com\"}}\n  probes:\n    - name: tls\n      httpGet: {{port: 443, scheme: HTTPS}}\n      conditions: [\"[CERTIFICATE_EXPIRATION] > 48h\"]\n    - name: site-tls\n      siteRef: shop\n      httpGet: {{}}\n      conditions: [\"[CERTIFICATE_EXPIRATION] > 48h\"]\n    - name: cleartext\n      httpGet: {{port: 80}}\n      conditions: [\"[CERTIFICATE_EXPIRATION] > 48h\"]\n    - name: site-cleartext\n      siteRef: plain\n      httpGet: {{}}\n      conditions: [\"[CERTIFICATE_EXPIRATION] > 48h\"]\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:21:21: spec.probes[2].conditions[0]: [CERTIFICATE_EXPIRATION] needs a certificate: probe with `scheme: HTTPS`, or give the site an https:// URL",
            "policies/web.yaml:25:21: spec.probes[3].conditions[0]: [CERTIFICATE_EXPIRATION] needs a certificate: probe with `scheme: HTTPS`, or give the site an https:// URL",
        ]
    );
}

#[test]
fn a_step_timeout_shorter_than_a_probe_can_confirm_a_failure_is_a_warning() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - {{name: http, httpGet: {{port: 80}}, period: 10s, failureThreshold: 3}}\n  remediation:\n    steps:\n      - {{action: restart, timeout: 20s}}\n      - {{action: recreate, timeout: 30s}}\n"
    ));
    let report = load_str("policies/web.yaml", &text);
    assert!(!report.has_errors());
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:12:36: warning: spec.remediation.steps[0].timeout: timeout 20s is shorter than probe http's period x failureThreshold (10s x 3 = 30s): hale escalates only on a failure confirmed after this step, so the step will in fact wait that long; raise the timeout to say so"
        ]
    );
}

#[test]
fn a_failure_threshold_on_an_exit_probe_is_ignored_with_a_warning() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - {{name: exit, exit: {{}}, failureThreshold: 3}}\n"
    ));
    let found = diagnostics(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("policies/web.yaml:9:48: warning: spec.probes[0].failureThreshold: ignored: an exit probe acts on the first unexpected exit"),
        "{found:?}"
    );
}

#[test]
fn a_webhook_action_takes_exactly_one_of_url_and_url_from() {
    let both = policy(&format!(
        "{SELECT}  remediation:\n    steps:\n      - action: webhook\n        webhook: {{url: https://x.example, urlFrom: {{fromEnv: HOOK}}}}\n"
    ));
    assert_eq!(
        diagnostics(&both),
        [
            "policies/web.yaml:11:9: spec.remediation.steps[0].webhook: set only one of url and urlFrom"
        ]
    );
    let neither = policy(&format!(
        "{SELECT}  remediation:\n    steps:\n      - action: webhook\n        webhook: {{method: POST}}\n"
    ));
    assert_eq!(
        diagnostics(&neither),
        ["policies/web.yaml:11:9: spec.remediation.steps[0].webhook: needs url or urlFrom"]
    );
    let secret = policy(&format!(
        "{SELECT}  remediation:\n    steps:\n      - action: webhook\n        webhook: {{urlFrom: {{fromFile: /run/secrets/hook}}}}\n"
    ));
    assert!(
        diagnostics(&secret).is_empty(),
        "{:?}",
        diagnostics(&secret)
    );
}

#[test]
fn insecure_skip_verify_is_a_warning_that_points_to_ca_file() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - name: https\n      httpGet: {{port: 443, scheme: HTTPS, insecureSkipVerify: true}}\n"
    ));
    let report = load_str("policies/web.yaml", &text);
    assert_eq!(report.diagnostics.len(), 1, "{:?}", report.diagnostics);
    assert_eq!(
        report.diagnostics[0].severity,
        hale_policy::Severity::Warning
    );
    let message = report.diagnostics[0].to_string();
    assert!(
        message.contains("spec.probes[0].httpGet.insecureSkipVerify") && message.contains("caFile"),
        "{message}"
    );
}

#[test]
fn a_client_certificate_needs_its_key_and_an_ntfy_url_may_come_from_a_secret() {
    let text = policy(&format!(
        "{SELECT}  probes:\n    - name: https\n      httpGet: {{port: 443, scheme: HTTPS, tls: {{caFile: /ca.pem, certFile: /c.pem}}}}\n"
    ));
    assert_eq!(
        diagnostics(&text),
        [
            "policies/web.yaml:10:43: spec.probes[0].httpGet.tls.keyFile: a client certificate (certFile) needs its private key (keyFile)"
        ]
    );
    let ntfy = "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {name: ops}\nspec:\n  ntfy: {urlFrom: {fromEnv: NTFY_TOPIC}}\n  tls: {caFile: /etc/hale/ca.pem}\n";
    assert!(diagnostics(ntfy).is_empty(), "{:?}", diagnostics(ntfy));
}

#[test]
fn the_email_trust_block_follows_the_tls_rules_and_needs_tls_to_apply_to() {
    let email = |tls: &str, trust: &str| {
        format!(
            "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: ops}}\nspec:\n  email:\n    host: smtp.example.com\n    tls: {tls}\n    trust: {trust}\n    from: hale@example.com\n    to: [oncall@example.com]\n"
        )
    };
    let whole = email(
        "StartTls",
        "{caFile: /etc/hale/ca.pem, certFile: /c.pem, keyFile: /k.pem}",
    );
    assert!(diagnostics(&whole).is_empty(), "{:?}", diagnostics(&whole));
    assert_eq!(
        diagnostics(&email("Tls", "{caFile: /etc/hale/ca.pem, keyFile: /k.pem}")),
        [
            "policies/web.yaml:8:5: spec.email.trust.certFile: a private key (keyFile) needs its client certificate (certFile)"
        ]
    );
    let plain = load_str(
        "policies/web.yaml",
        &email("None", "{caFile: /etc/hale/ca.pem}"),
    );
    assert_eq!(plain.diagnostics.len(), 1, "{:?}", plain.diagnostics);
    assert_eq!(
        plain.diagnostics[0].severity,
        hale_policy::Severity::Warning
    );
    let message = plain.diagnostics[0].to_string();
    assert!(
        message.contains("spec.email.trust") && message.contains("no effect with tls: None"),
        "{message}"
    );
}
