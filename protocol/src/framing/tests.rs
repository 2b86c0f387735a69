//! Table and property tests for framing: headers, frames, the startup phase and run scanning.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::message::backend::ReadyForQuery;
use crate::message::tags::*;
use crate::message::TransactionStatus;

/// A tagged message with `body`.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len() + 4).unwrap();
    [&[tag][..], &len.to_be_bytes(), body].concat()
}

#[test]
fn header_peeks_without_consuming() {
    assert_eq!(Header::parse(b"Z\0\0\0"), Ok(None));
    let header = Header::parse(b"Z\0\0\0\x05I").unwrap().unwrap();
    assert_eq!(header, Header { tag: b'Z', len: 5 });
    assert_eq!((header.frame_len(), header.body_len()), (6, 1));
    assert_eq!(
        Header::parse(b"D\0\0\0\x03"),
        Err(Error::BadLength { tag: b'D', len: 3 })
    );
}

#[test]
fn split_frame_waits_for_whole_messages() {
    let limits = Limits::default();
    let stream = [message(b'Z', b"I"), message(b'C', b"SELECT 1\0")].concat();
    for cut in 0..6 {
        let mut buf = BytesMut::from(&stream[..cut]);
        assert_eq!(split_frame(&mut buf, &limits), Ok(None));
        assert_eq!(buf.len(), cut, "nothing consumed");
    }
    let mut buf = BytesMut::from(&stream[..]);
    let frame = split_frame(&mut buf, &limits).unwrap().unwrap();
    assert_eq!((frame.tag(), frame.body()), (b'Z', &b"I"[..]));
    assert_eq!(frame.header(), Header { tag: b'Z', len: 5 });
    assert_eq!(frame.as_bytes().as_ref(), &stream[..6]);
    assert_eq!(frame.body_bytes().as_ref(), b"I");
    let frame = split_frame(&mut buf, &limits).unwrap().unwrap();
    assert_eq!(frame.body(), b"SELECT 1\0");
    assert_eq!(frame.into_bytes().as_ref(), &stream[6..]);
    assert!(buf.is_empty());
    assert_eq!(split_frame(&mut buf, &limits), Ok(None));
}

#[test]
fn split_frame_rejects_bad_lengths_before_the_body_arrives() {
    let limits = Limits {
        max_message_len: 100,
    };
    let mut buf = BytesMut::from(&b"D\0\0\0\x65"[..]);
    assert_eq!(
        split_frame(&mut buf, &limits),
        Err(Error::MessageTooLarge {
            tag: b'D',
            len: 101,
            max: 100
        })
    );
    let mut buf = BytesMut::from(&b"D\0\0\0\x64"[..]);
    assert_eq!(split_frame(&mut buf, &limits), Ok(None));
    let mut buf = BytesMut::from(&b"D\xff\xff\xff\xff"[..]);
    assert!(matches!(
        split_frame(&mut buf, &Limits::default()),
        Err(Error::MessageTooLarge {
            len: 4_294_967_295,
            max: 1_073_741_823,
            ..
        })
    ));
    let mut buf = BytesMut::from(&b"D\0\0\0\0"[..]);
    assert_eq!(
        split_frame(&mut buf, &limits),
        Err(Error::BadLength { tag: b'D', len: 0 })
    );
}

/// A startup-phase packet: length word, code, then `rest`.
fn packet(code: i32, rest: &[u8]) -> Vec<u8> {
    let len = i32::try_from(8 + rest.len()).unwrap();
    [&len.to_be_bytes()[..], &code.to_be_bytes(), rest].concat()
}

#[test]
fn split_startup_recognises_each_request() {
    let cancel = packet(CANCEL_REQUEST_CODE, &[0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]);
    let startup = packet(PROTOCOL_VERSION_3_0, b"user\0u\0\0");
    let stream = [
        packet(SSL_REQUEST_CODE, b""),
        packet(GSSENC_REQUEST_CODE, b""),
        cancel,
        startup.clone(),
    ]
    .concat();
    let mut buf = BytesMut::from(&stream[..]);
    assert_eq!(split_startup(&mut buf), Ok(Some(StartupFrame::SslRequest)));
    assert_eq!(
        split_startup(&mut buf),
        Ok(Some(StartupFrame::GssEncRequest))
    );
    assert_eq!(
        split_startup(&mut buf),
        Ok(Some(StartupFrame::Cancel {
            process_id: 7,
            secret_key: Bytes::from_static(&[0xff; 4])
        }))
    );
    assert_eq!(
        split_startup(&mut buf),
        Ok(Some(StartupFrame::Startup(startup.clone().into())))
    );
    assert_eq!(split_startup(&mut buf), Ok(None));

    for cut in 0..startup.len() {
        let mut buf = BytesMut::from(&startup[..cut]);
        assert_eq!(split_startup(&mut buf), Ok(None));
        assert_eq!(buf.len(), cut);
    }
}

/// CancelRequest's secret key is whatever follows the process id: 4 bytes from a protocol 3.0
/// session, 32 from PostgreSQL 18's 3.2 ones, anything from 1 to 256 bytes accepted as
/// PostgreSQL 18 does; an empty or longer key is refused before the packet is waited for.
#[test]
fn split_startup_cancel_key_lengths() {
    for (key_len, accepted) in [
        (0, false),
        (1, true),
        (4, true),
        (32, true),
        (256, true),
        (257, false),
    ] {
        let key: Vec<u8> = (0..key_len).map(|i| i as u8).collect();
        let body = [&42i32.to_be_bytes()[..], &key].concat();
        let bytes = packet(CANCEL_REQUEST_CODE, &body);
        let mut buf = BytesMut::from(&bytes[..]);
        let got = split_startup(&mut buf);
        if accepted {
            assert_eq!(
                got,
                Ok(Some(StartupFrame::Cancel {
                    process_id: 42,
                    secret_key: Bytes::from(key)
                })),
                "{key_len}-byte key"
            );
            assert!(buf.is_empty());
        } else {
            assert_eq!(
                got,
                Err(Error::BadCancelRequestLength { len: 12 + key_len }),
                "{key_len}-byte key"
            );
            // Only the header in: the length is judged before the rest arrives.
            let mut head = BytesMut::from(&bytes[..8]);
            assert!(split_startup(&mut head).is_err());
        }
    }
    // A 44-byte request cut short waits for the rest.
    let bytes = packet(CANCEL_REQUEST_CODE, &[7; 36]);
    for cut in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..cut]);
        assert_eq!(split_startup(&mut buf), Ok(None), "cut at {cut}");
    }
}

#[test]
fn split_startup_rejects_bad_packets() {
    let cases: [(Vec<u8>, Error); 7] = [
        (vec![0, 0, 0, 7], Error::StartupTooShort { len: 7 }),
        (
            vec![0xff, 0, 0, 0],
            Error::StartupTooShort { len: -16_777_216 },
        ),
        (
            vec![0, 0, 0x27, 0x11],
            Error::StartupTooLarge {
                len: 10_001,
                max: 10_000,
            },
        ),
        (
            packet(SSL_REQUEST_CODE, b"\0\0\0\0"),
            Error::BadRequestLength {
                code: SSL_REQUEST_CODE,
                len: 12,
                expected: 8,
            },
        ),
        (
            packet(CANCEL_REQUEST_CODE, b""),
            Error::BadCancelRequestLength { len: 8 },
        ),
        (
            packet(1234 << 16 | 9999, b""),
            Error::UnknownRequestCode {
                code: 1234 << 16 | 9999,
            },
        ),
        (
            packet(2 << 16, b"user\0u\0\0"),
            Error::UnsupportedProtocolVersion { major: 2, minor: 0 },
        ),
    ];
    for (bytes, error) in cases {
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(split_startup(&mut buf), Err(error));
        assert_eq!(buf.len(), bytes.len(), "nothing consumed");
    }
    // The version is checked as soon as it is in, before the rest of the packet.
    let mut buf = BytesMut::from(&packet(2 << 16, &[0; 100])[..12]);
    assert!(split_startup(&mut buf).is_err());
    let mut buf = BytesMut::from(&packet(PROTOCOL_VERSION_3_0, &[0; 10_000 - 8])[..]);
    assert!(matches!(
        split_startup(&mut buf),
        Ok(Some(StartupFrame::Startup(_)))
    ));
}

/// RowDescription, `rows` DataRows, CommandComplete and ReadyForQuery.
fn result_set(rows: usize) -> Vec<u8> {
    let mut stream = message(b'T', &[0, 0]);
    for _ in 0..rows {
        stream.extend(message(b'D', &[0, 1, 0, 0, 0, 2, b'4', b'2']));
    }
    stream.extend(message(b'C', b"SELECT 3\0"));
    stream.extend(message(b'Z', b"T"));
    stream
}

#[test]
fn scan_run_stops_after_ready_for_query() {
    let mut stream = result_set(3);
    let z_offset = stream.len() - 6;
    stream.extend(message(b'D', b"\0\0"));
    let run = scan_run(&stream, &Limits::default()).unwrap();
    assert_eq!(run.complete_len, z_offset + 6);
    assert_eq!(run.messages, 6);
    assert!(!run.is_empty());
    let stop = run.stop.unwrap();
    assert_eq!(stop.offset, z_offset);
    assert_eq!(stop.header, Header { tag: b'Z', len: 5 });
    assert_eq!(stop.status, Some(TransactionStatus::InTransaction));
    assert_eq!(&stream[stop.body_range()], b"T");
    assert_eq!(stop.frame_range(), z_offset..z_offset + 6);
    assert_eq!(run.pending, None);
}

#[test]
fn scan_run_stops_at_each_interesting_tag() {
    for tag in [b'E', b'S', b'G', b'H', b'W'] {
        let stream = [
            message(b'D', b"\0\0"),
            message(tag, b"x"),
            message(b'D', b"\0\0"),
        ]
        .concat();
        let run = scan_run(&stream, &Limits::default()).unwrap();
        assert_eq!((run.messages, run.complete_len), (2, 13));
        assert_eq!(
            run.stop.map(|s| (s.offset, s.header.tag, s.status)),
            Some((7, tag, None))
        );
    }
    // NoticeResponse is forwarded unless asked for.
    let stream = [message(b'N', b"\0"), message(b'D', b"\0\0")].concat();
    assert_eq!(scan_run(&stream, &Limits::default()).unwrap().stop, None);
    let stops = StopTags::BACKEND.with(b'N');
    assert!(stops.contains(b'N') && !stops.clone().without(b'N').contains(b'N'));
    let run = scan_run_with(&stream, &Limits::default(), &stops).unwrap();
    assert_eq!(run.stop.map(|s| s.header.tag), Some(b'N'));
    assert_eq!(format!("{:?}", StopTags::from_tags(b"ZE")), "{'E', 'Z'}");
}

#[test]
fn scan_run_reports_partial_messages_and_errors() {
    let stream = result_set(2);
    let partial = &stream[..stream.len() - 1];
    let run = scan_run(partial, &Limits::default()).unwrap();
    assert_eq!(run.complete_len, stream.len() - 6);
    assert_eq!(run.stop, None);
    assert_eq!(run.pending, Some(Header { tag: b'Z', len: 5 }));
    let run = scan_run(&stream[..stream.len() - 18], &Limits::default()).unwrap();
    assert_eq!((run.pending, run.complete_len), (None, stream.len() - 20));
    assert!(scan_run(b"", &Limits::default()).unwrap().is_empty());

    let bad_len = [message(b'D', b"\0\0"), b"D\0\0\0\x02".to_vec()].concat();
    assert_eq!(
        scan_run(&bad_len, &Limits::default()),
        Err(Error::BadLength { tag: b'D', len: 2 })
    );
    let too_large = [message(b'D', b"\0\0"), b"D\0\0\x10\0".to_vec()].concat();
    let at_limit = scan_run(
        &too_large,
        &Limits {
            max_message_len: 4096,
        },
    )
    .unwrap();
    assert_eq!(
        at_limit.pending,
        Some(Header {
            tag: b'D',
            len: 4096
        })
    );
    assert_eq!(
        scan_run(
            &too_large,
            &Limits {
                max_message_len: 4095
            }
        ),
        Err(Error::MessageTooLarge {
            tag: b'D',
            len: 4096,
            max: 4095
        })
    );
    assert!(matches!(
        scan_run(&message(b'Z', b"Q"), &Limits::default()),
        Err(Error::InvalidValue {
            message: "ReadyForQuery",
            ..
        })
    ));
    assert!(matches!(
        scan_run(&message(b'Z', b"II"), &Limits::default()),
        Err(Error::TrailingBytes {
            message: "ReadyForQuery",
            ..
        })
    ));
}

/// A stream of messages with tags from both directions and mostly valid ReadyForQuery bodies.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let one = (
        prop::sample::select(b"DDDDDCTZZESNGHWdc".to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
        prop::sample::select(b"ITEx".to_vec()),
    )
        .prop_map(|(tag, body, status)| {
            if tag == b'Z' {
                message(tag, &[status])
            } else {
                message(tag, &body)
            }
        });
    (
        prop::collection::vec(one, 0..20),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(msgs, cut)| {
            let all = msgs.concat();
            // Cut somewhere, often mid-message, to exercise partial input.
            let keep = if all.is_empty() {
                0
            } else {
                cut.index(all.len() + 1)
            };
            all[..keep].to_vec()
        })
}

/// Checks `scan_run` against `split_frame` over the whole of `bytes`.
fn check_scan_agrees_with_split(bytes: &[u8], limits: &Limits) {
    let mut buf = BytesMut::from(bytes);
    loop {
        let snapshot = buf.clone();
        match scan_run(&snapshot, limits) {
            Ok(run) => {
                let mut consumed = 0;
                let mut last = None;
                for _ in 0..run.messages {
                    let frame = split_frame(&mut buf, limits).unwrap().unwrap();
                    consumed += frame.as_bytes().len();
                    last = Some(frame);
                }
                assert_eq!(consumed, run.complete_len);
                if let Some(stop) = run.stop {
                    let last = last.unwrap();
                    assert_eq!(last.header(), stop.header);
                    assert!(StopTags::BACKEND.contains(last.tag()));
                    assert_eq!(stop.offset + last.as_bytes().len(), run.complete_len);
                    continue;
                }
                // No stop: what is left does not hold a whole message.
                assert_eq!(split_frame(&mut buf, limits).unwrap(), None);
                assert_eq!(run.pending, Header::parse(&buf).unwrap());
                return;
            }
            Err(error) => {
                // split_frame (plus ReadyForQuery's check) must fail before the buffer runs out.
                loop {
                    match split_frame(&mut buf, limits) {
                        Err(e) => {
                            assert_eq!(e, error);
                            return;
                        }
                        Ok(Some(frame)) if frame.tag() == b'Z' => {
                            if let Err(e) = ReadyForQuery::parse(frame.body()) {
                                assert_eq!(e, error);
                                return;
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => panic!("scan_run failed with {error:?}, split_frame did not"),
                    }
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn framing_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..128), max in 0usize..64) {
        let limits = Limits { max_message_len: max };
        let _ = scan_run(&bytes, &limits);
        let _ = scan_run(&bytes, &Limits::default());
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = split_frame(&mut buf, &limits) {}
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = split_startup(&mut buf) {}
    }

    #[test]
    fn scan_run_agrees_with_split_frame_on_streams(bytes in stream()) {
        check_scan_agrees_with_split(&bytes, &Limits::default());
        check_scan_agrees_with_split(&bytes, &Limits { max_message_len: 24 });
    }

    #[test]
    fn scan_run_agrees_with_split_frame_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        check_scan_agrees_with_split(&bytes, &Limits { max_message_len: 32 });
    }
}
