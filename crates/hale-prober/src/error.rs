//! Why a probe could not observe its target at all (as opposed to observing a failure).

/// A probe that could not take its observation. The text becomes the probe outcome's
/// reason, so it reads as what an operator would check next.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The container has no address to probe (on the probe's network, when one is named).
    #[error("the container has no IP address on that network")]
    NoAddressOnNetwork,
    /// The container has no address at all.
    #[error("the container has no IP address")]
    NoAddress,
    /// Docker could not run the exec probe.
    #[error(transparent)]
    Exec(#[from] hale_core::DockerError),
    /// The probe is not one that runs periodically (a `docker` probe is Docker's own).
    #[error("not a periodic probe")]
    NotPeriodic,
    /// The site's URL does not parse.
    #[error("site URL {url:?} is invalid: {source}")]
    InvalidSiteUrl {
        /// The URL as written.
        url: String,
        /// Why it does not parse.
        source: url::ParseError,
    },
    /// The site's URL names no host or no port, which a TCP probe needs.
    #[error("site URL {url:?} has no {missing}")]
    IncompleteSiteUrl {
        /// The URL as written.
        url: String,
        /// `host` or `port`.
        missing: &'static str,
    },
    /// A site can only be checked over HTTP or TCP.
    #[error("only httpGet and tcpSocket probes can check a site")]
    SiteProbeKind,
    /// A header's value could not be resolved (an unset environment variable, say).
    #[error(transparent)]
    Header(#[from] hale_policy::HeaderError),
    /// The probe's `tls` files could not be read or are not valid PEM.
    #[error(transparent)]
    Client(#[from] hale_core::http_client::ClientError),
    /// The HTTP request failed: timed out, refused, or another transport error.
    #[error("{0}")]
    Request(String),
}
