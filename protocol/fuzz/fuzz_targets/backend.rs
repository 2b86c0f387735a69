//! Backend framing and parsing: scan runs as the engine does, check that `scan_run` agrees with
//! `split_frame`, parse every frame as a server message and drain every iterator. Must never
//! panic.
#![no_main]

use bytes::BytesMut;
use corepool_protocol::framing::{scan_run, split_frame, Limits};
use corepool_protocol::message::backend::{Authentication, BackendMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_message_len: 1 << 16,
    };
    let mut buf = BytesMut::from(data);
    while let Ok(run) = scan_run(&buf, &limits) {
        if run.messages == 0 {
            break;
        }
        let mut consumed = 0;
        for _ in 0..run.messages {
            let frame = split_frame(&mut buf, &limits)
                .expect("scan_run accepted this header")
                .expect("scan_run saw this frame whole");
            consumed += frame.as_bytes().len();
            parse(frame.tag(), frame.body());
        }
        assert_eq!(consumed, run.complete_len);
    }
});

/// Parses one backend message and drains its iterators.
fn parse(tag: u8, body: &[u8]) {
    let Ok(message) = BackendMessage::parse(tag, body) else {
        return;
    };
    match message {
        BackendMessage::DataRow(row) => {
            assert_eq!(row.values().count(), row.len());
            for range in row.ranges().flatten() {
                assert!(row.body().get(range).is_some());
            }
        }
        BackendMessage::RowDescription(rows) => {
            assert_eq!(rows.fields().count(), rows.fields().len());
        }
        BackendMessage::ErrorResponse(error) => {
            let _ = (error.fields().count(), error.code(), error.message());
        }
        BackendMessage::NoticeResponse(notice) => {
            let _ = (notice.fields().count(), notice.severity(), notice.hint());
        }
        BackendMessage::Authentication(Authentication::Sasl(mechanisms)) => {
            let _ = mechanisms.count();
        }
        BackendMessage::NegotiateProtocolVersion(negotiate) => {
            let _ = negotiate.unrecognized_options().count();
        }
        BackendMessage::ParameterDescription(params) => {
            assert_eq!(params.types().count(), params.types().len());
        }
        BackendMessage::CopyInResponse(copy)
        | BackendMessage::CopyOutResponse(copy)
        | BackendMessage::CopyBothResponse(copy) => {
            let _ = copy.column_formats().count();
        }
        BackendMessage::CommandComplete(complete) => {
            let _ = complete.rows();
        }
        _ => {}
    }
}
