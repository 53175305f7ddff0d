//! Logs and traces. Logs go to stderr through tracing-subscriber (`RUST_LOG`, human or JSON).
//! Traces go to an OTLP collector when the standard variables name one
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, with
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`); without them no exporter exists and spans cost next to nothing.
//!
//! Export runs on the SDK's own thread through a bounded queue: a collector that is down
//! loses spans, never healing.

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::cli::LogFormat;

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

/// True when the environment names an OTLP endpoint for traces.
fn exporter_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// Redacts every span of a batch (see [`redact_span`]), counts the spans of every batch the
/// collector did not take, then passes the result on: what `hale_trace_spans_dropped_total`
/// reports.
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
        batch.iter_mut().for_each(redact_span);
        let result = self.inner.export(batch).await;
        if result.is_err() {
            self.dropped.inc_by(spans);
        }
        result
    }

    fn shutdown_with_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&mut self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Removes secrets from a span before it leaves the process: its name, its attributes, its
/// events' names and attributes, and its status text.
fn redact_span(span: &mut opentelemetry_sdk::trace::SpanData) {
    let redactor = hale_core::redact::global();
    let text = |text: &str| match redactor.redact(text) {
        std::borrow::Cow::Owned(clean) => Some(clean),
        std::borrow::Cow::Borrowed(_) => None,
    };
    let attributes = |attributes: &mut Vec<KeyValue>| {
        for attribute in attributes.iter_mut() {
            if let opentelemetry::Value::String(value) = &attribute.value
                && let Some(clean) = text(value.as_str())
            {
                attribute.value = opentelemetry::Value::String(clean.into());
            }
        }
    };
    if let Some(clean) = text(&span.name) {
        span.name = clean.into();
    }
    attributes(&mut span.attributes);
    for event in span.events.events.iter_mut() {
        if let Some(clean) = text(&event.name) {
            event.name = clean.into();
        }
        attributes(&mut event.attributes);
    }
    if let opentelemetry::trace::Status::Error { description } = &span.status
        && let Some(clean) = text(description)
    {
        span.status = opentelemetry::trace::Status::error(clean);
    }
}

/// Passes everything written to it through the redactor: the log's writer, so no log line
/// (human or JSON) carries a secret. tracing-subscriber writes one whole line per call.
struct RedactingWriter<W>(W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => {
                self.0
                    .write_all(hale_core::redact::redact(text).as_bytes())?;
                Ok(buf.len())
            }
            Err(_) => self.0.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Stderr, redacted.
fn redacted_stderr() -> RedactingWriter<std::io::Stderr> {
    RedactingWriter(std::io::stderr())
}

/// Sets up logging and, when configured, trace export. `docker_host` (the Docker
/// endpoints' addresses, comma-separated) becomes a resource attribute; spans the collector did not take are counted in `dropped`.
pub fn init(
    format: LogFormat,
    docker_host: Option<&str>,
    dropped: prometheus_client::metrics::counter::Counter,
) -> Telemetry {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(redacted_stderr)
            .with_filter(filter())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(redacted_stderr)
            .with_filter(filter())
            .boxed(),
    };
    let (provider, grpc_runtime, problem) = if exporter_configured() {
        match provider(docker_host, dropped) {
            Ok((provider, runtime)) => (Some(provider), runtime, None),
            Err(problem) => (None, None, Some(problem)),
        }
    } else {
        (None, None, None)
    };
    let traces = provider.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
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
    }
    Telemetry {
        provider,
        grpc_runtime,
    }
}

/// The exporter, by `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`: `http/protobuf` (default) or
/// `grpc` (with the runtime its connection lives on).
fn exporter() -> Result<
    (
        opentelemetry_otlp::SpanExporter,
        Option<tokio::runtime::Runtime>,
    ),
    String,
> {
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|_| "http/protobuf".to_owned());
    let failed =
        |e: opentelemetry_otlp::ExporterBuildError| format!("cannot build the OTLP exporter: {e}");
    match protocol.as_str() {
        "http/protobuf" => Ok((
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .map_err(failed)?,
            None,
        )),
        "grpc" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("hale-otlp-grpc")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the gRPC exporter's runtime: {e}"))?;
            let exporter = {
                let _inside = runtime.enter();
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .build()
                    .map_err(failed)?
            };
            Ok((exporter, Some(runtime)))
        }
        other => Err(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported; use http/protobuf or grpc"
        )),
    }
}

fn provider(
    docker_host: Option<&str>,
    dropped: prometheus_client::metrics::counter::Counter,
) -> Result<(SdkTracerProvider, Option<tokio::runtime::Runtime>), String> {
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
