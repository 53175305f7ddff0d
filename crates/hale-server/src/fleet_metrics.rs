//! The node's name and fleet mode's metrics on `/metrics`: `hale_node_info{node}` on every
//! hale (so each node's series can be told apart once several are scraped), and, with
//! `--fleet`, whether the fleet's Redis answers, how many leases the node holds and how
//! often the lease keeper's view changed.
//!
//! The fleet gauges carry the node label, so without `--fleet` they have no series at all
//! (rather than a "store down" 0 that would alarm on every single-host hale).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The kinds `hale_fleet_transitions_total` counts: the audit kinds of the keeper's
/// transitions.
pub const FLEET_TRANSITIONS: [&str; 5] = [
    "fleet_lease_won",
    "fleet_lease_lost",
    "fleet_lease_released",
    "fleet_store_unreachable",
    "fleet_store_back",
];

/// A `node` label alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    node: String,
}

/// A `kind` label alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// The node and fleet metrics, registered in the one registry of [`crate::Metrics`].
pub(crate) struct FleetMetrics {
    node_info: Family<NodeLabel, Gauge>,
    store_up: Family<NodeLabel, Gauge>,
    leases_held: Family<NodeLabel, Gauge>,
    transitions: Family<KindLabel, Counter>,
}

impl FleetMetrics {
    /// Registers them in `registry`, with no series yet.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let node_info = Family::<NodeLabel, Gauge>::default();
        registry.register(
            "hale_node_info",
            "Always 1; the node label is this hale's node name (--node, else the hostname)",
            node_info.clone(),
        );
        let store_up = Family::<NodeLabel, Gauge>::default();
        registry.register(
            "hale_fleet_store_up",
            "Fleet mode: 1 while the fleet's Redis answers the lease keeper, else 0 (site and fleet-scoped actions are held)",
            store_up.clone(),
        );
        let leases_held = Family::<NodeLabel, Gauge>::default();
        registry.register(
            "hale_fleet_leases_held",
            "Fleet mode: the leases this node holds and may act on",
            leases_held.clone(),
        );
        let transitions = Family::<KindLabel, Counter>::default();
        registry.register(
            "hale_fleet_transitions",
            "Fleet mode: lease keeper transitions by kind (fleet_lease_won, fleet_lease_lost, fleet_lease_released, fleet_store_unreachable, fleet_store_back)",
            transitions.clone(),
        );
        Self {
            node_info,
            store_up,
            leases_held,
            transitions,
        }
    }

    /// Names this node: `hale_node_info{node} 1` (one series: a later name replaces it).
    pub(crate) fn set_node(&self, node: &str) {
        self.node_info.clear();
        self.node_info
            .get_or_create(&NodeLabel {
                node: node.to_owned(),
            })
            .set(1);
    }

    /// Fleet mode started on `node`: its series exist from now on, the store counted down
    /// until the keeper's first answer and every transition counter at 0 (an alert on
    /// `increase()` sees the first one).
    pub(crate) fn start(&self, node: &str) {
        self.set_store(node, false);
        self.set_leases(node, 0);
        for kind in FLEET_TRANSITIONS {
            let _created = self.transitions.get_or_create(&KindLabel {
                kind: kind.to_owned(),
            });
        }
    }

    /// Whether the fleet's Redis answered the keeper's last round.
    pub(crate) fn set_store(&self, node: &str, up: bool) {
        self.store_up
            .get_or_create(&NodeLabel {
                node: node.to_owned(),
            })
            .set(i64::from(up));
    }

    /// How many leases `node` holds and may act on.
    pub(crate) fn set_leases(&self, node: &str, held: usize) {
        self.leases_held
            .get_or_create(&NodeLabel {
                node: node.to_owned(),
            })
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    /// Counts a transition of `kind` (one of [`FLEET_TRANSITIONS`]).
    pub(crate) fn count(&self, kind: &str) {
        self.transitions
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn without_fleet_mode_only_the_node_is_named_and_with_it_every_series_exists() {
        let mut registry = Registry::default();
        let metrics = FleetMetrics::register(&mut registry);
        metrics.set_node("host-1");
        let single = text(&registry);
        assert!(
            single.contains("hale_node_info{node=\"host-1\"} 1"),
            "{single}"
        );
        assert!(!single.contains("hale_fleet_store_up{"), "{single}");

        metrics.start("a");
        metrics.set_node("a");
        metrics.set_store("a", true);
        metrics.set_leases("a", 2);
        metrics.count("fleet_store_unreachable");
        let fleet = text(&registry);
        assert!(!fleet.contains("node=\"host-1\""), "{fleet}");
        for line in [
            "hale_node_info{node=\"a\"} 1",
            "hale_fleet_store_up{node=\"a\"} 1",
            "hale_fleet_leases_held{node=\"a\"} 2",
            "hale_fleet_transitions_total{kind=\"fleet_store_unreachable\"} 1",
            "hale_fleet_transitions_total{kind=\"fleet_store_back\"} 0",
        ] {
            assert!(fleet.contains(line), "{line} in:\n{fleet}");
        }
    }
}
