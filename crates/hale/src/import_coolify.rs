//! `hale import coolify-autoheal`: turns the config of AutoHEAL, the Coolify site healer (a
//! cron script that kept its config as JSON in Redis), into a HealPolicy to review, with
//! comments that say what each setting became and where hale's semantics differ.
//!
//! The config comes from a file or from Redis ([`config`]); each site's URL from `--site
//! UUID=URL` or from Coolify, the application's `fqdn` ([`sites`]). This file maps the
//! settings. The output is checked as `hale validate --strict` checks before it is written.

mod config;
mod sites;

pub use config::{AutohealConfig, DEFAULT_KEY, parse_config, read_file, read_redis};
pub use sites::{CoolifyLookup, SiteUrl, coolify_base_url, site_arg, site_urls};

use std::fmt::Write as _;
use std::time::Duration as StdDuration;

use hale_policy::{CoolifyApplication, Duration, SecretRef};

use crate::import::{ImportError, ImportedFile, check_strict, quoted};

/// The environment variable AutoHEAL read its Coolify token from; the imported sites read
/// it too, so hale runs with the environment AutoHEAL had.
pub const TOKEN_VARIABLE: &str = "COOLIFY_API_TOKEN";

/// AutoHEAL's cron line ran it every minute.
const PERIOD: StdDuration = StdDuration::from_secs(60);

/// AutoHEAL's `curl --max-time 10`.
const PROBE_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// The smallest `failureWindowSec` AutoHEAL accepts.
const MIN_WINDOW_SEC: u64 = 30;

/// The name of the policy (and of its file, with `.yaml`).
const POLICY_NAME: &str = "coolify-autoheal";

/// A Coolify application as the imported sites name it: `url` (COOLIFY_API_URL, which
/// ends in `/api/v1`; the reconciler strips it) and the token from [`TOKEN_VARIABLE`].
fn coolify_application(uuid: &str, url: Option<&str>) -> CoolifyApplication {
    CoolifyApplication {
        application_uuid: uuid.to_owned(),
        url: url.map(str::to_owned),
        token: SecretRef {
            from_env: Some(TOKEN_VARIABLE.to_owned()),
            from_file: None,
        },
    }
}

/// A site name hale accepts (lowercase letters, digits, `-`) made from a UUID; Coolify's
/// are already, except for the odd capital or `_`.
fn site_name(uuid: &str, index: usize, taken: &[String]) -> String {
    let name: String = uuid
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let name = name.trim_matches('-').to_owned();
    if name.is_empty() || taken.contains(&name) {
        format!("site-{}", index + 1)
    } else {
        name
    }
}

/// The hale settings AutoHEAL's become, worked out once for the YAML and its comments.
struct Mapped {
    /// The window as AutoHEAL used it (raised to its own minimum).
    autoheal_window: u64,
    /// The window hale gets: at least one probe period.
    window: Duration,
    /// The time one step gets before the next (or the quarantine).
    step_timeout: Duration,
    /// `period x failureThreshold`: the time a new failure takes to be confirmed.
    confirm: Duration,
}

impl Mapped {
    fn of(config: &AutohealConfig) -> Self {
        let autoheal_window = config.failure_window_sec.max(MIN_WINDOW_SEC);
        let window = StdDuration::from_secs(autoheal_window).max(PERIOD);
        let confirm = PERIOD * config.failure_threshold;
        let step_timeout = StdDuration::from_secs(config.redeploy_delay_sec).max(confirm);
        Self {
            autoheal_window,
            window: window.into(),
            step_timeout: step_timeout.into(),
            confirm: confirm.into(),
        }
    }
}

/// The HealPolicy AutoHEAL's config becomes, for `sites` (one per enabled site, with its
/// URL); `coolify_api_url` is COOLIFY_API_URL, if known.
///
/// # Errors
/// [`ImportError::Invalid`] if the result does not pass `hale validate --strict` (a bug).
pub fn coolify_autoheal(
    config: &AutohealConfig,
    sites: &[SiteUrl],
    coolify_api_url: Option<&str>,
) -> Result<Vec<ImportedFile>, ImportError> {
    let mapped = Mapped::of(config);
    let mut text = header(config, &mapped, coolify_api_url);
    let mut names: Vec<String> = Vec::with_capacity(sites.len());
    for (index, site) in sites.iter().enumerate() {
        let name = site_name(&site.uuid, index, &names);
        names.push(name);
    }
    let _ = writeln!(text, "apiVersion: hale.dev/v1alpha1");
    let _ = writeln!(text, "kind: HealPolicy");
    let _ = writeln!(text, "metadata:\n  name: {POLICY_NAME}");
    let _ = writeln!(
        text,
        "  annotations:\n    hale.dev/description: Imported from AutoHEAL (Coolify site healer)"
    );
    let _ = writeln!(text, "spec:");
    let _ = writeln!(text, "  sites:");
    for (site, name) in sites.iter().zip(&names) {
        match &site.from_coolify {
            Some((app, fqdn)) => {
                let _ = writeln!(
                    text,
                    "    # Coolify application {app:?}; url: from its fqdn {fqdn:?}."
                );
            }
            None => {
                let _ = writeln!(text, "    # url: from --site.");
            }
        }
        let _ = writeln!(text, "    - name: {name}");
        let _ = writeln!(text, "      url: {}", quoted(&site.url));
        let _ = writeln!(text, "      coolify:");
        let _ = writeln!(text, "        applicationUuid: {}", quoted(&site.uuid));
        if let Some(api_url) = coolify_api_url {
            let _ = writeln!(text, "        url: {}", quoted(&coolify_base_url(api_url)));
        }
        let _ = writeln!(text, "        token:\n          fromEnv: {TOKEN_VARIABLE}");
    }
    let _ = writeln!(text, "  probes:");
    for name in &names {
        let _ = writeln!(text, "    - name: {name}");
        let _ = writeln!(text, "      siteRef: {name}");
        let _ = writeln!(text, "      httpGet:\n        method: HEAD");
        let _ = writeln!(text, "      period: {}", Duration::from(PERIOD));
        let _ = writeln!(text, "      timeout: {}", Duration::from(PROBE_TIMEOUT));
        let _ = writeln!(text, "      failureThreshold: {}", config.failure_threshold);
        let _ = writeln!(text, "      failureWindow: {}", mapped.window);
    }
    let _ = writeln!(text, "  remediation:\n    steps:");
    let _ = writeln!(text, "      - action: coolifyRestart");
    let _ = writeln!(text, "        attempts: 1");
    let _ = writeln!(text, "        timeout: {}", mapped.step_timeout);
    if config.redeploy_after_restart {
        let _ = writeln!(text, "      - action: coolifyRedeploy");
        let _ = writeln!(text, "        attempts: 1");
        let _ = writeln!(text, "        timeout: {}", mapped.step_timeout);
    }
    let _ = writeln!(text, "    cooldown: {}", Duration::from(PERIOD));
    let _ = writeln!(text, "    backoff:");
    let _ = writeln!(text, "      initial: {}", Duration::from(PERIOD));
    let _ = writeln!(text, "      max: {}", Duration::from(PERIOD));
    let _ = writeln!(text, "      resetAfter: 10m");
    let _ = writeln!(text, "    quarantine:");
    let _ = writeln!(text, "      after: 5");
    let _ = writeln!(text, "      within: 1h");
    let _ = writeln!(
        text,
        "      releaseAfter: {}",
        Duration::from_secs(config.cooldown_sec)
    );
    let mode = if config.enabled { "Enforce" } else { "DryRun" };
    let _ = writeln!(text, "  mode: {mode}");
    let files = vec![ImportedFile {
        name: format!("{POLICY_NAME}.yaml"),
        text,
    }];
    check_strict(&files)?;
    Ok(files)
}

/// The comments at the top of the policy: what each setting became, and why.
fn header(config: &AutohealConfig, mapped: &Mapped, coolify_api_url: Option<&str>) -> String {
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s.trim_end());
        out.push('\n');
    };
    let default = |field: &str| {
        if config.defaulted.contains(&field) {
            " (not set: AutoHEAL's default)"
        } else {
            ""
        }
    };
    let updated = config
        .updated_at
        .as_deref()
        .map(|at| format!(", updated at {at}"))
        .unwrap_or_default();
    line("# Imported from AutoHEAL (the Coolify site healer) by `hale import coolify-autoheal`,");
    line(&format!("# from {}{updated}.", config.origin));
    line("# Review, then put it in hale's policy directory (`hale validate --strict` accepts it).");
    line("# What each setting became:");
    line("#");
    if config.enabled {
        line(&format!(
            "#   enabled=true{} -> mode: Enforce.",
            default("enabled")
        ));
    } else {
        line(
            "#   enabled=false -> mode: DryRun. AutoHEAL only watched; hale decides and records what",
        );
        line("#     it would do (hale events shows it as dry_run) and touches nothing.");
    }
    line(&format!(
        "#   enabledSites ({}) -> one spec.sites[] entry per application, named by its UUID (as",
        config.enabled_sites.len()
    ));
    line("#     AutoHEAL's logs named it), and one httpGet probe per site (siteRef).");
    line("#   every minute, HTTP HEAD with curl --max-time 10 -> period: 1m, timeout: 10s,");
    line("#     httpGet.method: HEAD. Redirects are judged, not followed, as curl without -L did.");
    line("#   2xx/3xx ok, 4xx degraded (no action), 5xx or no answer fails -> no conditions: that");
    line("#     is hale's own rule for a site probe without conditions (a 4xx is recorded once as");
    line(
        "#     `degraded`, and never acted on). A condition such as \"[STATUS] < 500\" would replace",
    );
    line("#     the rule: 4xx would pass silently instead of showing as degraded.");
    line(&format!(
        "#   failureThreshold={}{} -> probes[].failureThreshold: {}.",
        config.failure_threshold,
        default("failureThreshold"),
        config.failure_threshold
    ));
    line(&format!(
        "#   failureWindowSec={}{} -> probes[].failureWindow: {}: failures within the window",
        config.failure_window_sec,
        default("failureWindowSec"),
        mapped.window
    ));
    line("#     count, consecutive or not; hale keeps them in its state store across restarts.");
    if config.failure_window_sec < MIN_WINDOW_SEC {
        line(&format!(
            "#     Clamped, not refused: AutoHEAL's minimum window is {MIN_WINDOW_SEC}s, so it used {MIN_WINDOW_SEC}s."
        ));
    }
    if mapped.autoheal_window < PERIOD.as_secs() {
        line(&format!(
            "#     Raised from {}s to {}: hale refuses a window shorter than the probe's period (it",
            mapped.autoheal_window, mapped.window
        ));
        line(
            "#     could never hold two probes); AutoHEAL's once-a-minute probes could not fit two",
        );
        line("#     failures in it either.");
    }
    line("#   restart (POST /api/v1/applications/{uuid}/restart) -> steps[0]: coolifyRestart.");
    let delay = Duration::from_secs(config.redeploy_delay_sec);
    if config.redeploy_after_restart {
        line(&format!(
            "#   redeployAfterRestart=true{}, redeployDelaySec={}{} -> steps[1]: coolifyRedeploy, once",
            default("redeployAfterRestart"),
            config.redeploy_delay_sec,
            default("redeployDelaySec")
        ));
        line(&format!(
            "#     steps[0].timeout ({}) has passed and the site has failed again since the restart.",
            mapped.step_timeout
        ));
        line(
            "#     AutoHEAL redeployed with force=true (a rebuild without the build cache, queued",
        );
        line(
            "#     even when the same commit is queued); hale's coolifyRedeploy asks force=false:",
        );
        line(
            "#     a normal deploy, which Coolify does not queue twice. hale has no setting for it.",
        );
    } else {
        line(&format!(
            "#   redeployAfterRestart=false, redeployDelaySec={} -> no coolifyRedeploy step; the",
            config.redeploy_delay_sec
        ));
        line(&format!(
            "#     restart gets steps[0].timeout ({}) to work before hale gives up on it.",
            mapped.step_timeout
        ));
    }
    if mapped.step_timeout != delay {
        line(&format!(
            "#     The step timeout is {} rather than {delay}: hale acts again only on a failure",
            mapped.step_timeout
        ));
        line(&format!(
            "#     confirmed after the action, which takes period x failureThreshold (1m x {} = {}),",
            config.failure_threshold, mapped.confirm
        ));
        line("#     and `hale validate --strict` refuses a step timeout shorter than that.");
    }
    line(&format!(
        "#   cooldownSec={}{} -> quarantine.releaseAfter: {}. AutoHEAL left a site alone this",
        config.cooldown_sec,
        default("cooldownSec"),
        Duration::from_secs(config.cooldown_sec)
    ));
    line("#     long after its sequence, then started over with a restart. hale's cooldown is the");
    line("#     minimum time between any two actions, so it would also space the restart from the");
    line(
        "#     redeploy; instead a site still failing after the last step's timeout is quarantined",
    );
    line(
        "#     (reported, left alone) and released after releaseAfter, when the ladder starts again",
    );
    line(
        "#     from coolifyRestart. The wait starts one step timeout after the last action, where",
    );
    line("#     AutoHEAL's started at it.");
    line(
        "#   cooldown: 1m, backoff 1m flat -> AutoHEAL's cron never acted twice on a site within a",
    );
    line(
        "#     minute, and its delays did not grow (hale's default backoff doubles at each action,",
    );
    line(
        "#     a skipped one included). Never longer than a step's timeout, so the steps' timeouts",
    );
    line("#     set the pace.");
    if config.skip_when_deploying {
        line(&format!(
            "#   skipWhenDeploying=true{} -> nothing to set: before each coolifyRestart and",
            default("skipWhenDeploying")
        ));
        line(
            "#     coolifyRedeploy hale asks Coolify for the application's deployments and, while one",
        );
        line("#     is queued or in progress, records `skipped` and waits (no attempt counted).");
    } else {
        line(
            "#   skipWhenDeploying=false -> not imported: hale's Coolify actions always wait while a",
        );
        line(
            "#     deployment is queued or in progress (recorded as `skipped`); this cannot be turned",
        );
        line("#     off, and a second deployment would only queue behind the first.");
    }
    match coolify_api_url {
        Some(url) => line(&format!(
            "#   COOLIFY_API_URL={url} -> sites[].coolify.url: {} (hale adds /api/v1).",
            coolify_base_url(url)
        )),
        None => {
            line("#   COOLIFY_API_URL (not set for the import) -> no coolify.url: hale reads the");
            line(
                "#     instance's base URL (without /api/v1) from COOLIFY_URL in its environment.",
            );
        }
    }
    line(&format!(
        "#   COOLIFY_API_TOKEN -> sites[].coolify.token: {{fromEnv: {TOKEN_VARIABLE}}}: set it in the"
    ));
    line("#     environment of hale run as AutoHEAL had it (abilities deploy, and read for the");
    line("#     deployment check).");
    if config.updated_at.is_some() {
        line("#   updatedAt -> not imported: when AutoHEAL's config last changed.");
    }
    line("#   the failure counters AutoHEAL kept in Redis -> not imported: hale counts in its own");
    line("#     state store, from its first probe.");
    for key in &config.unknown {
        line(&format!(
            "#   {key} -> not imported: not one of AutoHEAL's settings."
        ));
    }
    line("#   limits AutoHEAL lacked -> quarantine after 5 actions within 1h (a site that each");
    line(
        "#     sequence fixes only for a while); a site that fails again within 10m of recovering",
    );
    line("#     (backoff.resetAfter) climbs on from where the ladder was instead of restarting.");
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "k4w8ockgs0co4c88s4wkcgsc";

    fn spec_of(files: &[ImportedFile]) -> hale_policy::HealPolicySpec {
        let report = hale_policy::load_str("x.yaml", &crate::import::joined(files));
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
        report.set.policies[0].resource.spec.clone()
    }

    fn import(json: &str) -> (Vec<ImportedFile>, hale_policy::HealPolicySpec) {
        let config = parse_config(json, "test.json").expect("parses");
        let sites: Vec<SiteUrl> = config
            .enabled_sites
            .iter()
            .map(|uuid| SiteUrl {
                uuid: uuid.clone(),
                url: format!("https://{uuid}.example.com"),
                from_coolify: None,
            })
            .collect();
        let files = coolify_autoheal(&config, &sites, Some("https://coolify.example.com/api/v1"))
            .expect("imports");
        let spec = spec_of(&files);
        (files, spec)
    }

    #[test]
    fn defaults_fill_missing_fields_and_map_to_a_restart_then_redeploy_ladder() {
        let (files, spec) = import(&format!(r#"{{"enabledSites": ["{UUID}"]}}"#));
        assert_eq!(files[0].name, "coolify-autoheal.yaml");
        assert_eq!(spec.mode, hale_policy::Mode::Enforce);
        let site = &spec.sites[0];
        assert_eq!(site.name, UUID);
        let coolify = site.coolify.as_ref().expect("coolify");
        assert_eq!(coolify.application_uuid, UUID);
        assert_eq!(coolify.url.as_deref(), Some("https://coolify.example.com"));
        assert_eq!(coolify.token.from_env.as_deref(), Some("COOLIFY_API_TOKEN"));
        let probe = &spec.probes[0];
        assert_eq!(probe.site_ref.as_deref(), Some(UUID));
        let http = probe.http_get.as_ref().expect("httpGet");
        assert_eq!(http.method, hale_policy::ProbeMethod::Head);
        assert!(probe.conditions.is_empty(), "the classic site rule decides");
        assert_eq!(probe.period.as_std().as_secs(), 60);
        assert_eq!(probe.timeout.as_std().as_secs(), 10);
        assert_eq!(probe.failure_threshold, Some(2));
        assert_eq!(
            probe.failure_window.map(|w| w.as_std().as_secs()),
            Some(120)
        );
        let actions: Vec<_> = spec.remediation.steps.iter().map(|s| s.action).collect();
        assert_eq!(
            actions,
            [
                hale_policy::Action::CoolifyRestart,
                hale_policy::Action::CoolifyRedeploy
            ]
        );
        // 90s would be shorter than 1m x 2, the time a new failure takes to be confirmed.
        assert_eq!(spec.remediation.steps[0].timeout.as_std().as_secs(), 120);
        assert_eq!(
            spec.remediation
                .quarantine
                .release_after
                .map(|r| r.as_std().as_secs()),
            Some(600)
        );
        let remediation = &spec.remediation;
        assert_eq!(remediation.cooldown.as_std().as_secs(), 60);
        assert_eq!(remediation.backoff.initial, remediation.backoff.max);
        let text = &files[0].text;
        assert!(
            text.contains("failureThreshold=2 (not set: AutoHEAL's default)"),
            "{text}"
        );
        assert!(text.contains("skipWhenDeploying=true"), "{text}");
        assert!(text.contains("force=true"), "{text}");
    }

    #[test]
    fn enabled_false_is_a_dry_run_and_redeploy_after_restart_false_has_one_step() {
        let (files, spec) = import(&format!(
            r#"{{"enabled": false, "redeployAfterRestart": false, "redeployDelaySec": 300,
                "failureThreshold": 3, "cooldownSec": 900, "skipWhenDeploying": false,
                "enabledSites": ["{UUID}", "other_App", "{UUID}"], "updatedAt": "2026-10-01T12:00:00Z",
                "webhook": "x"}}"#
        ));
        assert_eq!(spec.mode, hale_policy::Mode::DryRun);
        assert_eq!(spec.remediation.steps.len(), 1);
        assert_eq!(
            spec.remediation.steps[0].action,
            hale_policy::Action::CoolifyRestart
        );
        assert_eq!(spec.remediation.steps[0].timeout.as_std().as_secs(), 300);
        let names: Vec<&str> = spec.sites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [UUID, "other-app"], "a duplicate is imported once");
        assert_eq!(
            spec.sites[1].coolify.as_ref().unwrap().application_uuid,
            "other_App"
        );
        let text = &files[0].text;
        assert!(text.contains("mode: DryRun"), "{text}");
        assert!(
            text.contains("skipWhenDeploying=false -> not imported"),
            "{text}"
        );
        assert!(text.contains("updated at 2026-10-01T12:00:00Z"), "{text}");
        assert!(text.contains("webhook -> not imported"), "{text}");
    }

    #[test]
    fn a_window_below_autoheals_minimum_is_clamped_and_raised_to_the_period() {
        let (files, spec) = import(&format!(
            r#"{{"failureWindowSec": 10, "failureThreshold": 1, "redeployDelaySec": 30, "enabledSites": ["{UUID}"]}}"#
        ));
        let probe = &spec.probes[0];
        assert_eq!(probe.failure_window.map(|w| w.as_std().as_secs()), Some(60));
        assert_eq!(spec.remediation.steps[0].timeout.as_std().as_secs(), 60);
        let text = &files[0].text;
        assert!(text.contains("Clamped, not refused"), "{text}");
        assert!(text.contains("Raised from 30s to 1m"), "{text}");
        // A window AutoHEAL and hale both accept is kept as it is.
        let (_, spec) = import(&format!(
            r#"{{"failureWindowSec": 300, "enabledSites": ["{UUID}"]}}"#
        ));
        assert_eq!(
            spec.probes[0].failure_window.map(|w| w.as_std().as_secs()),
            Some(300)
        );
    }
}
