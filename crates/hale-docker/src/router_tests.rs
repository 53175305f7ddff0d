//! The router against in-memory daemons: names carry the endpoint, every action reaches
//! the daemon its container lives on, and a list is whole or fails.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use hale_core::{
    Clock, ContainerSnapshot, ContainerStatus, DockerError, DockerPort, EventStream, ExecOutput,
};
use hale_fakes::{DockerCall, FakeDocker};

use super::DockerRouter;

fn daemon(containers: &[(&str, &str)]) -> Arc<FakeDocker> {
    let docker = Arc::new(FakeDocker::new(Clock::system()));
    for (id, name) in containers {
        docker.set(ContainerSnapshot::new(*id, *name, ContainerStatus::Running));
    }
    docker
}

fn router(endpoints: &[(&str, Arc<FakeDocker>)]) -> DockerRouter {
    DockerRouter::new(
        endpoints
            .iter()
            .map(|(name, docker)| {
                (
                    (*name).to_owned(),
                    Arc::clone(docker) as Arc<dyn DockerPort>,
                )
            })
            .collect(),
    )
}

#[tokio::test]
async fn names_carry_the_endpoint_and_actions_reach_the_daemon_of_their_container() {
    let host = daemon(&[("aaa", "web")]);
    let edge = daemon(&[("bbb", "web")]);
    let router = router(&[("host", Arc::clone(&host)), ("edge", Arc::clone(&edge))]);
    let mut names: Vec<String> = router
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    assert_eq!(names, ["edge/web", "host/web"]);

    router.restart("bbb", 1).await.unwrap();
    assert_eq!(edge.calls(), [DockerCall::Restart("bbb".into())]);
    assert!(host.calls().is_empty());
    router.stop("aaa", 1).await.unwrap();
    assert_eq!(host.calls(), [DockerCall::Stop("aaa".into())]);
    assert_eq!(router.inspect("bbb").await.unwrap().name, "edge/web");
}

#[tokio::test]
async fn a_container_created_since_the_last_list_is_found_on_its_daemon() {
    let host = daemon(&[]);
    let edge = daemon(&[]);
    let router = router(&[("host", Arc::clone(&host)), ("edge", Arc::clone(&edge))]);
    router.list().await.unwrap();
    edge.set(ContainerSnapshot::new(
        "new",
        "api",
        ContainerStatus::Running,
    ));
    router.start("new").await.unwrap();
    assert_eq!(edge.calls(), [DockerCall::Start("new".into())]);
    assert!(matches!(
        router.restart("nowhere", 1).await,
        Err(DockerError::NotFound(id)) if id == "nowhere"
    ));
}

#[tokio::test]
async fn a_recreated_container_stays_routed_to_its_daemon() {
    let host = daemon(&[("aaa", "db")]);
    let edge = daemon(&[("bbb", "db")]);
    let router = router(&[("host", Arc::clone(&host)), ("edge", Arc::clone(&edge))]);
    router.list().await.unwrap();
    let fresh = router.recreate("bbb", 1).await.unwrap();
    router.restart(&fresh, 1).await.unwrap();
    assert_eq!(
        edge.calls(),
        [
            DockerCall::Recreate("bbb".into()),
            DockerCall::Restart(fresh)
        ]
    );
    assert!(host.calls().is_empty());
}

/// A daemon that does not answer.
struct Down;

fn down<T>() -> BoxFuture<'static, Result<T, DockerError>> {
    Box::pin(async {
        Err(DockerError::Unreachable {
            endpoint: "tcp://down:2376".into(),
            message: "connection refused".into(),
        })
    })
}

impl DockerPort for Down {
    fn endpoint(&self) -> String {
        "tcp://down:2376".into()
    }
    fn ping(&self) -> BoxFuture<'_, Result<(), DockerError>> {
        down()
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<ContainerSnapshot>, DockerError>> {
        down()
    }
    fn inspect(&self, _: &str) -> BoxFuture<'_, Result<ContainerSnapshot, DockerError>> {
        down()
    }
    fn events(&self, _: Option<i64>) -> EventStream {
        Box::pin(futures_util::stream::empty())
    }
    fn restart(&self, _: &str, _: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        down()
    }
    fn stop(&self, _: &str, _: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        down()
    }
    fn start(&self, _: &str) -> BoxFuture<'_, Result<(), DockerError>> {
        down()
    }
    fn exec(
        &self,
        _: &str,
        _: &[String],
        _: std::time::Duration,
    ) -> BoxFuture<'_, Result<ExecOutput, DockerError>> {
        down()
    }
    fn recreate(&self, _: &str, _: u32) -> BoxFuture<'_, Result<String, DockerError>> {
        down()
    }
}

#[tokio::test]
async fn a_list_fails_whole_when_one_daemon_is_down() {
    let host = daemon(&[("aaa", "web")]);
    let router = DockerRouter::new(vec![
        ("host".to_owned(), host as Arc<dyn DockerPort>),
        ("edge".to_owned(), Arc::new(Down) as Arc<dyn DockerPort>),
    ]);
    let error = router.list().await.unwrap_err();
    assert!(error.is_unreachable(), "{error}");
    assert!(router.summaries().await.is_err());
    let described = router.endpoint();
    assert!(
        described.starts_with("host=") && described.ends_with(", edge=tcp://down:2376"),
        "{described}"
    );
}
