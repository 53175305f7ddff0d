//! What the standard `OTEL_*` variables ask of hale's trace pipeline, decided without
//! touching the process: the caller hands in how to look a variable up, so every rule is
//! tested with made-up environments.

/// A trace context format `OTEL_PROPAGATORS` can name for outgoing requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagator {
    /// W3C Trace Context: the `traceparent` and `tracestate` headers.
    TraceContext,
    /// W3C Baggage: the `baggage` header.
    Baggage,
}

/// Why no span leaves hale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOff {
    /// Neither `OTEL_EXPORTER_OTLP_ENDPOINT` nor `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set.
    NoEndpoint,
    /// `OTEL_SDK_DISABLED=true`.
    SdkDisabled,
    /// `OTEL_TRACES_EXPORTER=none`.
    ExporterNone,
    /// `OTEL_TRACES_EXPORTER` names an exporter hale does not have (only `otlp` and `none`).
    UnsupportedExporter(String),
}

/// The trace pipeline the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// `Ok` when spans go to an OTLP collector, else why not.
    pub export: Result<(), ExportOff>,
    /// The formats injected into outgoing requests (webhooks), in `OTEL_PROPAGATORS` order.
    pub propagators: Vec<Propagator>,
    /// `OTEL_PROPAGATORS` entries hale does not know (`b3`, `jaeger`, ...): ignored, with a
    /// warning, as the specification asks.
    pub unknown_propagators: Vec<String>,
}

/// The specification's default for `OTEL_PROPAGATORS`.
const DEFAULT_PROPAGATORS: &str = "tracecontext,baggage";

impl TraceSettings {
    /// Reads the settings through `lookup` (a variable's value, `None` when unset).
    /// `OTEL_SDK_DISABLED=true` turns off export and propagation alike.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let disabled = set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true");
        let export = if disabled {
            Err(ExportOff::SdkDisabled)
        } else {
            match set("OTEL_TRACES_EXPORTER").map(|v| v.trim().to_ascii_lowercase()) {
                Some(none) if none == "none" => Err(ExportOff::ExporterNone),
                Some(other) if other != "otlp" => Err(ExportOff::UnsupportedExporter(other)),
                _ if set("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
                    && set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none() =>
                {
                    Err(ExportOff::NoEndpoint)
                }
                _ => Ok(()),
            }
        };
        let mut settings = Self {
            export,
            propagators: Vec::new(),
            unknown_propagators: Vec::new(),
        };
        if disabled {
            return settings;
        }
        let names = set("OTEL_PROPAGATORS").unwrap_or_else(|| DEFAULT_PROPAGATORS.to_owned());
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let propagator = match name {
                "tracecontext" => Propagator::TraceContext,
                "baggage" => Propagator::Baggage,
                "none" => continue,
                other => {
                    settings.unknown_propagators.push(other.to_owned());
                    continue;
                }
            };
            if !settings.propagators.contains(&propagator) {
                settings.propagators.push(propagator);
            }
        }
        // "none" means none at all, whatever else the list says.
        if names.split(',').any(|n| n.trim() == "none") {
            settings.propagators.clear();
        }
        settings
    }
}

/// True when gRPC export must use TLS: an `https://` endpoint, or one without a scheme
/// unless `OTEL_EXPORTER_OTLP_[TRACES_]INSECURE=true` (the OTLP exporter specification's
/// rule, which the SDK applies to the endpoint too).
pub fn grpc_uses_tls(lookup: impl Fn(&str) -> Option<String>) -> bool {
    let first = |names: [&str; 2]| {
        names
            .into_iter()
            .find_map(|name| lookup(name).filter(|v| !v.trim().is_empty()))
    };
    let Some(endpoint) = first([
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]) else {
        return false;
    };
    let endpoint = endpoint.trim().to_ascii_lowercase();
    if endpoint.starts_with("https://") {
        return true;
    }
    let has_scheme = endpoint
        .split_once("://")
        .is_some_and(|(scheme, _)| !scheme.contains(['/', '?', '#']));
    let insecure = first([
        "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
        "OTEL_EXPORTER_OTLP_INSECURE",
    ])
    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !has_scheme && !insecure
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> TraceSettings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TraceSettings::from_env(|name| vars.get(name).cloned())
    }

    const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");

    #[test]
    fn an_endpoint_exports_with_both_w3c_propagators_by_default() {
        let on = settings(&[ENDPOINT]);
        assert_eq!(on.export, Ok(()));
        assert_eq!(
            on.propagators,
            [Propagator::TraceContext, Propagator::Baggage]
        );
        assert_eq!(settings(&[]).export, Err(ExportOff::NoEndpoint));
    }

    #[test]
    fn sdk_disabled_turns_off_export_and_propagation() {
        let off = settings(&[ENDPOINT, ("OTEL_SDK_DISABLED", "true")]);
        assert_eq!(off.export, Err(ExportOff::SdkDisabled));
        assert!(off.propagators.is_empty());
        // Anything but "true" leaves the SDK on, as the specification says.
        assert_eq!(
            settings(&[ENDPOINT, ("OTEL_SDK_DISABLED", "false")]).export,
            Ok(())
        );
    }

    #[test]
    fn traces_exporter_none_stops_export_but_not_propagation() {
        let off = settings(&[ENDPOINT, ("OTEL_TRACES_EXPORTER", "none")]);
        assert_eq!(off.export, Err(ExportOff::ExporterNone));
        assert_eq!(off.propagators.len(), 2);
        assert_eq!(
            settings(&[ENDPOINT, ("OTEL_TRACES_EXPORTER", "otlp")]).export,
            Ok(())
        );
        assert_eq!(
            settings(&[ENDPOINT, ("OTEL_TRACES_EXPORTER", "zipkin")]).export,
            Err(ExportOff::UnsupportedExporter("zipkin".to_owned()))
        );
    }

    #[test]
    fn propagators_follow_the_list_and_none_means_none() {
        let baggage = settings(&[("OTEL_PROPAGATORS", "baggage, b3,baggage")]);
        assert_eq!(baggage.propagators, [Propagator::Baggage]);
        assert_eq!(baggage.unknown_propagators, ["b3"]);
        assert_eq!(
            settings(&[("OTEL_PROPAGATORS", "tracecontext")]).propagators,
            [Propagator::TraceContext]
        );
        assert!(
            settings(&[("OTEL_PROPAGATORS", "none")])
                .propagators
                .is_empty()
        );
        assert!(
            settings(&[("OTEL_PROPAGATORS", "tracecontext,none")])
                .propagators
                .is_empty()
        );
    }

    #[test]
    fn grpc_uses_tls_for_https_and_schemeless_secure_endpoints() {
        let tls = |vars: &[(&str, &str)]| {
            let vars: HashMap<&str, &str> = vars.iter().copied().collect();
            grpc_uses_tls(|name| vars.get(name).map(|v| (*v).to_owned()))
        };
        assert!(tls(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317")]));
        assert!(tls(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "c:4317")]));
        assert!(!tls(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")]));
        assert!(!tls(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true")
        ]));
        // The traces endpoint wins over the general one.
        assert!(!tls(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317")
        ]));
    }
}
