//! What each command does.

use std::path::PathBuf;
use std::process::ExitCode;

use hale_policy::{LoadReport, Severity};
use serde::Serialize;

use crate::cli::{Cli, Command, OutputFormat};
use crate::error::{CliError, CommandResult};
use crate::output::print;

/// Runs the parsed command line and returns the process exit status. This is the one
/// place a command's error is printed: one line (or block) on stderr, prefixed with the
/// command (`hale validate: ...`), and the exit status of its kind.
pub fn run(cli: Cli) -> ExitCode {
    let command = cli.command.path();
    match dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{command}: {error}");
            error.exit_code()
        }
    }
}

fn dispatch(cli: Cli) -> CommandResult {
    match cli.command {
        Command::Validate {
            paths,
            output,
            strict,
        } => validate(&paths, output, strict),
        Command::Import(crate::cli::ImportCommand::Willfarrell {
            env_file,
            out,
            force,
            no_docker,
        }) => import_willfarrell(env_file.as_deref(), out.as_deref(), force, !no_docker),
        Command::Import(crate::cli::ImportCommand::AlertActions { file, out, force }) => {
            import_alert_actions(&file, out.as_deref(), force)
        }
        Command::Import(crate::cli::ImportCommand::CoolifyAutoheal(args)) => {
            import_coolify_autoheal(&args)
        }
        Command::Schema => print(&hale_policy::schema::json_schema_text()),
        Command::Notify(crate::cli::NotifyCommand::Test { notifier, policies }) => {
            notify_test(&notifier, &policies)
        }
        Command::Get {
            resource,
            output,
            server,
            fleet,
        } => match &fleet.fleet {
            Some(url) => crate::fleet_targets::get(resource, output, &fleet, url),
            None => crate::client::get(resource, output, &server),
        },
        Command::Describe {
            resource,
            name,
            server,
        } => crate::client::describe(resource, &name, &server),
        Command::Run(args) => crate::run::run(args),
        Command::Events(args) if args.follow && args.fleet.fleet.is_none() => {
            crate::client::follow(&args)
        }
        Command::Events(args) => crate::events::events(&args),
        Command::Pause {
            policy,
            server,
            token,
        } => crate::client::set_paused(&server, &token, &policy, true),
        Command::Resume {
            policy,
            server,
            token,
        } => crate::client::set_paused(&server, &token, &policy, false),
        Command::Heal {
            target,
            policy,
            server,
            token,
        } => {
            let mut path = format!(
                "/api/v1/targets/{}/heal",
                crate::api_client::encode(&target)
            );
            if let Some(policy) = policy {
                path.push_str(&format!("?policy={}", crate::api_client::encode(&policy)));
            }
            crate::client::control(&server, &token, &path, None)
        }
        Command::Man { dir } => {
            use clap::CommandFactory as _;
            std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), &dir))
                .map_err(|problem| {
                    CliError::Failed(format!(
                        "cannot write the manual pages into {}: {problem}",
                        dir.display()
                    ))
                })?;
            print(&format!("manual pages written to {}\n", dir.display()))
        }
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hale", &mut script);
            print(&String::from_utf8_lossy(&script))
        }
        Command::Ready { server } => {
            let answer = crate::api_client::ApiClient::new(&server)?.get("/readyz")?;
            print(&answer)
        }
        Command::Disable {
            target,
            server,
            token,
        } => crate::client::set_healing(&server, &token, &target, false),
        Command::Enable {
            target,
            server,
            token,
        } => crate::client::set_healing(&server, &token, &target, true),
        Command::Ack {
            labels,
            duration,
            comment,
            link,
            server,
            token,
        } => crate::client::ack(&server, &token, &labels, duration, comment, link),
        Command::Unquarantine {
            target,
            policy,
            state,
        } => unquarantine(target, policy, &state.path),
        Command::Explain {
            field,
            recursive,
            markdown,
        } => {
            if markdown {
                return print(&hale_policy::schema::reference_markdown());
            }
            let field = field.unwrap_or_default();
            let explanation = hale_policy::schema::explain(&field)
                .map_err(|error| CliError::Usage(error.to_string()))?;
            print(&explanation.render(recursive))
        }
    }
}

fn unquarantine(
    target: String,
    policy: Option<String>,
    state_dir: &std::path::Path,
) -> CommandResult {
    if !state_dir.exists() {
        return Err(CliError::Usage(format!(
            "no state directory {} (pass the --state-dir of your `hale run`)",
            state_dir.display()
        )));
    }
    // Refuse a name nothing has quarantined, rather than file a request that does nothing.
    // A running hale writes its state in batches: a quarantine it just decided may take a
    // moment to reach the store, so look again for a little while before refusing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let found = loop {
        let found = quarantined_targets(state_dir);
        let matched = found.as_ref().is_ok_and(|quarantined| {
            quarantined
                .iter()
                .any(|(p, name)| *name == target && policy.as_ref().is_none_or(|only| only == p))
        });
        if matched || found.is_err() || std::time::Instant::now() >= deadline {
            break found;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    match found {
        Ok(quarantined) => {
            let matches = quarantined
                .iter()
                .any(|(p, name)| *name == target && policy.as_ref().is_none_or(|only| only == p));
            if !matches {
                let now = if quarantined.is_empty() {
                    "nothing is quarantined now".to_owned()
                } else {
                    format!(
                        "quarantined now: {}",
                        quarantined
                            .iter()
                            .map(|(p, n)| format!("{n} (policy {p})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(CliError::Failed(format!(
                    "{target} is not quarantined{}; {now} (see `hale get targets`)",
                    policy
                        .as_ref()
                        .map(|p| format!(" in policy {p}"))
                        .unwrap_or_default()
                )));
            }
        }
        Err(error) => {
            return Err(CliError::Failed(format!(
                "cannot read the state in {}: {error}",
                state_dir.display()
            )));
        }
    }
    let queue = hale_store::RequestQueue::new(state_dir);
    let request = hale_store::Request::Unquarantine {
        target: target.clone(),
        policy,
    };
    match queue.submit(&request) {
        Ok(_) => print(&format!(
            "release of {target} requested; a running hale applies it within a second (see `hale events --kind released`)\n"
        )),
        Err(error) => Err(CliError::Failed(format!(
            "cannot write the request into {}: {error}",
            state_dir.display()
        ))),
    }
}

/// The (policy, target) pairs the state in `state_dir` holds as quarantined.
fn quarantined_targets(
    state_dir: &std::path::Path,
) -> Result<Vec<(String, String)>, hale_store::StoreError> {
    let store = hale_store::Store::open_read_only(state_dir)?;
    Ok(store
        .states()?
        .into_iter()
        .filter_map(|(key, bytes)| {
            let (policy, name) = key.split_once('\0')?;
            let state: hale_reconciler::TargetState = serde_json::from_slice(&bytes).ok()?;
            state
                .quarantine
                .is_some()
                .then(|| (policy.to_owned(), name.to_owned()))
        })
        .collect())
}

fn validate(paths: &[PathBuf], output: OutputFormat, strict: bool) -> CommandResult {
    if let Some(missing) = paths
        .iter()
        .find(|p| !p.exists() && p.symlink_metadata().is_err())
    {
        return Err(CliError::Usage(format!(
            "{}: no such file or directory (pass policy files or directories)",
            missing.display()
        )));
    }
    let report = hale_policy::load_paths(paths);
    let errors = count(&report, Severity::Error);
    let warnings = count(&report, Severity::Warning);
    let failed = errors > 0 || (strict && warnings > 0);
    let text = match output {
        OutputFormat::Human => human_report(&report, errors, warnings),
        OutputFormat::Json => json_report(&report, !failed),
    };
    let code = print(&text)?;
    Ok(if failed { ExitCode::FAILURE } else { code })
}

fn count(report: &LoadReport, severity: Severity) -> usize {
    report
        .diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .count()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn human_report(report: &LoadReport, errors: usize, warnings: usize) -> String {
    let mut out = String::new();
    for diagnostic in &report.diagnostics {
        out.push_str(&diagnostic.to_string());
        out.push('\n');
    }
    let checked = format!(
        "{} checked: {} and {} valid",
        plural(report.files.len(), "file"),
        plural(report.set.policies.len(), "policy").replace("policys", "policies"),
        plural(report.set.notifiers.len(), "notifier"),
    );
    if errors == 0 && warnings == 0 {
        out.push_str(&format!("{checked}\n"));
    } else {
        out.push_str(&format!(
            "{checked}; {}, {}\n",
            plural(errors, "error"),
            plural(warnings, "warning")
        ));
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    valid: bool,
    files: &'a [PathBuf],
    policies: Vec<&'a str>,
    notifiers: Vec<&'a str>,
    diagnostics: &'a [hale_policy::Diagnostic],
}

fn json_report(report: &LoadReport, valid: bool) -> String {
    let json = JsonReport {
        valid,
        files: &report.files,
        policies: report
            .set
            .policies
            .iter()
            .map(|p| p.resource.metadata.name.as_str())
            .collect(),
        notifiers: report
            .set
            .notifiers
            .iter()
            .map(|n| n.resource.metadata.name.as_str())
            .collect(),
        diagnostics: &report.diagnostics,
    };
    let mut text = serde_json::to_string_pretty(&json).expect("the report serializes");
    text.push('\n');
    text
}

/// `hale notify test NOTIFIER`: one message through the sink, with the service's answer.
fn notify_test(name: &str, policies: &std::path::Path) -> CommandResult {
    let report = hale_policy::load_paths(&[policies]);
    let Some(notifier) = report.set.notifier(name) else {
        let known: Vec<&str> = report
            .set
            .notifiers
            .iter()
            .map(|n| n.resource.metadata.name.as_str())
            .collect();
        let rejected = report
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        return Err(CliError::Usage(format!(
            "no valid Notifier named {name:?} in {} (notifiers: {}){}",
            policies.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            },
            if rejected.is_empty() {
                String::new()
            } else {
                format!("\nrejected:\n  {}", rejected.join("\n  "))
            }
        )));
    };
    let message = hale_notifier::test_message(name);
    let sink = hale_notifier::sinks::describe(&notifier.resource.spec);
    let runtime = crate::error::runtime()?;
    let clients = hale_core::http_client::ClientCache::new();
    match runtime.block_on(hale_notifier::sinks::send(
        &clients,
        &notifier.resource.spec,
        &message,
    )) {
        Ok(answer) => print(&format!("delivered to {sink}: {answer}\n")),
        Err(error) => Err(CliError::Failed(format!("{sink}: {}", error.message))),
    }
}

fn import_willfarrell(
    env_file: Option<&std::path::Path>,
    out: Option<&std::path::Path>,
    force: bool,
    ask_docker: bool,
) -> CommandResult {
    use crate::import;
    let env = match env_file {
        Some(path) => import::read_env_file(path).map_err(|e| CliError::Usage(e.to_string()))?,
        None => import::from_process_env(),
    };
    let mut files = import::willfarrell(&env).map_err(|e| match e {
        import::ImportError::Invalid(_) => CliError::Failed(e.to_string()),
        _ => CliError::Usage(e.to_string()),
    })?;
    if ask_docker {
        let listed = crate::error::runtime()?.block_on(async {
            use hale_core::DockerPort as _;
            let docker = hale_docker::BollardDocker::connect(None).await?;
            docker.list().await.map_err(hale_docker::ConnectError::from)
        });
        match listed {
            Ok(containers) => import::describe_containers(&mut files, &containers),
            Err(error) => eprintln!(
                "note: cannot list the running containers ({error}); the files do not say which ones the policy selects (pass --no-docker to skip this)"
            ),
        }
    }
    write_imported(&files, out, force)
}

/// `hale import alert-actions FILE`.
fn import_alert_actions(
    table: &std::path::Path,
    out: Option<&std::path::Path>,
    force: bool,
) -> CommandResult {
    use crate::import::ImportError;
    let text =
        crate::import_alerts::read_table(table).map_err(|e| CliError::Usage(e.to_string()))?;
    let files =
        crate::import_alerts::alert_actions(&table.display().to_string(), &text).map_err(|e| {
            match e {
                ImportError::Invalid(_) => CliError::Failed(e.to_string()),
                _ => CliError::Usage(e.to_string()),
            }
        })?;
    write_imported(&files, out, force)
}

/// Prints what an import made, or writes it into `out` (never over an existing file
/// unless `force`).
fn import_coolify_autoheal(args: &crate::cli::CoolifyAutohealArgs) -> CommandResult {
    use crate::import_coolify as coolify;
    let (text, origin) = match (&args.file, &args.redis) {
        (Some(path), _) => coolify::read_file(path)?,
        (None, Some(url)) => coolify::read_redis(url, &args.key)?,
        (None, None) => {
            return Err(CliError::Usage(
                "pass --file or --redis (the config AutoHEAL kept in Redis)".to_owned(),
            ));
        }
    };
    let config = coolify::parse_config(&text, &origin)?;
    let lookup = args
        .coolify_api_url
        .as_ref()
        .filter(|_| !args.no_coolify)
        .map(|api_url| coolify::CoolifyLookup {
            api_url: api_url.clone(),
            token: hale_policy::SecretRef {
                from_env: Some(coolify::TOKEN_VARIABLE.to_owned()),
                from_file: None,
            },
        });
    let sites = crate::error::runtime()?.block_on(coolify::site_urls(
        &config,
        &args.sites,
        lookup.as_ref(),
    ))?;
    let files = coolify::coolify_autoheal(&config, &sites, args.coolify_api_url.as_deref())?;
    write_imported(&files, args.out.as_deref(), args.force)
}

/// Prints the imported files, or writes them into `out`: never over an existing file
/// unless `force`, and nothing at all when one exists.
fn write_imported(
    files: &[crate::import::ImportedFile],
    out: Option<&std::path::Path>,
    force: bool,
) -> CommandResult {
    let Some(dir) = out else {
        return print(&crate::import::joined(files));
    };
    let taken: Vec<String> = files
        .iter()
        .map(|f| dir.join(&f.name))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if !force && !taken.is_empty() {
        return Err(CliError::Usage(format!(
            "{} already exist; nothing was written (pass --force to overwrite, or another --out)",
            taken.join(", ")
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    for file in files {
        let path = dir.join(&file.name);
        std::fs::write(&path, &file.text)
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
        eprintln!("wrote {}", path.display());
    }
    eprintln!("review them, then: hale validate {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
