//! The untagged startup phase: split startup packets off the input and parse each
//! StartupMessage, draining its parameters; a CancelRequest's key is 1 to 256 bytes. Must never
//! panic.
#![no_main]

use bytes::BytesMut;
use corepool_protocol::framing::{split_startup, StartupFrame};
use corepool_protocol::message::frontend::{ProtocolVersion, StartupMessage};
use corepool_protocol::message::tags::MAX_SECRET_KEY_LEN;
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
        match frame {
            StartupFrame::Startup(packet) => {
                if let Ok(startup) = StartupMessage::parse(&packet) {
                    let _ = startup.parameters().count();
                    let _ = startup.get("database");
                    let _ = startup.protocol_options().count();
                    let _ = startup.needs_negotiation(ProtocolVersion::LATEST);
                }
            }
            StartupFrame::Cancel { secret_key, .. } => {
                assert!((1..=MAX_SECRET_KEY_LEN).contains(&secret_key.len()));
            }
            _ => {}
        }
    }
});
