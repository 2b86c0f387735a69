//! The Prometheus endpoint against real traffic: statements, bytes, latency, sessions, health.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{first_value, Proxy, RawClient};

fn scrape(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: corepool\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn value(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_follow_the_traffic() {
    let port = corepool_testkit::free_port();
    let proxy = Proxy::start(1, |c, _| {
        c.corepool_metrics_address = format!("127.0.0.1:{port}");
        c.load_balance_mode = true;
    });
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    for _ in 0..20 {
        assert_eq!(first_value(&a.query("SELECT 1")).as_deref(), Some("1"));
    }
    a.query("CREATE TABLE m (x int)");
    a.query("INSERT INTO m VALUES (1)");
    a.query("SELECT 1/0");
    let body = scrape(addr, "/metrics");
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    let selects: f64 = (0..2)
        .filter_map(|n| {
            value(
                &body,
                &format!("corepool_statements_total{{node=\"{n}\",kind=\"select\"}}"),
            )
        })
        .sum();
    assert!(selects >= 20.0, "{body}");
    assert_eq!(
        value(
            &body,
            "corepool_statements_total{node=\"0\",kind=\"insert\"}"
        ),
        Some(1.0),
        "{body}"
    );
    let errors: f64 = (0..2)
        .filter_map(|n| {
            value(
                &body,
                &format!("corepool_backend_errors_total{{node=\"{n}\",severity=\"error\"}}"),
            )
        })
        .sum();
    assert_eq!(errors, 1.0, "{body}");
    assert!(
        value(
            &body,
            "corepool_bytes_total{direction=\"backend_to_client\"}"
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        value(&body, "corepool_client_sessions"),
        Some(1.0),
        "{body}"
    );
    let requests: f64 = (0..2)
        .filter_map(|n| {
            value(
                &body,
                &format!("corepool_request_duration_seconds_count{{node=\"{n}\"}}"),
            )
        })
        .sum();
    assert!(requests >= 20.0, "{body}");
    assert_eq!(value(&body, "corepool_node_primary{node=\"0\"}"), Some(1.0));
    assert!(body.contains("corepool_health_checks_total"));
    assert!(scrape(addr, "/other").starts_with("HTTP/1.1 404"));
}

/// Label names on the samples of each metric family in a scrape (sample name → labels).
fn sample_labels(
    text: &str,
) -> std::collections::HashMap<String, std::collections::HashSet<String>> {
    let mut out: std::collections::HashMap<_, std::collections::HashSet<String>> =
        std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..name_end].to_owned()).or_default();
        if let Some(inner) = line[name_end..]
            .strip_prefix('{')
            .and_then(|r| r.split('}').next())
        {
            for pair in inner.split(',').filter(|p| !p.is_empty()) {
                labels.insert(pair.split('=').next().unwrap_or_default().to_owned());
                labels.insert(pair.to_owned());
            }
        }
    }
    out
}

/// Every PromQL expression of the Grafana dashboard (panels and template variables).
fn dashboard_queries() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contrib/grafana/corepool-dashboard.json"
    );
    let text = std::fs::read_to_string(path).expect("the dashboard is in contrib/grafana");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if let Some(q) = var["query"]["query"].as_str() {
            queries.push(q.to_owned());
        }
    }
    queries
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_that_exist() {
    let port = corepool_testkit::free_port();
    let proxy = Proxy::start(1, |c, _| {
        c.corepool_metrics_address = format!("127.0.0.1:{port}");
        c.load_balance_mode = true;
        // Transaction pooling too, so its families have samples to match.
        c.pooling.pool_mode = corepool_engine::config::PoolMode::Transaction;
    });
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    a.query("SELECT 1");
    // The shards publish their transaction pools at their next tick.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let body = scrape(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        "/metrics",
    );
    let samples = sample_labels(&body);
    let metric = regex::Regex::new(r"\bcorepool_[a-z0-9_]+").unwrap();
    let matcher = regex::Regex::new(r#"([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)""#).unwrap();
    let grouping = regex::Regex::new(r"\bby\s*\(([^)]*)\)").unwrap();
    let queries = dashboard_queries();
    assert!(queries.len() >= 20, "{queries:?}");
    let mut checked = std::collections::HashSet::new();
    for q in &queries {
        let names: Vec<&str> = metric.find_iter(q).map(|m| m.as_str()).collect();
        assert!(!names.is_empty(), "no corepool metric in {q}");
        let mut labels = std::collections::HashSet::new();
        for name in &names {
            let have = samples
                .get(*name)
                .unwrap_or_else(|| panic!("{name} (in {q}) is not in /metrics:\n{body}"));
            labels.extend(have.iter().cloned());
            checked.insert(name.to_string());
        }
        // `instance` and `job` are added by Prometheus when it scrapes.
        let added_by_prometheus = |l: &str| l == "instance" || l == "job";
        for m in matcher.captures_iter(q) {
            let (label, op, value) = (&m[1], &m[2], &m[3]);
            if added_by_prometheus(label) {
                continue;
            }
            if op == "=" {
                assert!(
                    labels.contains(&format!("{label}=\"{value}\"")),
                    "{label}=\"{value}\" (in {q}) matches no sample"
                );
            } else {
                assert!(
                    labels.contains(label),
                    "label {label} (in {q}) is on no sample"
                );
            }
        }
        for g in grouping.captures_iter(q) {
            for label in g[1].split(',').map(str::trim).filter(|l| !l.is_empty()) {
                assert!(
                    added_by_prometheus(label) || labels.contains(label),
                    "grouping label {label} (in {q}) is on no sample of {names:?}"
                );
            }
        }
    }
    // Every family corepool exports is on the dashboard.
    for line in body.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let family = line.split(' ').next().unwrap_or_default();
        assert!(
            checked.iter().any(|c| c.starts_with(family)),
            "{family} is exported but not on the dashboard"
        );
    }
}

#[test]
fn status_json_reads_the_running_proxy() {
    let port = corepool_testkit::free_port();
    let proxy = Proxy::start(1, |c, _| {
        c.corepool_metrics_address = format!("127.0.0.1:{port}");
    });
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    for _ in 0..5 {
        a.query("SELECT 1");
    }
    let reply = scrape(addr, "/status.json?t=1");
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.contains("Content-Type: application/json"), "{reply}");
    let body = reply.split("\r\n\r\n").nth(1).expect("body");
    let doc: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(doc["primary"], 0);
    let nodes = doc["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["port"], proxy.cluster.primary().port());
    assert_eq!(nodes[0]["role"], "primary");
    let selects: u64 = nodes
        .iter()
        .map(|n| n["statements"]["select"].as_u64().unwrap())
        .sum();
    assert!(selects >= 5, "{doc}");
    let requests: u64 = nodes
        .iter()
        .map(|n| n["latency"]["count"].as_u64().unwrap())
        .sum();
    assert!(requests >= 5, "{doc}");
    assert_eq!(doc["pools"]["client_sessions"], 1);
    assert_eq!(doc["pools"]["backends_active"], 1);
    assert_eq!(doc["pools"]["mode"], "session");
    assert!(doc["pools"]["clients_waiting_for_backend"].is_null());
    assert!(doc["events"].as_array().expect("events").is_empty());
    let page = scrape(addr, "/");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("Content-Security-Policy: default-src 'none'"));
    assert!(page.contains("<title>corepool status</title>"));
}
