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
