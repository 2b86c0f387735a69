//! `corepool demo` as a new user meets it: the three commands it prints (psql, `corepool pcp
//! node-info` with the printed PCP user, the status page URL) must work as printed, and Ctrl-C
//! must stop everything and remove the temp dirs.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Splits a printed shell line into its `NAME=value` prefixes and its words (the demo prints
/// no quoting).
fn words(line: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut env = Vec::new();
    let mut args = Vec::new();
    for w in line.split_whitespace() {
        match w.split_once('=') {
            Some((k, v)) if args.is_empty() && k.chars().all(|c| c.is_ascii_uppercase()) => {
                env.push((k.to_owned(), v.to_owned()))
            }
            _ => args.push(w.to_owned()),
        }
    }
    (env, args)
}

#[test]
fn the_demo_prints_three_commands_that_work() {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_corepool"))
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("corepool demo starts");
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in lines.by_ref() {
        let line = line.expect("demo output");
        let done = line.starts_with("Press Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not start: {printed:#?}"
        );
    }
    let text = printed.join("\n");
    let tries: Vec<&str> = printed
        .iter()
        .skip_while(|l| *l != "Try:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.trim())
        .collect();
    assert_eq!(tries.len(), 3, "{text}");
    assert!(text.contains("PCP on 127.0.0.1:"), "{text}");
    assert!(text.contains("user pcpadmin, password "), "{text}");
    let data_dirs: Vec<String> = printed
        .iter()
        .filter_map(|l| l.split("(data: ").nth(1))
        .map(|d| d.trim_end_matches(')').to_owned())
        .collect();
    assert_eq!(data_dirs.len(), 2, "{text}");

    // 1. psql, as printed, with a query added.
    let (_, psql) = words(tries[0]);
    assert_eq!(psql[0], "psql");
    let out = Command::new("psql")
        .args(&psql[1..])
        .args(["-X", "-A", "-t", "-c", "SELECT 1 + 1"])
        .output()
        .expect("psql runs");
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "2", "{text}");

    // 2. corepool pcp node-info, with the printed password file.
    let (env, pcp) = words(tries[1]);
    assert_eq!(env[0].0, "PCPPASSFILE", "{text}");
    assert_eq!(pcp[1..3], ["pcp", "node-info"], "{text}");
    let out = Command::new(&pcp[0])
        .args(&pcp[1..])
        .envs(env)
        .output()
        .expect("corepool pcp runs");
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().count(), 3, "a header and two nodes: {table}");
    assert!(
        table.contains("primary") && table.contains("standby"),
        "{table}"
    );

    // 3. The status page's URL.
    let url = tries[2]
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL");
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).expect("status page address");
    write!(s, "GET / HTTP/1.1\r\nHost: corepool\r\n\r\n").unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("<title>corepool status</title>"));

    // Ctrl-C stops corepool and the servers and removes their directories.
    let rc = Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = demo.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the demo did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    for d in data_dirs {
        assert!(!std::path::Path::new(&d).exists(), "{d} was removed");
    }
}
