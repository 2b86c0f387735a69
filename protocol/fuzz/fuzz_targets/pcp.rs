//! PCP framing and request/response decoding on arbitrary bytes, as the PCP server and the
//! `corepool pcp` client see them. Must never panic.
#![no_main]

use bytes::BytesMut;
use corepool_protocol::pcp::{split_request, split_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(packet)) = split_request(&mut buf) {
        let _ = packet.request();
    }
    let mut buf = BytesMut::from(data);
    while let Ok(Some(packet)) = split_response(&mut buf, 1 << 20) {
        let _ = packet.response();
    }
});
