//! The HighGo DDL parser and its translation planner on arbitrary text. Must never panic.
#![no_main]

use corepool_protocol::ddl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    match ddl::parse(sql) {
        Ok(Some(stmt)) => {
            let _ = stmt.plan();
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.pg_position(sql);
        }
    }
});
