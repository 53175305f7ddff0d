//! Grouping through the notifier actor under virtual time: repeats folded, lasting states
//! reminded, recoveries sent only after trouble, nothing folded sent after the quarantine
//! that closed an episode, a flapping target told once then in one digest, and routes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hale_core::{HealEvent, HealEventKind, Timestamp};

use common::*;

#[tokio::test(start_paused = true)]
async fn repeats_are_folded_lasting_states_are_reminded_and_recoveries_follow_trouble() {
    let (url, received) = service(ok).await;
    let notifier: hale_policy::Notifier = serde_saphyr::from_str(&format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook: {{url: \"{url}/hook\"}}\n  groupWindow: 1s\n  minReminderInterval: 2s\n  rateLimit: 600\n"
    ))
    .unwrap();
    let policy: hale_policy::HealPolicy = serde_saphyr::from_str(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  notify: [{notifier: team, on: [Failed, Quarantined]}]\n",
    )
    .unwrap();
    let recorded: Arc<Mutex<Vec<HealEvent>>> = Arc::default();
    let record = Arc::clone(&recorded);
    let args = hale_notifier::NotifierArgs {
        policies: Arc::new(vec![policy]),
        notifiers: Arc::new(vec![notifier]),
        default_route: None,
        links: Arc::new(|_| Vec::new()),
        record: Arc::new(move |e| record.lock().unwrap().push(e)),
        http: hale_core::http_client::ClientCache::new(),
        metrics: Arc::new(|_, _| {}),
        clock: virtual_clock(),
    };
    let (actor, _handle) = ractor::Actor::spawn(None, hale_notifier::NotifierActor, args)
        .await
        .unwrap();
    let send = |e: HealEvent| {
        actor
            .cast(hale_notifier::NotifierMsg::Event(Box::new(e)))
            .unwrap()
    };
    let titles = || -> Vec<String> {
        received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, body)| {
                serde_json::from_str::<serde_json::Value>(body).unwrap()["message"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    // Five failures of one target in a burst: one message now, one folded after the window.
    for _ in 0..5 {
        send(event(HealEventKind::ActionFailed, "web-1"));
    }
    // Not routed: neither Remediating nor a Recovered of a target nobody was told about.
    send(event(HealEventKind::ActionStarted, "web-1"));
    send(event(HealEventKind::Recovered, "web-2"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.lock().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let seen = titles();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[1].contains("4 more Failed"), "{seen:?}");

    // Quarantined: told at once, reminded every 2 s while it lasts, then the recovery is
    // told (sendOnResolved) and reminders stop.
    send(event(HealEventKind::Quarantined, "web-1"));
    tokio::time::sleep(Duration::from_millis(4600)).await;
    let reminders = titles().iter().filter(|t| t.contains("reminder")).count();
    assert!(reminders >= 1, "{:?}", titles());
    send(event(HealEventKind::Recovered, "web-1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let count = titles().len();
    assert!(
        titles().last().unwrap().contains("Next: nothing"),
        "{:?}",
        titles()
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(titles().len(), count, "no reminder after recovery");
    assert!(recorded.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn nothing_folded_is_sent_after_the_quarantine_that_closed_the_episode() {
    let (url, received) = service(ok).await;
    let notifier: hale_policy::Notifier = serde_saphyr::from_str(&format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook: {{url: \"{url}/hook\"}}\n  groupWindow: 1s\n  minReminderInterval: 1h\n"
    ))
    .unwrap();
    let policy: hale_policy::HealPolicy = serde_saphyr::from_str(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  notify: [{notifier: team, on: [Remediating, Failed, Quarantined]}]\n",
    )
    .unwrap();
    let metrics: Arc<Mutex<Vec<(String, hale_notifier::NotificationMetric)>>> = Arc::default();
    let seen = Arc::clone(&metrics);
    let args = hale_notifier::NotifierArgs {
        policies: Arc::new(vec![policy]),
        notifiers: Arc::new(vec![notifier]),
        default_route: None,
        links: Arc::new(|_| Vec::new()),
        record: Arc::new(|_| {}),
        http: hale_core::http_client::ClientCache::new(),
        metrics: Arc::new(move |notifier, metric| {
            seen.lock().unwrap().push((notifier.to_owned(), metric));
        }),
        clock: virtual_clock(),
    };
    let (actor, _handle) = ractor::Actor::spawn(None, hale_notifier::NotifierActor, args)
        .await
        .unwrap();
    // A flapping target: remediated three times, then given up on, within one window.
    for kind in [
        HealEventKind::ActionStarted,
        HealEventKind::ActionStarted,
        HealEventKind::ActionStarted,
        HealEventKind::Quarantined,
    ] {
        actor
            .cast(hale_notifier::NotifierMsg::Event(Box::new(event(
                kind, "web-1",
            ))))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let titles: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, body)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["title"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles[0].contains("Remediating web-1"), "{titles:?}");
    assert!(
        titles[1].contains("Gave up on web-1"),
        "the quarantine is the last word, no \"2 such events ... tries again\" after it: {titles:?}"
    );
    let metrics = metrics.lock().unwrap();
    let delivered = metrics
        .iter()
        .filter(|(n, m)| n == "team" && *m == hale_notifier::NotificationMetric::Delivered)
        .count();
    assert_eq!(delivered, 2, "{metrics:?}");
    assert_eq!(
        metrics.last(),
        Some(&(
            "team".to_owned(),
            hale_notifier::NotificationMetric::Delivered
        )),
        "{metrics:?}"
    );
    assert!(metrics.contains(&(
        "team".to_owned(),
        hale_notifier::NotificationMetric::QueueDepth(0)
    )));
}

#[tokio::test(start_paused = true)]
async fn a_flapping_target_is_told_once_then_in_one_digest_that_ends_on_its_latest_state() {
    let (url, received) = service(ok).await;
    let notifier: hale_policy::Notifier = serde_saphyr::from_str(&format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook: {{url: \"{url}/hook\"}}\n  groupWindow: 1s\n"
    ))
    .unwrap();
    let policy: hale_policy::HealPolicy = serde_saphyr::from_str(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  notify: [{notifier: team}]\n",
    )
    .unwrap();
    let args = hale_notifier::NotifierArgs {
        policies: Arc::new(vec![policy]),
        notifiers: Arc::new(vec![notifier]),
        default_route: None,
        links: Arc::new(|_| Vec::new()),
        record: Arc::new(|_| {}),
        http: hale_core::http_client::ClientCache::new(),
        metrics: Arc::new(|_, _| {}),
        clock: virtual_clock(),
    };
    let (actor, _handle) = ractor::Actor::spawn(None, hale_notifier::NotifierActor, args)
        .await
        .unwrap();
    // Restarted, recovered, failing again, three times within the window.
    for _ in 0..3 {
        for kind in [HealEventKind::ActionStarted, HealEventKind::Recovered] {
            let mut e = event(kind, "web-1");
            e.time = Timestamp::now();
            actor
                .cast(hale_notifier::NotifierMsg::Event(Box::new(e)))
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let bodies: Vec<serde_json::Value> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, body)| serde_json::from_str(body).unwrap())
        .collect();
    let titles: Vec<&str> = bodies
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(titles[0].contains("Remediating web-1"), "{titles:?}");
    assert!(titles[1].contains("Recovered"), "{titles:?}");
    assert!(
        titles[2].contains("Recovered"),
        "the digest tells the latest state: {titles:?}"
    );
    let digest = bodies[2]["message"].as_str().unwrap();
    assert!(
        digest.contains("2 more Remediating, 2 more Recovered")
            && digest.contains("the target is flapping"),
        "{digest}"
    );
}

#[tokio::test(start_paused = true)]
async fn policies_without_routes_use_the_default_notifier_and_others_do_not() {
    let (url, received) = service(ok).await;
    let notifier: hale_policy::Notifier = serde_saphyr::from_str(&format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: oncall}}\nspec:\n  webhook: {{url: \"{url}/hook\"}}\n"
    ))
    .unwrap();
    let policy = |name: &str, routes: &str| -> hale_policy::HealPolicy {
        serde_saphyr::from_str(&format!(
            "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: x}}}}\n{routes}"
        ))
        .unwrap()
    };
    let args = hale_notifier::NotifierArgs {
        policies: Arc::new(vec![
            policy("web", ""),
            policy("db", "  notify: [{notifier: oncall, on: [Quarantined]}]\n"),
            policy(
                "twice",
                "  notify: [{notifier: oncall, on: [Remediating]}, {notifier: oncall}]\n",
            ),
        ]),
        notifiers: Arc::new(vec![notifier]),
        default_route: Some("oncall".into()),
        links: Arc::new(|_| Vec::new()),
        record: Arc::new(|_| {}),
        http: hale_core::http_client::ClientCache::new(),
        metrics: Arc::new(|_, _| {}),
        clock: virtual_clock(),
    };
    let (actor, _handle) = ractor::Actor::spawn(None, hale_notifier::NotifierActor, args)
        .await
        .unwrap();
    let mut web = event(HealEventKind::ActionStarted, "web-1");
    web.policy = "web".into();
    let mut db = event(HealEventKind::ActionStarted, "db-1");
    db.policy = "db".into();
    let mut twice = event(HealEventKind::ActionStarted, "api-1");
    twice.policy = "twice".into();
    for e in [web, db, twice] {
        actor
            .cast(hale_notifier::NotifierMsg::Event(Box::new(e)))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let policies: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, body)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["event"]["policy"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        policies,
        ["web", "twice"],
        "web has no routes (default), db routes only Quarantined, twice's two routes to one notifier send once"
    );
}
