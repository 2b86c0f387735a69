//! Shared test helpers, and property tests: every writer's output frames and parses back to the
//! values written, and no input makes a parser panic.

use std::fmt::Debug;

use bytes::BytesMut;
use proptest::prelude::*;

use super::backend::{self, BackendMessage, FieldDescription};
use super::frontend::{self, FrontendMessage, ProtocolVersion, StartupMessage};
use super::tags::MAX_SECRET_KEY_LEN;
use super::write::backend::{ErrorData, Severity};
use super::write::{backend as wb, frontend as wf};
use super::{Format, Target, TransactionStatus};
use crate::framing::{split_frame, split_startup, Frame, Limits, StartupFrame};
use crate::Error;

/// Concatenates byte pieces into one body.
pub(crate) fn cat(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

/// Checks that `good` parses, that every proper prefix is `Truncated` and that one extra byte is
/// `TrailingBytes`, all naming `message`. Returns the parse of `good`.
pub(crate) fn assert_strict(
    parse: impl Fn(&[u8]) -> Result<(), Error>,
    good: &[u8],
    message: &'static str,
) {
    if let Err(e) = parse(good) {
        panic!("{message}: good body rejected: {e}");
    }
    for cut in 0..good.len() {
        match parse(&good[..cut]) {
            Err(Error::Truncated { message: m, .. }) if m == message => {}
            other => panic!("{message}: prefix of {cut} bytes gave {other:?}"),
        }
    }
    let mut long = good.to_vec();
    long.push(b'x');
    match parse(&long) {
        Err(Error::TrailingBytes {
            message: m,
            extra: 1,
        }) if m == message => {}
        other => panic!("{message}: one trailing byte gave {other:?}"),
    }
}

/// Checks that `body` fails with InvalidUtf8 on `field`.
pub(crate) fn assert_bad_utf8<T: Debug>(
    result: Result<T, Error>,
    message: &'static str,
    field: &'static str,
) {
    assert_eq!(
        result.map(|_| ()),
        Err(Error::InvalidUtf8 { message, field })
    );
}

/// Splits the one frame `buf` must hold.
fn one_frame(buf: &mut BytesMut) -> Frame {
    let frame = split_frame(buf, &Limits::default())
        .expect("valid header")
        .expect("whole frame");
    assert!(buf.is_empty(), "writer wrote more than one frame");
    frame
}

/// Frames and parses the one backend message in `buf`, then hands it to `check`.
fn backend_round_trip(mut buf: BytesMut, check: impl FnOnce(BackendMessage<'_>)) {
    let frame = one_frame(&mut buf);
    check(BackendMessage::parse(frame.tag(), frame.body()).expect("writer output parses"));
}

/// Frames and parses the one frontend message in `buf`, then hands it to `check`.
fn frontend_round_trip(mut buf: BytesMut, check: impl FnOnce(FrontendMessage<'_>)) {
    let frame = one_frame(&mut buf);
    check(FrontendMessage::parse(frame.tag(), frame.body()).expect("writer output parses"));
}

/// A string the protocol can carry: no NUL.
fn text() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,24}"
}

/// A non-empty string without NUL.
fn name() -> impl Strategy<Value = String> {
    "[^\u{0}]{1,24}"
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::Text), Just(Format::Binary)]
}

fn value() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32))
}

fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![
        Just(Severity::Error),
        Just(Severity::Fatal),
        Just(Severity::Panic),
        Just(Severity::Warning),
        Just(Severity::Notice),
        Just(Severity::Debug),
        Just(Severity::Info),
        Just(Severity::Log),
    ]
}

/// Runs every parser on `body` and drains every iterator of what parses; must never panic.
fn parse_everything(tag: u8, body: &[u8]) {
    if let Ok(message) = FrontendMessage::parse(tag, body) {
        match message {
            FrontendMessage::Bind(b) => {
                let n = b.parameters().count();
                assert_eq!(n, b.parameters().len());
                let _ = (
                    b.param_formats().count(),
                    b.result_formats().count(),
                    b.param_format(n),
                );
            }
            FrontendMessage::Parse(p) => assert_eq!(p.param_types().count(), p.param_types().len()),
            _ => {}
        }
    }
    let _ = frontend::PasswordMessage::parse(body);
    let _ = frontend::SaslInitialResponse::parse(body);
    if let Ok(startup) = StartupMessage::parse(body) {
        let _ = (startup.parameters().count(), startup.user());
    }
    if let Ok(message) = BackendMessage::parse(tag, body) {
        match message {
            BackendMessage::DataRow(row) => {
                assert_eq!(row.values().count(), row.len());
                assert_eq!(
                    row.ranges()
                        .flatten()
                        .filter(|r| body.get(r.clone()).is_none())
                        .count(),
                    0
                );
            }
            BackendMessage::RowDescription(r) => assert_eq!(r.fields().count(), r.fields().len()),
            BackendMessage::ErrorResponse(e) => {
                let _ = (e.fields().count(), e.code(), e.message());
            }
            BackendMessage::NoticeResponse(n) => {
                let _ = (n.fields().count(), n.severity());
            }
            BackendMessage::Authentication(backend::Authentication::Sasl(m)) => {
                let _ = m.count();
            }
            BackendMessage::NegotiateProtocolVersion(n) => {
                let _ = n.unrecognized_options().count();
            }
            BackendMessage::CopyInResponse(c) => {
                let _ = c.column_formats().count();
            }
            _ => {}
        }
    }
}

proptest! {
    #[test]
    fn parsers_never_panic(tag in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
        parse_everything(tag, &body);
    }

    /// Bodies built from plausible pieces reach deeper than random bytes.
    #[test]
    fn parsers_never_panic_on_structured_bodies(
        tag in prop::sample::select(b"BCDEFHPQSXcdfp123AEGHIKNRSTVWZcdnstv".to_vec()),
        pieces in proptest::collection::vec(prop_oneof![
            Just(vec![0u8]),
            Just(vec![0u8, 0, 0, 0]),
            Just(vec![0xffu8, 0xff, 0xff, 0xff]),
            Just(vec![0u8, 1]),
            Just(vec![0u8, 2]),
            Just(b"S".to_vec()),
            Just(b"abc\0".to_vec()),
            Just(vec![0xc3u8]),
            proptest::collection::vec(any::<u8>(), 0..6),
        ], 0..12),
    ) {
        parse_everything(tag, &pieces.concat());
    }

    #[test]
    fn startup_message_round_trips(params in proptest::collection::vec((name(), text()), 0..8)) {
        let mut buf = BytesMut::new();
        wf::startup_message(params.iter().map(|(n, v)| (n.as_str(), v.as_str())), &mut buf).unwrap();
        let Some(StartupFrame::Startup(packet)) = split_startup(&mut buf).unwrap() else {
            panic!("not a StartupMessage");
        };
        prop_assert!(buf.is_empty());
        let startup = StartupMessage::parse(&packet).unwrap();
        let parsed: Vec<_> = startup.parameters().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(parsed, params);
    }

    #[test]
    fn cancel_request_round_trips(
        process_id in any::<i32>(),
        secret_key in proptest::collection::vec(any::<u8>(), 1..=MAX_SECRET_KEY_LEN),
    ) {
        let mut buf = BytesMut::new();
        wf::cancel_request(process_id, &secret_key, &mut buf).unwrap();
        prop_assert_eq!(buf.len(), 12 + secret_key.len());
        wf::ssl_request(&mut buf);
        wf::gssenc_request(&mut buf);
        let secret_key = bytes::Bytes::from(secret_key);
        prop_assert_eq!(split_startup(&mut buf), Ok(Some(StartupFrame::Cancel { process_id, secret_key })));
        prop_assert_eq!(split_startup(&mut buf), Ok(Some(StartupFrame::SslRequest)));
        prop_assert_eq!(split_startup(&mut buf), Ok(Some(StartupFrame::GssEncRequest)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn simple_frontend_messages_round_trip(
        s in text(), t in text(), target in prop_oneof![Just(Target::Portal), Just(Target::PreparedStatement)],
        max_rows in any::<i32>(), data in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = BytesMut::new();
        wf::query(&s, &mut buf).unwrap();
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::Query(q) if q.query() == s)));
        wf::describe(target, &s, &mut buf).unwrap();
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::Describe(d) if d.target() == target && d.name() == s)));
        wf::close(target, &s, &mut buf).unwrap();
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::Close(c) if c.target() == target && c.name() == s)));
        wf::execute(&s, max_rows, &mut buf).unwrap();
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::Execute(e) if e.portal() == s && e.max_rows() == max_rows)));
        wf::copy_fail(&t, &mut buf).unwrap();
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::CopyFail(c) if c.message() == t)));
        wf::copy_data(&data, &mut buf).unwrap();
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::CopyData(c) if c.data() == data)));
        wf::sync(&mut buf);
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::Sync)));
        wf::flush(&mut buf);
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::Flush)));
        wf::terminate(&mut buf);
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::Terminate)));
        wf::copy_done(&mut buf);
        frontend_round_trip(buf.split(), |m| assert!(matches!(m, FrontendMessage::CopyDone)));
    }

    #[test]
    fn parse_and_bind_round_trip(
        name in text(), query in text(), oids in proptest::collection::vec(any::<u32>(), 0..8),
        param_formats in proptest::collection::vec(format(), 0..4),
        params in proptest::collection::vec(value(), 0..8),
        result_formats in proptest::collection::vec(format(), 0..4),
    ) {
        let mut buf = BytesMut::new();
        wf::parse(&name, &query, oids.iter().copied(), &mut buf).unwrap();
        frontend_round_trip(buf.split(), |m| {
            let FrontendMessage::Parse(p) = m else { panic!("not Parse") };
            assert_eq!((p.name(), p.query()), (name.as_str(), query.as_str()));
            assert_eq!(p.param_types().collect::<Vec<_>>(), oids);
        });
        wf::bind(&name, &query, param_formats.iter().copied(), params.iter().map(Option::as_deref), result_formats.iter().copied(), &mut buf).unwrap();
        frontend_round_trip(buf.split(), |m| {
            let FrontendMessage::Bind(b) = m else { panic!("not Bind") };
            assert_eq!((b.portal(), b.statement()), (name.as_str(), query.as_str()));
            assert_eq!(b.param_formats().collect::<Vec<_>>(), param_formats);
            assert_eq!(b.parameters().map(|p| p.map(<[u8]>::to_vec)).collect::<Vec<_>>(), params);
            assert_eq!(b.result_formats().collect::<Vec<_>>(), result_formats);
        });
    }

    #[test]
    fn authentication_responses_round_trip(
        password in proptest::collection::vec(1u8.., 0..32), mechanism in text(),
    ) {
        let mut buf = BytesMut::new();
        wf::password_message(&password, &mut buf).unwrap();
        let frame = one_frame(&mut buf);
        prop_assert_eq!(frontend::PasswordMessage::parse(frame.body()).unwrap().password(), &password[..]);
        wf::sasl_initial_response(&mechanism, &password, &mut buf).unwrap();
        let frame = one_frame(&mut buf);
        let initial = frontend::SaslInitialResponse::parse(frame.body()).unwrap();
        prop_assert_eq!((initial.mechanism(), initial.data()), (mechanism.as_str(), Some(&password[..])));
        wf::sasl_response(&password, &mut buf).unwrap();
        let frame = one_frame(&mut buf);
        prop_assert_eq!(frontend::SaslResponse::parse(frame.body()).unwrap().data(), &password[..]);
    }

    #[test]
    fn authentication_requests_round_trip(
        salt in any::<[u8; 4]>(), mechanisms in proptest::collection::vec(name(), 0..4),
        data in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        use backend::Authentication as A;
        let mut buf = BytesMut::new();
        wb::authentication_ok(&mut buf);
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::Authentication(A::Ok))));
        wb::authentication_cleartext_password(&mut buf);
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::Authentication(A::CleartextPassword))));
        wb::authentication_md5_password(salt, &mut buf);
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::Authentication(A::Md5Password { salt: s }) if s == salt)));
        wb::authentication_sasl(mechanisms.iter().map(String::as_str), &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| {
            let BackendMessage::Authentication(A::Sasl(list)) = m else { panic!("not SASL") };
            assert_eq!(list.collect::<Vec<_>>(), mechanisms);
        });
        wb::authentication_sasl_continue(&data, &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::Authentication(A::SaslContinue { data: d }) if d == data)));
        wb::authentication_sasl_final(&data, &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::Authentication(A::SaslFinal { data: d }) if d == data)));
    }

    #[test]
    fn session_messages_round_trip(
        a in text(), b in text(), process_id in any::<i32>(),
        secret_key in proptest::collection::vec(any::<u8>(), 4..=MAX_SECRET_KEY_LEN),
        status in prop_oneof![Just(TransactionStatus::Idle), Just(TransactionStatus::InTransaction), Just(TransactionStatus::Failed)],
        options in proptest::collection::vec(name(), 0..4), minor in any::<i32>(),
    ) {
        let mut buf = BytesMut::new();
        wb::backend_key_data(process_id, &secret_key, &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::BackendKeyData(k) if (k.process_id(), k.secret_key()) == (process_id, &secret_key[..]))));
        wb::parameter_status(&a, &b, &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::ParameterStatus(p) if p.name() == a && p.value() == b)));
        wb::ready_for_query(status, &mut buf);
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::ReadyForQuery(r) if r.status() == status)));
        wb::command_complete(&a, &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::CommandComplete(c) if c.tag() == a)));
        wb::notification_response(process_id, &a, &b, &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| assert!(matches!(m, BackendMessage::NotificationResponse(n) if n.process_id() == process_id && n.channel() == a && n.payload() == b)));
        let newest = ProtocolVersion::from_code(minor);
        wb::negotiate_protocol_version(newest, options.iter().map(String::as_str), &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| {
            let BackendMessage::NegotiateProtocolVersion(n) = m else { panic!("not NegotiateProtocolVersion") };
            assert_eq!(n.newest_minor(), minor);
            assert_eq!(n.version(), newest);
            assert_eq!(n.unrecognized_options().collect::<Vec<_>>(), options);
        });
    }

    #[test]
    fn error_and_notice_round_trip(
        severity in severity(), code in "[0-9A-Z]{5}", message in text(),
        detail in proptest::option::of(text()), hint in proptest::option::of(text()),
        position in proptest::option::of(any::<u32>()),
    ) {
        let mut error = ErrorData::new(severity, &code, &message);
        error.detail = detail.as_deref();
        error.hint = hint.as_deref();
        error.position = position;
        let position = position.map(|p| p.to_string());
        let mut buf = BytesMut::new();
        wb::error_response(&error, &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| {
            let BackendMessage::ErrorResponse(e) = m else { panic!("not ErrorResponse") };
            assert_eq!((e.severity(), e.severity_nonlocalized()), (Some(severity.as_str()), Some(severity.as_str())));
            assert_eq!((e.code(), e.message()), (Some(code.as_str()), Some(message.as_str())));
            assert_eq!((e.detail(), e.hint(), e.position()), (detail.as_deref(), hint.as_deref(), position.as_deref()));
        });
        wb::notice_response(&error, &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| {
            let BackendMessage::NoticeResponse(n) = m else { panic!("not NoticeResponse") };
            assert_eq!((n.code(), n.message()), (Some(code.as_str()), Some(message.as_str())));
        });
    }

    #[test]
    fn result_messages_round_trip(
        names in proptest::collection::vec(text(), 0..6), oid in any::<u32>(), column_id in any::<i16>(),
        type_size in any::<i16>(), type_modifier in any::<i32>(), fmt in format(),
        values in proptest::collection::vec(value(), 0..8), oids in proptest::collection::vec(any::<u32>(), 0..8),
    ) {
        let fields: Vec<_> = names.iter().map(|name| FieldDescription {
            name, table_oid: oid, column_id, type_oid: oid, type_size, type_modifier, format: fmt,
        }).collect();
        let mut buf = BytesMut::new();
        wb::row_description(fields.iter().copied(), &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| {
            let BackendMessage::RowDescription(r) = m else { panic!("not RowDescription") };
            assert_eq!(r.fields().collect::<Vec<_>>(), fields);
        });
        wb::data_row(values.iter().map(Option::as_deref), &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| {
            let BackendMessage::DataRow(row) = m else { panic!("not DataRow") };
            assert_eq!(row.values().map(|v| v.map(<[u8]>::to_vec)).collect::<Vec<_>>(), values);
        });
        wb::parameter_description(oids.iter().copied(), &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| {
            let BackendMessage::ParameterDescription(p) = m else { panic!("not ParameterDescription") };
            assert_eq!(p.types().collect::<Vec<_>>(), oids);
        });
        wb::function_call_response(values.first().cloned().flatten().as_deref(), &mut buf).unwrap();
        backend_round_trip(buf.split(), |m| {
            let BackendMessage::FunctionCallResponse(f) = m else { panic!("not FunctionCallResponse") };
            assert_eq!(f.result(), values.first().cloned().flatten().as_deref());
        });
    }

    #[test]
    fn copy_and_empty_backend_messages_round_trip(fmt in format(), formats in proptest::collection::vec(format(), 0..8)) {
        let mut buf = BytesMut::new();
        type Writer = fn(Format, &[Format], &mut BytesMut) -> Result<(), Error>;
        let writers: [(Writer, u8); 3] = [
            (|f, c, b| wb::copy_in_response(f, c.iter().copied(), b), b'G'),
            (|f, c, b| wb::copy_out_response(f, c.iter().copied(), b), b'H'),
            (|f, c, b| wb::copy_both_response(f, c.iter().copied(), b), b'W'),
        ];
        for (write, tag) in writers {
            write(fmt, &formats, &mut buf).unwrap();
            let frame = one_frame(&mut buf);
            prop_assert_eq!(frame.tag(), tag);
            let c = backend::CopyResponse::parse(frame.body()).unwrap();
            prop_assert_eq!(c.format(), fmt);
            prop_assert_eq!(c.column_formats().collect::<Vec<_>>(), formats.clone());
        }
        type EmptyWriter = fn(&mut BytesMut);
        let empties: [(EmptyWriter, u8); 7] = [
            (wb::empty_query_response, b'I'),
            (wb::parse_complete, b'1'),
            (wb::bind_complete, b'2'),
            (wb::close_complete, b'3'),
            (wb::no_data, b'n'),
            (wb::portal_suspended, b's'),
            (wb::copy_done, b'c'),
        ];
        for (write, tag) in empties {
            write(&mut buf);
            let frame = one_frame(&mut buf);
            prop_assert_eq!(frame.tag(), tag);
            prop_assert!(BackendMessage::parse(tag, frame.body()).is_ok());
        }
    }

    /// A NUL inside a string is refused and leaves the buffer as it was.
    #[test]
    fn writers_refuse_nul_and_leave_buffer_untouched(prefix in text(), suffix in text()) {
        let bad = format!("{prefix}\0{suffix}");
        let mut buf = BytesMut::from(&b"kept"[..]);
        prop_assert_eq!(wf::query(&bad, &mut buf), Err(Error::ContainsNul { message: "Query", field: "query" }));
        prop_assert!(wf::parse("", &bad, [], &mut buf).is_err());
        prop_assert!(wf::startup_message([("user", bad.as_str())], &mut buf).is_err());
        prop_assert!(wb::error_response(&ErrorData::new(Severity::Error, "XX000", &bad), &mut buf).is_err());
        prop_assert!(wb::data_row([Some(&b"ok"[..])], &mut buf).is_ok());
        prop_assert_eq!(&buf[..4], b"kept");
        prop_assert_eq!(buf.len(), 4 + 5 + 2 + 4 + 2);
    }
}

#[test]
fn writers_refuse_bad_input() {
    let mut buf = BytesMut::new();
    assert!(matches!(
        wf::startup_message([("", "x")], &mut buf),
        Err(Error::InvalidInput {
            reason: "is empty",
            ..
        })
    ));
    assert!(matches!(
        wb::authentication_sasl([""], &mut buf),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        wb::error_response(&ErrorData::new(Severity::Error, "bad", "m"), &mut buf),
        Err(Error::InvalidInput { field: "code", .. })
    ));
    let long = "x".repeat(10_000);
    assert!(matches!(
        wf::startup_message([("user", long.as_str())], &mut buf),
        Err(Error::TooLong { max: 10_000, .. })
    ));
    let too_many = std::iter::repeat_n(None, 65_536);
    assert_eq!(
        wb::data_row(too_many, &mut buf),
        Err(Error::TooManyItems {
            message: "DataRow",
            field: "columns",
            count: 65_536
        })
    );
    assert!(buf.is_empty());
    let fits = std::iter::repeat_n(None, 65_535);
    assert!(wb::data_row(fits, &mut buf).is_ok());
}

/// The writers of protocol 3.2's variable-length keys: the packet lengths PostgreSQL expects
/// (BackendKeyData 8 + key, CancelRequest 12 + key), and keys out of bounds refused.
#[test]
fn secret_key_writers() {
    let mut buf = BytesMut::new();
    wb::backend_key_data(7, &[0xab; 32], &mut buf).unwrap();
    assert_eq!(&buf[..9], &[b'K', 0, 0, 0, 40, 0, 0, 0, 7]);
    assert_eq!(buf.len(), 1 + 4 + 4 + 32);
    buf.clear();
    wb::backend_key_data(7, &[1, 2, 3, 4], &mut buf).unwrap();
    assert_eq!(&buf[..], &[b'K', 0, 0, 0, 12, 0, 0, 0, 7, 1, 2, 3, 4]);
    for bad in [0, 3, MAX_SECRET_KEY_LEN + 1] {
        buf.clear();
        assert!(wb::backend_key_data(7, &vec![0; bad], &mut buf).is_err());
        assert!(buf.is_empty(), "nothing written for a {bad}-byte key");
    }
    buf.clear();
    wf::cancel_request(7, &[0xcd; 32], &mut buf).unwrap();
    assert_eq!(&buf[..12], &[0, 0, 0, 44, 4, 210, 22, 46, 0, 0, 0, 7]);
    assert_eq!(buf.len(), 44);
    for bad in [0, MAX_SECRET_KEY_LEN + 1] {
        buf.clear();
        assert!(wf::cancel_request(7, &vec![0; bad], &mut buf).is_err());
        assert!(buf.is_empty());
    }
    buf.clear();
    wf::startup_message_for(ProtocolVersion::V3_2, [("user", "u")], &mut buf).unwrap();
    assert_eq!(&buf[4..8], &196_610i32.to_be_bytes());
    buf.clear();
    wb::negotiate_protocol_version(ProtocolVersion::V3_2, ["_pq_.a"], &mut buf).unwrap();
    assert_eq!(&buf[..], b"v\0\0\0\x13\0\x03\0\x02\0\0\0\x01_pq_.a\0");
}
