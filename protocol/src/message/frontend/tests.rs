//! Table tests for the frontend views: good bodies, every truncation, trailing bytes, bad UTF-8.

use super::*;
use crate::message::tests::{assert_bad_utf8, assert_strict, cat};
use crate::message::{Format, Target};

#[test]
fn query() {
    let q = Query::parse(b"SELECT 1\0").unwrap();
    assert_eq!(q.query(), "SELECT 1");
    assert_strict(|b| Query::parse(b).map(drop), b"SELECT 1\0", "Query");
    assert_bad_utf8(Query::parse(b"SELECT '\xff'\0"), "Query", "query");
}

#[test]
fn parse() {
    let good = cat(&[
        b"s1\0SELECT $1, $2\0",
        &[0, 2],
        &[0, 0, 0, 23],
        &[0, 0, 0, 0],
    ]);
    let p = Parse::parse(&good).unwrap();
    assert_eq!((p.name(), p.query()), ("s1", "SELECT $1, $2"));
    assert_eq!(p.param_types().collect::<Vec<_>>(), [23, 0]);
    assert_eq!(p.param_types().len(), 2);
    assert_strict(|b| Parse::parse(b).map(drop), &good, "Parse");
    assert_bad_utf8(Parse::parse(b"\xc3\0q\0\0\0"), "Parse", "name");
    assert_bad_utf8(Parse::parse(b"\0\xc3\0\0\0"), "Parse", "query");
}

#[test]
fn bind() {
    let good = cat(&[
        b"p1\0s1\0",
        &[0, 1, 0, 1],              // one parameter format: binary for all
        &[0, 3],                    // three parameters
        &[0, 0, 0, 4, 0, 0, 0, 42], // int4 42
        &[0xff, 0xff, 0xff, 0xff],  // NULL
        &[0, 0, 0, 0],              // empty
        &[0, 2, 0, 0, 0, 1],        // result formats: text, binary
    ]);
    let b = Bind::parse(&good).unwrap();
    assert_eq!((b.portal(), b.statement()), ("p1", "s1"));
    assert_eq!(b.param_formats().collect::<Vec<_>>(), [Format::Binary]);
    assert_eq!(b.param_format(2), Some(Format::Binary));
    let params: Vec<_> = b.parameters().collect();
    assert_eq!(params, [Some(&[0, 0, 0, 42][..]), None, Some(&[][..])]);
    assert_eq!(b.parameters().len(), 3);
    assert_eq!(
        b.result_formats().collect::<Vec<_>>(),
        [Format::Text, Format::Binary]
    );
    assert_eq!(b.result_format(1), Some(Format::Binary));
    assert_eq!(b.result_format(2), None);
    assert_strict(|b| Bind::parse(b).map(drop), &good, "Bind");

    let no_formats = Bind::parse(b"\0\0\0\0\0\0\0\0").unwrap();
    assert_eq!(no_formats.param_format(7), Some(Format::Text));
    assert_eq!(no_formats.parameters().next(), None);

    let bad_format = cat(&[b"\0\0", &[0, 1, 0, 2], &[0, 0, 0, 0]]);
    assert_eq!(
        Bind::parse(&bad_format).err(),
        Some(Error::InvalidValue {
            message: "Bind",
            field: "parameter formats",
            value: 2
        })
    );
    let bad_len = cat(&[b"\0\0", &[0, 0, 0, 1], &[0xff, 0xff, 0xff, 0xfe], &[0, 0]]);
    assert_eq!(
        Bind::parse(&bad_len).err(),
        Some(Error::InvalidValue {
            message: "Bind",
            field: "parameter",
            value: -2
        })
    );
    assert_bad_utf8(Bind::parse(b"\xff\0\0\0\0\0\0\0\0"), "Bind", "portal");
}

#[test]
fn describe_and_close() {
    let d = Describe::parse(b"Sstmt\0").unwrap();
    assert_eq!((d.target(), d.name()), (Target::PreparedStatement, "stmt"));
    assert_strict(|b| Describe::parse(b).map(drop), b"Sstmt\0", "Describe");
    assert_eq!(
        Describe::parse(b"Xa\0").err(),
        Some(Error::InvalidValue {
            message: "Describe",
            field: "target",
            value: i64::from(b'X')
        })
    );
    assert_bad_utf8(Describe::parse(b"P\xff\0"), "Describe", "name");

    let c = Close::parse(b"P\0").unwrap();
    assert_eq!((c.target(), c.name()), (Target::Portal, ""));
    assert_strict(|b| Close::parse(b).map(drop), b"Pportal\0", "Close");
    assert_bad_utf8(Close::parse(b"S\xff\0"), "Close", "name");
}

#[test]
fn execute() {
    let e = Execute::parse(b"p\0\0\0\0\x0a").unwrap();
    assert_eq!((e.portal(), e.max_rows()), ("p", 10));
    assert_strict(|b| Execute::parse(b).map(drop), b"p\0\0\0\0\x0a", "Execute");
    assert_bad_utf8(Execute::parse(b"\xff\0\0\0\0\0"), "Execute", "portal");
}

#[test]
fn copy_fail_and_data() {
    assert_eq!(CopyFail::parse(b"oops\0").unwrap().message(), "oops");
    assert_strict(|b| CopyFail::parse(b).map(drop), b"oops\0", "CopyFail");
    assert_bad_utf8(CopyFail::parse(b"\xff\0"), "CopyFail", "message");
    assert_eq!(CopyData::parse(b"1\t2\n").unwrap().data(), b"1\t2\n");
}

#[test]
fn authentication_responses() {
    // Passwords are bytes: a non-UTF-8 password is not an error.
    let p = PasswordMessage::parse(b"s\xffcret\0").unwrap();
    assert_eq!(p.password(), b"s\xffcret");
    assert_strict(
        |b| PasswordMessage::parse(b).map(drop),
        b"secret\0",
        "PasswordMessage",
    );

    let good = cat(&[b"SCRAM-SHA-256\0", &[0, 0, 0, 3], b"n,,"]);
    let s = SaslInitialResponse::parse(&good).unwrap();
    assert_eq!(
        (s.mechanism(), s.data()),
        ("SCRAM-SHA-256", Some(&b"n,,"[..]))
    );
    assert_strict(
        |b| SaslInitialResponse::parse(b).map(drop),
        &good,
        "SASLInitialResponse",
    );
    let none = SaslInitialResponse::parse(b"X\0\xff\xff\xff\xff").unwrap();
    assert_eq!(none.data(), None);
    assert_bad_utf8(
        SaslInitialResponse::parse(b"\xff\0\0\0\0\0"),
        "SASLInitialResponse",
        "mechanism",
    );

    assert_eq!(SaslResponse::parse(b"c=biws").unwrap().data(), b"c=biws");
}

/// A startup packet: length word, version word, then `rest`.
fn startup_packet(version: i32, rest: &[u8]) -> Vec<u8> {
    let len = i32::try_from(8 + rest.len()).unwrap();
    cat(&[&len.to_be_bytes(), &version.to_be_bytes(), rest])
}

/// What a server speaking up to 3.2 answers each request: the version it uses (the older of
/// the two), and whether it owes NegotiateProtocolVersion first (a newer minor was asked for,
/// or any `_pq_.` option), PostgreSQL 18's rule.
#[test]
fn startup_negotiation() {
    /// Minor asked for, the pairs, version served, NegotiateProtocolVersion owed, options.
    type Case = (
        u16,
        &'static [u8],
        ProtocolVersion,
        bool,
        &'static [&'static str],
    );
    let cases: [Case; 7] = [
        (0, b"user\0u\0\0", ProtocolVersion::V3_0, false, &[]),
        (
            1,
            b"user\0u\0\0",
            ProtocolVersion { major: 3, minor: 1 },
            false,
            &[],
        ),
        (2, b"user\0u\0\0", ProtocolVersion::V3_2, false, &[]),
        (3, b"user\0u\0\0", ProtocolVersion::V3_2, true, &[]),
        (9999, b"user\0u\0\0", ProtocolVersion::V3_2, true, &[]),
        (
            0,
            b"user\0u\0_pq_.a\0on\0x\0_pq_.\0_pq_.b\0\0\0",
            ProtocolVersion::V3_0,
            true,
            &["_pq_.a", "_pq_.b"],
        ),
        (
            2,
            b"user\0u\0_pq_x\0on\0\0",
            ProtocolVersion::V3_2,
            false,
            &[],
        ),
    ];
    for (minor, pairs, version, negotiate, options) in cases {
        let packet = startup_packet(3 << 16 | i32::from(minor), pairs);
        let s = StartupMessage::parse(&packet).unwrap();
        let latest = ProtocolVersion::LATEST;
        assert_eq!(s.negotiated_version(latest), version, "3.{minor}");
        assert_eq!(s.needs_negotiation(latest), negotiate, "3.{minor}");
        assert_eq!(s.protocol_options().collect::<Vec<_>>(), options);
        assert_eq!(
            version.variable_secret_key(),
            version >= ProtocolVersion::V3_2
        );
    }
    assert_eq!(ProtocolVersion::V3_2.code(), 196_610);
    assert_eq!(ProtocolVersion::V3_2.to_string(), "3.2");
    assert!(!ProtocolVersion { major: 3, minor: 1 }.variable_secret_key());
}

#[test]
fn startup_message() {
    let packet = startup_packet(196_608, b"user\0alice\0database\0db\0options\0-c x=1\0\0");
    let s = StartupMessage::parse(&packet).unwrap();
    assert_eq!(s.version(), ProtocolVersion::V3_0);
    assert_eq!(
        s.parameters().collect::<Vec<_>>(),
        [("user", "alice"), ("database", "db"), ("options", "-c x=1")]
    );
    assert_eq!((s.user(), s.database()), (Some("alice"), Some("db")));
    assert_eq!(s.get("application_name"), None);

    let packet = startup_packet(196_610, b"\0");
    let minor = StartupMessage::parse(&packet).unwrap();
    assert_eq!(minor.version(), ProtocolVersion { major: 3, minor: 2 });
    assert_eq!(minor.parameters().next(), None);

    assert_eq!(
        StartupMessage::parse(&startup_packet(131_072, b"\0")).err(),
        Some(Error::UnsupportedProtocolVersion { major: 2, minor: 0 })
    );
    // The length word must match the packet.
    let mut short = packet.clone();
    short.pop();
    assert!(matches!(
        StartupMessage::parse(&short),
        Err(Error::InvalidValue {
            field: "length",
            ..
        })
    ));
    assert!(matches!(
        StartupMessage::parse(&startup_packet(196_608, b"user\0alice\0")),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        StartupMessage::parse(&startup_packet(196_608, b"user\0alice\0\0x")),
        Err(Error::TrailingBytes { extra: 1, .. })
    ));
    assert_bad_utf8(
        StartupMessage::parse(&startup_packet(196_608, b"user\0\xff\0\0")),
        "StartupMessage",
        "parameter value",
    );
    assert_eq!(ProtocolVersion::from_code(196_608).code(), 196_608);
}

#[test]
fn dispatch_by_tag() {
    assert!(matches!(
        FrontendMessage::parse(b'Q', b"SELECT 1\0"),
        Ok(FrontendMessage::Query(_))
    ));
    assert!(matches!(
        FrontendMessage::parse(b'p', b"anything"),
        Ok(FrontendMessage::AuthenticationResponse(b"anything"))
    ));
    for (tag, message) in [
        (b'S', "Sync"),
        (b'H', "Flush"),
        (b'X', "Terminate"),
        (b'c', "CopyDone"),
    ] {
        assert!(FrontendMessage::parse(tag, b"").is_ok());
        assert_eq!(
            FrontendMessage::parse(tag, b"x").err(),
            Some(Error::TrailingBytes { message, extra: 1 })
        );
    }
    assert_eq!(
        FrontendMessage::parse(b'Z', b"I").err(),
        Some(Error::UnknownTag {
            tag: b'Z',
            sender: "frontend"
        })
    );
}
