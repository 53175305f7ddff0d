//! A stand-in for the Docker daemon's socket that a test can take away and give back.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::daemon_socket;

/// A Unix-socket proxy in front of the Docker daemon that a test can take down and bring
/// back, to see hale lose and regain the daemon.
pub struct SocketProxy {
    path: PathBuf,
    running: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<Mutex<Vec<std::os::unix::net::UnixStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl SocketProxy {
    /// Listens on `path` and forwards every connection to the daemon the tests use
    /// (`DOCKER_HOST` when it is a `unix://` socket, else /var/run/docker.sock).
    pub fn start(path: &Path) -> Self {
        use std::os::unix::net::{UnixListener, UnixStream};
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<UnixStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (flag, open) = (Arc::clone(&running), Arc::clone(&connections));
        let accept = std::thread::spawn(move || {
            while flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(daemon) = UnixStream::connect(daemon_socket()) else {
                            continue;
                        };
                        let mut list = open.lock().unwrap();
                        list.push(client.try_clone().unwrap());
                        list.push(daemon.try_clone().unwrap());
                        drop(list);
                        let (mut client_read, mut daemon_write) =
                            (client.try_clone().unwrap(), daemon.try_clone().unwrap());
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut client_read, &mut daemon_write);
                            let _ = daemon_write.shutdown(std::net::Shutdown::Write);
                        });
                        let (mut daemon_read, mut client_write) = (daemon, client);
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut daemon_read, &mut client_write);
                            let _ = client_write.shutdown(std::net::Shutdown::Write);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self {
            path: path.to_path_buf(),
            running,
            connections,
            accept: Some(accept),
        }
    }

    /// Takes the "daemon" away: stops listening and cuts every open connection.
    pub fn stop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for SocketProxy {
    fn drop(&mut self) {
        self.stop();
    }
}
