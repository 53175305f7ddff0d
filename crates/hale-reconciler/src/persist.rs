//! Store keys of target state and controls, and target references for audit records.

use std::collections::HashMap;

use hale_core::{ContainerSnapshot, TargetRef};

/// The store key of a target whose healing is turned off.
pub(crate) fn disabled_key(target: &str) -> String {
    format!("disabled/{target}")
}

/// The store key of a paused policy.
pub(crate) fn paused_key(policy: &str) -> String {
    format!("paused/{policy}")
}

pub(crate) fn state_key((policy, name): &(String, String)) -> String {
    format!("{policy}\0{name}")
}

/// The reference to the target called `name`: a site's, or the container's with its
/// current ID when it exists.
pub(crate) fn target_ref(containers: &HashMap<String, ContainerSnapshot>, name: &str) -> TargetRef {
    if hale_core::is_policy_target(name) {
        return TargetRef {
            id: name.to_owned(),
            name: name.to_owned(),
        };
    }
    containers.values().find(|c| c.name == name).map_or_else(
        || TargetRef {
            id: String::new(),
            name: name.to_owned(),
        },
        |c| TargetRef {
            id: c.id.clone(),
            name: c.name.clone(),
        },
    )
}
