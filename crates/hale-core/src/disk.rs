//! Disk space as Docker accounts for it (its `/system/df`), what a prune removed, and what
//! one would remove: the estimate a dry-run reports, computed from the same accounting
//! with the same filters Docker applies.

use std::collections::HashMap;
use std::fmt::Write as _;

use hale_policy::{ImagePrune, PruneAction, human_bytes};

/// One object Docker counts in its disk usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageItem {
    /// Bytes it alone holds (an image's size without the layers it shares).
    pub size: u64,
    /// When it was created (for the build cache: last used), in Unix seconds.
    pub created: i64,
    /// Its labels (the build cache has none).
    pub labels: HashMap<String, String>,
    /// Whether a prune of its kind may remove it: a stopped container, an image no
    /// container uses, a volume none mounts, a build cache record not in use.
    pub unused: bool,
    /// For images: untagged.
    pub dangling: bool,
}

/// Docker's own account of its disk usage, from `/system/df`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerDiskUsage {
    /// Images.
    pub images: Vec<UsageItem>,
    /// Containers' writable layers.
    pub containers: Vec<UsageItem>,
    /// Volumes (size unknown to Docker for some drivers: counted as 0).
    pub volumes: Vec<UsageItem>,
    /// Build cache records.
    pub build_cache: Vec<UsageItem>,
}

impl DockerDiskUsage {
    /// One line for a probe's reason: each kind's total and what is reclaimable, e.g.
    /// `Docker: images 1.2 GiB (800.0 MiB unused), containers 12.0 KiB (0 B stopped), ...`.
    pub fn summary(&self) -> String {
        let kind = |items: &[UsageItem]| {
            let total: u64 = items.iter().map(|i| i.size).sum();
            let unused: u64 = items.iter().filter(|i| i.unused).map(|i| i.size).sum();
            (human_bytes(total), human_bytes(unused))
        };
        let (images, images_unused) = kind(&self.images);
        let (containers, stopped) = kind(&self.containers);
        let (volumes, volumes_unused) = kind(&self.volumes);
        let (cache, cache_unused) = kind(&self.build_cache);
        format!(
            "Docker: images {images} ({images_unused} unused), containers {containers} ({stopped} stopped), volumes {volumes} ({volumes_unused} unused), build cache {cache} ({cache_unused} unused)"
        )
    }
}

/// What a prune removed (or, estimated, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Containers removed.
    pub containers: usize,
    /// Images removed (Docker counts each deleted image ID).
    pub images: usize,
    /// Build cache records removed.
    pub build_cache: usize,
    /// Networks removed.
    pub networks: usize,
    /// Volumes removed.
    pub volumes: usize,
    /// Bytes Docker reports reclaimed.
    pub bytes_freed: u64,
}

impl PruneReport {
    /// `freed 1.2 GiB: 3 containers, 2 images, 5 build cache records, 1 network, 0 volumes`.
    pub fn summary(&self, verb: &str) -> String {
        let mut text = format!("{verb} {}", human_bytes(self.bytes_freed));
        let _ = write!(
            text,
            ": {} containers, {} images and layers, {} build cache records, {} networks, {} volumes",
            self.containers, self.images, self.build_cache, self.networks, self.volumes
        );
        text
    }
}

/// Docker's label filters as a prune applies them: every `labels` entry must match, no
/// `exclude_labels` entry may. An entry is `key` (present) or `key=value`.
pub fn labels_allow(what: &PruneAction, labels: &HashMap<String, String>) -> bool {
    let matches = |entry: &String| match entry.split_once('=') {
        Some((key, value)) => labels.get(key).is_some_and(|v| v == value),
        None => labels.contains_key(entry.as_str()),
    };
    what.labels.iter().all(matches) && !what.exclude_labels.iter().any(matches)
}

/// What pruning `what` would remove from `usage` at `now_secs` (Unix seconds): the
/// estimate a dry-run reports. Networks hold no space and are not counted. Docker's own
/// prune is the authority; this follows its filters (`until`, labels, dangling) and counts
/// an image's own bytes, not the layers it shares.
pub fn estimate(usage: &DockerDiskUsage, what: &PruneAction, now_secs: i64) -> PruneReport {
    let old_enough = |item: &UsageItem| {
        what.until
            .is_none_or(|until| item.created <= now_secs - until.as_std().as_secs() as i64)
    };
    let eligible = |items: &[UsageItem], keep: &dyn Fn(&UsageItem) -> bool| -> (usize, u64) {
        items
            .iter()
            .filter(|i| i.unused && keep(i))
            .fold((0, 0), |(n, bytes), i| (n + 1, bytes + i.size))
    };
    let mut report = PruneReport::default();
    if what.containers {
        let (n, bytes) = eligible(&usage.containers, &|i| {
            old_enough(i) && labels_allow(what, &i.labels)
        });
        report.containers = n;
        report.bytes_freed += bytes;
    }
    if what.images != ImagePrune::None {
        let dangling_only = what.images == ImagePrune::Dangling;
        let (n, bytes) = eligible(&usage.images, &|i| {
            (i.dangling || !dangling_only) && old_enough(i) && labels_allow(what, &i.labels)
        });
        report.images = n;
        report.bytes_freed += bytes;
    }
    if what.build_cache && what.labels.is_empty() {
        let (n, bytes) = eligible(&usage.build_cache, &|i| old_enough(i));
        report.build_cache = n;
        report.bytes_freed += bytes;
    }
    if what.volumes {
        let (n, bytes) = eligible(&usage.volumes, &|i| labels_allow(what, &i.labels));
        report.volumes = n;
        report.bytes_freed += bytes;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(size: u64, created: i64, unused: bool, labels: &[(&str, &str)]) -> UsageItem {
        UsageItem {
            size,
            created,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            unused,
            dangling: false,
        }
    }

    #[test]
    fn the_estimate_follows_dockers_filters() {
        let mut dangling = item(100, 0, true, &[]);
        dangling.dangling = true;
        let mut kept = item(1000, 0, true, &[("keep", "true")]);
        kept.dangling = true;
        let usage = DockerDiskUsage {
            images: vec![
                dangling,
                kept,
                item(50, 0, true, &[]),
                item(7, 0, false, &[]),
            ],
            containers: vec![item(10, 0, true, &[]), item(20, 0, false, &[])],
            volumes: vec![item(5000, 0, true, &[])],
            build_cache: vec![item(300, 90, true, &[]), item(30, 0, false, &[])],
        };
        let defaults = PruneAction::default();
        // Dangling images (both), stopped containers, unused build cache; no volumes.
        let report = estimate(&usage, &defaults, 100);
        assert_eq!(report.bytes_freed, 100 + 1000 + 10 + 300);
        assert_eq!(
            (report.images, report.containers, report.build_cache),
            (2, 1, 1)
        );
        assert_eq!(report.volumes, 0);

        let keep = PruneAction {
            exclude_labels: vec!["keep".into()],
            until: Some(hale_policy::Duration::from_secs(60)),
            images: ImagePrune::Unused,
            volumes: true,
            ..PruneAction::default()
        };
        // The labelled image survives; the build cache used 10 s ago is too young.
        let report = estimate(&usage, &keep, 100);
        assert_eq!(report.bytes_freed, 100 + 50 + 10 + 5000);
        assert_eq!(report.images, 2);
        assert_eq!(report.build_cache, 0);
    }

    #[test]
    fn label_filters_are_dockers() {
        let labels: HashMap<String, String> = [("env".to_owned(), "ci".to_owned())].into();
        let with = |labels_: &[&str], exclude: &[&str]| PruneAction {
            labels: labels_.iter().map(|s| (*s).to_owned()).collect(),
            exclude_labels: exclude.iter().map(|s| (*s).to_owned()).collect(),
            ..PruneAction::default()
        };
        assert!(labels_allow(&with(&[], &[]), &labels));
        assert!(labels_allow(&with(&["env"], &[]), &labels));
        assert!(labels_allow(&with(&["env=ci"], &["keep"]), &labels));
        assert!(!labels_allow(&with(&["env=prod"], &[]), &labels));
        assert!(!labels_allow(&with(&[], &["env=ci"]), &labels));
    }
}
