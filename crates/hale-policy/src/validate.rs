//! Semantic validation: the rules a schema cannot express.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::diagnostic::{Diagnostic, Position};
use crate::located::{Located, PolicySet};
use crate::max_unhealthy::MaxUnhealthy;
use crate::meta::{ObjectMeta, name_problem};
use crate::notifier::Notifier;
use crate::policy::{Action, HealPolicy, HttpHeader, Probe};
use crate::secret::SecretRef;
use crate::selector::{LabelSelector, SelectorExclude, SelectorOperator};
use crate::tls::TlsTrust;

mod alerts;
mod email;
mod host;
mod notifier;
mod scope;

/// A diagnostic and the document it condemns (errors reject their whole document).
pub(crate) struct Finding {
    pub diagnostic: Diagnostic,
    pub document: Option<(PathBuf, Position)>,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.diagnostic.is_error()
    }
}

/// Collects findings about one document, placing each at its field's position.
struct Checker<'a, T> {
    located: &'a Located<T>,
    findings: &'a mut Vec<Finding>,
}

impl<T> Checker<'_, T> {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(Diagnostic::error, path.into(), message.into());
    }

    /// An error `offset` characters into the (single-line) value at `path`.
    fn error_at_offset(&mut self, path: String, offset: usize, message: String) {
        let mut position = self.located.position(&path);
        position.column += offset;
        self.findings.push(Finding {
            diagnostic: Diagnostic::error(self.located.file.clone(), Some(position), path, message),
            document: Some((self.located.file.clone(), self.located.index.start)),
        });
    }

    fn warning(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(Diagnostic::warning, path.into(), message.into());
    }

    fn push(
        &mut self,
        make: fn(PathBuf, Option<Position>, String, String) -> Diagnostic,
        path: String,
        message: String,
    ) {
        let position = self.located.position(&path);
        self.findings.push(Finding {
            diagnostic: make(self.located.file.clone(), Some(position), path, message),
            document: Some((self.located.file.clone(), self.located.index.start)),
        });
    }

    fn metadata(&mut self, metadata: &ObjectMeta) {
        if let Some(problem) = name_problem(&metadata.name) {
            self.error(
                "metadata.name",
                format!("invalid name {:?}: {problem}", metadata.name),
            );
        }
    }

    fn secret(&mut self, path: &str, secret: &SecretRef) {
        match (&secret.from_env, &secret.from_file) {
            (Some(_), Some(_)) => self.error(path, "set only one of fromEnv and fromFile"),
            (None, None) => self.error(
                path,
                "a secret needs fromEnv or fromFile (secrets are never written inline)",
            ),
            (Some(name), None) if name.is_empty() || name.contains(['=', '\0']) => self.error(
                format!("{path}.fromEnv"),
                format!("invalid environment variable name {name:?}"),
            ),
            (None, Some(file)) if file.as_os_str().is_empty() => {
                self.error(format!("{path}.fromFile"), "path must not be empty")
            }
            _ => {}
        }
    }

    fn headers(&mut self, path: &str, headers: &[HttpHeader]) {
        for (i, header) in headers.iter().enumerate() {
            let path = format!("{path}[{i}]");
            if header.name.is_empty() || !header.name.bytes().all(is_header_name_byte) {
                self.error(
                    format!("{path}.name"),
                    format!("invalid header name {:?}", header.name),
                );
            }
            match (&header.value, &header.value_from) {
                (Some(_), Some(_)) => self.error(&path, "set only one of value and valueFrom"),
                (None, None) => self.error(&path, "a header needs value or valueFrom"),
                (None, Some(secret)) => self.secret(&format!("{path}.valueFrom"), secret),
                (Some(_), None) => {}
            }
        }
    }

    /// Exactly one of `{base}.url` and `{base}.urlFrom`, and whichever is set is valid.
    fn url_or_from(&mut self, base: &str, url: Option<&str>, url_from: Option<&SecretRef>) {
        match (url, url_from) {
            (Some(_), Some(_)) => self.error(base, "set only one of url and urlFrom"),
            (None, None) => self.error(base, "needs url or urlFrom"),
            (Some(url), None) => self.url(&format!("{base}.url"), url),
            (None, Some(secret)) => self.secret(&format!("{base}.urlFrom"), secret),
        }
    }

    /// `certFile` and `keyFile` come together, and no path is empty.
    fn tls(&mut self, path: &str, tls: &TlsTrust) {
        for (field, file) in [
            ("caFile", &tls.ca_file),
            ("certFile", &tls.cert_file),
            ("keyFile", &tls.key_file),
        ] {
            if file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
                self.error(format!("{path}.{field}"), "path must not be empty");
            }
        }
        match (&tls.cert_file, &tls.key_file) {
            (Some(_), None) => self.error(
                format!("{path}.keyFile"),
                "a client certificate (certFile) needs its private key (keyFile)",
            ),
            (None, Some(_)) => self.error(
                format!("{path}.certFile"),
                "a private key (keyFile) needs its client certificate (certFile)",
            ),
            _ => {}
        }
    }

    fn url(&mut self, path: &str, url: &str) {
        if let Some(problem) = url_problem(url) {
            self.error(path, format!("invalid URL {url:?}: {problem}"));
        }
    }
}

fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Why `url` is not an absolute http(s) URL, or `None` when it is.
pub(crate) fn url_problem(url: &str) -> Option<&'static str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("expected an absolute URL such as https://example.com/healthz");
    };
    if !matches!(scheme, "http" | "https") {
        return Some("the scheme must be http or https");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Some("the host is missing");
    }
    if url.chars().any(char::is_whitespace) {
        return Some("URLs must not contain whitespace");
    }
    None
}

/// Checks every rule that spans fields or resources. Errors reject their document.
pub(crate) fn validate(set: &PolicySet) -> Vec<Finding> {
    let mut findings = Vec::new();
    unique_names(&set.policies, "HealPolicy", &mut findings);
    unique_names(&set.notifiers, "Notifier", &mut findings);
    let notifier_names: HashSet<&str> = set
        .notifiers
        .iter()
        .map(|n| n.resource.metadata.name.as_str())
        .collect();
    for policy in &set.policies {
        let mut checker = Checker {
            located: policy,
            findings: &mut findings,
        };
        check_policy(&mut checker, &policy.resource, &notifier_names);
    }
    for notifier in &set.notifiers {
        let mut checker = Checker {
            located: notifier,
            findings: &mut findings,
        };
        notifier::check_notifier(&mut checker, &notifier.resource);
    }
    findings
}

trait Named {
    fn metadata(&self) -> &ObjectMeta;
}
impl Named for HealPolicy {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}
impl Named for Notifier {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

fn unique_names<T: Named>(resources: &[Located<T>], kind: &str, findings: &mut Vec<Finding>) {
    let mut first: HashMap<&str, &Located<T>> = HashMap::new();
    for resource in resources {
        let name = resource.resource.metadata().name.as_str();
        match first.get(name) {
            Some(original) => {
                let message = format!(
                    "duplicate {kind} name {name:?}, already defined at {}; names must be unique per kind",
                    original.origin()
                );
                Checker {
                    located: resource,
                    findings,
                }
                .error("metadata.name", message);
            }
            None => {
                first.insert(name, resource);
            }
        }
    }
}

fn check_policy(c: &mut Checker<'_, HealPolicy>, policy: &HealPolicy, notifiers: &HashSet<&str>) {
    c.metadata(&policy.metadata);
    let spec = &policy.spec;
    if let Some(selector) = &spec.selector {
        check_selector(c, selector);
    }
    let selects_containers = spec.selector.as_ref().is_some_and(|s| !s.is_empty());
    if !selects_containers && spec.sites.is_empty() && !host::has_disk_probe(policy) {
        c.warning(
            "spec",
            "this policy selects no containers and has no sites or disk probes, so it will never act; add spec.selector, spec.sites or a disk probe",
        );
    }

    let mut site_names = HashSet::new();
    for (i, site) in spec.sites.iter().enumerate() {
        let path = format!("spec.sites[{i}]");
        if !site_names.insert(site.name.as_str()) {
            c.error(
                format!("{path}.name"),
                format!("duplicate site name {:?}", site.name),
            );
        }
        if let Some(problem) = name_problem(&site.name) {
            c.error(
                format!("{path}.name"),
                format!("invalid name {:?}: {problem}", site.name),
            );
        }
        c.url(&format!("{path}.url"), &site.url);
        if let Some(coolify) = &site.coolify {
            if let Some(problem) = coolify.uuid_problem() {
                c.error(
                    format!("{path}.coolify.applicationUuid"),
                    format!("{:?} {problem}", coolify.application_uuid),
                );
            }
            if let Some(url) = &coolify.url {
                c.url(&format!("{path}.coolify.url"), url);
            }
            c.secret(&format!("{path}.coolify.token"), &coolify.token);
        }
    }
    let known_site = |name: &str| site_names.contains(name);

    let mut probe_names = HashSet::new();
    for (i, probe) in spec.probes.iter().enumerate() {
        let path = format!("spec.probes[{i}]");
        if !probe_names.insert(probe.name.as_str()) {
            c.error(
                format!("{path}.name"),
                format!("duplicate probe name {:?}", probe.name),
            );
        }
        // Whether the probe talks TLS, for [CERTIFICATE_EXPIRATION].
        let tls = match &probe.site_ref {
            Some(site) => spec
                .sites
                .iter()
                .find(|s| s.name == *site)
                .is_none_or(|s| s.url.starts_with("https://")),
            None => probe
                .http_get
                .as_ref()
                .is_some_and(|h| h.scheme == crate::policy::Scheme::Https),
        };
        check_probe(c, &path, probe, &known_site);
        check_conditions(c, &path, probe, tls);
    }

    alerts::check_alerts(c, spec, &site_names);

    check_remediation(c, policy);
    scope::check_scope(c, policy);

    for (i, route) in spec.notify.iter().enumerate() {
        if !notifiers.contains(route.notifier.as_str()) {
            let mut known: Vec<&str> = notifiers.iter().copied().collect();
            known.sort_unstable();
            let hint = if known.is_empty() {
                "no Notifier is defined in the loaded files".to_owned()
            } else {
                format!("defined: {}", known.join(", "))
            };
            c.error(
                format!("spec.notify[{i}].notifier"),
                format!("no Notifier named {:?} ({hint})", route.notifier),
            );
        }
    }
}

fn missing_site_message(site: &str, sites: &HashSet<&str>) -> String {
    let mut known: Vec<&str> = sites.iter().copied().collect();
    known.sort_unstable();
    if known.is_empty() {
        format!("no site named {site:?}: this policy has no spec.sites")
    } else {
        format!("no site named {site:?} (sites: {})", known.join(", "))
    }
}

fn check_selector(c: &mut Checker<'_, HealPolicy>, selector: &LabelSelector) {
    if selector.is_empty() {
        c.warning(
            "spec.selector",
            "an empty selector selects no containers (hale never selects every container by accident)",
        );
    }
    if selector.all {
        let others = !selector.match_labels.is_empty()
            || !selector.match_expressions.is_empty()
            || !selector.names.is_empty()
            || selector.compose.is_some();
        if others {
            c.error(
                "spec.selector.all",
                "all: true selects every container: remove it, or the other requirements (matchLabels, matchExpressions, names, compose)",
            );
        }
        if selector
            .exclude
            .as_ref()
            .is_none_or(SelectorExclude::is_empty)
        {
            c.error(
                "spec.selector.all",
                "all: true needs an exclude (names or matchLabels) of what a restart must never touch, e.g. exclude: {names: [\"*db*\"]}; hale never selects its own container",
            );
        } else {
            c.warning(
                "spec.selector.all",
                "selects every container on the host, including ones started later; check that exclude lists every database and stateful service",
            );
        }
    }
    for (i, glob) in selector.names.iter().enumerate() {
        if glob.is_empty() {
            c.error(
                format!("spec.selector.names[{i}]"),
                "an empty name matches nothing",
            );
        }
    }
    if let Some(compose) = &selector.compose
        && compose.project.is_empty()
    {
        c.error("spec.selector.compose.project", "must not be empty");
    }
    for key in selector.match_labels.keys() {
        if let Some(problem) = label_key_problem(key) {
            c.error(
                format!("spec.selector.matchLabels.{key}"),
                format!("invalid label key {key:?}: {problem}"),
            );
        }
    }
    for (i, requirement) in selector.match_expressions.iter().enumerate() {
        let path = format!("spec.selector.matchExpressions[{i}]");
        if let Some(problem) = label_key_problem(&requirement.key) {
            c.error(
                format!("{path}.key"),
                format!("invalid label key {:?}: {problem}", requirement.key),
            );
        }
        match requirement.operator {
            SelectorOperator::In | SelectorOperator::NotIn if requirement.values.is_empty() => {
                c.error(
                    format!("{path}.values"),
                    format!(
                        "operator {:?} needs at least one value",
                        requirement.operator
                    ),
                );
            }
            SelectorOperator::Exists | SelectorOperator::DoesNotExist
                if !requirement.values.is_empty() =>
            {
                c.error(
                    format!("{path}.values"),
                    format!(
                        "operator {:?} takes no values; remove `values`",
                        requirement.operator
                    ),
                );
            }
            _ => {}
        }
    }
}

fn label_key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("must not be empty")
    } else if key.chars().any(|c| c.is_whitespace() || c == '=') {
        Some("must not contain whitespace or '='")
    } else {
        None
    }
}

fn check_probe(
    c: &mut Checker<'_, HealPolicy>,
    path: &str,
    probe: &Probe,
    known_site: &dyn Fn(&str) -> bool,
) {
    if let Some(problem) = name_problem(&probe.name) {
        c.error(
            format!("{path}.name"),
            format!("invalid name {:?}: {problem}", probe.name),
        );
    }
    let handlers = probe.handler_names();
    match handlers.as_slice() {
        [] => c.error(
            path,
            "a probe needs exactly one handler: dockerHealth, exit, httpGet, tcpSocket, exec or disk",
        ),
        [_] => {}
        several => c.error(
            path,
            format!(
                "a probe has exactly one handler, but this one has {}: {}",
                several.len(),
                several.join(", ")
            ),
        ),
    }
    if probe.failure_threshold == Some(0) {
        c.error(format!("{path}.failureThreshold"), "must be at least 1");
    }
    if probe.exit.is_some() && probe.failure_threshold.is_some_and(|n| n > 1) {
        c.warning(
            format!("{path}.failureThreshold"),
            "ignored: an exit probe acts on the first unexpected exit (remove failureThreshold, or use the remediation's backoff and quarantine to limit restarts)",
        );
    }
    if probe.success_threshold < 1 {
        c.error(format!("{path}.successThreshold"), "must be at least 1");
    }
    let periodic = !probe.is_event_driven();
    if let Some(window) = probe.failure_window {
        if !periodic {
            c.error(
                format!("{path}.failureWindow"),
                "only periodic probes (httpGet, tcpSocket, exec) count failures within a window: Docker's health check and exits are acted on as Docker reports them",
            );
        } else if window < probe.period {
            c.error(
                format!("{path}.failureWindow"),
                format!(
                    "window {window} is shorter than period {}: it could never hold two probes",
                    probe.period
                ),
            );
        }
    }
    if periodic {
        if probe.period.is_zero() {
            c.error(format!("{path}.period"), "must be longer than 0s");
        }
        if probe.timeout.is_zero() {
            c.error(format!("{path}.timeout"), "must be longer than 0s");
        } else if probe.timeout >= probe.period {
            c.error(
                format!("{path}.timeout"),
                format!(
                    "timeout {} must be shorter than period {}, or probes would overlap",
                    probe.timeout, probe.period
                ),
            );
        }
    }
    match &probe.site_ref {
        Some(site) => {
            if !known_site(site) {
                c.error(
                    format!("{path}.siteRef"),
                    format!("no site named {site:?} in spec.sites"),
                );
            }
            if let Some(handler) = handlers
                .iter()
                .find(|h| !matches!(**h, "httpGet" | "tcpSocket"))
            {
                c.error(
                    format!("{path}.{handler}"),
                    format!("a site can only be probed with httpGet or tcpSocket, not {handler}"),
                );
            }
        }
        None => {
            if probe.http_get.as_ref().is_some_and(|h| h.port.is_none()) {
                c.error(
                    format!("{path}.httpGet"),
                    "missing `port`: which container port should hale connect to?",
                );
            }
            if probe.tcp_socket.as_ref().is_some_and(|t| t.port.is_none()) {
                c.error(
                    format!("{path}.tcpSocket"),
                    "missing `port`: which container port should hale connect to?",
                );
            }
        }
    }
    if let Some(http) = &probe.http_get {
        c.headers(&format!("{path}.httpGet.headers"), &http.headers);
        c.tls(&format!("{path}.httpGet.tls"), &http.tls);
        if http.insecure_skip_verify {
            c.warning(
                format!("{path}.httpGet.insecureSkipVerify"),
                "accepts any certificate, so anyone on the path can answer for the target; \
                 trust its CA instead with `tls: {caFile: /path/to/ca.pem}` and drop insecureSkipVerify",
            );
        }
        if let Some(p) = &http.path
            && !p.starts_with('/')
        {
            c.error(
                format!("{path}.httpGet.path"),
                format!("path {p:?} must start with '/'"),
            );
        }
    }
    if probe.exec.as_ref().is_some_and(|e| e.command.is_empty()) {
        c.error(
            format!("{path}.exec.command"),
            "must name a command, e.g. [\"pg_isready\"]",
        );
    }
    host::check_disk_probe(c, path, probe);
}

/// Conditions parse, and read only what their probe's handler produces (`tls`: the probe
/// connects with HTTPS, so it sees a certificate).
fn check_conditions(c: &mut Checker<'_, HealPolicy>, path: &str, probe: &Probe, tls: bool) {
    use crate::conditions::{Condition, Placeholder};
    let available: &[Placeholder] = if probe.http_get.is_some() {
        &[
            Placeholder::Status,
            Placeholder::ResponseTime,
            Placeholder::Body,
            Placeholder::CertificateExpiration,
            Placeholder::Connected,
        ]
    } else if probe.tcp_socket.is_some() {
        &[Placeholder::Connected, Placeholder::ResponseTime]
    } else if probe.exec.is_some() {
        &[
            Placeholder::Status,
            Placeholder::Body,
            Placeholder::ResponseTime,
        ]
    } else {
        &[]
    };
    let head = probe
        .http_get
        .as_ref()
        .is_some_and(|h| h.method == crate::policy::ProbeMethod::Head);
    for (i, text) in probe.conditions.iter().enumerate() {
        let condition_path = format!("{path}.conditions[{i}]");
        if text.trim().is_empty() {
            c.error(condition_path, "a condition must not be empty");
            continue;
        }
        let condition = match Condition::parse(text) {
            Ok(condition) => condition,
            Err(error) => {
                c.error_at_offset(
                    condition_path,
                    error.offset,
                    format!("invalid condition: {}", error.message),
                );
                continue;
            }
        };
        let placeholder = condition.placeholder();
        if available.is_empty() {
            c.error(
                condition_path,
                "conditions apply to httpGet, tcpSocket and exec probes only (a disk probe's rule is its freeBelow)",
            );
        } else if !available.contains(&placeholder) {
            let handler = probe.handler_names().first().copied().unwrap_or("this");
            c.error(
                condition_path,
                format!("{handler} probes do not produce {}", placeholder.name()),
            );
        } else if placeholder == Placeholder::CertificateExpiration && !tls {
            // Refused rather than failing every probe, which would restart a healthy target.
            c.error(
                condition_path,
                "[CERTIFICATE_EXPIRATION] needs a certificate: probe with `scheme: HTTPS`, or give the site an https:// URL",
            );
        } else if head && placeholder == Placeholder::Body {
            c.error(
                condition_path,
                "a HEAD request has no body; use method GET to check [BODY]",
            );
        }
    }
}

fn check_remediation(c: &mut Checker<'_, HealPolicy>, policy: &HealPolicy) {
    let remediation = &policy.spec.remediation;
    if remediation.steps.is_empty() {
        c.error(
            "spec.remediation.steps",
            "the ladder needs at least one step (use `- action: notify` to only report)",
        );
    }
    let has_coolify = policy.spec.sites.iter().any(|s| s.coolify.is_some());
    for (i, step) in remediation.steps.iter().enumerate() {
        let path = format!("spec.remediation.steps[{i}]");
        if step.attempts < 1 {
            c.error(format!("{path}.attempts"), "must be at least 1");
        }
        if step.action.needs_coolify() && !has_coolify {
            c.error(
                format!("{path}.action"),
                "a Coolify action needs a site with `coolify: {applicationUuid: ...}` in spec.sites",
            );
        }
        match (step.action, &step.webhook) {
            (Action::Webhook, None) => c.error(
                &path,
                "action webhook needs a `webhook:` block with at least a url",
            ),
            (Action::Webhook, Some(webhook)) => {
                c.url_or_from(
                    &format!("{path}.webhook"),
                    webhook.url.as_deref(),
                    webhook.url_from.as_ref(),
                );
                c.headers(&format!("{path}.webhook.headers"), &webhook.headers);
                c.tls(&format!("{path}.webhook.tls"), &webhook.tls);
                if webhook.timeout.is_zero() {
                    c.error(format!("{path}.webhook.timeout"), "must be longer than 0s");
                }
            }
            (_, Some(_)) => c.error(
                format!("{path}.webhook"),
                "only `action: webhook` takes a webhook block",
            ),
            (_, None) => {}
        }
        host::check_prune_step(c, &path, step, policy);
        // hale escalates only on a failure seen after the step's action; a periodic probe
        // needs `failureThreshold` periods to confirm one, so a shorter step timeout is
        // not the pace the ladder will really have. (A notify rung's timeout only delays
        // the quarantine after it.)
        if step.action != Action::Notify
            && let Some(probe) = policy
                .spec
                .probes
                .iter()
                .filter(|p| !p.is_event_driven())
                .max_by_key(|p| p.period.as_std() * p.effective_failure_threshold())
        {
            let confirm = probe.period.as_std() * probe.effective_failure_threshold();
            if step.timeout.as_std() < confirm {
                c.warning(
                    format!("{path}.timeout"),
                    format!(
                        "timeout {} is shorter than probe {}'s period x failureThreshold ({} x {} = {}): hale escalates only on a failure confirmed after this step, so the step will in fact wait that long; raise the timeout to say so",
                        step.timeout,
                        probe.name,
                        probe.period,
                        probe.effective_failure_threshold(),
                        crate::Duration::from(confirm)
                    ),
                );
            }
        }
    }
    if let Some(MaxUnhealthy::Percent(percent)) = remediation.max_unhealthy
        && percent > 100
    {
        c.error(
            "spec.remediation.maxUnhealthy",
            format!("{percent}% is not a percentage between 0% and 100%"),
        );
    }
    let backoff = &remediation.backoff;
    if backoff.initial.is_zero() {
        c.error("spec.remediation.backoff.initial", "must be longer than 0s");
    }
    if backoff.initial > backoff.max {
        c.error(
            "spec.remediation.backoff.max",
            format!(
                "max {} is shorter than initial {}",
                backoff.max, backoff.initial
            ),
        );
    }
    let quarantine = &remediation.quarantine;
    if quarantine.after < 1 {
        c.error("spec.remediation.quarantine.after", "must be at least 1");
    }
    if quarantine.within.is_zero() {
        c.error(
            "spec.remediation.quarantine.within",
            "must be longer than 0s",
        );
    }
}
