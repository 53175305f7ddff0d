//! The commands of an alert-actions table, read as words (never run): the Docker and
//! Compose commands that have a hale action become that action on the containers they
//! name; everything else is refused with the reason.

use hale_policy::Action;

/// Which containers an entry acts on, as the table named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// Containers by name (or ID).
    Names(Vec<String>),
    /// A Compose project's services; none listed means every service.
    Compose {
        /// The project (`-p`).
        project: String,
        /// The services named, in the table's order.
        services: Vec<String>,
    },
}

/// What an entry becomes in hale: an action on a selection, and what the options that
/// hale has no field for became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapped {
    /// The containers.
    pub selection: Selection,
    /// hale's action.
    pub action: Action,
    /// One line per option that has no field of its own: what it became.
    pub notes: Vec<String>,
}

/// Where a script or program of the table's can go instead.
const NO_SHELL: &str = "hale runs no shell commands; serve it behind an HTTP endpoint and call that from an `action: webhook` step";

/// Why an entry is not imported; its text is a sentence for the output's comments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotImported {
    /// The command's quotes do not close.
    #[error("its quotes do not close, so it cannot be read as words")]
    UnclosedQuote,
    /// A word holds shell syntax (a pipe, a redirection, a substitution, a glob ...).
    #[error("it relies on the shell (`{shell}` in {word:?}); {no_shell}", no_shell = NO_SHELL)]
    Shell {
        /// The shell's character.
        shell: char,
        /// The word that holds it.
        word: String,
    },
    /// The program is not `docker` or `docker-compose`.
    #[error("`{program}` is not a Docker command: {no_shell}", no_shell = NO_SHELL)]
    NotDocker {
        /// The program, as written.
        program: String,
    },
    /// No command at all.
    #[error("the command is empty")]
    Empty,
    /// A stop or kill alone.
    #[error(
        "it stops {what} and leaves it stopped: every hale action heals (restart, stopStart, recreate), none stops a container for good"
    )]
    OnlyStops {
        /// Which containers.
        what: String,
    },
    /// A start alone.
    #[error(
        "it only starts {what} when stopped: hale never starts a container an operator stopped (docker stop is intent); an exit probe restarts one that crashed"
    )]
    OnlyStarts {
        /// Which containers.
        what: String,
    },
    /// Several commands that are not a stop then a start of the same containers.
    #[error(
        "{count} commands that are not a stop then a start of the same containers: hale maps one restart, one recreate, or a stop then a start"
    )]
    NotStopThenStart {
        /// How many commands.
        count: usize,
    },
    /// An option that takes a value was given none.
    #[error("`{command}` option {option} lacks its value")]
    MissingValue {
        /// The command (`docker restart`).
        command: String,
        /// The option, as written.
        option: String,
    },
    /// An option hale has nothing for.
    #[error("`{command}` option {option} has no equivalent in hale")]
    UnknownOption {
        /// The command (`docker restart`).
        command: String,
        /// The option, as written.
        option: String,
    },
    /// A stop timeout that is not a whole number of seconds.
    #[error("--{option} {value} is not a whole number of seconds")]
    NotSeconds {
        /// The option's long name.
        option: &'static str,
        /// Its value, as written.
        value: String,
    },
    /// `docker` alone.
    #[error("`docker` without a command")]
    DockerWithoutCommand,
    /// A global option of the Docker CLI (`-H`, `--context` ...).
    #[error(
        "docker option {option} before the command is not understood: hale acts on the daemon it runs against (DOCKER_HOST)"
    )]
    DockerGlobalOption {
        /// The option, as written.
        option: String,
    },
    /// A command with no hale action (`docker rm`, `docker compose down` ...).
    #[error(
        "`{command}` has no hale action: hale restarts, stops and starts, or recreates containers"
    )]
    NoAction {
        /// The command (`docker rm`).
        command: String,
    },
    /// A command that names no container.
    #[error("`{command}` names no container")]
    NoContainer {
        /// The command (`docker restart`).
        command: String,
    },
    /// A name Docker would refuse.
    #[error("{name:?} is not a container name")]
    BadContainerName {
        /// The name, as written.
        name: String,
    },
    /// `docker compose` alone.
    #[error("`docker compose` without a command")]
    ComposeWithoutCommand,
    /// A Compose command without `-p`: the project depends on where it ran.
    #[error(
        "without -p, Compose names the project after {place} (or COMPOSE_PROJECT_NAME, or the file's `name:`), which the table does not say; add -p PROJECT to the entry and import again, or write selector.compose.project yourself"
    )]
    NoProject {
        /// What Compose would name it after.
        place: String,
    },
    /// A project name Compose would refuse.
    #[error("{project:?} is not a Compose project name")]
    BadProject {
        /// The name, as written.
        project: String,
    },
    /// A service name Compose would refuse.
    #[error("{service:?} is not a Compose service name")]
    BadService {
        /// The name, as written.
        service: String,
    },
    /// `docker compose up` without `--force-recreate`.
    #[error(
        "`docker compose up` without --force-recreate recreates only what changed and starts what is stopped; hale's recreate always recreates, so it is not the same action"
    )]
    UpWithoutForceRecreate,
    /// The older form's action is not one of hale's container actions.
    #[error(
        "action {action:?} has no hale equivalent (hale's container actions are restart, stopStart and recreate)"
    )]
    UnknownAction {
        /// The action, as written.
        action: String,
    },
    /// The older form's `containers` list is empty.
    #[error("containers is empty")]
    NoContainers,
}

/// What `command` asks Docker to do, in hale's terms.
///
/// # Errors
/// Why it has no hale equivalent: not a Docker or Compose command, a shell construct, an
/// option hale cannot honour, or a verb with no action.
pub(crate) fn map_command(command: &str) -> Result<Mapped, NotImported> {
    let words = shlex::split(command).ok_or(NotImported::UnclosedQuote)?;
    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    for word in words {
        // `a && b`, `a; b` and `a ;b`: a list of commands, which a stop then a start is.
        let (word, ends_command) = match word.strip_suffix(';') {
            _ if word == "&&" || word == ";" => (String::new(), true),
            Some(before) => (before.to_owned(), true),
            None => (word, false),
        };
        if let Some(shell) = word.chars().find(|c| "|&;<>()$`*?{}[]~".contains(*c)) {
            return Err(NotImported::Shell { shell, word });
        }
        let current = commands.last_mut().expect("one command at least");
        if !word.is_empty() {
            current.push(word);
        }
        if ends_command && !current.is_empty() {
            commands.push(Vec::new());
        }
    }
    commands.retain(|words| !words.is_empty());
    let steps = commands
        .iter()
        .map(|words| step(words))
        .collect::<Result<Vec<_>, _>>()?;
    combine(steps)
}

/// The container named `name` could not be, or `None` when Docker would accept the name.
pub(crate) fn container_name_problem(name: &str) -> Option<NotImported> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    (!valid).then(|| NotImported::BadContainerName {
        name: name.to_owned(),
    })
}

/// One Docker or Compose command of an entry.
struct Step {
    verb: Verb,
    selection: Selection,
    notes: Vec<String>,
}

/// What one command does to its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Restart,
    Recreate,
    Stop,
    Kill,
    Start,
}

/// One restart, one recreate, or a stop (or kill) then a start of the same containers.
fn combine(mut steps: Vec<Step>) -> Result<Mapped, NotImported> {
    let what = |step: &Step| describe(&step.selection);
    match steps.as_slice() {
        [] => Err(NotImported::Empty),
        [only] if matches!(only.verb, Verb::Restart | Verb::Recreate) => {
            let only = steps.remove(0);
            Ok(Mapped {
                selection: only.selection,
                action: if only.verb == Verb::Restart {
                    Action::Restart
                } else {
                    Action::Recreate
                },
                notes: only.notes,
            })
        }
        [only] if matches!(only.verb, Verb::Stop | Verb::Kill) => {
            Err(NotImported::OnlyStops { what: what(only) })
        }
        [only] => Err(NotImported::OnlyStarts { what: what(only) }),
        [first, second]
            if matches!(first.verb, Verb::Stop | Verb::Kill)
                && second.verb == Verb::Start
                && first.selection == second.selection =>
        {
            let second = steps.pop().expect("two steps");
            let first = steps.pop().expect("two steps");
            let mut notes = first.notes;
            if first.verb == Verb::Kill {
                notes.push("docker kill, then start -> stopStart: hale stops the container with its stop signal and timeout (then SIGKILL) rather than killing it at once".to_owned());
            }
            notes.extend(second.notes);
            Ok(Mapped {
                selection: first.selection,
                action: Action::StopStart,
                notes,
            })
        }
        several => Err(NotImported::NotStopThenStart {
            count: several.len(),
        }),
    }
}

/// Says which containers, for the output's comments.
pub(crate) fn describe(selection: &Selection) -> String {
    match selection {
        Selection::Names(names) => match names.as_slice() {
            [one] => format!("the container {one}"),
            several => format!("the containers {}", several.join(", ")),
        },
        Selection::Compose { project, services } => match services.as_slice() {
            [] => format!("every service of Compose project {project}"),
            [one] => format!("service {one} of Compose project {project}"),
            several => format!(
                "services {} of Compose project {project}",
                several.join(", ")
            ),
        },
    }
}

/// One command's words: `docker VERB ...`, `docker container VERB ...`, `docker compose
/// ...` or `docker-compose ...` (the program by path or by name).
fn step(words: &[String]) -> Result<Step, NotImported> {
    let program = words[0].rsplit('/').next().unwrap_or_default();
    let rest = &words[1..];
    match program {
        "docker" => match rest.first().map(String::as_str) {
            Some("compose") => compose(&rest[1..]),
            Some("container") => docker(&rest[1..]),
            _ => docker(rest),
        },
        "docker-compose" => compose(rest),
        _ => Err(NotImported::NotDocker {
            program: words[0].clone(),
        }),
    }
}

/// The options one command understands, by short (or empty) and long name: those that
/// take a value, and flags.
struct Options {
    valued: &'static [(&'static str, &'static str)],
    flags: &'static [(&'static str, &'static str)],
}

/// `kill`'s options, the same for `docker kill` and `docker compose kill`.
const KILL_OPTIONS: Options = Options {
    valued: &[("s", "signal")],
    flags: &[],
};

/// `start` takes no option hale reads, in either form.
const START_OPTIONS: Options = Options {
    valued: &[],
    flags: &[],
};

/// An option as given: its long name and its value (empty for a flag).
type Given = (&'static str, String);

impl Options {
    /// Reads `args` (options and positional words in any order, as Docker's CLI does);
    /// returns the options given and the positional words.
    fn read(
        &self,
        args: &[String],
        command: &str,
    ) -> Result<(Vec<Given>, Vec<String>), NotImported> {
        let mut given = Vec::new();
        let mut positional = Vec::new();
        let mut words = args.iter();
        while let Some(word) = words.next() {
            if !word.starts_with('-') || word == "-" {
                positional.push(word.clone());
                continue;
            }
            let (name, inline) = match word.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (word.as_str(), None),
            };
            if let Some((_, long)) = self.flags.iter().find(|(short, long)| {
                name == format!("--{long}") || (!short.is_empty() && name == format!("-{short}"))
            }) {
                given.push((*long, String::new()));
                continue;
            }
            // `-t 30`, `-t=30`, `-t30`, `--time 30`, `--time=30`.
            let valued = self.valued.iter().find_map(|(short, long)| {
                if name == format!("--{long}") || (!short.is_empty() && name == format!("-{short}"))
                {
                    Some((*long, inline.clone()))
                } else if !short.is_empty() && !word.starts_with("--") {
                    word.strip_prefix(&format!("-{short}"))
                        .filter(|v| !v.is_empty())
                        .map(|v| (*long, Some(v.to_owned())))
                } else {
                    None
                }
            });
            match valued {
                Some((long, Some(value))) => given.push((long, value)),
                Some((long, None)) => match words.next() {
                    Some(value) => given.push((long, value.clone())),
                    None => {
                        return Err(NotImported::MissingValue {
                            command: command.to_owned(),
                            option: word.clone(),
                        });
                    }
                },
                None => {
                    return Err(NotImported::UnknownOption {
                        command: command.to_owned(),
                        option: word.clone(),
                    });
                }
            }
        }
        Ok((given, positional))
    }
}

/// What the stop options of a restart, stop or kill became.
fn stop_notes(given: &[Given]) -> Result<Vec<String>, NotImported> {
    let mut notes = Vec::new();
    for (long, value) in given {
        match *long {
            "time" | "timeout" => {
                let seconds: u32 = value
                    .parse()
                    .map_err(|_| NotImported::NotSeconds {
                        option: long,
                        value: value.clone(),
                    })?;
                notes.push(format!(
                    "--{long} {seconds} -> no per-step stop timeout in hale: it stops a container with its label hale.dev/stop-timeout (or autoheal.stop.timeout), then its own --stop-timeout, then 10s; label these containers hale.dev/stop-timeout={seconds}"
                ));
            }
            "signal" => notes.push(format!(
                "--signal {value} -> no per-step signal in hale: it stops a container with the container's own stop signal (STOPSIGNAL, docker run --stop-signal)"
            )),
            _ => {}
        }
    }
    Ok(notes)
}

/// `docker restart|stop|kill|start [options] CONTAINER...`.
fn docker(args: &[String]) -> Result<Step, NotImported> {
    let Some(verb) = args.first() else {
        return Err(NotImported::DockerWithoutCommand);
    };
    if verb.starts_with('-') {
        return Err(NotImported::DockerGlobalOption {
            option: verb.clone(),
        });
    }
    let command = format!("docker {verb}");
    let (verb, options) = match verb.as_str() {
        "restart" | "stop" => (
            if verb == "restart" {
                Verb::Restart
            } else {
                Verb::Stop
            },
            Options {
                valued: &[("t", "time"), ("", "timeout"), ("s", "signal")],
                flags: &[],
            },
        ),
        "kill" => (Verb::Kill, KILL_OPTIONS),
        "start" => (Verb::Start, START_OPTIONS),
        _ => return Err(NotImported::NoAction { command }),
    };
    let (given, names) = options.read(&args[1..], &command)?;
    if names.is_empty() {
        return Err(NotImported::NoContainer { command });
    }
    if let Some(problem) = names.iter().find_map(|n| container_name_problem(n)) {
        return Err(problem);
    }
    let notes = if verb == Verb::Kill {
        // A kill's signal is replaced by the stop of stopStart, said in its own note.
        Vec::new()
    } else {
        stop_notes(&given)?
    };
    Ok(Step {
        verb,
        selection: Selection::Names(
            names
                .into_iter()
                .map(|n| n.trim_start_matches('/').to_owned())
                .collect(),
        ),
        notes,
    })
}

/// `docker compose [-p PROJECT] [-f FILE] restart|up|stop|kill|start [options] [SERVICE...]`.
fn compose(args: &[String]) -> Result<Step, NotImported> {
    let globals = Options {
        valued: &[
            ("p", "project-name"),
            ("f", "file"),
            ("", "project-directory"),
            ("", "env-file"),
            ("", "profile"),
        ],
        flags: &[],
    };
    // The global options come before the subcommand.
    let mut split = 0;
    while let Some(word) = args.get(split).filter(|word| word.starts_with('-')) {
        split += if takes_value(&globals, word) { 2 } else { 1 };
    }
    let split = split.min(args.len());
    let (given, _) = globals.read(&args[..split], "docker compose")?;
    let Some(subcommand) = args.get(split) else {
        return Err(NotImported::ComposeWithoutCommand);
    };
    let value_of = |long: &str| {
        given
            .iter()
            .find(|(name, _)| *name == long)
            .map(|(_, value)| value.clone())
    };
    let Some(project) = value_of("project-name") else {
        let place = value_of("file")
            .map(|file| format!("the directory of {file}"))
            .or_else(|| value_of("project-directory"))
            .unwrap_or_else(|| "the directory it ran in".to_owned());
        return Err(NotImported::NoProject { place });
    };
    let project_valid = project
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c));
    if !project_valid {
        return Err(NotImported::BadProject { project });
    }
    let command = format!("docker compose {subcommand}");
    let (verb, options) = match subcommand.as_str() {
        "restart" | "stop" => (
            if subcommand == "restart" {
                Verb::Restart
            } else {
                Verb::Stop
            },
            Options {
                valued: &[("t", "timeout")],
                flags: &[("", "no-deps")],
            },
        ),
        "up" => (
            Verb::Recreate,
            Options {
                valued: &[("t", "timeout")],
                flags: &[
                    ("d", "detach"),
                    ("", "force-recreate"),
                    ("", "no-deps"),
                    ("", "no-build"),
                ],
            },
        ),
        "kill" => (Verb::Kill, KILL_OPTIONS),
        "start" => (Verb::Start, START_OPTIONS),
        _ => return Err(NotImported::NoAction { command }),
    };
    let (given, services) = options.read(&args[split + 1..], &command)?;
    if let Some(service) = services
        .iter()
        .find(|s| container_name_problem(s).is_some())
    {
        return Err(NotImported::BadService {
            service: service.clone(),
        });
    }
    let flag = |long: &str| given.iter().any(|(name, _)| *name == long);
    let mut notes = if verb == Verb::Kill {
        Vec::new()
    } else {
        stop_notes(&given)?
    };
    if verb == Verb::Recreate {
        if !flag("force-recreate") {
            return Err(NotImported::UpWithoutForceRecreate);
        }
        notes.push("up --force-recreate -> recreate: hale recreates each container from the configuration and image Docker has for it, not from the compose file (hale reads none)".to_owned());
    }
    if flag("no-deps") {
        notes.push(
            "--no-deps -> what hale does anyway: it acts on the selected containers only"
                .to_owned(),
        );
    }
    Ok(Step {
        verb,
        selection: Selection::Compose { project, services },
        notes,
    })
}

/// True when `word` is a global option of `options` that takes its value in the next word.
fn takes_value(options: &Options, word: &str) -> bool {
    !word.contains('=')
        && options.valued.iter().any(|(short, long)| {
            word == format!("--{long}") || (!short.is_empty() && word == format!("-{short}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Selection {
        Selection::Names(list.iter().map(|n| (*n).to_owned()).collect())
    }

    fn compose_of(project: &str, services: &[&str]) -> Selection {
        Selection::Compose {
            project: project.to_owned(),
            services: services.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn refused(command: &str) -> String {
        map_command(command).expect_err(command).to_string()
    }

    #[test]
    fn docker_restart_names_its_containers_and_its_timeout_becomes_a_note() {
        let mapped = map_command("docker restart web api").unwrap();
        assert_eq!(mapped.selection, names(&["web", "api"]));
        assert_eq!(mapped.action, Action::Restart);
        assert!(mapped.notes.is_empty());
        for form in [
            "docker restart -t 30 web",
            "docker restart --time=30 web",
            "/usr/bin/docker container restart -t30 web",
            "docker restart web --timeout 30",
        ] {
            let mapped = map_command(form).unwrap();
            assert_eq!(mapped.selection, names(&["web"]), "{form}");
            assert!(
                mapped.notes[0].contains("label these containers hale.dev/stop-timeout=30"),
                "{form}: {:?}",
                mapped.notes
            );
        }
        assert!(refused("docker restart -t soon web").contains("not a whole number"));
        assert!(refused("docker restart").contains("names no container"));
        assert!(refused("docker restart --all web").contains("option --all has no equivalent"));
    }

    #[test]
    fn compose_restart_selects_the_project_and_its_services() {
        assert_eq!(
            map_command("docker compose -p shop restart web worker")
                .unwrap()
                .selection,
            compose_of("shop", &["web", "worker"])
        );
        assert_eq!(
            map_command("docker-compose --project-name=shop -f /srv/shop/compose.yaml restart")
                .unwrap()
                .selection,
            compose_of("shop", &[])
        );
        let mapped = map_command("docker compose --project-name shop restart -t 5 web").unwrap();
        assert_eq!(mapped.selection, compose_of("shop", &["web"]));
        assert_eq!(mapped.notes.len(), 1);
        let no_project = refused("docker compose -f /srv/shop/compose.yaml restart web");
        assert!(
            no_project.contains("the directory of /srv/shop/compose.yaml")
                && no_project.contains("add -p PROJECT"),
            "{no_project}"
        );
        assert!(refused("docker compose -p Shop! restart web").contains("not a Compose project"));
    }

    #[test]
    fn compose_up_with_force_recreate_is_a_recreate_and_without_it_is_refused() {
        let mapped =
            map_command("docker compose -p shop up -d --force-recreate --no-deps cache").unwrap();
        assert_eq!(mapped.action, Action::Recreate);
        assert_eq!(mapped.selection, compose_of("shop", &["cache"]));
        assert_eq!(mapped.notes.len(), 2, "{:?}", mapped.notes);
        assert!(refused("docker compose -p shop up -d cache").contains("--force-recreate"));
        assert!(refused("docker compose -p shop up -d --build cache").contains("--build"));
    }

    #[test]
    fn a_stop_then_a_start_is_stop_start_and_either_alone_is_refused() {
        let mapped = map_command("docker stop web && docker start web").unwrap();
        assert_eq!(mapped.action, Action::StopStart);
        assert_eq!(mapped.selection, names(&["web"]));
        let killed = map_command("docker kill web; docker start web").unwrap();
        assert_eq!(killed.action, Action::StopStart);
        assert!(
            killed.notes[0].contains("docker kill"),
            "{:?}",
            killed.notes
        );
        assert_eq!(
            map_command("docker compose -p shop stop web ; docker compose -p shop start web")
                .unwrap()
                .action,
            Action::StopStart
        );
        assert!(refused("docker stop web").contains("leaves it stopped"));
        assert!(refused("docker kill web").contains("leaves it stopped"));
        assert!(refused("docker start web").contains("never starts"));
        assert!(refused("docker stop web && docker start api").contains("not a stop then a start"));
    }

    #[test]
    fn anything_else_is_refused_with_the_reason_and_never_run() {
        for (command, reason) in [
            ("/usr/local/bin/cleanup.sh", "hale runs no shell commands"),
            ("docker restart web | tee log", "relies on the shell"),
            ("docker restart $(docker ps -q)", "relies on the shell"),
            ("docker restart web-$ENV", "relies on the shell"),
            ("docker rm -f web", "`docker rm` has no hale action"),
            (
                "docker -H tcp://other:2375 restart web",
                "the daemon it runs against",
            ),
            (
                "docker compose -p shop down",
                "`docker compose down` has no hale action",
            ),
            ("docker restart 'web", "quotes do not close"),
            ("docker restart 'we b'", "not a container name"),
        ] {
            let why = refused(command);
            assert!(why.contains(reason), "{command}: {why}");
        }
    }
}
