//! Table tests for replies: captured packets of pgpool 4.3.5 parse to the expected values and
//! are re-written byte for byte; hand-built packets cover what the captures do not.

use bytes::BytesMut;

use super::node::{
    BackendStatus, HealthCheckStats, NodeInfo, PgRole, PgStatus, Role, StatusName, RAND_MAX,
};
use super::notice::{write_error_response, ErrorResponse, Severity};
use super::process::{ProcessInfo, ProcessStatus};
use super::response::{self, ConfigRow};
use super::tests::hex;
use super::*;

/// Splits every reply off `wire`, checks each re-writes to its own bytes, returns them.
fn replies(wire: &[u8]) -> Vec<Response<'static>> {
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    while let Some(packet) = split_response(&mut buf, DEFAULT_MAX_RESPONSE_LEN).unwrap() {
        let bytes: &'static [u8] = packet.into_bytes().to_vec().leak();
        let response = Response::parse(bytes[0], &bytes[5..]).unwrap();
        let mut again = BytesMut::new();
        response.write(&mut again).unwrap();
        assert_eq!(&again[..], bytes, "re-writing {response:?}");
        out.push(response);
    }
    assert!(buf.is_empty(), "left over: {buf:?}");
    out
}

/// Node info record 1 of the capture, for the hand-built variations below.
fn captured_node() -> NodeInfo<'static> {
    NodeInfo {
        hostname: "127.0.0.1",
        port: 15432,
        status: BackendStatus::Up,
        quarantine: false,
        pg_status: PgStatus::Unknown,
        weight: 1_073_741_823.5,
        role: Role::Standby,
        pg_role: PgRole::Unknown,
        standby_delay: 0,
        replication_state: "",
        replication_sync_state: "",
        status_changed_time: 1_795_242_268,
    }
}

#[test]
fn login_and_node_count_captured() {
    let got = replies(&hex(
        "6d00000008979043b4720000001541757468656e7469636174696f6e4f4b00\
         6c00000016436f6d6d616e64436f6d706c657465003200",
    ));
    assert_eq!(
        got,
        [
            Response::Salt([0x97, 0x90, 0x43, 0xb4]),
            Response::AuthenticationOk,
            Response::NodeCount(2),
        ]
    );
}

#[test]
fn node_info_captured() {
    // `pcp_node_info` (all nodes) against two configured, unreachable backends.
    let got = replies(&hex(
        "6900000010417272617953697a6500320069000000544e6f6465496e666f003132372e302e302e31003135\
         3433320032003000756e6b6e6f776e00313037333734313832332e353030303030003300756e6b6e6f776e\
         0030000000313739353234323236380069000000544e6f6465496e666f003132372e302e302e3100313534\
         33330032003000756e6b6e6f776e00313037333734313832332e353030303030003300756e6b6e6f776e00\
         3000000031373935323432323638006900000014436f6d6d616e64436f6d706c65746500",
    ));
    let node0 = captured_node();
    let node1 = NodeInfo {
        port: 15433,
        ..node0
    };
    assert_eq!(
        got,
        [
            Response::ArraySize {
                tag: b'i',
                count: 2
            },
            Response::NodeInfo(node0),
            Response::NodeInfo(node1),
            Response::CommandComplete { tag: b'i' },
        ]
    );
    assert_eq!(node0.normalized_weight(), 0.5);
}

#[test]
fn node_info_hand_built() {
    // Spec §5.2: 12 fields after `NodeInfo`, in the 4.3 order.
    let node = NodeInfo {
        hostname: "db1",
        port: 5432,
        status: BackendStatus::Down,
        quarantine: true,
        pg_status: PgStatus::Up,
        weight: 0.25 * RAND_MAX,
        role: Role::Primary,
        pg_role: PgRole::Primary,
        standby_delay: 18_446_744_073_709_551_615,
        replication_state: "streaming",
        replication_sync_state: "async",
        status_changed_time: 0,
    };
    let mut buf = BytesMut::new();
    response::write_node_info(&mut buf, &node).unwrap();
    let payload: &[u8] = b"NodeInfo\0db1\x005432\x003\x001\0up\x00536870911.750000\x002\0\
        primary\x0018446744073709551615\0streaming\0async\x000\0";
    let mut expected = vec![b'i'];
    expected.extend_from_slice(&(4 + payload.len() as i32).to_be_bytes());
    expected.extend_from_slice(payload);
    assert_eq!(&buf[..], &expected[..]);
    assert_eq!(replies(&expected), [Response::NodeInfo(node)]);
    assert_eq!(node.status.name(node.quarantine), StatusName::Quarantine);

    // The 4.4 layout (an extra field after pg_role) is refused, not misread.
    let mut v44 =
        b"NodeInfo\0db1\x005432\x003\x001\0up\x00536870911.750000\x002\0primary\0".to_vec();
    v44.extend_from_slice(b"0\x000\0streaming\0async\x000\0");
    assert!(Response::parse(b'i', &v44).is_err());

    let bad_weight = NodeInfo {
        weight: f64::NAN,
        ..node
    };
    assert!(response::write_node_info(&mut buf, &bad_weight).is_err());
}

#[test]
fn health_check_stats_captured() {
    let got = replies(&hex(
        "680000006b436f6d6d616e64436f6d706c6574650030003132372e302e302e3100313534333200757000\
         7374616e64627900323032362d31312d32312030363a32343a32380030003000300030003000302e3030\
         3030303000300030003000302e3030303030300000000000",
    ));
    let expected = HealthCheckStats {
        node_id: 0,
        hostname: "127.0.0.1",
        port: 15432,
        status: StatusName::Up,
        role: Role::Standby,
        last_status_change: "2026-11-21 06:24:28",
        total_count: 0,
        success_count: 0,
        fail_count: 0,
        skip_count: 0,
        retry_count: 0,
        average_retry_count: 0.0,
        max_retry_count: 0,
        max_health_check_duration: 0,
        min_health_check_duration: 0,
        average_health_check_duration: 0.0,
        last_health_check: "",
        last_successful_health_check: "",
        last_skip_health_check: "",
        last_failed_health_check: "",
    };
    assert_eq!(got, [Response::HealthCheckStats(expected)]);

    // Health checking on but no check run yet: glibc prints 0.0/0.0 as "-nan".
    let nan = HealthCheckStats {
        average_retry_count: -f64::NAN,
        average_health_check_duration: f64::NAN,
        ..expected
    };
    let mut buf = BytesMut::new();
    response::write_health_check_stats(&mut buf, &nan).unwrap();
    let text = &buf[5..];
    assert!(text.windows(6).any(|w| w == b"\0-nan\0"));
    assert!(text.windows(5).any(|w| w == b"\0nan\0"));
    let Response::HealthCheckStats(back) = Response::parse(b'h', text).unwrap() else {
        panic!("not health check stats");
    };
    assert!(back.average_retry_count.is_nan() && back.average_retry_count.is_sign_negative());
    assert!(back.average_health_check_duration.is_nan());
}

#[test]
fn process_count_and_info_captured() {
    let got = replies(&hex(
        "6e00000022436f6d6d616e64436f6d706c657465003200323536303700323536303800",
    ));
    let [Response::ProcessCount(count)] = got[..] else {
        panic!("not a process count: {got:?}");
    };
    assert_eq!(count.count(), 2);
    assert_eq!(count.pids().collect::<Vec<_>>(), [25607, 25608]);
    let mut buf = BytesMut::new();
    response::write_process_count(&mut buf, &[25607, 25608]).unwrap();
    assert_eq!(
        &buf[..],
        &hex("6e00000022436f6d6d616e64436f6d706c657465003200323536303700323536303800")[..]
    );

    // `pcp_proc_info -P 25607 -a`: header, first record, end.
    let got = replies(&hex("7000000010417272617953697a650034007000000055\
         50726f63657373496e666f00323536303700323032362d31312d32312030363a32343a3238003000300030\
         0000000000003000300030003000300030005761697420666f7220636f6e6e656374696f6e00\
         7000000014436f6d6d616e64436f6d706c65746500"));
    let record = ProcessInfo {
        pool_pid: 25607,
        start_time: "2026-11-21 06:24:28",
        client_connection_count: 0,
        pool_id: 0,
        backend_id: 0,
        database: "",
        username: "",
        backend_connection_time: "",
        client_connection_time: "",
        client_disconnection_time: "",
        client_idle_duration: "0",
        major_version: 0,
        minor_version: 0,
        pool_counter: 0,
        pool_backend_pid: 0,
        pool_connected: false,
        status: ProcessStatus::WaitForConnection,
    };
    assert_eq!(
        got,
        [
            Response::ArraySize {
                tag: b'p',
                count: 4
            },
            Response::ProcessInfo(record),
            Response::CommandComplete { tag: b'p' },
        ]
    );
    // A count that does not match the PIDs is refused.
    assert!(Response::parse(b'n', b"CommandComplete\x003\x001\x002\0").is_err());
    assert!(Response::parse(b'n', b"CommandComplete\x001\x001\x002\0").is_err());
}

#[test]
fn pool_status_captured() {
    // The binary ArraySize (0x98 = 152 rows) and the first two rows.
    let got = replies(&hex(
        "6200000012417272617953697a650000000098620000003c50726f63657373436f6e666967006261636b65\
         6e645f636c7573746572696e675f6d6f6465003100636c7573746572696e67206d6f646500620000005950\
         726f63657373436f6e666967006c697374656e5f616464726573736573006c6f63616c686f737400686f73\
         74206e616d65287329206f7220495020616464726573732865732920746f206c697374656e206f6e00",
    ));
    assert_eq!(
        got,
        [
            Response::ArraySize {
                tag: b'b',
                count: 152
            },
            Response::ConfigRow(ConfigRow {
                name: "backend_clustering_mode",
                value: "1",
                description: "clustering mode",
            }),
            Response::ConfigRow(ConfigRow {
                name: "listen_addresses",
                value: "localhost",
                description: "host name(s) or IP address(es) to listen on",
            }),
        ]
    );
    let mut buf = BytesMut::new();
    response::write_array_size(&mut buf, b'b', 152).unwrap();
    response::write_command_complete(&mut buf, b'b').unwrap();
    assert_eq!(
        &buf[..],
        b"b\0\0\0\x12ArraySize\0\0\0\0\x98b\0\0\0\x14CommandComplete\0"
    );
    // A negative binary count is refused.
    assert!(Response::parse(b'b', b"ArraySize\0\xff\xff\xff\xff").is_err());
}

#[test]
fn command_complete_replies_captured() {
    for tag in [b'd', b'c', b't', b'z', b'a', b'i', b'p', b'b'] {
        let mut wire = vec![tag, 0, 0, 0, 0x14];
        wire.extend_from_slice(b"CommandComplete\0");
        assert_eq!(replies(&wire), [Response::CommandComplete { tag }]);
    }
    let mut buf = BytesMut::new();
    assert!(response::write_command_complete(&mut buf, b'h').is_err());
    assert!(response::write_array_size(&mut buf, b'd', 1).is_err());
    assert!(buf.is_empty());
}

#[test]
fn watchdog_info_hand_built() {
    let json = r#"{"RemoteNodeCount":0,"NodeCount":1,"WatchdogNodes":[]}"#;
    let mut buf = BytesMut::new();
    response::write_watchdog_info(&mut buf, json).unwrap();
    let mut expected = vec![b'w', 0, 0, 0, (4 + 16 + json.len() + 1) as u8];
    expected.extend_from_slice(b"CommandComplete\0");
    expected.extend_from_slice(json.as_bytes());
    expected.push(0);
    assert_eq!(&buf[..], &expected[..]);
    assert_eq!(replies(&expected), [Response::WatchdogInfo { json }]);
}

#[test]
fn errors_and_notices_captured() {
    // Invalid node id for node info; a FATAL promote; an error from another source file.
    for wire in [
        "4500000057534552524f5200435858303030004d696e666f726d696e67206e6f646520696e666f206661696c\
         65640044696e76616c6964206e6f6465204944203a203700467063705f776f726b65722e63004c3834330000",
        "450000008153464154414c00435858303030004d696e76616c69642070726f6d6f74652072657175657374\
         0044737065636966696564206e6f646520697320616c7265616479207072696d617279206e6f64652c2063\
         616e27742070726f6d6f7465206e6f6465206964203100467063705f776f726b65722e63004c313331300000",
        "450000004e534552524f5200435858303030004d6e6f6465207265636f76657279206661696c65642c206e\
         6f64652069643a203120697320616c69766500467265636f766572792e63004c38350000",
    ] {
        let [Response::Error(e)] = replies(&hex(wire))[..] else {
            panic!("not one error");
        };
        assert_eq!(e.code, b"XX000");
    }
    // With client_min_messages = debug1, setting it is reported as a DEBUG notice.
    let notice = b"N\x00\x00\x00`SDEBUG\x00CXX000\x00MPCP setting parameter \
        \"client_min_messages\" to \"debug1\"\x00Fpcp_worker.c\x00L1481\x00\x00";
    let expected = ErrorResponse {
        severity: Severity::Debug,
        code: b"XX000",
        message: b"PCP setting parameter \"client_min_messages\" to \"debug1\"",
        detail: None,
        hint: None,
        file: Some(b"pcp_worker.c"),
        line: Some(1481),
    };
    assert_eq!(replies(notice), [Response::Notice(expected)]);
    assert!(!expected.closes_connection());
}

#[test]
fn long_error_field_is_cut_like_pgpool() {
    // Captured: a 267-byte detail. pgpool sends 254 bytes of it, the NUL, then one stray
    // byte (0xa2 here) which turns "Fpcp_worker.c" into a field with an unknown code.
    let detail = format!("invalid process ID : 99999{}", "x".repeat(240));
    let mut wire =
        b"E\x00\x00\x01FSERROR\x00CXX000\x00Minforming process info failed\x00D".to_vec();
    wire.extend_from_slice(&detail.as_bytes()[..254]);
    wire.extend_from_slice(b"\x00\xa2Fpcp_worker.c\x00L699\x00\x00");
    let mut buf = BytesMut::from(&wire[..]);
    let packet = split_response(&mut buf, DEFAULT_MAX_RESPONSE_LEN)
        .unwrap()
        .unwrap();
    let Response::Error(e) = packet.response().unwrap() else {
        panic!("not an error");
    };
    assert_eq!(e.detail, Some(&detail.as_bytes()[..254]));
    assert_eq!((e.file, e.line), (None, Some(699)));

    // Our writer cuts the same way, without the stray byte.
    let full = ErrorResponse {
        detail: Some(detail.as_bytes()),
        file: Some(b"pcp_worker.c"),
        ..e
    };
    let mut out = BytesMut::new();
    write_error_response(&mut out, &full).unwrap();
    let Response::Error(back) = Response::parse(b'E', &out[5..]).unwrap() else {
        panic!("not an error");
    };
    assert_eq!(back.detail, e.detail);
}

#[test]
fn response_parse_rejects_malformed_payloads() {
    let cases: &[(u8, &[u8])] = &[
        (b'm', b"abc"),
        (b'm', b"abcde"),
        (b'r', b"AuthenticationOk\0"),
        (b'l', b"CommandComplete\0-1\0"),
        (b'i', b"ArraySize\x002"),
        (b'i', b"Bogus\0"),
        (b'i', b"CommandComplete\0x"),
        (b'p', b"NodeInfo\0"),
        (b'd', b"CommandComplete"),
        (b'h', b"CommandComplete\0"),
        (b'w', b"CommandComplete\0{}"),
        (b'E', b"SERROR\0CXX000\0"),     // no message
        (b'E', b"SERROR\0CXX000\0Mm\0"), // no final NUL
        (b'E', b"SBOGUS\0CXX000\0Mm\0\0"),
        (b'E', b"SERROR\0CXX000\0Mm\0Lx\0\0"),
        (b'E', b"SERROR\0CXX000\0Mm\0\0\0"),
        (b'x', b""),
    ];
    for &(tag, payload) in cases {
        assert!(
            Response::parse(tag, payload).is_err(),
            "{} {payload:?} should not parse",
            char::from(tag)
        );
    }
}

#[test]
fn c_double_text_is_printf_f() {
    use super::codec::parse_c_double;
    let mut buf = BytesMut::new();
    for (value, text) in [
        (1_073_741_823.5, "1073741823.500000"),
        (0.0078125, "0.007812"), // an exact tie: glibc and Rust both round half to even
        (0.0234375, "0.023438"),
        (-0.0, "-0.000000"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        buf.clear();
        super::codec::put_double(&mut buf, value);
        assert_eq!(&buf[..], format!("{text}\0").as_bytes());
        // The text denotes a nearby double, which prints the same.
        let back = parse_c_double(text.as_bytes()).unwrap();
        let mut again = BytesMut::new();
        super::codec::put_double(&mut again, back);
        assert_eq!(again, buf, "{text}");
    }
    for bad in [
        "1.5",
        "01.000000",
        "1.0000000",
        "1",
        ".500000",
        "NaN",
        "1e3",
        "-",
        "",
    ] {
        assert_eq!(parse_c_double(bad.as_bytes()), None, "{bad}");
    }
    // 2^53 + 1 is not a double: %f of no double prints it.
    assert_eq!(parse_c_double(b"9007199254740993.000000"), None);
}
