//! Which container hale itself runs in, if any: hale never remediates its own container
//! (restarting itself mid-decision would lose the decision; Docker's restart policy is what
//! brings hale back).

/// The ID of the container this process runs in, read from `/proc/self/mountinfo` (Docker
/// bind-mounts `/etc/hostname` and friends from `/var/lib/docker/containers/<id>/`) or,
/// failing that, `/proc/self/cgroup` (cgroup v1 and the systemd driver name the ID).
pub fn own_container_id() -> Option<String> {
    ["/proc/self/mountinfo", "/proc/self/cgroup"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find_map(|text| container_id_in(&text))
}

/// The first 64-hex-digit container ID in `text` that follows `containers/`, `docker/` or
/// `docker-`.
pub fn container_id_in(text: &str) -> Option<String> {
    ["/containers/", "/docker/", "docker-"]
        .iter()
        .find_map(|marker| {
            text.match_indices(marker).find_map(|(at, _)| {
                let id: String = text[at + marker.len()..].chars().take(64).collect();
                (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::container_id_in;

    const ID: &str = "9f3c1b0e0d7a4c2b8e6f5a4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";

    #[test]
    fn the_id_is_read_from_mountinfo_and_cgroup_lines() {
        let mountinfo = format!(
            "612 590 8:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw\n"
        );
        assert_eq!(container_id_in(&mountinfo).as_deref(), Some(ID));
        let cgroup_v1 = format!("12:memory:/docker/{ID}\n");
        assert_eq!(container_id_in(&cgroup_v1).as_deref(), Some(ID));
        let systemd = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_id_in(&systemd).as_deref(), Some(ID));
    }

    #[test]
    fn a_host_process_has_none() {
        assert_eq!(
            container_id_in("0::/user.slice/user-0.slice/session-1.scope\n"),
            None
        );
        assert_eq!(
            container_id_in("25 1 8:1 / / rw - ext4 /dev/sda1 rw\n/containers/short\n"),
            None
        );
    }
}
