//! Resolution as the docker CLI does it, against configuration written to temp dirs (never
//! the real `~/.docker`).

use std::path::Path;

use super::*;

/// An environment whose home and config directory are `home` (nothing else set).
fn env_in(home: &Path) -> DockerEnvironment {
    DockerEnvironment {
        home: Some(home.to_owned()),
        ..DockerEnvironment::default()
    }
}

/// Writes a context the way `docker context create` stores it.
fn write_context(config: &Path, name: &str, host: &str, skip_tls_verify: bool, tls: bool) {
    let digest = context_digest(name);
    let meta = config.join("contexts/meta").join(&digest);
    std::fs::create_dir_all(&meta).unwrap();
    let json = serde_json::json!({
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}},
    });
    std::fs::write(meta.join("meta.json"), json.to_string()).unwrap();
    if tls {
        let dir = config.join("contexts/tls").join(&digest).join("docker");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), "").unwrap();
    }
}

fn write_current_context(config: &Path, name: &str) {
    std::fs::create_dir_all(config).unwrap();
    std::fs::write(
        config.join("config.json"),
        serde_json::json!({"auths": {}, "currentContext": name}).to_string(),
    )
    .unwrap();
}

#[test]
fn nothing_configured_is_the_local_socket() {
    let home = tempfile::tempdir().unwrap();
    let endpoint = resolve(None, &env_in(home.path())).unwrap();
    assert_eq!(endpoint.host, LOCAL_SOCKET);
    assert_eq!(endpoint.tls, None);
    assert_eq!(endpoint.source, EndpointSource::Default);
}

#[test]
fn the_context_digest_is_the_clis_directory_name() {
    // `docker context create x` stores it under the SHA-256 of "x".
    assert_eq!(
        context_digest("default"),
        "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
    );
}

#[test]
fn docker_host_without_tls_verify_is_plaintext() {
    let home = tempfile::tempdir().unwrap();
    let env = DockerEnvironment {
        docker_host: Some("tcp://10.0.0.5:2375".into()),
        ..env_in(home.path())
    };
    let endpoint = resolve(None, &env).unwrap();
    assert_eq!(endpoint.host, "tcp://10.0.0.5:2375");
    assert_eq!(endpoint.tls, None);
    assert_eq!(endpoint.source, EndpointSource::DockerHost);
}

#[test]
fn tls_verify_uses_docker_cert_path() {
    let home = tempfile::tempdir().unwrap();
    let env = DockerEnvironment {
        docker_host: Some("tcp://127.0.0.1:2376".into()),
        tls_verify: true,
        cert_path: Some("/etc/hale/docker-certs".into()),
        ..env_in(home.path())
    };
    let tls = resolve(None, &env).unwrap().tls.expect("TLS");
    assert_eq!(tls.ca(), Path::new("/etc/hale/docker-certs/ca.pem"));
    assert_eq!(tls.cert(), Path::new("/etc/hale/docker-certs/cert.pem"));
    assert_eq!(tls.key(), Path::new("/etc/hale/docker-certs/key.pem"));
    assert_eq!(tls.origin, "DOCKER_CERT_PATH");
}

#[test]
fn tls_verify_without_cert_path_uses_the_config_dir() {
    let home = tempfile::tempdir().unwrap();
    let env = DockerEnvironment {
        docker_host: Some("tcp://127.0.0.1:2376".into()),
        tls_verify: true,
        ..env_in(home.path())
    };
    let tls = resolve(None, &env).unwrap().tls.expect("TLS");
    assert_eq!(tls.dir, home.path().join(".docker"));
    let custom = DockerEnvironment {
        config_dir: Some(home.path().join("elsewhere")),
        ..env
    };
    assert_eq!(
        resolve(None, &custom).unwrap().tls.unwrap().dir,
        home.path().join("elsewhere")
    );
}

#[test]
fn tls_verify_does_not_apply_to_unix_or_ssh() {
    let home = tempfile::tempdir().unwrap();
    for host in ["unix:///run/other.sock", "ssh://ops@build-1"] {
        let env = DockerEnvironment {
            docker_host: Some(host.into()),
            tls_verify: true,
            ..env_in(home.path())
        };
        assert_eq!(resolve(None, &env).unwrap().tls, None, "{host}");
    }
}

#[test]
fn the_flag_beats_docker_host_and_contexts() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".docker");
    write_context(&config, "remote", "tcp://192.0.2.1:2376", false, true);
    write_current_context(&config, "remote");
    let env = DockerEnvironment {
        docker_host: Some("tcp://198.51.100.1:2375".into()),
        context: Some("remote".into()),
        ..env_in(home.path())
    };
    let endpoint = resolve(Some("unix:///run/flag.sock"), &env).unwrap();
    assert_eq!(endpoint.host, "unix:///run/flag.sock");
    assert_eq!(endpoint.source, EndpointSource::Flag);
    let endpoint = resolve(None, &env).unwrap();
    assert_eq!(endpoint.host, "tcp://198.51.100.1:2375");
}

#[test]
fn docker_context_beats_current_context() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".docker");
    write_context(&config, "a", "tcp://192.0.2.1:2375", false, false);
    write_context(&config, "b", "ssh://ops@192.0.2.2", false, false);
    write_current_context(&config, "a");
    let env = env_in(home.path());
    assert_eq!(resolve(None, &env).unwrap().host, "tcp://192.0.2.1:2375");
    let env = DockerEnvironment {
        context: Some("b".into()),
        ..env
    };
    let endpoint = resolve(None, &env).unwrap();
    assert_eq!(endpoint.host, "ssh://ops@192.0.2.2");
    assert_eq!(endpoint.source, EndpointSource::Context("b".into()));
}

#[test]
fn the_default_context_is_the_local_socket() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".docker");
    write_current_context(&config, "default");
    assert_eq!(
        resolve(None, &env_in(home.path())).unwrap().host,
        LOCAL_SOCKET
    );
}

#[test]
fn a_context_with_tls_material_is_tls_from_its_directory() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("cfg");
    write_context(&config, "prod", "tcp://192.0.2.9:2376", false, true);
    let env = DockerEnvironment {
        config_dir: Some(config.clone()),
        context: Some("prod".into()),
        ..env_in(home.path())
    };
    let tls = resolve(None, &env).unwrap().tls.expect("TLS");
    assert_eq!(
        tls.dir,
        config
            .join("contexts/tls")
            .join(context_digest("prod"))
            .join("docker")
    );
}

#[test]
fn a_context_that_skips_verification_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".docker");
    write_context(&config, "lax", "tcp://192.0.2.3:2376", true, true);
    let env = DockerEnvironment {
        context: Some("lax".into()),
        ..env_in(home.path())
    };
    let error = resolve(None, &env).unwrap_err();
    assert!(
        matches!(&error, ConnectError::SkipTlsVerify { context, .. } if context == "lax"),
        "{error}"
    );
    assert!(error.to_string().contains("SkipTLSVerify"), "{error}");
}

#[test]
fn a_missing_context_names_its_file() {
    let home = tempfile::tempdir().unwrap();
    let env = DockerEnvironment {
        context: Some("gone".into()),
        ..env_in(home.path())
    };
    let error = resolve(None, &env).unwrap_err();
    let ConnectError::Context { context, path, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(context, "gone");
    assert!(path.ends_with(Path::new(&context_digest("gone")).join("meta.json")));
    assert!(error.to_string().contains("no such context"), "{error}");
}

#[test]
fn a_broken_config_json_is_an_error_not_the_local_socket() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), "{not json").unwrap();
    let error = resolve(None, &env_in(home.path())).unwrap_err();
    assert!(matches!(error, ConnectError::Context { .. }), "{error}");
}

#[test]
fn specs_parse_with_and_without_names() {
    let spec: EndpointSpec = "edge=tcp://127.0.0.1:2376".parse().unwrap();
    assert_eq!(spec.name.as_deref(), Some("edge"));
    assert_eq!(spec.url, "tcp://127.0.0.1:2376");
    let spec: EndpointSpec = "unix:///var/run/docker.sock".parse().unwrap();
    assert_eq!(spec.name, None);
    assert!(matches!(
        "bad name=tcp://h:1".parse::<EndpointSpec>(),
        Err(ConnectError::BadEndpointName { .. })
    ));
    assert!(matches!(
        "http://h:1".parse::<EndpointSpec>(),
        Err(ConnectError::UnsupportedScheme { .. })
    ));
}

#[test]
fn several_endpoints_need_distinct_names() {
    let home = tempfile::tempdir().unwrap();
    let env = env_in(home.path());
    let spec = |s: &str| s.parse::<EndpointSpec>().unwrap();
    let named = resolve_all(
        &[
            spec("local=unix:///var/run/docker.sock"),
            spec("edge=tcp://127.0.0.1:2376"),
        ],
        &env,
    )
    .unwrap();
    let names: Vec<_> = named.iter().map(|n| n.name.as_deref().unwrap()).collect();
    assert_eq!(names, ["local", "edge"]);
    assert!(matches!(
        resolve_all(&[spec("unix:///a.sock"), spec("b=unix:///b.sock")], &env),
        Err(ConnectError::UnnamedEndpoint { .. })
    ));
    assert!(matches!(
        resolve_all(&[spec("a=unix:///a.sock"), spec("a=unix:///b.sock")], &env),
        Err(ConnectError::DuplicateEndpointName { .. })
    ));
    // One endpoint keeps its name optional, and none falls back to the environment.
    let one = resolve_all(&[], &env).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].name, None);
    assert_eq!(one[0].endpoint.host, LOCAL_SOCKET);
}

#[test]
fn a_remote_daemons_published_ports_are_probed_on_its_host() {
    assert_eq!(remote_host("tcp://10.0.0.5:2376"), Some("10.0.0.5"));
    assert_eq!(remote_host("ssh://ops@build-1"), Some("build-1"));
    assert_eq!(remote_host("ssh://ops@build-1:2222"), Some("build-1"));
    assert_eq!(remote_host("tcp://[2001:db8::1]:2376"), Some("2001:db8::1"));
    assert_eq!(remote_host("tcp://127.0.0.1:2376"), None);
    assert_eq!(remote_host("ssh://localhost"), None);
    assert_eq!(remote_host(LOCAL_SOCKET), None);

    let mut published = std::collections::BTreeMap::from([
        ("80/tcp".to_owned(), ("127.0.0.1".to_owned(), 8080)),
        ("443/tcp".to_owned(), ("::1".to_owned(), 8443)),
        ("53/udp".to_owned(), ("10.1.1.1".to_owned(), 53)),
    ]);
    publish_on("10.0.0.5", &mut published);
    assert_eq!(published["80/tcp"], ("10.0.0.5".to_owned(), 8080));
    assert_eq!(published["443/tcp"], ("10.0.0.5".to_owned(), 8443));
    assert_eq!(published["53/udp"], ("10.1.1.1".to_owned(), 53));
}
