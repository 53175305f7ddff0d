//! What telemetry must never carry: secrets. Spans are redacted before they are exported,
//! log lines before they reach stderr, by the one process-wide redactor.

use opentelemetry::KeyValue;

/// Removes secrets from a span before it leaves the process: its name, its attributes, its
/// events' names and attributes, and its status text.
pub(super) fn redact_span(span: &mut opentelemetry_sdk::trace::SpanData) {
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
pub(super) struct RedactingWriter<W>(W);

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
pub(super) fn redacted_stderr() -> RedactingWriter<std::io::Stderr> {
    RedactingWriter(std::io::stderr())
}
