//! The email sink's TLS trust: lettre's `TlsParameters` from a Notifier's `email.trust`,
//! trusting what every HTTP client hale builds trusts (`hale_core::http_client`): the system
//! roots through the platform verifier (the Mozilla roots where the system has none), plus
//! `caFile`, and showing `certFile`/`keyFile` to a server that asks for a client
//! certificate.

use std::path::{Path, PathBuf};

use hale_policy::TlsTrust;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Identity, TlsParameters};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the email sink's TLS could not be set up. Each message names the policy field
/// (`spec.email.trust.caFile`, ...) and the file.
#[derive(Debug, thiserror::Error)]
pub enum EmailTrustError {
    /// A certificate or key file could not be read.
    #[error("cannot read spec.email.trust.{field} {path}: {source}")]
    Read {
        /// The policy field (`caFile`, `certFile`, `keyFile`).
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but is not valid PEM of the kind the field needs.
    #[error("spec.email.trust.{field} {path} is not a valid PEM {expected}: {source}")]
    Pem {
        /// The policy field.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What the file should hold.
        expected: &'static str,
        /// What the PEM reader said.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// `caFile` or `certFile` holds no certificate at all.
    #[error(
        "spec.email.trust.{field} {path} holds no PEM certificate (no BEGIN CERTIFICATE block)"
    )]
    NoCertificate {
        /// The policy field.
        field: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The TLS library refused a certificate or the client identity.
    #[error("the TLS library refused spec.email.trust.{field} {path}: {source}")]
    Refused {
        /// The policy field.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What lettre (rustls) said.
        #[source]
        source: lettre::transport::smtp::Error,
    },
    /// The TLS settings as a whole were refused (e.g. a key that does not match its
    /// certificate).
    #[error("cannot set up TLS to SMTP server {host} with spec.email.trust: {source}")]
    Build {
        /// The SMTP server, the name its certificate must carry.
        host: String,
        /// What lettre (rustls) said.
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, EmailTrustError> {
    std::fs::read(path).map_err(|source| EmailTrustError::Read {
        field,
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in the PEM file `path` (at least one).
fn certificates(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, EmailTrustError> {
    let pem = read(field, path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| EmailTrustError::Pem {
            field,
            path: path.to_owned(),
            expected: "certificate bundle",
            source,
        })?;
    if certificates.is_empty() {
        return Err(EmailTrustError::NoCertificate {
            field,
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// The TLS parameters for `host` (the name the server's certificate must carry) with
/// `trust`. The files are read on each call: a delivery after a fixed or rotated file
/// uses the new one.
///
/// # Errors
/// An [`EmailTrustError`] naming the field and the file when one cannot be read or is
/// not valid PEM, or when the TLS library refuses them.
pub(crate) fn tls_parameters(
    host: &str,
    trust: &TlsTrust,
) -> Result<TlsParameters, EmailTrustError> {
    // `Default` is the platform verifier over the system's store, as reqwest's clients;
    // a system without roots (the FROM-scratch image) gets the Mozilla roots instead.
    let store = if hale_core::http_client::system_has_roots() {
        CertificateStore::Default
    } else {
        CertificateStore::WebpkiRoots
    };
    let mut builder = TlsParameters::builder(host.to_owned()).certificate_store(store);
    if let Some(path) = &trust.ca_file {
        for der in certificates("caFile", path)? {
            let root =
                Certificate::from_der(der.to_vec()).map_err(|source| EmailTrustError::Refused {
                    field: "caFile",
                    path: path.clone(),
                    source,
                })?;
            builder = builder.add_root_certificate(root);
        }
    }
    if let (Some(cert), Some(key)) = (&trust.cert_file, &trust.key_file) {
        let chain = certificates("certFile", cert)?;
        let key_pem = read("keyFile", key)?;
        // Checked here so a bad key is named as `keyFile`; lettre reads it again.
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| EmailTrustError::Pem {
            field: "keyFile",
            path: key.clone(),
            expected: "private key (PKCS#8, PKCS#1 or SEC1)",
            source,
        })?;
        // lettre 0.11's rustls backend takes the certificate argument of
        // `Identity::from_pem` as one DER certificate, bytes unchanged (handed PEM, it would
        // send the PEM text as the certificate and the server would refuse it), so the
        // leaf is passed decoded. Intermediates in certFile are not sent.
        let identity = Identity::from_pem(chain[0].as_ref(), &key_pem).map_err(|source| {
            EmailTrustError::Refused {
                field: "certFile",
                path: cert.clone(),
                source,
            }
        })?;
        builder = builder.identify_with(identity);
    }
    builder
        .build_rustls()
        .map_err(|source| EmailTrustError::Build {
            host: host.to_owned(),
            source,
        })
}
