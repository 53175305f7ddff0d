//! Policies as text: the source of one in force, an export of all as one YAML file,
//! validation of an edit with `line:col` positions, and an import that writes into the
//! policy directory only when `hale run --ui-writes` allows it (the hot reload then picks
//! it up, exactly as for a file an operator committed).

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_policy::{API_VERSION, Diagnostic, HealPolicy, LoadReport, ObjectMeta};
use serde_json::json;

use crate::{ApiState, error};

/// Where the dashboard may write policies.
#[derive(Debug, Clone)]
pub struct PolicyWrites {
    /// The policy directory (or file) of `hale run --policies`.
    pub path: PathBuf,
    /// `--ui-writes`: imports are written there; without it they are only validated.
    pub allowed: bool,
}

/// Why an import is not written.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    #[error(
        "the dashboard does not write policies: `hale run` was started without --ui-writes; commit this YAML to the policy directory ({0}) instead, and the hot reload applies it"
    )]
    WritesOff(String),
    #[error(
        "the YAML holds {0} HealPolicy documents and {1} other resources: import one HealPolicy at a time"
    )]
    NotOnePolicy(usize, usize),
    #[error(
        "policy {name:?} is defined in {file} beside other resources: edit that file, so the others are kept"
    )]
    SharedFile { name: String, file: String },
    #[error(
        "--policies {0} is a file, not a directory: a new policy has nowhere to go; edit the file"
    )]
    NotADirectory(String),
    #[error(
        "{0} already exists and defines no policy named {1:?}: choose another name or edit that file"
    )]
    Exists(String, String),
    #[error("cannot write {file}: {source}")]
    Write {
        file: String,
        source: std::io::Error,
    },
}

/// A diagnostic as the dashboard shows it.
fn diagnostic_json(diagnostic: &Diagnostic) -> serde_json::Value {
    json!({
        "severity": diagnostic.severity,
        "line": diagnostic.position.map(|p| p.line),
        "column": diagnostic.position.map(|p| p.column),
        "path": diagnostic.path,
        "message": diagnostic.message,
        "text": diagnostic.to_string(),
    })
}

fn check(text: &str) -> LoadReport {
    hale_policy::load_str("import.yaml", text)
}

/// The source text of the policy `name` in force: its file, the line its document starts
/// on, and the file's text.
#[utoipa::path(get, path = "/api/v1/policies/{name}/source", tag = "policies", params(("name" = String, Path, description = "The policy")), responses((status = 200, description = "{name, file, line, yaml}: the file that defines it, as written", content_type = "application/json"), (status = 404, description = "No such policy, or its file is gone")))]
pub async fn source(State(state): State<ApiState>, UrlPath(name): UrlPath<String>) -> Response {
    let status = state.status.snapshot();
    let Some(policy) = status.policies.get(&name) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no policy named {name:?} is in force"),
        );
    };
    let file = policy.file.clone();
    let line = policy.line;
    let read = {
        let file = file.clone();
        tokio::task::spawn_blocking(move || std::fs::read_to_string(file)).await
    };
    match read {
        Ok(Ok(yaml)) => {
            Json(json!({ "name": name, "file": file, "line": line, "yaml": yaml })).into_response()
        }
        Ok(Err(problem)) => error(
            StatusCode::NOT_FOUND,
            format!("cannot read {file}: {problem} (the version in force stays until a reload)"),
        ),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the read was cancelled".to_owned(),
        ),
    }
}

/// Every policy in force as one YAML file: what is running, in canonical form (a file
/// rejected at the last reload is exported as the version still in force).
#[utoipa::path(get, path = "/api/v1/policies/export", tag = "policies", responses((status = 200, description = "Every HealPolicy in force, as YAML documents", content_type = "application/yaml")))]
pub async fn export(State(state): State<ApiState>) -> Response {
    let status = state.status.snapshot();
    let mut text = format!(
        "# Exported from hale {} at {}: the {} HealPolicy resources in force.\n",
        env!("CARGO_PKG_VERSION"),
        hale_core::Timestamp::now(),
        status.policies.len()
    );
    for policy in status.policies.values() {
        let resource = HealPolicy {
            api_version: API_VERSION.to_owned(),
            kind: "HealPolicy".to_owned(),
            metadata: ObjectMeta {
                name: policy.name.clone(),
                ..ObjectMeta::default()
            },
            spec: policy.spec.clone(),
        };
        match serde_saphyr::to_string(&resource) {
            Ok(yaml) => {
                text.push_str(&format!(
                    "---\n# source: {}:{}\n{yaml}",
                    policy.file, policy.line
                ));
            }
            Err(problem) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot write policy {} as YAML: {problem}", policy.name),
                );
            }
        }
    }
    (
        [
            (header::CONTENT_TYPE, "application/yaml; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"hale-policies.yaml\"",
            ),
        ],
        text,
    )
        .into_response()
}

/// Checks YAML as the loader would, without writing anything.
#[utoipa::path(post, path = "/api/v1/policies/validate", tag = "policies", request_body(content = String, content_type = "application/yaml", description = "One or more policy documents"), responses((status = 200, description = "{valid, policies, diagnostics: [{severity, line, column, path, message}]}", content_type = "application/json")))]
pub async fn validate(crate::body::TextBody(body): crate::body::TextBody) -> Response {
    let report = check(&body);
    Json(json!({
        "valid": !report.has_errors(),
        "policies": report.set.policies.iter().map(|p| p.resource.metadata.name.clone()).collect::<Vec<_>>(),
        "diagnostics": report.diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// Imports one HealPolicy: validated first (errors at `line:col`, nothing written), then
/// written into the policy directory when `--ui-writes` allows it.
#[utoipa::path(post, path = "/api/v1/policies", tag = "policies", security(("bearer" = [])), request_body(content = String, content_type = "application/yaml", description = "One HealPolicy document"), responses((status = 200, description = "{written: file}: the hot reload applies it", content_type = "application/json"), (status = 401, description = "Missing or wrong token"), (status = 403, description = "Started without --ui-writes: nothing is written; commit the YAML instead"), (status = 409, description = "The policy shares its file with other resources, or the file exists"), (status = 422, description = "Invalid: {diagnostics}, nothing written")))]
pub async fn import(
    State(state): State<ApiState>,
    crate::body::TextBody(body): crate::body::TextBody,
) -> Response {
    let report = check(&body);
    if report.has_errors() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": "the YAML is not valid; nothing was written",
                "diagnostics": report.diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
            })),
        )
            .into_response();
    }
    let writes = state.policy_writes.clone();
    let status = state.status.snapshot();
    let written =
        tokio::task::spawn_blocking(move || write(&writes, &report, &status, &body)).await;
    match written {
        Ok(Ok(file)) => Json(json!({
            "written": file,
            "result": format!("written to {file}; the hot reload applies it"),
        }))
        .into_response(),
        Ok(Err(problem)) => {
            let code = match problem {
                ImportError::WritesOff(_) => StatusCode::FORBIDDEN,
                ImportError::NotOnePolicy(..) => StatusCode::UNPROCESSABLE_ENTITY,
                ImportError::Write { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::CONFLICT,
            };
            error(code, problem.to_string())
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the write was cancelled".to_owned(),
        ),
    }
}

/// Chooses the file and writes `text` into it atomically (a hidden temporary file, which
/// the loader skips, renamed over it).
fn write(
    writes: &PolicyWrites,
    report: &LoadReport,
    status: &hale_core::ControllerStatus,
    text: &str,
) -> Result<String, ImportError> {
    let shown = writes.path.display().to_string();
    if !writes.allowed {
        return Err(ImportError::WritesOff(shown));
    }
    let [policy] = report.set.policies.as_slice() else {
        return Err(ImportError::NotOnePolicy(
            report.set.policies.len(),
            report.set.notifiers.len(),
        ));
    };
    if !report.set.notifiers.is_empty() {
        return Err(ImportError::NotOnePolicy(1, report.set.notifiers.len()));
    }
    let name = &policy.resource.metadata.name;
    let file = match status.policies.get(name) {
        Some(current) => {
            let file = PathBuf::from(&current.file);
            let alone = std::fs::read_to_string(&file).is_ok_and(|existing| {
                let existing = check(&existing);
                existing.set.policies.len() == 1 && existing.set.notifiers.is_empty()
            });
            if !alone {
                return Err(ImportError::SharedFile {
                    name: name.clone(),
                    file: current.file.clone(),
                });
            }
            file
        }
        None => {
            if !writes.path.is_dir() {
                return Err(ImportError::NotADirectory(shown));
            }
            let file = writes.path.join(format!("{name}.yaml"));
            if file.exists() {
                return Err(ImportError::Exists(
                    file.display().to_string(),
                    name.clone(),
                ));
            }
            file
        }
    };
    atomic_write(&file, text).map_err(|source| ImportError::Write {
        file: file.display().to_string(),
        source,
    })?;
    Ok(file.display().to_string())
}

fn atomic_write(file: &Path, text: &str) -> std::io::Result<()> {
    let directory = file.parent().unwrap_or(Path::new("."));
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = directory.join(format!(".{name}.hale-import"));
    std::fs::write(&temporary, text)?;
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, file)
}
