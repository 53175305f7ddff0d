//! TLS trust of HTTP probes against real TLS servers on loopback, signed by a private CA
//! made in the test: `tls.caFile` makes the CA trusted (and without it the probe fails,
//! saying so), and a server that asks for a client certificate refuses a probe without
//! `tls.certFile`/`keyFile`.

use std::path::Path;

use hale_fakes::tls::Pki;
use hale_policy::conditions::Condition;
use hale_policy::{Probe, Site};
use hale_prober::{HttpClients, probe_site};

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
    let (port, _) = pki.serve(false).await;

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
    let (port, _) = pki.serve(true).await;
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
    let (port, _) = pki.serve(false).await;
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
