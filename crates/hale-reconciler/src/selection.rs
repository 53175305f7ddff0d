//! Which containers are a policy's targets: what its selector matches, less hale's own
//! container. One answer for the reconcile pass and for the alerts that mark every
//! selected container failing.

use std::collections::HashMap;

use hale_core::ContainerSnapshot;
use hale_policy::HealPolicySpec;

/// The containers a policy selects now.
pub(crate) struct Selection<'a> {
    /// Its targets, by name.
    pub targets: Vec<&'a ContainerSnapshot>,
    /// hale's own container, when the selector matches it: never a target (a restart would
    /// lose the decision being made), returned so the caller can say why.
    pub own: Option<&'a ContainerSnapshot>,
}

/// The containers of `containers` that `spec` selects; `own` is the ID of hale's own
/// container, if it runs in one.
pub(crate) fn selected<'a>(
    containers: &'a HashMap<String, ContainerSnapshot>,
    spec: &HealPolicySpec,
    own: Option<&str>,
) -> Selection<'a> {
    let mut targets: Vec<&ContainerSnapshot> = match &spec.selector {
        Some(selector) => containers
            .values()
            .filter(|c| selector.matches(&c.name, &c.labels))
            .collect(),
        None => Vec::new(),
    };
    let own = targets
        .iter()
        .position(|c| Some(c.id.as_str()) == own)
        .map(|me| targets.remove(me));
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    Selection { targets, own }
}
