//! Traces end to end: `hale run` exports to a real OTLP collector (`rotel`, from PyPI) on
//! loopback, which forwards to a receiver in this test; a failing container's remediation
//! episode arrives as one trace (episode, decisions, the action), the webhook the action
//! calls carries the same trace in `traceparent`, and the audit records name the trace. A
//! collector that is down changes nothing in healing. gRPC export to an `https://` endpoint
//! goes over TLS, trusting the CA in `OTEL_EXPORTER_OTLP_CERTIFICATE`.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::otlp::{gunzip, start_rotel};
use common::{HEALTH, NEVER_HEALTHY, TestDocker, Workspace, hale_events};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

const WAIT: Duration = Duration::from_secs(40);

/// One span as received: name, trace id, span id, parent span id (hex), attributes.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace: String,
    id: String,
    parent: String,
    attributes: BTreeMap<String, String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP receiver: decodes every export into spans.
fn receiver(runtime: &tokio::runtime::Runtime) -> (u16, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let store = Arc::clone(&spans);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let store = Arc::clone(&store);
            async move {
                // rotel compresses what it forwards (and ignores "none" in this version).
                let body = if headers
                    .get("content-encoding")
                    .is_some_and(|v| v == "gzip")
                {
                    axum::body::Bytes::from(gunzip(&body))
                } else {
                    body
                };
                let request = ExportTraceServiceRequest::decode(body.clone()).unwrap_or_else(|e| {
                    panic!(
                        "not OTLP protobuf ({e}): headers {headers:?}, body starts {:?}",
                        &body[..body.len().min(40)]
                    )
                });
                let mut spans = store.lock().unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            let attributes = span
                                .attributes
                                .iter()
                                .map(|kv| {
                                    let value = kv.value.as_ref().and_then(|v| v.value.as_ref()).map(|v| {
                                        use opentelemetry_proto::tonic::common::v1::any_value::Value;
                                        match v {
                                            Value::StringValue(s) => s.clone(),
                                            Value::IntValue(i) => i.to_string(),
                                            Value::BoolValue(b) => b.to_string(),
                                            other => format!("{other:?}"),
                                        }
                                    });
                                    (kv.key.clone(), value.unwrap_or_default())
                                })
                                .collect();
                            spans.push(Span {
                                name: span.name,
                                trace: hex(&span.trace_id),
                                id: hex(&span.span_id),
                                parent: hex(&span.parent_span_id),
                                attributes,
                            });
                        }
                    }
                }
                (
                    [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, spans)
}

#[test]
fn a_remediation_episode_is_one_trace_and_the_webhook_joins_it() {
    remediation_trace(Transport::Http);
}

#[test]
fn traces_also_go_out_over_grpc() {
    remediation_trace(Transport::Grpc);
}

#[test]
fn grpc_export_to_an_https_endpoint_speaks_tls_and_trusts_the_given_ca() {
    remediation_trace(Transport::GrpcTls);
}

/// How `hale run` reaches the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// OTLP/HTTP, plain.
    Http,
    /// OTLP/gRPC, plain.
    Grpc,
    /// OTLP/gRPC to `https://localhost`, through a TLS terminator whose self-signed
    /// certificate hale trusts only through `OTEL_EXPORTER_OTLP_CERTIFICATE`.
    GrpcTls,
}

/// A TLS terminator on loopback for `localhost` (ALPN h2, as gRPC needs) in front of
/// `backend`; returns its port, the certificate's PEM, and a count of completed handshakes.
fn tls_terminator(
    runtime: &tokio::runtime::Runtime,
    backend: u16,
) -> (u16, String, Arc<std::sync::atomic::AtomicUsize>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&handshakes);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, certificate.pem(), handshakes)
}

/// Runs a failing container under `hale run` exporting over OTLP/HTTP (or gRPC, or gRPC
/// over TLS) to rotel, and checks the trace that arrives.
fn remediation_trace(transport: Transport) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (receiver_port, spans) = receiver(&runtime);
    let (base, received) = common::recorder(&runtime, 200);
    let hook = format!("{base}/redeploy");
    let rotel = start_rotel(receiver_port);
    let (collector_port, grpc_port) = (rotel.http_port, rotel.grpc_port);

    let docker = TestDocker::new("otel");
    let notify = format!("{base}/notify");
    let workspace = Workspace::new(&docker.policy(
        "otel",
        &format!(
            "  remediation:\n    steps: [{{action: webhook, attempts: 1, timeout: 1s, webhook: {{url: \"{hook}\", retries: 0}}}}]\n    cooldown: 1s\n  notify: [{{notifier: team, on: [Remediating]}}]\n---\napiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook: {{url: \"{notify}\"}}\n"
        ),
    ));
    let mut handshakes = None;
    let ca_file = workspace.root().join("collector-ca.pem");
    let (endpoint, protocol) = match transport {
        Transport::Http => (
            format!("http://127.0.0.1:{collector_port}"),
            "http/protobuf",
        ),
        Transport::Grpc => (format!("http://127.0.0.1:{grpc_port}"), "grpc"),
        Transport::GrpcTls => {
            let (port, pem, count) = tls_terminator(&runtime, grpc_port);
            std::fs::write(&ca_file, pem).unwrap();
            handshakes = Some(count);
            (format!("https://localhost:{port}"), "grpc")
        }
    };
    let ca = ca_file.display().to_string();
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("OTEL_SERVICE_NAME", "hale-under-test"),
    ];
    if transport == Transport::GrpcTls {
        env.push(("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.as_str()));
    }
    let hale = workspace.start(&[], &env);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    // One webhook, then the ladder is exhausted: quarantined, which closes the episode.
    hale.wait_audit("quarantined", &name, WAIT);

    let deadline = Instant::now() + WAIT;
    let (episode, action) = loop {
        let all = spans.lock().unwrap().clone();
        let episode = all
            .iter()
            .find(|s| {
                s.name.starts_with("heal ") && s.attributes.get("container.name") == Some(&name)
            })
            .cloned();
        let action = episode.as_ref().and_then(|e| {
            all.iter()
                .find(|s| {
                    s.trace == e.trace
                        && s.name != "hale.decision"
                        && s.attributes.get("hale.action").map(String::as_str) == Some("webhook")
                })
                .cloned()
        });
        if let (Some(episode), Some(action)) = (episode, action) {
            break (episode, action);
        }
        assert!(
            Instant::now() < deadline,
            "no remediation trace arrived; spans: {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        episode.parent.is_empty() || episode.parent.chars().all(|c| c == '0'),
        "the episode is the root: {episode:?}"
    );
    assert_eq!(episode.attributes["hale.policy"], "otel");
    if let Some(handshakes) = &handshakes {
        // The terminator speaks only TLS: spans through it went over a verified session.
        assert!(handshakes.load(std::sync::atomic::Ordering::SeqCst) > 0);
    }
    assert_eq!(
        action.parent, episode.id,
        "the action is a child of the episode"
    );
    assert_eq!(action.name, format!("webhook {name}"));
    assert_eq!(action.attributes["hale.step"], "1");
    let decisions: Vec<Span> = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.trace == episode.trace && s.name == "hale.decision")
        .cloned()
        .collect();
    assert!(
        decisions
            .iter()
            .any(|d| d.attributes["hale.decision"].contains("action_started")),
        "{decisions:#?}"
    );
    assert!(decisions.iter().all(|d| d.parent == episode.id));

    // The HTTP call is a child of the action, with the semantic-convention attributes.
    let deadline = Instant::now() + WAIT;
    let http = loop {
        let found = spans
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.trace == episode.trace && s.parent == action.id && s.name == "POST")
            .cloned();
        if let Some(http) = found {
            break http;
        }
        assert!(Instant::now() < deadline, "no HTTP span under the action");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(http.attributes["http.request.method"], "POST");
    assert_eq!(http.attributes["http.response.status_code"], "200");
    assert!(
        http.attributes["url.full"].ends_with("/redeploy"),
        "{http:?}"
    );

    // The notification of the remediation is part of the episode too.
    let deadline = Instant::now() + WAIT;
    loop {
        let joined = spans.lock().unwrap().iter().any(|s| {
            s.name == "notify Remediating" && s.trace == episode.trace && s.parent == episode.id
        });
        if joined {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no notification span in the episode: {:#?}",
            spans.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The webhook joined the trace, and the audit records name it.
    let parents: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/redeploy")
        .map(|r| {
            r.headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(parents.len(), 1, "{parents:?}");
    assert!(
        parents[0].starts_with(&format!("00-{}-", episode.trace)),
        "{parents:?} vs {}",
        episode.trace
    );
    assert!(hale.stop().success());
    let records = hale_events(&workspace.state(), &["--target", &name]);
    assert!(
        records
            .iter()
            .filter(|r| r["kind"] != "recovered")
            .all(|r| r["trace_id"] == episode.trace.as_str()),
        "{records:#?}"
    );
}

#[test]
fn a_collector_that_is_down_changes_nothing_in_healing() {
    let docker = TestDocker::new("otel-down");
    let workspace = Workspace::new(&docker.policy(
        "otel-down",
        "  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 2s}]\n    cooldown: 1s\n",
    ));
    let hale = workspace.start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    hale.wait_audit("action_succeeded", &name, WAIT);
    // The spans that could not go out are counted.
    let api = hale.api();
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, metrics) = common::http("GET", &format!("{api}/metrics"), None, None);
        let dropped = metrics
            .lines()
            .find(|l| l.starts_with("hale_trace_spans_dropped_total "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if dropped > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dropped spans were not counted: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        hale.stop().success(),
        "shutdown flushes (and gives up on) pending spans in time"
    );
}
