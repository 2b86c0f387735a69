//! pool_hba.conf parsing and first-match tests.

use super::*;

const SAMPLE: &str = "\
# Debian's pool_hba.conf.sample records
local   all         all                               trust
host    all         all         127.0.0.1/32          trust
host    all         all         ::1/128               trust
";

fn hba(text: &str) -> HbaFile {
    HbaFile::parse(text, Path::new("pool_hba.conf")).unwrap()
}

fn parse_err(text: &str) -> String {
    HbaFile::parse(text, Path::new("pool_hba.conf"))
        .unwrap_err()
        .to_string()
}

fn tcp<'a>(addr: &str, ssl: bool, database: &'a str, user: &'a str) -> ConnInfo<'a> {
    ConnInfo {
        local: false,
        ssl,
        addr: Some(addr.parse().unwrap()),
        database,
        user,
    }
}

fn unix<'a>(database: &'a str, user: &'a str) -> ConnInfo<'a> {
    ConnInfo {
        local: true,
        ssl: false,
        addr: None,
        database,
        user,
    }
}

#[test]
fn debian_sample_trusts_local_and_loopback_only() {
    let file = hba(SAMPLE);
    assert_eq!(file.rules().len(), 3);
    assert_eq!(file.check(&unix("db", "u")).map(|r| r.line), Some(2));
    assert_eq!(
        file.check(&tcp("127.0.0.1", false, "db", "u"))
            .map(|r| r.line),
        Some(3)
    );
    assert_eq!(
        file.check(&tcp("::1", true, "db", "u")).map(|r| r.line),
        Some(4)
    );
    assert_eq!(file.check(&tcp("10.0.0.1", false, "db", "u")), None);
    assert_eq!(
        file.method_for(&tcp("10.0.0.1", false, "db", "u")),
        Method::Reject
    );
}

#[test]
fn debian_sample_file_parses() {
    let text = include_str!("../../../tests/fixtures/pool_hba.conf.sample");
    let strip = |f: HbaFile| -> Vec<_> {
        f.rules()
            .iter()
            .map(|r| (r.conn_type, r.address.clone(), r.method))
            .collect()
    };
    assert_eq!(strip(hba(text)), strip(hba(SAMPLE)));
}

#[test]
fn first_match_wins_with_no_fall_through() {
    let file = hba("\
hostssl  all      all      0.0.0.0/0        cert
host     sales    alice    10.1.0.0/16      md5
host     sales    all      10.1.0.0/16      reject
host     all      bob,carol 10.0.0.0/8      scram-sha-256
hostnossl all     all      192.168.0.0 255.255.0.0 password
host     sameuser all      samenet          trust
host     \"all\"  all      all              md5
local    all      all                       scram-sha-256
");
    let table: &[(ConnInfo<'_>, Option<(usize, Method)>)] = &[
        (
            tcp("10.1.2.3", true, "sales", "alice"),
            Some((1, Method::Cert)),
        ),
        (
            tcp("10.1.2.3", false, "sales", "alice"),
            Some((2, Method::Md5)),
        ),
        (
            tcp("10.1.2.3", false, "sales", "bob"),
            Some((3, Method::Reject)),
        ),
        (
            tcp("10.9.2.3", false, "sales", "bob"),
            Some((4, Method::ScramSha256)),
        ),
        (tcp("10.9.2.3", false, "sales", "dave"), None),
        (
            tcp("192.168.7.7", false, "x", "dave"),
            Some((5, Method::Password)),
        ),
        (
            tcp("192.168.7.7", true, "x", "dave"),
            Some((1, Method::Cert)),
        ),
        (
            tcp("172.16.0.1", false, "all", "dave"),
            Some((7, Method::Md5)),
        ),
        (tcp("172.16.0.1", false, "other", "dave"), None),
        (unix("anything", "anyone"), Some((8, Method::ScramSha256))),
    ];
    for (conn, expected) in table {
        let got = file.check(conn).map(|r| (r.line, r.method));
        assert_eq!(got, *expected, "{conn:?}");
    }
}

#[test]
fn samenet_and_sameuser_use_interfaces_and_names() {
    let file =
        hba("host sameuser all samenet trust\nhost all all samehost md5\n").with_interfaces(vec![
            Interface {
                addr: "10.0.0.5".parse().unwrap(),
                netmask: "255.255.255.0".parse().unwrap(),
            },
        ]);
    assert_eq!(
        file.method_for(&tcp("10.0.0.9", false, "ann", "ann")),
        Method::Trust
    );
    assert_eq!(
        file.method_for(&tcp("10.0.0.9", false, "db", "ann")),
        Method::Reject
    );
    assert_eq!(
        file.method_for(&tcp("10.0.0.5", false, "db", "ann")),
        Method::Md5
    );
    assert_eq!(
        file.method_for(&tcp("10.0.1.9", false, "ann", "ann")),
        Method::Reject
    );
    let without = hba("host all all samehost trust\n");
    assert_eq!(
        without.method_for(&tcp("127.0.0.1", false, "d", "u")),
        Method::Reject
    );
}

#[test]
fn names_are_case_sensitive_and_quoted_keywords_are_names() {
    let file = hba("local \"All\",Sales all trust\nlocal all \"all\" md5\n");
    assert_eq!(file.method_for(&unix("All", "u")), Method::Trust);
    assert_eq!(file.method_for(&unix("Sales", "u")), Method::Trust);
    assert_eq!(file.method_for(&unix("sales", "u")), Method::Reject);
    assert_eq!(file.method_for(&unix("sales", "all")), Method::Md5);
}

#[test]
fn ipv4_mapped_clients_match_ipv4_rules() {
    let file = hba("host all all 127.0.0.0/8 trust\n");
    assert_eq!(
        file.method_for(&tcp("::ffff:127.0.0.1", false, "d", "u")),
        Method::Trust
    );
}

#[test]
fn errors_name_file_and_line() {
    let cases: &[(&str, &str)] = &[
        (
            "\nhots all all 1.2.3.4/32 trust",
            "pool_hba.conf:2: invalid connection type \"hots\"",
        ),
        (
            "host all all 1.2.3.4/32 pam",
            "pool_hba.conf:1: authentication method \"pam\" is not supported by corepool",
        ),
        (
            "host all all 1.2.3.4/32 ldap ldapserver=x",
            "authentication method \"ldap\" is not supported",
        ),
        ("local all all gss", "invalid authentication method \"gss\""),
        ("local all all", "missing authentication method field"),
        ("host all all", "missing address field"),
        ("host all", "missing user field"),
        ("host all all 1.2.3.4/33 trust", "invalid CIDR mask"),
        ("host all all 1.2.3.4 trust", "invalid IP mask \"trust\""),
        ("host all all 1.2.3.4", "neither /masklen nor a mask field"),
        (
            "host all all db.example.com md5",
            "host name \"db.example.com\"",
        ),
        (
            "host all all 1.2.3.4/32 md5 clientcert=1",
            "unrecognized authentication option",
        ),
        ("host all all 1.2.3.4/32 cert", "only supported on hostssl"),
        ("local all +admins trust", "+group membership"),
        ("local @dbs all trust", "@file inclusion"),
        ("local replication all trust", "\"replication\""),
        (
            "local \"unterminated all trust",
            "unterminated quoted string",
        ),
        (
            "host,local all all trust",
            "multiple values in the connection type field",
        ),
    ];
    for (text, expected) in cases {
        let err = parse_err(text);
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}

#[test]
fn invalid_utf8_and_missing_files_are_errors() {
    let err =
        crate::auth::line_file::parse(b"local all \xff trust\n", Path::new("f"), super::parse_line)
            .unwrap_err();
    assert_eq!(err.to_string(), "f:1: line is not valid UTF-8");
    let err = HbaFile::load(Path::new("/nonexistent/pool_hba.conf")).unwrap_err();
    assert!(matches!(err, HbaError::Read { .. }));
}
