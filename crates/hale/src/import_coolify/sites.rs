//! Where each site's URL comes from: `--site UUID=URL`, or the application's domain in
//! Coolify, read through the reconciler's own Coolify client.

use hale_policy::{CoolifyApplication, SecretRef};

use super::AutohealConfig;
use super::coolify_application;
use crate::import::ImportError;

/// A site's URL, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUrl {
    /// The Coolify application's UUID.
    pub uuid: String,
    /// The URL hale probes.
    pub url: String,
    /// Coolify's name and `fqdn` for it, when the URL was taken from there.
    pub from_coolify: Option<(String, String)>,
}

/// A `--site` that is not `UUID=URL` with an http(s) URL.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?}: expected UUID=URL with an http:// or https:// URL, e.g. k4w8ockgs0co4c88s4wkcgsc=https://shop.example.com"
)]
pub struct SiteArgError(String);

/// Reads `--site UUID=URL`.
///
/// # Errors
/// [`SiteArgError`] when it is not `UUID=URL`, or the URL is not http(s) with a host.
pub fn site_arg(text: &str) -> Result<(String, String), SiteArgError> {
    match text.split_once('=') {
        Some((uuid, url))
            if coolify_application(uuid.trim(), None)
                .uuid_problem()
                .is_none()
                && is_http_url(url.trim()) =>
        {
            Ok((uuid.trim().to_owned(), url.trim().to_owned()))
        }
        _ => Err(SiteArgError(text.to_owned())),
    }
}

/// An absolute `http://` or `https://` URL with a host and no whitespace.
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.starts_with(':') && !url.chars().any(char::is_whitespace)
    })
}

/// The URL to probe from Coolify's `fqdn`, a comma-separated list: the first `https://`
/// one (the one customers are sent to when Coolify redirects to HTTPS), else the first
/// `http://` one.
pub fn choose_fqdn(fqdn: &str) -> Option<String> {
    let urls: Vec<&str> = fqdn
        .split(',')
        .map(str::trim)
        .filter(|url| is_http_url(url))
        .collect();
    urls.iter()
        .find(|url| url.starts_with("https://"))
        .or_else(|| urls.first())
        .map(|url| (*url).to_owned())
}

/// How to ask Coolify for an application's domain.
#[derive(Debug, Clone)]
pub struct CoolifyLookup {
    /// COOLIFY_API_URL: the instance's API, with or without `/api/v1`.
    pub api_url: String,
    /// The token to present (the `read` ability is enough).
    pub token: SecretRef,
}

/// The URL of each enabled site: from `overrides` (`--site UUID=URL`, the last one for a
/// UUID wins), else from Coolify through `coolify` when given, else none (an error).
///
/// # Errors
/// [`ImportError::UnknownSite`] for an override of a site the config does not watch,
/// [`ImportError::NoSiteUrl`] for a site without a URL when Coolify is not asked,
/// [`ImportError::Coolify`] when Coolify cannot tell, and [`ImportError::NoDomain`] when
/// the application has no http(s) domain.
pub async fn site_urls(
    config: &AutohealConfig,
    overrides: &[(String, String)],
    coolify: Option<&CoolifyLookup>,
) -> Result<Vec<SiteUrl>, ImportError> {
    if let Some((uuid, _)) = overrides
        .iter()
        .find(|(uuid, _)| !config.enabled_sites.contains(uuid))
    {
        return Err(ImportError::UnknownSite {
            uuid: uuid.clone(),
            known: config.enabled_sites.join(", "),
        });
    }
    let mut sites = Vec::with_capacity(config.enabled_sites.len());
    for uuid in &config.enabled_sites {
        if let Some((_, url)) = overrides.iter().rev().find(|(given, _)| given == uuid) {
            sites.push(SiteUrl {
                uuid: uuid.clone(),
                url: url.clone(),
                from_coolify: None,
            });
            continue;
        }
        let Some(lookup) = coolify else {
            return Err(ImportError::NoSiteUrl { uuid: uuid.clone() });
        };
        let application = CoolifyApplication {
            token: lookup.token.clone(),
            ..coolify_application(uuid, Some(&lookup.api_url))
        };
        let app = hale_reconciler::coolify_application(&application)
            .await
            .map_err(|source| ImportError::Coolify {
                uuid: uuid.clone(),
                source,
            })?;
        let url = choose_fqdn(&app.fqdn).ok_or_else(|| ImportError::NoDomain {
            uuid: uuid.clone(),
            fqdn: app.fqdn.clone(),
        })?;
        sites.push(SiteUrl {
            uuid: uuid.clone(),
            url,
            from_coolify: Some((app.name, app.fqdn)),
        });
    }
    Ok(sites)
}

/// Coolify's base URL from COOLIFY_API_URL (which includes `/api/v1`): what
/// `coolify.url` takes.
pub fn coolify_base_url(api_url: &str) -> String {
    let url = api_url.trim().trim_end_matches('/');
    url.strip_suffix("/api/v1")
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import_coolify::parse_config;

    const UUID: &str = "k4w8ockgs0co4c88s4wkcgsc";

    fn site(uuid: &str, url: &str) -> SiteUrl {
        SiteUrl {
            uuid: uuid.to_owned(),
            url: url.to_owned(),
            from_coolify: None,
        }
    }

    #[test]
    fn the_https_domain_is_preferred_among_coolifys_fqdns() {
        assert_eq!(
            choose_fqdn("http://shop.example.com,https://shop.example.com/app").as_deref(),
            Some("https://shop.example.com/app")
        );
        assert_eq!(
            choose_fqdn(" http://a.example.com:8080 , http://b.example.com").as_deref(),
            Some("http://a.example.com:8080")
        );
        assert_eq!(choose_fqdn(""), None);
        assert_eq!(choose_fqdn("shop.example.com,ftp://x"), None);
    }

    #[test]
    fn site_flags_and_urls_are_read_strictly() {
        assert_eq!(
            site_arg("abc=https://shop.example.com").unwrap(),
            ("abc".to_owned(), "https://shop.example.com".to_owned())
        );
        assert!(site_arg("abc").is_err());
        assert!(site_arg("abc=shop.example.com").is_err());
        assert!(site_arg("a/b=https://x").is_err());
        assert_eq!(
            coolify_base_url("https://coolify.example.com/api/v1/"),
            "https://coolify.example.com"
        );
    }

    #[tokio::test]
    async fn overrides_must_name_an_enabled_site_and_a_site_needs_a_url() {
        let config = parse_config(&format!(r#"{{"enabledSites": ["{UUID}"]}}"#), "f.json").unwrap();
        let error = site_urls(&config, &[("nope".into(), "https://x".into())], None)
            .await
            .expect_err("refused");
        assert!(matches!(error, ImportError::UnknownSite { .. }), "{error}");
        let error = site_urls(&config, &[], None).await.expect_err("refused");
        assert!(
            error
                .to_string()
                .contains(&format!("pass --site {UUID}=https://")),
            "{error}"
        );
        let sites = site_urls(&config, &[(UUID.into(), "https://x.example".into())], None)
            .await
            .unwrap();
        assert_eq!(sites, [site(UUID, "https://x.example")]);
    }

    #[tokio::test]
    async fn coolify_tells_each_sites_domain_and_says_why_it_cannot() {
        use hale_fakes::{APP_UUID, FakeCoolify, GOOD_TOKEN};
        let coolify = FakeCoolify::start().await;
        coolify.add_application("nodomain", "worker", None);
        coolify.add_application(
            "two",
            "blog",
            Some("http://blog.example.com,https://blog.example.com"),
        );
        let token = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token.path(), GOOD_TOKEN).unwrap();
        let lookup = CoolifyLookup {
            api_url: format!("{}/api/v1", coolify.url()),
            token: SecretRef {
                from_env: None,
                from_file: Some(token.path().to_path_buf()),
            },
        };
        let config = |sites: &str| {
            parse_config(&format!(r#"{{"enabledSites": [{sites}]}}"#), "f.json").unwrap()
        };
        let sites = site_urls(
            &config(&format!(r#""{APP_UUID}", "two""#)),
            &[],
            Some(&lookup),
        )
        .await
        .unwrap();
        assert_eq!(sites[0].url, "https://shop.example.com");
        assert_eq!(sites[1].url, "https://blog.example.com");
        assert_eq!(
            sites[1].from_coolify,
            Some((
                "blog".to_owned(),
                "http://blog.example.com,https://blog.example.com".to_owned()
            ))
        );
        let error = site_urls(&config(r#""nodomain""#), &[], Some(&lookup))
            .await
            .expect_err("no domain");
        assert!(matches!(error, ImportError::NoDomain { .. }), "{error}");
        let error = site_urls(&config(r#""unknown""#), &[], Some(&lookup))
            .await
            .expect_err("no such application");
        let message = error.to_string();
        assert!(message.contains("has no application unknown"), "{message}");
        assert!(message.contains("--site unknown=URL"), "{message}");
        std::fs::write(token.path(), "9|wrong").unwrap();
        let error = site_urls(&config(&format!(r#""{APP_UUID}""#)), &[], Some(&lookup))
            .await
            .expect_err("bad token");
        assert!(
            error.to_string().contains("rejected the API token"),
            "{error}"
        );
        let requests = coolify.requests();
        assert!(
            requests.iter().all(|r| r.method == "GET"),
            "a lookup changes nothing"
        );
    }
}
