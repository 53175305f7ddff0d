//! Logs and traces. Logs go to stderr through tracing-subscriber (`RUST_LOG`, human or JSON).
//! Traces go to an OTLP collector when the standard variables name one
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, with
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`); without them no exporter exists and spans cost next to nothing.
//! `OTEL_SDK_DISABLED=true` and `OTEL_TRACES_EXPORTER=none` turn export off, and
//! `OTEL_PROPAGATORS` picks what outgoing requests carry ([`settings`]). gRPC export to an
//! `https://` endpoint speaks TLS, trusting `OTEL_EXPORTER_OTLP_CERTIFICATE` when set.
//!
//! Export runs on the SDK's own thread through a bounded queue: a collector that is down
//! loses spans, never healing.

mod redaction;
mod settings;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::cli::LogFormat;
use settings::{ExportOff, Propagator, TraceSettings};

/// Why traces cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The SDK refused the exporter's configuration.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// The gRPC exporter's own runtime did not start.
    #[error("cannot start the gRPC exporter's runtime: {0}")]
    Runtime(std::io::Error),
    /// A protocol other than the two hale speaks.
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL={0} is not supported; use http/protobuf or grpc")]
    Protocol(String),
    /// A certificate or key file named by an `OTEL_EXPORTER_OTLP_*` variable is unreadable.
    #[error("{variable}={path}: {source}")]
    TlsFile {
        /// The variable that names the file.
        variable: &'static str,
        /// The file.
        path: String,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A client certificate without its key, or the other way round.
    #[error(
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY go together; only {0} is set"
    )]
    HalfIdentity(&'static str),
}

/// The trace pipeline, to be flushed at exit.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    /// The gRPC exporter's runtime: tonic's connection tasks live on it, since the SDK's
    /// export thread has none.
    grpc_runtime: Option<tokio::runtime::Runtime>,
}

impl Telemetry {
    /// Flushes pending spans and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("hale: flushing traces failed: {error}");
        }
        if let Some(runtime) = self.grpc_runtime {
            runtime.shutdown_background();
        }
    }
}

/// Redacts every span of a batch (see [`redaction::redact_span`]), counts the spans of
/// every batch the collector did not take, then passes the result on:
/// what `hale_trace_spans_dropped_total` reports.
#[derive(Debug)]
struct Counting<E> {
    inner: E,
    dropped: prometheus_client::metrics::counter::Counter,
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Counting<E>
{
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        let spans = batch.len() as u64;
        let mut batch = batch;
        batch.iter_mut().for_each(redaction::redact_span);
        let result = self.inner.export(batch).await;
        if result.is_err() {
            self.dropped.inc_by(spans);
        }
        result
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Sets up logging and, when configured, trace export. `docker_host` (the Docker
/// endpoints' addresses, comma-separated) becomes a resource
/// attribute; spans the collector did not take are counted in `dropped`.
pub fn init(
    format: LogFormat,
    docker_host: Option<&str>,
    dropped: prometheus_client::metrics::counter::Counter,
) -> Telemetry {
    // The OTLP/HTTP exporter builds its own reqwest client, which has no TLS provider of
    // its own: ring must be installed first (as hale's own clients do).
    hale_core::http_client::install_crypto_provider();
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(redaction::redacted_stderr)
            .with_filter(filter())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(redaction::redacted_stderr)
            .with_filter(filter())
            .boxed(),
    };
    let settings = TraceSettings::from_env(|name| std::env::var(name).ok());
    let (provider, grpc_runtime, problem) = match &settings.export {
        Ok(()) => match provider(docker_host, dropped) {
            Ok((provider, runtime)) => (Some(provider), runtime, None),
            Err(problem) => (None, None, Some(problem)),
        },
        Err(_) => (None, None, None),
    };
    if settings.export != Err(ExportOff::SdkDisabled) {
        opentelemetry::global::set_text_map_propagator(propagator(&settings.propagators));
    }
    let traces = provider.as_ref().map(|provider| {
        // Only hale's own spans: a trace is about decisions, not about HTTP internals.
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("hale"))
            .with_filter(EnvFilter::new(
                "hale=info,hale_reconciler=info,hale_watcher=info,hale_notifier=info",
            ))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    if let Some(problem) = problem {
        tracing::error!(%problem, "traces are not exported");
    } else if provider.is_some() {
        tracing::info!("exporting traces over OTLP");
    } else if let Err(ExportOff::UnsupportedExporter(name)) = &settings.export {
        tracing::warn!(
            exporter = %name,
            "OTEL_TRACES_EXPORTER names an exporter hale does not have (otlp or none): traces are not exported"
        );
    }
    if !settings.unknown_propagators.is_empty() {
        tracing::warn!(
            ignored = %settings.unknown_propagators.join(","),
            "OTEL_PROPAGATORS names propagators hale does not have (tracecontext, baggage, none)"
        );
    }
    Telemetry {
        provider,
        grpc_runtime,
    }
}

/// The propagator outgoing requests are stamped with: those named, in order.
fn propagator(names: &[Propagator]) -> opentelemetry::propagation::TextMapCompositePropagator {
    let propagators = names
        .iter()
        .map(
            |name| -> Box<dyn opentelemetry::propagation::TextMapPropagator + Send + Sync> {
                match name {
                    Propagator::TraceContext => {
                        Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new())
                    }
                    Propagator::Baggage => {
                        Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new())
                    }
                }
            },
        )
        .collect();
    opentelemetry::propagation::TextMapCompositePropagator::new(propagators)
}

/// The first of `names` that is set (the per-signal variable before the general one).
fn first_var(names: [&'static str; 2]) -> Option<(&'static str, String)> {
    names.into_iter().find_map(|name| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    })
}

/// Reads the file a variable names.
fn read_tls_file(variable: &'static str, path: String) -> Result<Vec<u8>, TelemetryError> {
    std::fs::read(&path).map_err(|source| TelemetryError::TlsFile {
        variable,
        path,
        source,
    })
}

/// TLS for gRPC export to an `https://` endpoint: the webpki roots, plus the CA in
/// `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` and the client certificate and key in
/// `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE`/`_CLIENT_KEY` when set (the SDK reads
/// none of them itself, and without roots it could verify no collector).
fn grpc_tls() -> Result<opentelemetry_otlp::tonic_types::transport::ClientTlsConfig, TelemetryError>
{
    use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
    let mut tls = ClientTlsConfig::new().with_enabled_roots();
    if let Some((variable, path)) = first_var([
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
    ]) {
        tls = tls.ca_certificate(Certificate::from_pem(read_tls_file(variable, path)?));
    }
    let certificate = first_var([
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    ]);
    let key = first_var([
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    ]);
    match (certificate, key) {
        (Some((cert_var, cert)), Some((key_var, key))) => {
            tls = tls.identity(Identity::from_pem(
                read_tls_file(cert_var, cert)?,
                read_tls_file(key_var, key)?,
            ));
        }
        (Some(_), None) => {
            return Err(TelemetryError::HalfIdentity(
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            ));
        }
        (None, Some(_)) => {
            return Err(TelemetryError::HalfIdentity(
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            ));
        }
        (None, None) => {}
    }
    Ok(tls)
}

/// The exporter, by `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`: `http/protobuf` (default) or
/// `grpc` (with the runtime its connection lives on).
fn exporter() -> Result<
    (
        opentelemetry_otlp::SpanExporter,
        Option<tokio::runtime::Runtime>,
    ),
    TelemetryError,
> {
    use opentelemetry_otlp::WithTonicConfig as _;
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|_| "http/protobuf".to_owned());
    match protocol.as_str() {
        "http/protobuf" => Ok((
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()?,
            None,
        )),
        "grpc" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("hale-otlp-grpc")
                .enable_all()
                .build()
                .map_err(TelemetryError::Runtime)?;
            let exporter = {
                let _inside = runtime.enter();
                let builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
                if settings::grpc_uses_tls(|name| std::env::var(name).ok()) {
                    builder.with_tls_config(grpc_tls()?).build()?
                } else {
                    builder.build()?
                }
            };
            Ok((exporter, Some(runtime)))
        }
        other => Err(TelemetryError::Protocol(other.to_owned())),
    }
}

fn provider(
    docker_host: Option<&str>,
    dropped: prometheus_client::metrics::counter::Counter,
) -> Result<(SdkTracerProvider, Option<tokio::runtime::Runtime>), TelemetryError> {
    let (exporter, runtime) = exporter()?;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let mut attributes = vec![KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))];
    if !host.is_empty() {
        attributes.push(KeyValue::new("host.name", host));
    }
    let docker = docker_host
        .map(str::to_owned)
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned());
    attributes.push(KeyValue::new("hale.docker.host", docker));
    // The builder reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; hale is the
    // service name unless they say otherwise.
    let mut resource = Resource::builder().with_attributes(attributes);
    if std::env::var("OTEL_SERVICE_NAME").is_err()
        && !std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name"))
    {
        resource = resource.with_service_name("hale");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(Counting {
            inner: exporter,
            dropped,
        })
        .with_resource(resource.build())
        .build();
    Ok((provider, runtime))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::baggage::BaggageExt as _;
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    use std::collections::HashMap;

    /// Whether an outgoing request gets `traceparent` and `baggage` with these propagators.
    fn injected(names: &[Propagator]) -> (bool, bool) {
        let span = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let context = opentelemetry::Context::new()
            .with_remote_span_context(span)
            .with_baggage([KeyValue::new("tenant", "a")]);
        let mut headers = HashMap::new();
        propagator(names).inject_context(&context, &mut headers);
        (
            headers.contains_key("traceparent"),
            headers.contains_key("baggage"),
        )
    }

    #[test]
    fn each_propagator_stamps_its_own_headers() {
        assert_eq!(
            injected(&[Propagator::TraceContext, Propagator::Baggage]),
            (true, true)
        );
        assert_eq!(injected(&[Propagator::TraceContext]), (true, false));
        assert_eq!(injected(&[Propagator::Baggage]), (false, true));
        assert_eq!(injected(&[]), (false, false));
    }
}
