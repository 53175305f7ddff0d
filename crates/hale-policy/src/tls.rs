//! TLS trust for hale's outgoing HTTPS: which certificate authorities an HTTP probe, a
//! webhook action or a notifier trusts beyond the system's, and the client certificate it
//! shows a server that asks for one.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Extra trust and a client certificate for one HTTPS client. The system's trusted roots
/// are always used; `caFile` adds to them, so a private CA needs no `insecureSkipVerify`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsTrust {
    /// A PEM file of CA certificates trusted in addition to the system roots (one or
    /// more `BEGIN CERTIFICATE` blocks), e.g. a private CA. Read when hale starts or the
    /// policy reloads. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A PEM file with the client certificate (and any intermediates) shown to servers that
    /// ask for one (mutual TLS). Needs `keyFile`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// A PEM file with the private key of `certFile` (PKCS#8, PKCS#1 or SEC1). Needs
    /// `certFile`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

impl TlsTrust {
    /// True when nothing is set: the system roots only, no client certificate.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}
