//! `[CERTIFICATE_EXPIRATION]` against a real TLS server on loopback whose self-signed
//! certificate expires in three days.

use std::sync::Arc;

use hale_policy::conditions::Condition;
use hale_policy::{Probe, Site};
use hale_prober::{HttpClients, probe_site};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `HTTP 200 ok` over TLS with a certificate valid for `valid_for`; returns the
/// address.
async fn tls_server(valid_for: time::Duration) -> std::net::SocketAddr {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + valid_for;
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
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
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
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
    address
}

fn probe(condition: &str) -> Probe {
    serde_saphyr::from_str(&format!(
        "name: tls\nsiteRef: shop\nhttpGet: {{insecureSkipVerify: true}}\ntimeout: 2s\nconditions: [\"{condition}\"]"
    ))
    .unwrap()
}

#[tokio::test]
async fn certificate_expiration_is_read_from_the_servers_certificate() {
    let address = tls_server(time::Duration::days(3)).await;
    let site = Site {
        name: "shop".into(),
        url: format!("https://localhost:{}/", address.port()),
        coolify: None,
    };
    let clients = HttpClients::new();
    for (condition, passes) in [
        ("[CERTIFICATE_EXPIRATION] > 48h", true),
        ("[CERTIFICATE_EXPIRATION] > 7d", false),
    ] {
        let probe = probe(condition);
        let conditions = [Condition::parse(condition).unwrap()];
        let result = probe_site(&clients, &probe, &conditions, &site).await;
        assert_eq!(result.success, passes, "{condition}: {result:?}");
        if !passes {
            assert!(
                result
                    .reason
                    .contains("[CERTIFICATE_EXPIRATION] > 7d (2days 23h"),
                "{}",
                result.reason
            );
        }
    }
}
