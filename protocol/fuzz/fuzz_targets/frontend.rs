//! Frontend framing and parsing: split every frame off the input, parse it as a client message
//! and drain every iterator of what parses. Must never panic.
#![no_main]

use bytes::BytesMut;
use corepool_protocol::framing::{split_frame, Limits};
use corepool_protocol::message::frontend::{
    FrontendMessage, PasswordMessage, SaslInitialResponse, SaslResponse,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_message_len: 1 << 16,
    };
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = split_frame(&mut buf, &limits) {
        assert_eq!(frame.as_bytes().len(), frame.header().frame_len());
        let Ok(message) = FrontendMessage::parse(frame.tag(), frame.body()) else {
            continue;
        };
        match message {
            FrontendMessage::Bind(bind) => {
                assert_eq!(bind.parameters().count(), bind.parameters().len());
                let _ = bind.param_formats().count() + bind.result_formats().count();
                let _ = (bind.param_format(0), bind.result_format(usize::MAX));
            }
            FrontendMessage::Parse(parse) => {
                assert_eq!(parse.param_types().count(), parse.param_types().len());
            }
            FrontendMessage::AuthenticationResponse(body) => {
                let _ = PasswordMessage::parse(body);
                let _ = SaslInitialResponse::parse(body);
                let _ = SaslResponse::parse(body);
            }
            _ => {}
        }
    }
});
