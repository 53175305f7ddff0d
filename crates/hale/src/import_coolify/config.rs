//! Where AutoHEAL's config comes from (a file, or the Redis key it kept it in) and what it
//! says: its settings with AutoHEAL's defaults, each value checked as AutoHEAL would.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use super::coolify_application;
use crate::import::ImportError;

/// The Redis key AutoHEAL kept its config in.
pub const DEFAULT_KEY: &str = "infra:autoheal:config";

/// How long one read from Redis may take: an import waits for nothing longer.
const REDIS_TIMEOUT: Duration = Duration::from_secs(10);

/// AutoHEAL's config, with its defaults for the fields it lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutohealConfig {
    /// Where it was read from, for messages and the file's header.
    pub origin: String,
    /// `enabled`: false means AutoHEAL only watched. Default `true`.
    pub enabled: bool,
    /// `failureThreshold`: failures within the window that confirm one. Default `2`.
    pub failure_threshold: u32,
    /// `failureWindowSec`, as written (or its default `120`), before any clamping.
    pub failure_window_sec: u64,
    /// `skipWhenDeploying`: no action while Coolify deploys. Default `true`.
    pub skip_when_deploying: bool,
    /// `cooldownSec`: no action for this long after a restart (and redeploy). Default `600`.
    pub cooldown_sec: u64,
    /// `redeployDelaySec`: the wait between the restart and the redeploy. Default `90`.
    pub redeploy_delay_sec: u64,
    /// `redeployAfterRestart`: redeploy when the restart did not help. Default `true`.
    pub redeploy_after_restart: bool,
    /// `enabledSites`: the Coolify application UUIDs it probed, duplicates dropped.
    pub enabled_sites: Vec<String>,
    /// `updatedAt`, if set: when the config last changed.
    pub updated_at: Option<String>,
    /// The settings the config does not set (their defaults are used), in AutoHEAL's order.
    pub defaulted: Vec<&'static str>,
    /// Keys that are not AutoHEAL's settings.
    pub unknown: Vec<String>,
}

/// Reads AutoHEAL's JSON config; `origin` says where it came from, for the messages.
///
/// # Errors
/// [`ImportError::BadJson`] when it is not a JSON object, [`ImportError::BadSetting`] for a
/// value AutoHEAL would not accept, [`ImportError::NoSites`] when it watches no site.
pub fn parse_config(text: &str, origin: &str) -> Result<AutohealConfig, ImportError> {
    let value: Value = serde_json::from_str(text).map_err(|error| ImportError::BadJson {
        origin: origin.to_owned(),
        problem: error.to_string(),
    })?;
    let Value::Object(object) = value else {
        return Err(ImportError::BadJson {
            origin: origin.to_owned(),
            problem: format!("it is {}, not an object", kind_of(&value)),
        });
    };
    let mut fields = Fields {
        object: &object,
        origin,
        defaulted: Vec::new(),
    };
    let enabled = fields.boolean("enabled", true)?;
    let failure_threshold = fields.number("failureThreshold", 2, 1)?;
    let failure_window_sec = fields.number("failureWindowSec", 120, 0)?;
    let skip_when_deploying = fields.boolean("skipWhenDeploying", true)?;
    let cooldown_sec = fields.number("cooldownSec", 600, 0)?;
    let redeploy_delay_sec = fields.number("redeployDelaySec", 90, 0)?;
    let redeploy_after_restart = fields.boolean("redeployAfterRestart", true)?;
    let enabled_sites = fields.uuids("enabledSites")?;
    let updated_at = match object.get("updatedAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(at)) => Some(at.clone()),
        Some(other) => return Err(fields.bad("updatedAt", other, "a string (a timestamp)")),
    };
    if enabled_sites.is_empty() {
        return Err(ImportError::NoSites {
            origin: origin.to_owned(),
        });
    }
    let failure_threshold =
        u32::try_from(failure_threshold).map_err(|_| ImportError::BadSetting {
            origin: origin.to_owned(),
            field: "failureThreshold",
            value: failure_threshold.to_string(),
            expected: "a whole number from 1 to 4294967295",
        })?;
    let unknown = object
        .keys()
        .filter(|key| !SETTINGS.contains(&key.as_str()))
        .cloned()
        .collect();
    Ok(AutohealConfig {
        origin: origin.to_owned(),
        enabled,
        failure_threshold,
        failure_window_sec,
        skip_when_deploying,
        cooldown_sec,
        redeploy_delay_sec,
        redeploy_after_restart,
        enabled_sites,
        updated_at,
        defaulted: fields.defaulted,
        unknown,
    })
}

/// AutoHEAL's settings, in the order its README lists them.
const SETTINGS: [&str; 9] = [
    "enabled",
    "failureThreshold",
    "failureWindowSec",
    "skipWhenDeploying",
    "cooldownSec",
    "redeployDelaySec",
    "redeployAfterRestart",
    "enabledSites",
    "updatedAt",
];

/// Reads the config's fields, each with its type and its default.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    origin: &'a str,
    defaulted: Vec<&'static str>,
}

impl Fields<'_> {
    fn bad(&self, field: &'static str, value: &Value, expected: &'static str) -> ImportError {
        ImportError::BadSetting {
            origin: self.origin.to_owned(),
            field,
            value: value.to_string(),
            expected,
        }
    }

    /// The field's value, or `None` (noted as defaulted) when it is missing or null.
    fn get(&mut self, field: &'static str) -> Option<&Value> {
        match self.object.get(field) {
            None | Some(Value::Null) => {
                self.defaulted.push(field);
                None
            }
            Some(value) => Some(value),
        }
    }

    fn boolean(&mut self, field: &'static str, default: bool) -> Result<bool, ImportError> {
        match self.get(field).cloned() {
            None => Ok(default),
            Some(Value::Bool(value)) => Ok(value),
            Some(other) => Err(self.bad(field, &other, "true or false")),
        }
    }

    fn number(&mut self, field: &'static str, default: u64, min: u64) -> Result<u64, ImportError> {
        let expected = if min == 0 {
            "a whole number of 0 or more"
        } else {
            "a whole number of 1 or more"
        };
        match self.get(field).cloned() {
            None => Ok(default),
            Some(value) => value
                .as_u64()
                .filter(|n| *n >= min)
                .ok_or_else(|| self.bad(field, &value, expected)),
        }
    }

    /// A list of Coolify application UUIDs, in order, without duplicates.
    fn uuids(&mut self, field: &'static str) -> Result<Vec<String>, ImportError> {
        const EXPECTED: &str = "a list of Coolify application UUIDs (letters, digits, '-' and '_', as in Coolify's URLs)";
        let Some(value) = self.get(field).cloned() else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = &value else {
            return Err(self.bad(field, &value, EXPECTED));
        };
        let mut uuids: Vec<String> = Vec::new();
        for item in items {
            let uuid = item
                .as_str()
                .filter(|uuid| coolify_application(uuid, None).uuid_problem().is_none())
                .ok_or_else(|| self.bad(field, item, EXPECTED))?;
            if !uuids.iter().any(|known| known == uuid) {
                uuids.push(uuid.to_owned());
            }
        }
        Ok(uuids)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads the config file at `path`; returns its text and how to name it in messages.
///
/// # Errors
/// [`ImportError::ReadConfig`] when it cannot be read.
pub fn read_file(path: &Path) -> Result<(String, String), ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::ReadConfig {
        path: path.display().to_string(),
        source,
    })?;
    Ok((text, path.display().to_string()))
}

/// Reads the config from Redis (`redis://[:password@]host:port/db`) at `key`, as AutoHEAL
/// kept it: one string holding JSON. Returns its text and how to name it in messages
/// (never with the password).
///
/// # Errors
/// [`ImportError::Redis`] when Redis cannot be reached or refuses (a wrong password),
/// [`ImportError::MissingKey`], [`ImportError::NotString`], and
/// [`ImportError::BadJson`] for a value that is not text.
pub fn read_redis(url: &str, key: &str) -> Result<(String, String), ImportError> {
    let address = without_password(url);
    let failed = |source| ImportError::Redis {
        address: address.clone(),
        key: key.to_owned(),
        source,
    };
    let client = redis::Client::open(url).map_err(failed)?;
    let mut connection = client
        .get_connection_with_timeout(REDIS_TIMEOUT)
        .map_err(failed)?;
    connection
        .set_read_timeout(Some(REDIS_TIMEOUT))
        .map_err(failed)?;
    let missing = || ImportError::MissingKey {
        address: address.clone(),
        key: key.to_owned(),
    };
    // TYPE first: GET on a hash or a list answers WRONGTYPE, which says less.
    let kind: String = redis::cmd("TYPE")
        .arg(key)
        .query(&mut connection)
        .map_err(failed)?;
    match kind.as_str() {
        "none" => return Err(missing()),
        "string" => {}
        _ => {
            return Err(ImportError::NotString {
                address: address.clone(),
                key: key.to_owned(),
                kind,
            });
        }
    }
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg(key)
        .query(&mut connection)
        .map_err(failed)?;
    let origin = format!("{key} in Redis at {address}");
    let text = String::from_utf8(value.ok_or_else(missing)?).map_err(|_| ImportError::BadJson {
        origin: origin.clone(),
        problem: "it is not UTF-8 text".to_owned(),
    })?;
    Ok((text, origin))
}

/// `url` without the password (or user) before `@`, for messages and files.
pub fn without_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_and_bad_values_say_what_and_where() {
        let error = parse_config("{\"enabled\": tru", "autoheal.json").expect_err("refused");
        let message = error.to_string();
        assert!(
            message.starts_with("autoheal.json is not AutoHEAL's config"),
            "{message}"
        );
        assert!(matches!(error, ImportError::BadJson { .. }));
        let error = parse_config("[1]", "k in Redis").expect_err("refused");
        assert!(
            error.to_string().contains("it is a list, not an object"),
            "{error}"
        );
        let error = parse_config(
            r#"{"failureThreshold": "2", "enabledSites": ["a"]}"#,
            "f.json",
        )
        .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "f.json: failureThreshold is \"2\", expected a whole number of 1 or more"
        );
        let error = parse_config(
            r#"{"failureThreshold": 0, "enabledSites": ["a"]}"#,
            "f.json",
        )
        .expect_err("refused");
        assert!(matches!(
            error,
            ImportError::BadSetting {
                field: "failureThreshold",
                ..
            }
        ));
        let error = parse_config(r#"{"enabledSites": ["a/../b"]}"#, "f.json").expect_err("refused");
        assert!(
            error.to_string().contains(
                "enabledSites is \"a/../b\", expected a list of Coolify application UUIDs"
            ),
            "{error}"
        );
        let error = parse_config(r#"{"enabled": true}"#, "f.json").expect_err("refused");
        assert!(matches!(error, ImportError::NoSites { .. }), "{error}");
    }

    #[test]
    fn passwords_are_left_out_of_redis_addresses() {
        assert_eq!(
            without_password("redis://:s3cret@127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(
            without_password("redis://user:s3cret@redis.internal/2"),
            "redis://redis.internal/2"
        );
        assert_eq!(without_password("redis://127.0.0.1"), "redis://127.0.0.1");
    }
}
