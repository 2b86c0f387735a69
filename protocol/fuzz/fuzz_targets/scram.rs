//! The SCRAM-SHA-256 state machines fed arbitrary peer messages: the server with an arbitrary
//! client-first and client-final, the client with an arbitrary server-first and server-final.
//! Must never panic.
#![no_main]

use corepool_protocol::auth::{ScramServer, ScramSha256, ScramVerifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Split the input into two peer messages at the first 0xFF byte.
    let (first, second) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(verifier) = ScramVerifier::with_salt(b"pencil", b"salt", 1) {
        if let Ok(mut server) = ScramServer::with_nonce(verifier, "3rfcNHYJY1ZVvWVs7j") {
            if server.update(first).is_ok() {
                let _ = server.finish(second);
            }
        }
    }
    if let Ok(mut client) = ScramSha256::with_nonce(b"pencil", "rOprNGfwEbeRWgbNEkqO") {
        if client.update(first).is_ok() {
            let _ = client.finish(second);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ScramVerifier::parse(text);
    }
});
