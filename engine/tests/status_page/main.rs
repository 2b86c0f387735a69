//! The status page in a real browser: headless Chromium (Debian's `chromium`) loads `/` from a
//! corepool in front of a real primary and standby, the page must show the node table that
//! `SHOW pool_nodes` shows, without console errors, and must follow a detach made with
//! Debian's `pcp_detach_node`. A screenshot is left in the test's temp dir for docs/img/.

mod cdp;
#[path = "../common/mod.rs"]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corepool_engine::cluster::ShutdownMode;
use corepool_engine::server::{self, ServeOptions};
use corepool_testkit::Cluster;
use serde_json::Value;

use common::{base_config, RawClient};

const PCP_USER: &str = "pcpadmin";
const PCP_PASSWORD: &str = "secret";

/// Clients running statements through the proxy until told to stop (two minutes at most).
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let (mut c, _) = RawClient::connect(port, "postgres", "postgres", &[]);
                    let until = Instant::now() + Duration::from_secs(120);
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        let sql = match n % 10 {
                            0 if i == 0 => "SELECT pg_sleep(0.02)",
                            5 => "SELECT count(*) FROM generate_series(1, 20000)",
                            _ => "SELECT 1",
                        };
                        if c.query(sql).is_empty() {
                            // The backend went away (its node was detached): connect again.
                            c = RawClient::connect(port, "postgres", "postgres", &[]).0;
                        }
                        n += 1;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    c.terminate();
                })
            })
            .collect();
        Load { stop, threads }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// The page's node table: one (id, status, role) per row, as the browser renders it.
fn page_nodes(browser: &mut cdp::Browser) -> Vec<(String, String, String)> {
    let rows = browser.eval(
        "[...document.querySelectorAll('#nodes tbody tr')].map(r => [\
           r.querySelector('td.id').textContent, r.querySelector('td.status').textContent,\
           r.querySelector('td.role').textContent.replace(' ★', '')])",
    );
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let cell = |i: usize| r[i].as_str().unwrap_or_default().to_owned();
            (cell(0), cell(1), cell(2))
        })
        .collect()
}

/// `SHOW pool_nodes` through the proxy: (node_id, status, role) per node.
fn pool_nodes(cluster: &Cluster, port: u16) -> Vec<(String, String, String)> {
    let conninfo = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    let out = cluster
        .psql_command(&conninfo, "SHOW pool_nodes")
        .output()
        .expect("psql");
    let text = corepool_testkit::psql_result(&out).expect("SHOW pool_nodes");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[0].to_owned(), f[3].to_owned(), f[6].to_owned())
        })
        .collect()
}

#[test]
fn the_status_page_shows_the_cluster_and_follows_a_detach() {
    let cluster = Cluster::builder()
        .standbys(1)
        .start()
        .expect("cluster starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics_port = corepool_testkit::free_port();
    let mut config = base_config(&cluster, corepool_testkit::free_port());
    config.logdir = dir.path().display().to_string();
    config.corepool_metrics_address = format!("127.0.0.1:{metrics_port}");
    config.load_balance_mode = true;
    config.health_check.period = Duration::from_secs(1);
    config.health_check.user = "postgres".into();
    config.sr_check_period = Duration::from_secs(1);
    config.pcp_listen_addresses = vec!["127.0.0.1".into()];
    config.pcp_port = 0;
    config.pcp_unix_socket_directories = vec![dir.path().display().to_string()];
    let pcp_conf = dir.path().join("pcp.conf");
    let hash = corepool_protocol::pcp::auth::hash_password(PCP_PASSWORD.as_bytes());
    std::fs::write(&pcp_conf, format!("{PCP_USER}:{}\n", hash.as_str())).expect("pcp.conf");
    let passfile = dir.path().join("pcppass");
    std::fs::write(&passfile, format!("*:*:{PCP_USER}:{PCP_PASSWORD}\n")).expect("pcppass");
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let port = config.port;
    let options = ServeOptions {
        pcp_file: Some(pcp_conf),
        ..ServeOptions::default()
    };
    let running = server::start(config, options).expect("corepool starts");
    let pcp_port = running.bound.pcp.first().expect("PCP listens").port();
    let load = Load::start(port, 4);

    let mut browser = cdp::Browser::start();
    let url = format!("http://127.0.0.1:{metrics_port}/?refresh=500");
    browser.navigate(&url);
    browser.wait_for(
        "three polls of /status.json",
        "Number(document.body.dataset.polls) >= 3",
        Duration::from_secs(30),
    );
    // The page must show what corepool answers in-band. A standby is `waiting` until a session
    // first uses it, so both are read until they agree (the page lags by one poll at most).
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let shown = page_nodes(&mut browser);
        let expected = pool_nodes(&cluster, port);
        if shown == expected {
            break shown;
        }
        assert!(
            Instant::now() < deadline,
            "the page's node table {shown:?} is not SHOW pool_nodes' {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0].2, "primary");
    assert_eq!(shown[1].2, "standby");
    let address =
        browser.eval("document.querySelector('#nodes tbody tr td:nth-child(2)').textContent");
    assert_eq!(
        address,
        Value::String(format!("127.0.0.1:{}", cluster.primary().port()))
    );

    // Let the charts gather some samples under load.
    let polls = browser.eval("Number(document.body.dataset.polls)");
    let target = polls.as_f64().unwrap_or(0.0) + 16.0;
    browser.wait_for(
        "sixteen more polls",
        &format!("Number(document.body.dataset.polls) >= {target}"),
        Duration::from_secs(30),
    );
    let rate = browser.eval(
        "document.querySelector('#nodes tbody tr[data-node=\"0\"] td:nth-child(9)').textContent",
    );
    assert!(
        rate.as_str().and_then(|r| r.parse::<f64>().ok()).is_some(),
        "a statement rate is shown: {rate}"
    );

    // Detach the standby with Debian's PCP tool: the page must follow.
    let out = std::process::Command::new("/usr/sbin/pcp_detach_node")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pcp_port.to_string(),
            "-U",
            PCP_USER,
            "-w",
            "-n",
            "1",
        ])
        .env("PCPPASSFILE", &passfile)
        .output()
        .expect("pcp_detach_node runs");
    assert!(out.status.success(), "{:?}", out);
    browser.wait_for(
        "node 1 down on the page",
        "document.querySelector('#nodes tbody tr[data-node=\"1\"] td.status').textContent === 'down'",
        Duration::from_secs(15),
    );
    browser.wait_for(
        "the detach in the event list",
        "!!document.querySelector('#events li[data-kind=\"node_detached\"]')",
        Duration::from_secs(15),
    );
    let event = browser
        .eval("document.querySelector('#events li[data-kind=\"node_detached\"]').textContent");
    assert!(
        event.as_str().is_some_and(|e| e.contains("node 1")),
        "{event}"
    );
    let (shown, expected) = (page_nodes(&mut browser), pool_nodes(&cluster, port));
    assert_eq!(shown[1], expected[1], "node 1 as SHOW pool_nodes says");
    // A few more samples, so the charts show the detached node's traffic ending.
    let polls = browser
        .eval("Number(document.body.dataset.polls)")
        .as_f64()
        .unwrap_or(0.0);
    browser.wait_for(
        "six more polls",
        &format!("Number(document.body.dataset.polls) >= {}", polls + 6.0),
        Duration::from_secs(15),
    );

    let png = browser.screenshot(1360, 900);
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&shot, &png).expect("write screenshot");
    eprintln!("screenshot: {}", shot.display());

    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(browser);
    load.stop();
    running.state.request_shutdown(ShutdownMode::Fast);
    running.wait().expect("corepool stops");
}
