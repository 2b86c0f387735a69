//! The untagged startup phase: split startup packets off the input and parse each
//! StartupMessage, draining its parameters. Must never panic.
#![no_main]

use bytes::BytesMut;
use corepool_protocol::framing::{split_startup, StartupFrame};
use corepool_protocol::message::frontend::StartupMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes as one packet, length word and all.
    if let Ok(startup) = StartupMessage::parse(data) {
        let _ = (
            startup.parameters().count(),
            startup.user(),
            startup.version(),
        );
    }
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = split_startup(&mut buf) {
        if let StartupFrame::Startup(packet) = frame {
            if let Ok(startup) = StartupMessage::parse(&packet) {
                let _ = startup.parameters().count();
                let _ = startup.get("database");
            }
        }
    }
});
