//! The lease keeper's transitions as audit records: a lease won or lost, the fleet store
//! lost or back; and the leases a stopping node hands back. Pure: the caller writes the
//! record through the store writer (which redacts it: a Redis error may carry the URL, and
//! the URL a password) and meters it.

use hale_core::{HealEvent, HealEventKind, TargetRef, Timestamp};
use hale_fleet::KeeperEvent;

/// The audit kind of a transition.
pub fn kind_of(event: &KeeperEvent) -> HealEventKind {
    match event {
        KeeperEvent::Won { .. } => HealEventKind::FleetLeaseWon,
        KeeperEvent::Lost { .. } => HealEventKind::FleetLeaseLost,
        KeeperEvent::StoreUnreachable { .. } => HealEventKind::FleetStoreUnreachable,
        KeeperEvent::StoreBack => HealEventKind::FleetStoreBack,
    }
}

/// The audit record of a transition `node` saw at `time`. A lease's subject is
/// `<policy>/<target>` (a site of a policy), so the record is the policy's, about the
/// target, and `hale events --policy/--target` find it; the store's transitions concern no
/// policy. The node is named in the reason (the local log is one node's, the fleet trail
/// tags it too).
pub fn transition_record(node: &str, event: &KeeperEvent, time: Timestamp) -> HealEvent {
    let kind = kind_of(event);
    match event {
        KeeperEvent::Won { subject } => {
            let (policy, target) = split(subject);
            HealEvent::new(
                time,
                kind,
                policy,
                target.as_ref(),
                format!("fleet: node {node} holds the lease of {subject} and heals it"),
            )
        }
        KeeperEvent::Lost { subject, holder } => {
            let (policy, target) = split(subject);
            let why = holder.as_deref().map_or_else(
                || "it could not renew it in time (renew deadline passed)".to_owned(),
                |holder| format!("node {holder} holds it now"),
            );
            HealEvent::new(
                time,
                kind,
                policy,
                target.as_ref(),
                format!(
                    "fleet: node {node} no longer holds the lease of {subject}: {why}; standby"
                ),
            )
        }
        KeeperEvent::StoreUnreachable { error } => {
            let mut record = HealEvent::new(
                time,
                kind,
                "",
                None,
                format!(
                    "fleet: node {node} cannot reach the fleet store; site and fleet-scoped actions are held (probing goes on), this host's containers are still healed"
                ),
            );
            record.result = Some(error.clone());
            record
        }
        KeeperEvent::StoreBack => HealEvent::new(
            time,
            kind,
            "",
            None,
            format!("fleet: node {node} reaches the fleet store again; held actions resume"),
        ),
    }
}

/// The records of a node leaving the fleet with the leases `held`: each one Redis
/// `released` is a `fleet_lease_released`; each one it did not release (it had passed to
/// another node already) or could not be asked about (`released` is the reason it could
/// not) is a `fleet_lease_lost`, since the node holds none once it is gone.
pub fn leave_records(
    node: &str,
    held: &[String],
    released: Result<&[String], &str>,
    time: Timestamp,
) -> Vec<HealEvent> {
    held.iter()
        .map(|subject| {
            let (policy, target) = split(subject);
            let (kind, reason) = match released {
                Ok(released) if released.contains(subject) => (
                    HealEventKind::FleetLeaseReleased,
                    format!(
                        "fleet: node {node} is stopping and handed back the lease of {subject}; another node takes it over at its next retry"
                    ),
                ),
                Ok(_) => (
                    HealEventKind::FleetLeaseLost,
                    format!(
                        "fleet: node {node} is stopping; the lease of {subject} had passed to another node already"
                    ),
                ),
                Err(why) => (
                    HealEventKind::FleetLeaseLost,
                    format!(
                        "fleet: node {node} is stopping without handing back the lease of {subject} ({why}); another node takes it over when its TTL runs out"
                    ),
                ),
            };
            HealEvent::new(time, kind, policy, target.as_ref(), reason)
        })
        .collect()
}

/// The policy and target of a lease subject `<policy>/<target>`; a subject of another
/// shape is all policy.
fn split(subject: &str) -> (&str, Option<TargetRef>) {
    match subject.split_once('/') {
        Some((policy, target)) => (
            policy,
            Some(TargetRef {
                id: target.to_owned(),
                name: target.to_owned(),
            }),
        ),
        None => (subject, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_transition_is_the_policys_record_about_its_site_with_the_node_named() {
        let lost = transition_record(
            "a",
            &KeeperEvent::Lost {
                subject: "shop/site:shop".to_owned(),
                holder: Some("b".to_owned()),
            },
            Timestamp(1),
        );
        assert_eq!(lost.kind.as_str(), "fleet_lease_lost");
        assert_eq!(lost.policy, "shop");
        assert_eq!(lost.target.as_ref().unwrap().name, "site:shop");
        assert!(lost.reason.contains("node a ") && lost.reason.contains("node b holds it"));
        let expired = transition_record(
            "a",
            &KeeperEvent::Lost {
                subject: "shop/site:shop".to_owned(),
                holder: None,
            },
            Timestamp(1),
        );
        assert!(
            expired.reason.contains("renew deadline"),
            "{}",
            expired.reason
        );
        let won = transition_record(
            "a",
            &KeeperEvent::Won {
                subject: "shop/site:shop".to_owned(),
            },
            Timestamp(1),
        );
        assert_eq!(won.kind, HealEventKind::FleetLeaseWon);
    }

    #[test]
    fn a_stopping_node_records_each_lease_it_handed_back_and_each_it_could_not() {
        let held = ["shop/site:shop".to_owned(), "shop/site:api".to_owned()];
        let released = ["shop/site:shop".to_owned()];
        let records = leave_records("a", &held, Ok(&released), Timestamp(1));
        let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["fleet_lease_released", "fleet_lease_lost"]);
        assert_eq!(records[0].policy, "shop");
        assert_eq!(records[0].target.as_ref().unwrap().name, "site:shop");
        assert!(
            records[0]
                .reason
                .contains("node a is stopping and handed back")
        );
        assert!(records[1].reason.contains("had passed to another node"));

        let unanswered = leave_records("a", &held, Err("Redis did not answer"), Timestamp(1));
        assert!(
            unanswered
                .iter()
                .all(|r| r.kind == HealEventKind::FleetLeaseLost
                    && r.reason.contains("Redis did not answer")
                    && r.reason.contains("TTL runs out"))
        );
        assert!(leave_records("a", &[], Ok(&[]), Timestamp(1)).is_empty());
    }

    #[test]
    fn the_store_transitions_carry_the_error_and_no_policy() {
        let down = transition_record(
            "a",
            &KeeperEvent::StoreUnreachable {
                error: "Redis at 127.0.0.1:6379 did not answer within 400ms".to_owned(),
            },
            Timestamp(1),
        );
        assert_eq!(down.kind.as_str(), "fleet_store_unreachable");
        assert!(down.policy.is_empty() && down.target.is_none());
        assert!(down.result.as_deref().unwrap().contains("did not answer"));
        assert!(down.reason.contains("held"), "{}", down.reason);
        let back = transition_record("a", &KeeperEvent::StoreBack, Timestamp(1));
        assert_eq!(back.kind.as_str(), "fleet_store_back");
        assert!(back.to_string().contains("fleet_store_back"));
    }
}
