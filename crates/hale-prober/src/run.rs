//! Running one probe and judging its result.

use std::time::{Duration, Instant};

use hale_core::{ContainerSnapshot, DockerPort, Target};
use hale_policy::conditions::{Condition, Observed, Placeholder};
use hale_policy::{HttpGetProbe, Probe, ProbeMethod, Scheme, Site};

use crate::error::ObserveError;

/// Response bodies read for `[BODY]` conditions are cut to this size.
const BODY_LIMIT: usize = 64 * 1024;

/// How much of an exec probe's output goes into the outcome's reason (and so the audit
/// record): its end, where errors usually are.
const EXCERPT: usize = 200;

/// The last `max` characters of `text`.
fn tail(text: &str, max: usize) -> &str {
    let skip = text.chars().count().saturating_sub(max);
    text.char_indices()
        .nth(skip)
        .map_or("", |(at, _)| &text[at..])
}

/// The HTTP clients every probe shares, so connections are pooled and reused: one per
/// distinct combination of trust (`tls`), "follow redirects" and "verify TLS", built through
/// the one builder in [`hale_core::http_client`]. Cheap to clone.
#[derive(Clone, Default)]
pub struct HttpClients {
    cache: hale_core::http_client::ClientCache,
}

impl HttpClients {
    /// An empty set; each client is built when a probe first needs it.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, http: &HttpGetProbe) -> Result<reqwest::Client, ObserveError> {
        let settings = hale_core::http_client::ClientSettings {
            trust: http.tls.clone(),
            accept_invalid_certs: http.insecure_skip_verify,
            follow_redirects: http.follow_redirects,
            // Keeps the server's certificate with each response, for
            // [CERTIFICATE_EXPIRATION].
            tls_info: true,
        };
        Ok(self.cache.get(&settings)?)
    }
}

/// The verdict of one probe run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// It passed.
    pub success: bool,
    /// It passed, but a site answered 4xx (the classic site rule's "degraded").
    pub degraded: bool,
    /// What was seen, e.g. `HTTP 503`, `connection refused`, `condition failed: ...`.
    pub reason: String,
    /// How long it took.
    pub elapsed: Duration,
}

/// Runs `probe` against `target` and judges it. Without conditions, the handler's own rule
/// decides: for containers HTTP 2xx/3xx, TCP connected, exit code 0; for sites the classic
/// rule, where 2xx/3xx pass, 4xx passes as *degraded*, and 5xx, timeouts and connection
/// errors fail. With conditions, every condition must hold.
pub async fn run_probe(
    clients: &HttpClients,
    docker: &dyn DockerPort,
    probe: &Probe,
    conditions: &[Condition],
    target: &Target,
) -> ProbeResult {
    match target {
        Target::Container(container) => {
            let observe = |timeout, needs_body| {
                observe_container(clients, docker, probe, container, timeout, needs_body)
            };
            judged(probe, conditions, false, observe).await
        }
        Target::Site(site) => probe_site(clients, probe, conditions, site).await,
        Target::Host(_) => {
            let started = Instant::now();
            let (success, reason) = match &probe.disk {
                Some(disk) => crate::disk::probe_disk(docker, disk, probe.timeout.as_std()).await,
                None => (false, "only disk probes can check the host".to_owned()),
            };
            ProbeResult {
                success,
                degraded: false,
                reason,
                elapsed: started.elapsed(),
            }
        }
    }
}

/// Runs `probe` against a site (which needs no Docker) and judges it by the classic rule
/// or the conditions; see [`run_probe`].
pub async fn probe_site(
    clients: &HttpClients,
    probe: &Probe,
    conditions: &[Condition],
    site: &Site,
) -> ProbeResult {
    let observe = |timeout, needs_body| observe_site(clients, probe, site, timeout, needs_body);
    judged(probe, conditions, true, observe).await
}

/// Observes with `observe(timeout, needs_body)`, times it, and judges the result.
async fn judged<F>(
    probe: &Probe,
    conditions: &[Condition],
    site: bool,
    observe: impl FnOnce(Duration, bool) -> F,
) -> ProbeResult
where
    F: Future<Output = Result<Observed, ObserveError>>,
{
    let started = Instant::now();
    let needs_body = conditions
        .iter()
        .any(|c| c.placeholder() == Placeholder::Body);
    let observed = observe(probe.timeout.as_std(), needs_body).await;
    let elapsed = started.elapsed();
    let (success, degraded, reason) = match observed {
        Err(error) => (false, false, error.to_string()),
        Ok(mut observed) => {
            observed.response_time = elapsed;
            judge(probe, conditions, &observed, site)
        }
    };
    ProbeResult {
        success,
        degraded,
        reason,
        elapsed,
    }
}

async fn observe_container(
    clients: &HttpClients,
    docker: &dyn DockerPort,
    probe: &Probe,
    container: &ContainerSnapshot,
    timeout: Duration,
    needs_body: bool,
) -> Result<Observed, ObserveError> {
    if let Some(http) = &probe.http_get {
        let port = http.port.unwrap_or(80);
        let (host, port) = container
            .endpoint(port, http.host.as_deref(), http.network.as_deref())
            .ok_or(ObserveError::NoAddressOnNetwork)?;
        let scheme = match http.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let path = http.path.as_deref().unwrap_or("/");
        let url = format!("{scheme}://{host}:{port}{path}");
        http_probe(clients, http, &url, timeout, needs_body).await
    } else if let Some(tcp) = &probe.tcp_socket {
        let port = tcp.port.unwrap_or(0);
        let published =
            tcp.host.is_some() && container.published.contains_key(&format!("{port}/tcp"));
        let (host, port) = container
            .endpoint(port, tcp.host.as_deref(), None)
            .ok_or(ObserveError::NoAddress)?;
        Ok(tcp_probe(&host, port, timeout, published).await)
    } else if let Some(exec) = &probe.exec {
        let output = docker.exec(&container.id, &exec.command, timeout).await?;
        Ok(Observed {
            status: Some(output.exit_code),
            body: Some(output.output),
            connected: true,
            ..Observed::default()
        })
    } else {
        Err(ObserveError::NotPeriodic)
    }
}

async fn observe_site(
    clients: &HttpClients,
    probe: &Probe,
    site: &Site,
    timeout: Duration,
    needs_body: bool,
) -> Result<Observed, ObserveError> {
    let mut url =
        reqwest::Url::parse(&site.url).map_err(|source| ObserveError::InvalidSiteUrl {
            url: site.url.clone(),
            source,
        })?;
    if let Some(http) = &probe.http_get {
        if let Some(path) = &http.path {
            let (path, query) = path
                .split_once('?')
                .map_or((path.as_str(), None), |(p, q)| (p, Some(q)));
            url.set_path(path);
            url.set_query(query);
        }
        http_probe(clients, http, url.as_str(), timeout, needs_body).await
    } else if let Some(tcp) = &probe.tcp_socket {
        let host = url
            .host_str()
            .ok_or_else(|| ObserveError::IncompleteSiteUrl {
                url: site.url.clone(),
                missing: "host",
            })?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = tcp
            .port
            .or_else(|| url.port_or_known_default())
            .ok_or_else(|| ObserveError::IncompleteSiteUrl {
                url: site.url.clone(),
                missing: "port",
            })?;
        Ok(tcp_probe(&host, port, timeout, false).await)
    } else {
        Err(ObserveError::SiteProbeKind)
    }
}

/// Judges what was observed: (passed, degraded, what was seen).
fn judge(
    probe: &Probe,
    conditions: &[Condition],
    observed: &Observed,
    site: bool,
) -> (bool, bool, String) {
    let seen = if probe.http_get.is_some() {
        observed
            .status
            .map_or_else(|| "no response".to_owned(), |s| format!("HTTP {s}"))
    } else if probe.tcp_socket.is_some() {
        if observed.connected {
            "connected"
        } else {
            "connection refused"
        }
        .to_owned()
    } else {
        let code = observed.status.unwrap_or(-1);
        match observed
            .body
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            Some(output) => format!("exit code {code}, output {:?}", tail(output, EXCERPT)),
            None => format!("exit code {code}"),
        }
    };
    if !conditions.is_empty() {
        let failed: Vec<String> = conditions
            .iter()
            .filter_map(|c| observed.check(c).err().map(|unmet| unmet.to_string()))
            .collect();
        return if failed.is_empty() {
            (true, false, seen)
        } else {
            (
                false,
                false,
                format!("condition failed: {}", failed.join("; ")),
            )
        };
    }
    if probe.http_get.is_some() {
        let status = observed.status.unwrap_or(0);
        if site && (400..500).contains(&status) {
            return (true, true, seen);
        }
        return ((200..400).contains(&status), false, seen);
    }
    let passed = if probe.tcp_socket.is_some() {
        observed.connected
    } else {
        observed.status == Some(0)
    };
    (passed, false, seen)
}

async fn http_probe(
    clients: &HttpClients,
    http: &HttpGetProbe,
    url: &str,
    timeout: Duration,
    needs_body: bool,
) -> Result<Observed, ObserveError> {
    let client = clients.get(http)?;
    let mut request = match http.method {
        ProbeMethod::Get => client.get(url),
        ProbeMethod::Head => client.head(url),
    }
    .timeout(timeout);
    for (name, value) in hale_policy::HttpHeader::resolve_all(&http.headers)? {
        request = request.header(name, value);
    }
    let mut response = request.send().await.map_err(|e| describe(&e))?;
    let status = i64::from(response.status().as_u16());
    let certificate_expiration = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(reqwest::tls::TlsInfo::peer_certificate)
        .and_then(time_to_expiry);
    let body = if needs_body {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() >= BODY_LIMIT {
                body.truncate(BODY_LIMIT);
                break;
            }
        }
        Some(String::from_utf8_lossy(&body).into_owned())
    } else {
        None
    };
    Ok(Observed {
        status: Some(status),
        body,
        connected: true,
        certificate_expiration,
        ..Observed::default()
    })
}

/// Time left until the certificate (DER) expires; zero once it has. `None` when it
/// cannot be parsed.
fn time_to_expiry(der: &[u8]) -> Option<Duration> {
    use x509_cert::der::Decode;
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    let not_after = certificate
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(not_after.saturating_sub(now))
}

fn describe(error: &reqwest::Error) -> ObserveError {
    ObserveError::Request(if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        let chain = hale_core::error_chain(error);
        if chain.contains("certificate") {
            // The last link is rustls's own words (e.g. "invalid peer certificate:
            // UnknownIssuer"); the URL before it is the probe's own.
            let cause = chain.rsplit(": ").next().unwrap_or(&chain);
            format!(
                "TLS certificate not trusted ({cause}); trust its CA with tls.caFile, or fix the server's chain"
            )
        } else {
            "connection refused".to_owned()
        }
    } else {
        hale_core::error_chain(error)
    })
}

/// Connects within `timeout`. Through a published port, Docker's userland proxy accepts
/// every connection and closes it at once when nothing listens inside the container, so
/// there a connection that is closed (or reset) right away counts as refused.
async fn tcp_probe(host: &str, port: u16, timeout: Duration, through_proxy: bool) -> Observed {
    use tokio::io::AsyncReadExt;
    let started = tokio::time::Instant::now();
    let mut connected =
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
            Ok(Ok(stream)) => Some(stream),
            _ => None,
        };
    if through_proxy && let Some(stream) = connected.as_mut() {
        let settle =
            (timeout.saturating_sub(started.elapsed()) / 2).min(Duration::from_millis(200));
        let mut byte = [0u8; 1];
        match tokio::time::timeout(settle, stream.read(&mut byte)).await {
            // The server spoke first, or waits for us: someone listens.
            Ok(Ok(n)) if n > 0 => {}
            Err(_) => {}
            // Closed or reset at once: the proxy found nobody behind it.
            Ok(_) => connected = None,
        }
    }
    Observed {
        connected: connected.is_some(),
        ..Observed::default()
    }
}
