//! In-band commands and enhanced DDL sent through the extended protocol: a Parse … Sync run
//! whose statement is `SHOW pool_*`, `PGPOOL …` or one of HighGo's partition forms, answered
//! message by message from the simple-protocol reply.

use bytes::BytesMut;
use corepool_protocol::framing::Header;
use corepool_protocol::message::frontend::Parse;
use corepool_protocol::message::tags::{
    BIND_TAG, CLOSE_TAG, DESCRIBE_TAG, ERROR_RESPONSE_TAG, EXECUTE_TAG, PARSE_TAG,
    ROW_DESCRIPTION_TAG, SYNC_TAG,
};
use corepool_protocol::message::write;
use corepool_protocol::message::TransactionStatus;

/// An extended-protocol run answered by corepool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InBandRun {
    /// The command's text.
    pub sql: String,
    /// Bytes of the run, Sync included.
    pub len: usize,
    /// The statement name its Parse gave, to remember for later Binds.
    pub parsed_name: Option<String>,
    /// Whether the statement is enhanced DDL (else an in-band command), decided once here.
    pub ddl: bool,
    /// Whether the run executes the statement (a prepare-only run — Parse, Describe, Sync —
    /// must not run a DDL statement's side effects).
    pub executes: bool,
}

/// If `buf` starts an extended run, up to a buffered Sync, that is an in-band command or
/// enhanced DDL — a Parse of one, or a Bind of a statement in `named` (earlier such Parses,
/// name → text) — returns it.
pub fn in_band_run(
    buf: &[u8],
    named: &std::collections::HashMap<String, String>,
) -> Option<InBandRun> {
    let mut pos = 0;
    let mut sql = None;
    let mut parsed_name = None;
    let mut executes = false;
    let mut ddl = false;
    while let Ok(Some(h)) = Header::parse(buf.get(pos..)?) {
        let body = buf.get(pos + 5..pos + h.frame_len())?;
        if pos == 0 {
            match h.tag {
                PARSE_TAG => {
                    let p = Parse::parse(body).ok()?;
                    if !super::inband::is_in_band(p.query().as_bytes()) {
                        if !corepool_protocol::ddl::is_enhanced(p.query()) {
                            return None;
                        }
                        ddl = true;
                    }
                    sql = Some(p.query().to_owned());
                    parsed_name = (!p.name().is_empty()).then(|| p.name().to_owned());
                }
                BIND_TAG => {
                    let b = corepool_protocol::message::frontend::Bind::parse(body).ok()?;
                    let text = named.get(b.statement())?;
                    ddl = !super::inband::is_in_band(text.as_bytes());
                    sql = Some(text.clone());
                }
                _ => return None,
            }
        }
        executes |= h.tag == EXECUTE_TAG;
        pos += h.frame_len();
        if h.tag == SYNC_TAG {
            return sql.map(|sql| InBandRun {
                sql,
                len: pos,
                parsed_name,
                ddl,
                executes,
            });
        }
    }
    None
}

/// The extended-protocol reply to `run` (the client's messages up to Sync), built from the
/// simple-protocol `reply` (NoticeResponses, RowDescription, DataRows, CommandComplete,
/// ReadyForQuery — or an ErrorResponse and ReadyForQuery). The final ReadyForQuery carries
/// the reply's transaction status.
pub fn answer(run: &[u8], reply: &[u8]) -> BytesMut {
    // Split the simple reply into its row description, rows+completion, or error.
    let mut description: &[u8] = &[];
    let mut result: &[u8] = &[];
    let mut error: Option<&[u8]> = None;
    let mut status = TransactionStatus::Idle;
    let mut pos = 0;
    while let Ok(Some(h)) = Header::parse(&reply[pos..]) {
        let frame = &reply[pos..pos + h.frame_len()];
        match h.tag {
            ROW_DESCRIPTION_TAG => description = frame,
            ERROR_RESPONSE_TAG => error = Some(frame),
            b'Z' => {
                status = frame
                    .get(5)
                    .and_then(|b| TransactionStatus::from_byte(*b))
                    .unwrap_or(TransactionStatus::Idle);
            }
            _ => {
                if result.is_empty() {
                    result = &reply[pos..];
                }
            }
        }
        pos += h.frame_len();
    }
    // `result` runs to the end; drop its trailing ReadyForQuery (6 bytes).
    let result = result
        .get(..result.len().saturating_sub(6))
        .unwrap_or_default();

    let mut out = BytesMut::with_capacity(reply.len() + 64);
    let mut pos = 0;
    let mut failed = false;
    while let Ok(Some(h)) = Header::parse(&run[pos..]) {
        let body = &run[pos + 5..pos + h.frame_len()];
        pos += h.frame_len();
        if failed && h.tag != SYNC_TAG {
            continue;
        }
        match h.tag {
            PARSE_TAG => write::backend::parse_complete(&mut out),
            BIND_TAG => write::backend::bind_complete(&mut out),
            DESCRIBE_TAG => {
                if let Some(e) = error {
                    out.extend_from_slice(e);
                    failed = true;
                    continue;
                }
                if body.first() == Some(&b'S') {
                    let _ =
                        write::backend::parameter_description(std::iter::empty::<u32>(), &mut out);
                }
                if description.is_empty() {
                    write::backend::no_data(&mut out);
                } else {
                    out.extend_from_slice(description);
                }
            }
            EXECUTE_TAG => match error {
                Some(e) => {
                    out.extend_from_slice(e);
                    failed = true;
                }
                None => out.extend_from_slice(result),
            },
            CLOSE_TAG => write::backend::close_complete(&mut out),
            SYNC_TAG => write::backend::ready_for_query(status, &mut out),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use corepool_protocol::framing::split_frame;
    use corepool_protocol::message::write::frontend as fe;
    use corepool_protocol::message::Target;

    fn run(sql: &str) -> BytesMut {
        let mut b = BytesMut::new();
        fe::parse("", sql, std::iter::empty::<u32>(), &mut b).unwrap();
        let none: [corepool_protocol::message::Format; 0] = [];
        fe::bind(
            "",
            "",
            none,
            std::iter::empty::<Option<&[u8]>>(),
            none,
            &mut b,
        )
        .unwrap();
        fe::describe(Target::Portal, "", &mut b).unwrap();
        fe::execute("", 0, &mut b).unwrap();
        fe::sync(&mut b);
        b
    }

    fn tags(mut b: BytesMut) -> Vec<u8> {
        let mut t = Vec::new();
        while let Ok(Some(f)) = split_frame(&mut b, &Default::default()) {
            t.push(f.tag());
        }
        t
    }

    #[test]
    fn finds_in_band_runs_only() {
        let none = std::collections::HashMap::new();
        let r = run("SHOW pool_version");
        let found = in_band_run(&r, &none).unwrap();
        assert!(!found.ddl);
        assert_eq!(
            (found.sql.as_str(), found.len),
            ("SHOW pool_version", r.len())
        );
        assert_eq!(in_band_run(&run("SELECT 1"), &none), None);
        assert_eq!(in_band_run(&r[..r.len() - 5], &none), None, "no Sync yet");
    }

    #[test]
    fn finds_enhanced_ddl_runs_and_whether_they_execute() {
        let none = std::collections::HashMap::new();
        let ddl = "CREATE TABLE t (a int) PARTITION BY RANGE (a) (PARTITION t1 DEFAULT)";
        let found = in_band_run(&run(ddl), &none).expect("an enhanced DDL run");
        assert!(found.executes && found.ddl);
        // A prepare-only run (Parse, Describe, Sync) is found but does not execute.
        let mut prepare = BytesMut::new();
        fe::parse("s1", ddl, std::iter::empty::<u32>(), &mut prepare).unwrap();
        fe::describe(Target::PreparedStatement, "s1", &mut prepare).unwrap();
        fe::sync(&mut prepare);
        let found = in_band_run(&prepare, &none).expect("a prepare-only run");
        assert_eq!(found.parsed_name.as_deref(), Some("s1"));
        assert!(!found.executes);
        assert_eq!(
            in_band_run(&run("CREATE TABLE t (a int)"), &none),
            None,
            "plain DDL"
        );
    }

    #[test]
    fn the_final_ready_for_query_keeps_the_reply_status() {
        let mut simple = BytesMut::new();
        write::backend::command_complete("CREATE TABLE", &mut simple).unwrap();
        write::backend::ready_for_query(TransactionStatus::InTransaction, &mut simple);
        let out = answer(
            &run("CREATE TABLE t (a int) PARTITION BY LIST (a) (PARTITION p DEFAULT)"),
            &simple,
        );
        assert_eq!(out.last(), Some(&b'T'));
        assert_eq!(tags(out), b"12nCZ");
    }

    #[test]
    fn answers_each_message() {
        let mut simple = BytesMut::new();
        let fields = [corepool_protocol::message::backend::FieldDescription {
            name: "pool_version",
            table_oid: 0,
            column_id: 0,
            type_oid: 0,
            type_size: -1,
            type_modifier: 0,
            format: corepool_protocol::message::Format::Text,
        }];
        write::backend::row_description(fields, &mut simple).unwrap();
        write::backend::data_row([Some(&b"4.3.5"[..])], &mut simple).unwrap();
        write::backend::command_complete("SELECT 1", &mut simple).unwrap();
        write::backend::ready_for_query(TransactionStatus::Idle, &mut simple);
        let out = answer(&run("SHOW pool_version"), &simple);
        assert_eq!(tags(out), b"12TDCZ");
        let err = super::super::errors::error_then_ready("42704", "nope", TransactionStatus::Idle);
        assert_eq!(tags(answer(&run("PGPOOL SHOW x"), &err)), b"12EZ");
    }
}
