//! End-to-end tests: the real app (built with `--features custom-protocol`, so it serves the
//! built UI) driven through `tauri-driver` and WebKitWebDriver, as a person would use it.
//!
//! Every test is `#[ignore]`d: it needs a display (Xvfb), `ui/dist` and `tauri-driver`, which
//! `scripts/test` provides, running them one at a time (`--test-threads=1`: several webviews
//! starting at once on one display and two cores time out). Run them by hand with:
//!
//! ```text
//! scripts/test            # everything, e2e last
//! (cd ui && npm run build)
//! xvfb-run -a -s '-screen 0 1280x800x24' cargo test --workspace \
//!     --features idbulk-app/custom-protocol --test e2e -- --ignored --test-threads=1
//! ```
//!
//! Each test starts the app on its own temporary repository (`IDBULK_DB`), never the user's.
//! Logs of tauri-driver, WebKitWebDriver and the app land in `target/tmp/e2e/<test>.log` and
//! are printed when a test fails.
//!
//! Why fantoccini (a Rust WebDriver client) rather than WebdriverIO: the tests read the
//! expected numbers straight from the repository through the engine, share the workspace's
//! build and lock file, and add no second npm tree (WebdriverIO brings hundreds of packages and
//! its own process launcher, with more ways to leave orphans behind).
//!
//! # Contents
//!
//! - [`harness`]: start and stop tauri-driver and the app, find elements, take screenshots.
//! - [`home`]: the app opens on a fresh demo repository and Home shows what it holds.
//! - [`procedure`]: the seed procedure, template to undo, in the window.
//! - [`screenshots`]: pictures of each screen for the docs (run by `scripts/screenshots`).
//! - [`preview_bench`]: the preview of a 100,000-change plan, timed in the web view (run by
//!   `scripts/bench-preview`).

mod harness;
mod home;
mod preview_bench;
mod procedure;
mod screenshots;
