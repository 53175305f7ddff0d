//! A real browser for the dashboard's end-to-end tests: Debian's `chromium`, headless,
//! driven over WebDriver by `chromium-driver` (`chromedriver`), from Rust with fantoccini.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Where the tests save their screenshots: `$HALE_SCREENSHOT_DIR`, else
/// `target/dashboard-screenshots` (docs/dashboard.md links the committed copies).
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("HALE_SCREENSHOT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screenshots"),
        PathBuf::from,
    )
}

/// How many browsers of one test binary run at once. A chromium is heavy: five at once
/// on a 2-core machine (with a hale and Docker each) starved them until the pages' own
/// requests failed ("Failed to fetch") or a page took over 20 s to draw.
const BROWSERS_AT_ONCE: usize = 2;

/// The places for browsers in this test binary.
static BROWSER_PLACES: LazyLock<Arc<tokio::sync::Semaphore>> =
    LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(BROWSERS_AT_ONCE)));

/// One headless chromium and its driver, both stopped when dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    /// This browser's place among [`BROWSERS_AT_ONCE`], given back when it is dropped.
    _place: tokio::sync::OwnedSemaphorePermit,
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless chromium session at the
    /// given window size. Fails with what to install when either is missing.
    pub async fn start(width: u32, height: u32) -> Self {
        let place = Arc::clone(&BROWSER_PLACES)
            .acquire_owned()
            .await
            .expect("the places are never closed");
        let driver_path = find_program(&["chromedriver"]).expect(
            "the dashboard tests need chromium-driver: `apt-get install chromium chromium-driver` (.ci/run does)",
        );
        let chromium = find_program(&["chromium", "chromium-browser"]).expect(
            "the dashboard tests need chromium: `apt-get install chromium chromium-driver` (.ci/run does)",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut client = None;
        let mut last_error = String::new();
        // chromium's first start on a cold machine can take a few seconds.
        for _ in 0..3 {
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(session) => {
                    client = Some(session);
                    break;
                }
                Err(error) => {
                    last_error = error.to_string();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        let client =
            client.unwrap_or_else(|| panic!("chromium did not start a session: {last_error}"));
        Self {
            client,
            driver,
            _profile: profile,
            _place: place,
        }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page opens");
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|error| panic!("script failed: {error}\n{script}"))
    }

    /// Waits until `script` returns something truthy (not null, false, 0 or ""); returns
    /// it. On timeout, fails with `what` and the page's text.
    pub async fn wait_js(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or(Value::Null);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() >= deadline {
                let text = self
                    .client
                    .execute("return document.body.innerText", vec![])
                    .await
                    .unwrap_or(Value::Null);
                panic!(
                    "timed out after {timeout:?} waiting for {what}; the page says:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the first element matching `css`, or "" when there is none.
    pub async fn text(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            vec![json!(css)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Clicks the element matching `css` (as a user does: WebDriver's click). The page
    /// re-renders on live updates: an element replaced between finding and clicking it
    /// ("stale element") is found again, as a user's second look would.
    pub async fn click(&self, css: &str) {
        let mut tries = 0;
        loop {
            let element = self
                .client
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|error| panic!("no element {css}: {error}"));
            match element.click().await {
                Ok(()) => return,
                Err(error) if tries < 5 && error.to_string().contains("stale element") => {
                    tries += 1;
                }
                Err(error) => panic!("cannot click {css}: {error}"),
            }
        }
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element {css}: {error}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|error| panic!("cannot type into {css}: {error}"));
    }

    /// Confirms the dashboard's confirmation dialog, once it is open.
    pub async fn confirm(&self) {
        self.wait_js(
            "the confirmation dialog",
            Duration::from_secs(5),
            "return document.getElementById('confirm').open",
        )
        .await;
        self.click("#confirm button[value=yes]").await;
    }

    /// Presses one key (a WebDriver key code, e.g. `'\u{E004}'` for Tab) as a person does:
    /// to whatever has the focus, whatever it is.
    pub async fn press(&self, key: char) {
        use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
        let keys = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(keys)
            .await
            .unwrap_or_else(|error| panic!("cannot press {key:?}: {error}"));
    }

    /// Moves the keyboard's focus to the element `id` with Tab alone, from the top of the
    /// page, as a keyboard user would; fails the test if Tab never reaches it.
    pub async fn tab_to(&self, id: &str) {
        self.js(
            "document.activeElement?.blur(); document.body.focus();",
            vec![],
        )
        .await;
        for _ in 0..40 {
            self.press('\u{E004}').await;
            if self.js("return document.activeElement.id", vec![]).await == id {
                return;
            }
        }
        panic!("Tab never reached #{id}");
    }

    /// Answers the dashboard's token dialog with `token`, once it is open.
    pub async fn give_token(&self, token: &str) {
        self.wait_js(
            "the token dialog",
            Duration::from_secs(20),
            "return document.getElementById('token-dialog').open",
        )
        .await;
        self.type_into("#token-dialog input", token).await;
        self.click("#token-dialog button[value=save]").await;
    }

    /// Saves a screenshot of the page as `<name>.png` in [`screenshot_dir`].
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the session and stops the driver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A killed driver leaves its chromium running: end every process of this profile.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self._profile.path())
            .status();
    }
}
