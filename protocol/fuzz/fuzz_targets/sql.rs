//! The SQL lexer, statement splitter and classifier on arbitrary text: must never panic, and
//! every span they return must lie inside the input.
#![no_main]

use corepool_protocol::sql::{classify, split, Lexer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    for token in Lexer::new(sql).take(100_000) {
        if let Ok(t) = token {
            assert!((t.span.end as usize) <= sql.len());
        }
    }
    for span in split(sql).take(10_000) {
        if let Ok(s) = span {
            assert!((s.end as usize) <= sql.len());
        }
    }
    if let Ok(c) = classify(sql) {
        let _ = c.is_read_only();
        for f in &c.functions {
            assert!((f.end as usize) <= sql.len());
        }
        for r in &c.relations {
            assert!((r.name.end as usize) <= sql.len());
        }
    }
});
