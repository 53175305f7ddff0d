//! What only the event stream knows about a container: whether its last stop was an
//! operator's, whether hale saw it die, and since when its health has been what it is.

use std::collections::HashMap;

use hale_core::{ContainerEvent, ContainerEventKind, ContainerSnapshot, HealthStatus, Timestamp};

/// Per-container facts learned from events.
#[derive(Debug, Clone, Default)]
struct Annotation {
    /// A `kill` or `stop` was seen since the last `start`: the next `die` is intended.
    kill_seen: bool,
    /// The last `die` was seen.
    exit_seen: bool,
    /// The last `die` followed a `kill`/`stop`.
    stopped_by_operator: bool,
    /// The health last observed, and since when.
    health: Option<HealthStatus>,
    health_since: Option<Timestamp>,
}

/// Event-derived facts for every known container. Pure bookkeeping, no I/O.
#[derive(Debug, Default)]
pub struct Annotations {
    by_id: HashMap<String, Annotation>,
}

impl Annotations {
    /// Learns from one event, in stream order.
    pub fn observe(&mut self, event: &ContainerEvent) {
        if event.kind == ContainerEventKind::Destroy {
            self.by_id.remove(&event.id);
            return;
        }
        let annotation = self.by_id.entry(event.id.clone()).or_default();
        match &event.kind {
            ContainerEventKind::Start => {
                annotation.kill_seen = false;
                annotation.exit_seen = false;
                annotation.stopped_by_operator = false;
            }
            ContainerEventKind::Kill | ContainerEventKind::Stop => annotation.kill_seen = true,
            ContainerEventKind::Die { .. } => {
                annotation.exit_seen = true;
                annotation.stopped_by_operator = annotation.kill_seen;
            }
            ContainerEventKind::HealthStatus(health) if annotation.health != Some(*health) => {
                annotation.health = Some(*health);
                annotation.health_since = Some(event.time);
            }
            _ => {}
        }
    }

    /// Adds what the events taught to a freshly inspected snapshot.
    pub fn enrich(&mut self, snapshot: &mut ContainerSnapshot, now: Timestamp) {
        let annotation = self.by_id.entry(snapshot.id.clone()).or_default();
        if annotation.health != snapshot.health || annotation.health_since.is_none() {
            annotation.health = snapshot.health;
            annotation.health_since = Some(now);
        }
        snapshot.health_since = annotation.health_since;
        snapshot.exit_seen = annotation.exit_seen;
        snapshot.stopped_by_operator = annotation.stopped_by_operator;
    }

    /// Forgets containers that are not in `ids` (after a relist).
    pub fn retain_only<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        let keep: std::collections::HashSet<&str> = ids.into_iter().collect();
        self.by_id.retain(|id, _| keep.contains(id.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use hale_core::ContainerStatus;

    use super::*;

    fn event(kind: ContainerEventKind, ms: u64) -> ContainerEvent {
        ContainerEvent {
            id: "c1".into(),
            kind,
            time: Timestamp(ms),
            time_nano: ms as i64 * 1_000_000,
            received_at: Timestamp(ms),
        }
    }

    fn exited() -> ContainerSnapshot {
        ContainerSnapshot {
            exit_code: 143,
            ..ContainerSnapshot::new("c1", "web", ContainerStatus::Exited)
        }
    }

    #[test]
    fn docker_stop_kill_die_stop_is_an_operators_stop() {
        let mut annotations = Annotations::default();
        for kind in [
            ContainerEventKind::Start,
            ContainerEventKind::Kill,
            ContainerEventKind::Die { exit_code: 143 },
            ContainerEventKind::Stop,
        ] {
            annotations.observe(&event(kind, 1));
        }
        let mut snapshot = exited();
        annotations.enrich(&mut snapshot, Timestamp(2));
        assert!(snapshot.stopped_by_operator && snapshot.exit_seen);
    }

    #[test]
    fn a_die_without_kill_is_a_crash() {
        let mut annotations = Annotations::default();
        annotations.observe(&event(ContainerEventKind::Start, 1));
        annotations.observe(&event(ContainerEventKind::Die { exit_code: 1 }, 2));
        let mut snapshot = exited();
        annotations.enrich(&mut snapshot, Timestamp(3));
        assert!(!snapshot.stopped_by_operator && snapshot.exit_seen);
    }

    #[test]
    fn a_start_clears_the_previous_stop() {
        let mut annotations = Annotations::default();
        annotations.observe(&event(ContainerEventKind::Kill, 1));
        annotations.observe(&event(ContainerEventKind::Die { exit_code: 137 }, 2));
        annotations.observe(&event(ContainerEventKind::Start, 3));
        annotations.observe(&event(ContainerEventKind::Die { exit_code: 1 }, 4));
        let mut snapshot = exited();
        annotations.enrich(&mut snapshot, Timestamp(5));
        assert!(!snapshot.stopped_by_operator);
    }

    #[test]
    fn health_since_is_the_time_of_the_change() {
        let mut annotations = Annotations::default();
        annotations.observe(&event(
            ContainerEventKind::HealthStatus(HealthStatus::Unhealthy),
            1_000,
        ));
        let mut snapshot = ContainerSnapshot {
            status: ContainerStatus::Running,
            health: Some(HealthStatus::Unhealthy),
            ..exited()
        };
        annotations.enrich(&mut snapshot, Timestamp(5_000));
        assert_eq!(snapshot.health_since, Some(Timestamp(1_000)));
        // Seen first in a relist: since when it was first seen.
        let mut fresh = Annotations::default();
        fresh.enrich(&mut snapshot, Timestamp(7_000));
        assert_eq!(snapshot.health_since, Some(Timestamp(7_000)));
    }
}
