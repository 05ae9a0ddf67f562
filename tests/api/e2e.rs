//! The web client and the admin page in real headless Chromium (Debian's `chromium`, driven by
//! the npm package `playwright-core`): each test starts a real server and runs one scenario of
//! `tests/e2e/run.mjs` against it, forwarding its output. Screenshots land in
//! `target/e2e-screenshots/`. `tests/run.sh` installs Chromium and the npm packages when they
//! are missing; without them these tests fail, they never skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::common::{app, TestApp};

/// Browsers are heavy: one scenario at a time, whatever the test runner's parallelism.
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::const_new(());
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

fn chromium() -> PathBuf {
    std::env::var_os("E2E_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

async fn run_in_chromium(app: &TestApp, scenario: &str) {
    let dir = e2e_dir();
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is not installed: run `npm ci` in tests/e2e (tests/run.sh does)"
    );
    assert!(
        chromium().exists(),
        "no Chromium at {}: `apt-get install chromium` (tests/run.sh does) or set E2E_CHROMIUM",
        chromium().display()
    );
    let _browser = ONE_BROWSER_AT_A_TIME.lock().await;
    let child = tokio::process::Command::new("node")
        .arg(dir.join("run.mjs"))
        .arg(scenario)
        .arg(&app.address)
        .env("ADMIN_TOKEN", &app.settings.admin_token)
        .env("E2E_CHROMIUM", chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts (is Node.js installed?)");
    let output = tokio::time::timeout(SCENARIO_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the {scenario} scenario took over {SCENARIO_LIMIT:?}"))
        .expect("the scenario's output is readable");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the {scenario} scenario failed ({}); its output is above",
        output.status
    );
}

#[actix_rt::test]
async fn tic_tac_toe_is_played_watched_chatted_and_resumed_in_chromium() {
    let app = app().spawn().await;
    run_in_chromium(&app, "tictactoe").await;
}

#[actix_rt::test]
async fn the_admin_page_shows_rooms_and_flushes_the_archive_in_chromium() {
    let app = app()
        .env("ARCHIVE_FLUSH_INTERVAL", "3600")
        .env("ARCHIVE_BATCH_SIZE", "100")
        .spawn()
        .await;
    run_in_chromium(&app, "admin").await;
}

#[actix_rt::test]
async fn snake_is_steered_by_keyboard_and_touch_and_watched_in_chromium() {
    let app = app().spawn().await;
    run_in_chromium(&app, "snake").await;
}

#[actix_rt::test]
async fn a_turn_timer_counts_down_and_forfeits_in_chromium() {
    let app = app().spawn().await;
    run_in_chromium(&app, "timer").await;
}

#[actix_rt::test]
async fn crazy_eights_is_played_to_the_end_and_resumed_in_chromium() {
    let app = app().spawn().await;
    run_in_chromium(&app, "crazy_eights").await;
}
