//! Starts the app under tauri-driver for one test and stops everything afterwards.
//!
//! Lessons learned on CI, encoded here:
//!
//! - tauri-driver is stopped with SIGTERM, never SIGKILL: it then stops WebKitWebDriver, which
//!   otherwise survives as an orphan, holds the test's pipes open and hangs the run.
//! - Driver and app output go to a log file (`target/tmp/e2e/<test>.log`), never a pipe nobody
//!   reads (a full pipe blocks the writer). The file is printed when a test fails.
//! - Ports are picked free per test, and the webview gets software rendering settings that
//!   work under Xvfb.
//! - A request that dies in transport (tauri-driver answering "connection closed before
//!   message completed" when WebKitWebDriver dropped the connection) says nothing about the
//!   app: a lookup, a read or typing is asked again, a few times, and starting the session
//!   is tried once more with fresh drivers. WebDriver's own errors (no such element, the app
//!   gone) still fail the test at once.
//! - tauri-driver's errors carry no backtraces (`RUST_LIB_BACKTRACE=0`): a few dozen lines
//!   each buried the test's own message at the end of CI's output.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long the app may take to show something (the first start creates the demo repository).
pub const STARTUP: Duration = Duration::from_secs(60);

/// How many times a request the connection to the drivers dropped is asked again.
const TRANSPORT_RETRIES: u32 = 3;

/// A running app on its own temporary repository.
pub struct App {
    /// The WebDriver session on the app's main window.
    pub client: Client,
    /// The repository file the app uses (`IDBULK_DB`).
    pub db: PathBuf,
    /// Stops tauri-driver when the app is dropped (and prints its log if the test failed).
    _driver: Driver,
    _dir: tempfile::TempDir,
}

impl App {
    /// Starts the app on a repository that does not exist yet (so it creates the demo one).
    /// `name` names the log file.
    pub async fn launch(name: &str) -> App {
        App::launch_with_env(name, &[]).await
    }

    /// As [`App::launch`], with more environment variables for the app (e.g. its GTK theme).
    pub async fn launch_with_env(name: &str, env: &[(&str, &str)]) -> App {
        App::launch_with(name, env, |_| {}).await
    }

    /// As [`App::launch_with_env`], calling `prepare` with the repository path first (to put
    /// a file there, for instance).
    pub async fn launch_with(name: &str, env: &[(&str, &str)], prepare: impl FnOnce(&Path)) -> App {
        let dir = tempfile::Builder::new()
            .prefix("idbulk-e2e-")
            .tempdir()
            .expect("a temporary folder for the repository");
        let db = dir.path().join("repository.db");
        prepare(&db);
        let mut attempt = 1;
        loop {
            let driver = Driver::start(name, &db, env);
            match new_session(driver.port).await {
                Ok(client) => return App { client, db, _driver: driver, _dir: dir },
                Err(e) if attempt == 1 && session_lost_in_transport(&e) => {
                    eprintln!("starting the WebDriver session failed in transport ({e}); again");
                    attempt += 1;
                }
                Err(e) => panic!("no WebDriver session on the app: {e}"),
            }
        }
    }

    /// Waits for the element `css` matches and returns its text.
    pub async fn text_of(&self, css: &str) -> String {
        again_if_lost(&format!("the text of `{css}`"), async || {
            self.find(Locator::Css(css)).await?.text().await
        })
        .await
        .unwrap_or_else(|e| panic!("text of `{css}`: {e}"))
    }

    /// Waits for the element `css` matches.
    pub async fn element(&self, css: &str) -> Element {
        self.wait_for(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no element `{css}`: {e}"))
    }

    /// Waits up to [`STARTUP`] for an element, asking again if the request is dropped.
    async fn wait_for(&self, locator: Locator<'_>) -> Result<Element, CmdError> {
        again_if_lost(&format!("{locator:?}"), async || self.find(locator).await).await
    }

    /// Waits up to [`STARTUP`] for an element (one request at a time, none asked again).
    async fn find(&self, locator: Locator<'_>) -> Result<Element, CmdError> {
        self.client.wait().at_most(STARTUP).for_element(locator).await
    }

    /// Every element `css` matches now (none is not an error).
    pub async fn elements(&self, css: &str) -> Vec<Element> {
        again_if_lost(&format!("every `{css}`"), async || {
            self.client.find_all(Locator::Css(css)).await
        })
        .await
        .unwrap_or_else(|e| panic!("find `{css}`: {e}"))
    }

    /// Clicks the navigation link of a screen.
    pub async fn open(&self, label: &str) {
        self.click(&format!(r#"nav a[title^="{label} ("]"#)).await;
    }

    /// Waits for the element `css` matches and clicks it. A screen that re-renders as its
    /// data arrives can replace the element between finding and clicking it (a stale
    /// reference): the click is then retried on the new element, a few times.
    pub async fn click(&self, css: &str) {
        let mut attempts = 0;
        loop {
            match self.element(css).await.click().await {
                Ok(()) => return,
                Err(e) if attempts < 5 => {
                    attempts += 1;
                    eprintln!("click `{css}` failed ({e}); trying again");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => panic!("click `{css}`: {e}"),
            }
        }
    }

    /// Waits for the button whose text is `text` and clicks it.
    pub async fn click_button(&self, text: &str) {
        let xpath = format!(r#"//button[normalize-space(.)="{text}" and not(@disabled)]"#);
        self.wait_for(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no enabled button `{text}`: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{text}`: {e}"));
    }

    /// Replaces the text of the input `css` matches.
    pub async fn type_into(&self, css: &str, text: &str) {
        // Clearing first makes typing again after a dropped request give the same text.
        again_if_lost(&format!("typing into `{css}`"), async || {
            let input = self.find(Locator::Css(css)).await?;
            input.clear().await?;
            input.send_keys(text).await
        })
        .await
        .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// Scrolls the element `css` matches to the top of the window.
    pub async fn scroll_to(&self, css: &str) {
        let element = self.element(css).await;
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'start'})",
                vec![serde_json::to_value(&element).expect("an element reference")],
            )
            .await
            .unwrap_or_else(|e| panic!("scroll to `{css}`: {e}"));
    }

    /// Saves a PNG of the whole X display (the app's window fills a 1280x800 Xvfb) to `path`.
    ///
    /// WebDriver's own screenshot endpoint never answers with WebKitWebDriver under Xvfb (it
    /// waits for a compositor snapshot that does not come), so ImageMagick reads the screen.
    pub async fn screenshot(&self, path: &Path) {
        // Let the last layout and paint land after the element appeared.
        tokio::time::sleep(Duration::from_millis(800)).await;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot folder can be created");
        }
        let status = Command::new("import")
            .args(["-silent", "-window", "root"])
            .arg(format!("png:{}", path.display()))
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("ImageMagick `import`: {e}"));
        if !status.success() {
            panic!("`import -window root` failed: {status}");
        }
    }

    /// Ends the session (which closes the app) and stops the drivers.
    pub async fn close(self) {
        // Closing the session makes WebKitWebDriver close the app; the driver itself is
        // stopped by `Driver::drop`, also when a test panics before getting here.
        let _ = self.client.close().await;
    }
}

/// The tauri-driver process (with WebKitWebDriver beneath it).
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    fn start(name: &str, db: &Path, env: &[(&str, &str)]) -> Driver {
        let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
        std::fs::create_dir_all(&log_dir).expect("the log folder can be created");
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("the log file can be created");
        let err = out.try_clone().expect("the log file handle can be cloned");
        let (port, native_port) = (free_port(), free_port());
        let program = std::env::var_os("TAURI_DRIVER").unwrap_or_else(|| "tauri-driver".into());
        let child = Command::new(&program)
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("IDBULK_DB", db)
            // Software rendering that works under Xvfb, and no accessibility bus to wait for.
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .env("NO_AT_BRIDGE", "1")
            .env("GDK_BACKEND", "x11")
            // Errors without backtraces, so the log stays short enough to read.
            .env("RUST_LIB_BACKTRACE", "0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start {}: {e}. Install it with `scripts/setup` \
                     (cargo install tauri-driver --locked --version ^2).",
                    Path::new(&program).display()
                )
            });
        let driver = Driver { child, port, log };
        // tauri-driver listens at once but forwards to WebKitWebDriver, which takes a moment:
        // a session asked for before both listen fails with "connection refused".
        let deadline = Instant::now() + Duration::from_secs(30);
        for (what, port) in [("tauri-driver", port), ("WebKitWebDriver", native_port)] {
            while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
                if Instant::now() > deadline {
                    panic!("{what} did not listen on port {port} within 30 s");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failed test: show what tauri-driver, WebKitWebDriver and the app said.
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- {} ---\n{log}--- end of log ---", self.log.display());
        }
        // SIGTERM (not Child::kill's SIGKILL): tauri-driver then stops WebKitWebDriver too.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("tauri-driver ignored SIGTERM for 10 s; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a WebDriver session on the app through the tauri-driver listening on `port`.
async fn new_session(port: u16) -> Result<Client, NewSessionError> {
    let capabilities = json!({
        "browserName": "wry",
        "tauri:options": { "application": env!("CARGO_BIN_EXE_idbulk-app") },
    });
    let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
}

/// Runs `request` (which must be safe to ask twice: a lookup, a read) and asks again, a few
/// times, when the connection to the drivers dropped it; `what` names it in the log.
async fn again_if_lost<T>(
    what: &str,
    mut request: impl AsyncFnMut() -> Result<T, CmdError>,
) -> Result<T, CmdError> {
    let mut retries = 0;
    loop {
        match request().await {
            Err(e) if retries < TRANSPORT_RETRIES && lost_in_transport(&e) => {
                retries += 1;
                eprintln!("{what} failed in transport ({e}); again");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            result => return result,
        }
    }
}

/// Whether a command failed on its way to or from the drivers, rather than being answered.
fn lost_in_transport(e: &CmdError) -> bool {
    matches!(e, CmdError::Failed(_) | CmdError::FailedC(_) | CmdError::Lost(_))
}

/// As [`lost_in_transport`], for starting a session.
fn session_lost_in_transport(e: &NewSessionError) -> bool {
    match e {
        NewSessionError::Failed(_) | NewSessionError::FailedC(_) | NewSessionError::Lost(_) => true,
        NewSessionError::UnexpectedError(e) => lost_in_transport(e),
        _ => false,
    }
}

/// A TCP port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// The digits of a count as the UI shows it (`1,234`, `1 234` and `1234` are all 1234).
pub fn parse_count(text: &str) -> u64 {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("`{text}` is not a count"))
}
