//! TLS trust of HTTP probes against real TLS servers on loopback, signed by a private CA
//! made in the test: `tls.caFile` makes the CA trusted (and without it the probe fails,
//! saying so), and a server that asks for a client certificate refuses a probe without
//! `tls.certFile`/`keyFile`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hale_policy::conditions::Condition;
use hale_policy::{Probe, Site};
use hale_prober::{HttpClients, probe_site};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A private CA, a server certificate for `localhost` and a client certificate it signed,
/// written as PEM files into a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hale test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();

        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();

        let client_key = rcgen::KeyPair::generate().unwrap();
        let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hale");
        client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params.signed_by(&client_key, &ca).unwrap();
        std::fs::write(dir.path().join("client.pem"), client.pem()).unwrap();
        std::fs::write(
            dir.path().join("client-key.pem"),
            client_key.serialize_pem(),
        )
        .unwrap();

        Self {
            ca: ca.der().clone(),
            server: (
                server.der().clone(),
                PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
            ),
            dir,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Serves `HTTP 200 ok` over TLS with the CA-signed certificate; with `require_client`
    /// the handshake needs a client certificate the CA signed. Returns the port.
    async fn serve(&self, require_client: bool) -> u16 {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca.clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(vec![self.server.0.clone()], self.server.1.clone_key())
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut request = [0u8; 4096];
                    let _ = tls.read(&mut request).await;
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }
}

/// A site probe of `https://localhost:{port}/` with `tls` (YAML flow mapping fields).
async fn probe(port: u16, tls: &str) -> hale_prober::ProbeResult {
    let probe: Probe = serde_saphyr::from_str(&format!(
        "name: tls\nsiteRef: shop\nhttpGet: {{tls: {{{tls}}}}}\ntimeout: 5s\nconditions: [\"[STATUS] == 200\"]"
    ))
    .unwrap();
    let site = Site {
        name: "shop".into(),
        url: format!("https://localhost:{port}/"),
        coolify: None,
    };
    let conditions = [Condition::parse("[STATUS] == 200").unwrap()];
    probe_site(&HttpClients::new(), &probe, &conditions, &site).await
}

fn path(file: &Path) -> String {
    file.display().to_string()
}

#[tokio::test]
async fn a_private_ca_is_trusted_with_ca_file_and_not_without() {
    let pki = Pki::new();
    let port = pki.serve(false).await;

    let trusted = probe(port, &format!("caFile: {}", path(&pki.file("ca.pem")))).await;
    assert!(trusted.success, "{trusted:?}");

    let untrusted = probe(port, "").await;
    assert!(!untrusted.success);
    assert!(
        untrusted.reason.contains("TLS certificate not trusted")
            && untrusted.reason.contains("tls.caFile"),
        "{}",
        untrusted.reason
    );
}

#[tokio::test]
async fn a_server_that_asks_for_a_client_certificate_gets_one_from_cert_and_key_file() {
    let pki = Pki::new();
    let port = pki.serve(true).await;
    let ca = path(&pki.file("ca.pem"));

    let with_cert = probe(
        port,
        &format!(
            "caFile: {ca}, certFile: {}, keyFile: {}",
            path(&pki.file("client.pem")),
            path(&pki.file("client-key.pem"))
        ),
    )
    .await;
    assert!(with_cert.success, "{with_cert:?}");

    let without = probe(port, &format!("caFile: {ca}")).await;
    assert!(!without.success, "{without:?}");
}

#[tokio::test]
async fn an_unreadable_or_invalid_ca_file_names_the_field_and_the_file() {
    let pki = Pki::new();
    let port = pki.serve(false).await;
    let missing = pki.file("missing.pem");
    let result = probe(port, &format!("caFile: {}", path(&missing))).await;
    assert!(
        result
            .reason
            .contains(&format!("cannot read tls.caFile {}", path(&missing))),
        "{}",
        result.reason
    );

    let garbage = pki.file("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let result = probe(port, &format!("caFile: {}", path(&garbage))).await;
    assert!(
        result
            .reason
            .contains(&format!("tls.caFile {}", path(&garbage))),
        "{}",
        result.reason
    );
}
