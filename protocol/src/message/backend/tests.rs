//! Table tests for the backend views: good bodies, every truncation, trailing bytes, bad UTF-8.

use super::*;
use crate::message::tests::{assert_bad_utf8, assert_strict, cat};
use crate::message::Format;

#[test]
fn authentication() {
    let cases: [(&[u8], i32); 7] = [
        (&[0, 0, 0, 0], 0),
        (&[0, 0, 0, 2], 2),
        (&[0, 0, 0, 3], 3),
        (&[0, 0, 0, 5, 1, 2, 3, 4], 5),
        (&[0, 0, 0, 6], 6),
        (&[0, 0, 0, 7], 7),
        (&[0, 0, 0, 9], 9),
    ];
    for (body, code) in cases {
        assert_eq!(Authentication::parse(body).unwrap().code(), code);
        assert_strict(
            |b| Authentication::parse(b).map(drop),
            body,
            "Authentication",
        );
    }
    assert!(matches!(
        Authentication::parse(&[0, 0, 0, 5, 1, 2, 3, 4]),
        Ok(Authentication::Md5Password { salt: [1, 2, 3, 4] })
    ));

    let sasl = cat(&[&[0, 0, 0, 10], b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"]);
    let Ok(Authentication::Sasl(mechanisms)) = Authentication::parse(&sasl) else {
        panic!("not AuthenticationSASL");
    };
    assert_eq!(
        mechanisms.collect::<Vec<_>>(),
        ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
    );
    assert_strict(
        |b| Authentication::parse(b).map(drop),
        &sasl,
        "Authentication",
    );
    assert_bad_utf8(
        Authentication::parse(b"\0\0\0\x0a\xff\0\0"),
        "Authentication",
        "mechanism",
    );

    for code in [8u8, 11, 12] {
        let body = [0, 0, 0, code, b'r', b'='];
        let auth = Authentication::parse(&body).unwrap();
        assert_eq!(auth.code(), i32::from(code));
        let data = match auth {
            Authentication::GssContinue { data }
            | Authentication::SaslContinue { data }
            | Authentication::SaslFinal { data } => data,
            other => panic!("{other:?}"),
        };
        assert_eq!(data, b"r=");
    }
    assert_eq!(
        Authentication::parse(&[0, 0, 0, 4]).err(),
        Some(Error::UnknownAuthenticationCode { code: 4 })
    );
}

#[test]
fn backend_key_data() {
    let body = [0, 0, 0x30, 0x39, 0xff, 0xff, 0xff, 0xfe];
    assert_eq!(
        BackendKeyData::parse(&body),
        Ok(BackendKeyData {
            process_id: 12345,
            secret_key: &[0xff, 0xff, 0xff, 0xfe]
        })
    );
    // Protocol 3.2: the key is the rest of the body, 4 to 256 bytes (PostgreSQL 18: 32).
    for (key_len, accepted) in [
        (0, false),
        (3, false),
        (4, true),
        (32, true),
        (256, true),
        (257, false),
    ] {
        let key: Vec<u8> = (0..key_len).map(|i| i as u8).collect();
        let body = cat(&[&[0, 0, 0, 9], &key]);
        let got = BackendKeyData::parse(&body);
        if accepted {
            let k = got.unwrap();
            assert_eq!((k.process_id(), k.secret_key()), (9, &key[..]));
        } else {
            assert_eq!(
                got,
                Err(Error::InvalidValue {
                    message: "BackendKeyData",
                    field: "secret key length",
                    value: key_len as i64
                })
            );
        }
    }
    assert!(matches!(
        BackendKeyData::parse(&[0, 0, 0]),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn parameter_status() {
    let body = b"client_encoding\0UTF8\0";
    let p = ParameterStatus::parse(body).unwrap();
    assert_eq!((p.name(), p.value()), ("client_encoding", "UTF8"));
    assert_strict(
        |b| ParameterStatus::parse(b).map(drop),
        body,
        "ParameterStatus",
    );
    assert_bad_utf8(
        ParameterStatus::parse(b"a\0\xff\0"),
        "ParameterStatus",
        "value",
    );
}

#[test]
fn ready_for_query() {
    for (byte, status) in [
        (b'I', TransactionStatus::Idle),
        (b'T', TransactionStatus::InTransaction),
        (b'E', TransactionStatus::Failed),
    ] {
        assert_eq!(
            ReadyForQuery::parse(&[byte]).map(|r| r.status()),
            Ok(status)
        );
        assert_strict(
            |b| ReadyForQuery::parse(b).map(drop),
            &[byte],
            "ReadyForQuery",
        );
    }
    assert_eq!(
        ReadyForQuery::parse(b"X"),
        Err(Error::InvalidValue {
            message: "ReadyForQuery",
            field: "status",
            value: i64::from(b'X')
        })
    );
}

#[test]
fn error_and_notice_response() {
    let body =
        b"SERROR\0VERROR\0C42601\0Msyntax error at or near \"SELEC\"\0P1\0Dd\0Hh\0Fscan.l\0\0";
    let e = ErrorResponse::parse(body).unwrap();
    assert_eq!(e.severity(), Some("ERROR"));
    assert_eq!(e.severity_nonlocalized(), Some("ERROR"));
    assert_eq!(e.code(), Some("42601"));
    assert_eq!(e.message(), Some("syntax error at or near \"SELEC\""));
    assert_eq!(
        (e.detail(), e.hint(), e.position()),
        (Some("d"), Some("h"), Some("1"))
    );
    assert_eq!(e.get(b'F'), Some("scan.l"));
    assert_eq!(e.get(b'W'), None);
    assert_eq!(e.fields().count(), 8);
    assert_strict(|b| ErrorResponse::parse(b).map(drop), body, "ErrorResponse");
    assert_bad_utf8(
        ErrorResponse::parse(b"M\xff\0\0"),
        "ErrorResponse",
        "field value",
    );

    let n = NoticeResponse::parse(b"SNOTICE\0C00000\0Mhi\0\0").unwrap();
    assert_eq!(
        (n.severity(), n.code(), n.message()),
        (Some("NOTICE"), Some("00000"), Some("hi"))
    );
    assert_strict(
        |b| NoticeResponse::parse(b).map(drop),
        b"SNOTICE\0Mhi\0\0",
        "NoticeResponse",
    );
    assert_eq!(NoticeResponse::parse(b"\0").unwrap().fields().next(), None);
}

#[test]
fn row_description() {
    let body = cat(&[
        &[0, 2],
        b"id\0",
        &[
            0, 0, 0x40, 0x01, 0, 1, 0, 0, 0, 23, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0,
        ],
        b"name\0",
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0, 0, 0, 0, 0, 1],
    ]);
    let r = RowDescription::parse(&body).unwrap();
    let fields: Vec<_> = r.fields().collect();
    assert_eq!(
        fields,
        [
            FieldDescription {
                name: "id",
                table_oid: 0x4001,
                column_id: 1,
                type_oid: 23,
                type_size: 4,
                type_modifier: -1,
                format: Format::Text,
            },
            FieldDescription {
                name: "name",
                table_oid: 0,
                column_id: 0,
                type_oid: 25,
                type_size: -1,
                type_modifier: 0,
                format: Format::Binary,
            },
        ]
    );
    assert_eq!(r.fields().len(), 2);
    assert_strict(
        |b| RowDescription::parse(b).map(drop),
        &body,
        "RowDescription",
    );
    assert_bad_utf8(
        RowDescription::parse(&cat(&[&[0, 1], b"\xff\0", &[0; 18]])),
        "RowDescription",
        "field name",
    );
    let bad_format = cat(&[&[0, 1], b"x\0", &[0; 16], &[0, 9]]);
    assert!(matches!(
        RowDescription::parse(&bad_format),
        Err(Error::InvalidValue {
            field: "format",
            value: 9,
            ..
        })
    ));
}

#[test]
fn data_row() {
    let body = cat(&[&[0, 3], &[0, 0, 0, 3], b"abc", &[0xff; 4], &[0, 0, 0, 0]]);
    let row = DataRow::parse(&body).unwrap();
    assert_eq!((row.len(), row.is_empty()), (3, false));
    assert_eq!(
        row.values().collect::<Vec<_>>(),
        [Some(&b"abc"[..]), None, Some(&[][..])]
    );
    assert_eq!(
        row.ranges().collect::<Vec<_>>(),
        [Some(6..9), None, Some(17..17)]
    );
    assert_eq!(row.values().len(), 3);
    assert_strict(|b| DataRow::parse(b).map(drop), &body, "DataRow");
    assert!(DataRow::parse(&[0, 0]).unwrap().is_empty());
    assert_eq!(
        DataRow::parse(&[0, 1, 0xff, 0xff, 0xff, 0xfe]),
        Err(Error::InvalidValue {
            message: "DataRow",
            field: "column",
            value: -2
        })
    );
}

#[test]
fn command_complete() {
    for (tag, rows) in [
        ("INSERT 0 5", Some(5)),
        ("SELECT 10", Some(10)),
        ("CREATE TABLE", None),
        ("BEGIN", None),
    ] {
        let body = cat(&[tag.as_bytes(), b"\0"]);
        let c = CommandComplete::parse(&body).unwrap();
        assert_eq!((c.tag(), c.rows()), (tag, rows));
        assert_strict(
            |b| CommandComplete::parse(b).map(drop),
            &body,
            "CommandComplete",
        );
    }
    assert_bad_utf8(CommandComplete::parse(b"\xff\0"), "CommandComplete", "tag");
}

#[test]
fn parameter_description() {
    let body = [0, 2, 0, 0, 0, 23, 0, 0, 0, 25];
    let p = ParameterDescription::parse(&body).unwrap();
    assert_eq!(p.types().collect::<Vec<_>>(), [23, 25]);
    assert_strict(
        |b| ParameterDescription::parse(b).map(drop),
        &body,
        "ParameterDescription",
    );
}

#[test]
fn notification_response() {
    let body = cat(&[&[0, 0, 0, 7], b"chan\0payload\0"]);
    let n = NotificationResponse::parse(&body).unwrap();
    assert_eq!(
        (n.process_id(), n.channel(), n.payload()),
        (7, "chan", "payload")
    );
    assert_strict(
        |b| NotificationResponse::parse(b).map(drop),
        &body,
        "NotificationResponse",
    );
    assert_bad_utf8(
        NotificationResponse::parse(b"\0\0\0\x07c\0\xff\0"),
        "NotificationResponse",
        "payload",
    );
}

#[test]
fn negotiate_protocol_version() {
    let body = cat(&[&[0, 0, 0, 0, 0, 0, 0, 2], b"_pq_.a\0_pq_.b\0"]);
    let n = NegotiateProtocolVersion::parse(&body).unwrap();
    assert_eq!(n.newest_minor(), 0);
    assert_eq!(n.version(), ProtocolVersion { major: 0, minor: 0 });
    // As PostgreSQL sends it: a version word.
    let latest = NegotiateProtocolVersion::parse(&[0, 3, 0, 2, 0, 0, 0, 0]).unwrap();
    assert_eq!(latest.version(), ProtocolVersion::V3_2);
    assert_eq!(latest.unrecognized_options().count(), 0);
    assert_eq!(
        n.unrecognized_options().collect::<Vec<_>>(),
        ["_pq_.a", "_pq_.b"]
    );
    assert_strict(
        |b| NegotiateProtocolVersion::parse(b).map(drop),
        &body,
        "NegotiateProtocolVersion",
    );
    assert!(matches!(
        NegotiateProtocolVersion::parse(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        Err(Error::InvalidValue { value: -1, .. })
    ));
    assert_bad_utf8(
        NegotiateProtocolVersion::parse(b"\0\0\0\0\0\0\0\x01\xff\0"),
        "NegotiateProtocolVersion",
        "option",
    );
}

/// What a client that asked for 3.2 (and no options) makes of each answer.
#[test]
fn negotiate_protocol_version_accepted() {
    let v3_2 = ProtocolVersion::V3_2;
    let cases: [(&[u8], Option<ProtocolVersion>); 7] = [
        (&[0, 3, 0, 0, 0, 0, 0, 0], Some(ProtocolVersion::V3_0)),
        (&[0, 3, 0, 2, 0, 0, 0, 0], Some(v3_2)),
        (&[0, 3, 0, 1, 0, 0, 0, 0], None),
        (&[0, 3, 0, 3, 0, 0, 0, 0], None),
        (&[0, 2, 0, 0, 0, 0, 0, 0], None),
        (&[0, 0, 0, 0, 0, 0, 0, 0], None),
        (b"\0\x03\0\0\0\0\0\x01_pq_.x\0", None),
    ];
    for (body, expected) in cases {
        let n = NegotiateProtocolVersion::parse(body).unwrap();
        assert_eq!(n.accepted_version(v3_2).ok(), expected, "{body:?}");
    }
    // A 3.0 client is never moved up.
    let n = NegotiateProtocolVersion::parse(&[0, 3, 0, 2, 0, 0, 0, 0]).unwrap();
    assert!(n.accepted_version(ProtocolVersion::V3_0).is_err());
}

#[test]
fn copy_response_and_function_call_response() {
    let body = [1, 0, 2, 0, 1, 0, 1];
    let c = CopyResponse::parse(&body).unwrap();
    assert_eq!(c.format(), Format::Binary);
    assert_eq!(c.column_formats().collect::<Vec<_>>(), [Format::Binary; 2]);
    assert_strict(|b| CopyResponse::parse(b).map(drop), &body, "CopyResponse");
    assert!(matches!(
        CopyResponse::parse(&[2, 0, 0]),
        Err(Error::InvalidValue {
            field: "format",
            value: 2,
            ..
        })
    ));

    let f = FunctionCallResponse::parse(&[0, 0, 0, 1, 9]).unwrap();
    assert_eq!(f.result(), Some(&[9][..]));
    assert_strict(
        |b| FunctionCallResponse::parse(b).map(drop),
        &[0, 0, 0, 1, 9],
        "FunctionCallResponse",
    );
    assert_eq!(
        FunctionCallResponse::parse(&[0xff; 4]).unwrap().result(),
        None
    );
}

#[test]
fn dispatch_by_tag() {
    assert!(matches!(
        BackendMessage::parse(b'Z', b"I"),
        Ok(BackendMessage::ReadyForQuery(ReadyForQuery {
            status: TransactionStatus::Idle
        }))
    ));
    let empty = [
        (b'1', "ParseComplete"),
        (b'2', "BindComplete"),
        (b'3', "CloseComplete"),
        (b'n', "NoData"),
        (b's', "PortalSuspended"),
        (b'I', "EmptyQueryResponse"),
        (b'c', "CopyDone"),
    ];
    for (tag, message) in empty {
        assert!(BackendMessage::parse(tag, b"").is_ok());
        assert_eq!(
            BackendMessage::parse(tag, b"x").err(),
            Some(Error::TrailingBytes { message, extra: 1 })
        );
    }
    assert_eq!(
        BackendMessage::parse(b'Q', b"").err(),
        Some(Error::UnknownTag {
            tag: b'Q',
            sender: "backend"
        })
    );
}
