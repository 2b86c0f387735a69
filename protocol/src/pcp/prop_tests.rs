//! Property tests: every value survives write then parse; every packet that parses is
//! re-written byte for byte; no input makes a parser panic.

use bytes::BytesMut;
use proptest::prelude::*;

use super::codec::parse_c_double;
use super::node::{BackendStatus, HealthCheckStats, NodeInfo, PgRole, PgStatus, Role, StatusName};
use super::notice::{ErrorResponse, Severity, MAX_FIELD_TEXT_LEN};
use super::process::{ProcessInfo, ProcessStatus};
use super::request::{Scope, ShutdownMode};
use super::response::{self, ConfigRow};
use super::*;

/// Text without NUL, leaked so values can borrow it for `'static`.
fn text(max: usize) -> impl Strategy<Value = &'static str> {
    proptest::string::string_regex(&format!("\\PC{{0,{max}}}"))
        .expect("valid regex")
        .prop_map(|s| &*s.leak())
}

/// Bytes without NUL, at most [`MAX_FIELD_TEXT_LEN`] long (longer ones are cut on write).
fn field_bytes() -> impl Strategy<Value = &'static [u8]> {
    proptest::collection::vec(1u8..=255, 0..=MAX_FIELD_TEXT_LEN).prop_map(|v| &*v.leak())
}

/// A double exactly as `%f` text denotes it (so value equality survives the round trip).
fn c_double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (0u32..1_000_000).prop_map(|n| f64::from(n) / 64.0),
    ]
    .prop_map(|v| {
        let mut buf = BytesMut::new();
        super::codec::put_double(&mut buf, v);
        parse_c_double(&buf[..buf.len() - 1]).unwrap_or(v)
    })
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![Just(Scope::Local), Just(Scope::Cluster)]
}

fn request() -> impl Strategy<Value = Request<'static>> {
    let id = any::<i32>();
    prop_oneof![
        Just(Request::SaltRequest),
        (text(30), text(32)).prop_map(|(user, response)| Request::Authenticate { user, response }),
        Just(Request::NodeCount),
        id.prop_map(|node_id| Request::NodeInfo { node_id }),
        id.prop_map(|node_id| Request::HealthCheckStats { node_id }),
        Just(Request::ProcessCount),
        id.prop_map(|pid| Request::ProcessInfo { pid }),
        Just(Request::PoolStatus),
        id.prop_map(|watchdog_id| Request::WatchdogInfo { watchdog_id }),
        (id, any::<bool>()).prop_map(|(node_id, gracefully)| Request::DetachNode {
            node_id,
            gracefully
        }),
        id.prop_map(|node_id| Request::AttachNode { node_id }),
        (id, any::<bool>(), any::<bool>()).prop_map(|(node_id, gracefully, switchover)| {
            Request::PromoteNode {
                node_id,
                gracefully,
                switchover,
            }
        }),
        id.prop_map(|node_id| Request::RecoveryNode { node_id }),
        (
            prop_oneof![
                Just(ShutdownMode::Smart),
                Just(ShutdownMode::Fast),
                Just(ShutdownMode::Immediate)
            ],
            scope()
        )
            .prop_map(|(mode, scope)| Request::StopPgpool { mode, scope }),
        scope().prop_map(|scope| Request::ReloadConfig { scope }),
        (text(30), text(30)).prop_map(|(name, value)| Request::SetParameter { name, value }),
        Just(Request::StopRecovery),
        Just(Request::InvalidateQueryCache),
        Just(Request::Disconnect),
    ]
}

fn node_info() -> impl Strategy<Value = NodeInfo<'static>> {
    let status = prop_oneof![
        Just(BackendStatus::Unused),
        Just(BackendStatus::ConnectWait),
        Just(BackendStatus::Up),
        Just(BackendStatus::Down)
    ];
    let pg_status = prop_oneof![
        Just(PgStatus::Up),
        Just(PgStatus::Down),
        Just(PgStatus::Unknown),
        Just(PgStatus::Recovering)
    ];
    let pg_role = prop_oneof![
        Just(PgRole::Primary),
        Just(PgRole::Standby),
        Just(PgRole::Main),
        Just(PgRole::Replica),
        Just(PgRole::Unknown)
    ];
    (
        (text(20), any::<i32>(), status, any::<bool>(), pg_status),
        (
            c_double().prop_filter("finite", |v| v.is_finite()),
            role(),
            pg_role,
        ),
        (any::<u64>(), text(12), text(12), any::<u64>()),
    )
        .prop_map(|(a, b, c)| NodeInfo {
            hostname: a.0,
            port: a.1,
            status: a.2,
            quarantine: a.3,
            pg_status: a.4,
            weight: b.0,
            role: b.1,
            pg_role: b.2,
            standby_delay: c.0,
            replication_state: c.1,
            replication_sync_state: c.2,
            status_changed_time: c.3,
        })
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Main),
        Just(Role::Replica),
        Just(Role::Primary),
        Just(Role::Standby)
    ]
}

fn health_check_stats() -> impl Strategy<Value = HealthCheckStats<'static>> {
    let status = prop_oneof![
        Just(StatusName::Unused),
        Just(StatusName::Waiting),
        Just(StatusName::Up),
        Just(StatusName::Down),
        Just(StatusName::Quarantine)
    ];
    (
        (
            any::<i32>(),
            text(20),
            any::<i32>(),
            status,
            role(),
            text(19),
        ),
        [any::<u64>(); 5],
        (c_double(), [any::<i32>(); 3], c_double()),
        [text(19), text(19), text(19), text(19)],
    )
        .prop_map(|(a, counts, d, last)| HealthCheckStats {
            node_id: a.0,
            hostname: a.1,
            port: a.2,
            status: a.3,
            role: a.4,
            last_status_change: a.5,
            total_count: counts[0],
            success_count: counts[1],
            fail_count: counts[2],
            skip_count: counts[3],
            retry_count: counts[4],
            average_retry_count: d.0,
            max_retry_count: d.1[0],
            max_health_check_duration: d.1[1],
            min_health_check_duration: d.1[2],
            average_health_check_duration: d.2,
            last_health_check: last[0],
            last_successful_health_check: last[1],
            last_skip_health_check: last[2],
            last_failed_health_check: last[3],
        })
}

fn process_info() -> impl Strategy<Value = ProcessInfo<'static>> {
    let status = prop_oneof![
        Just(ProcessStatus::WaitForConnection),
        Just(ProcessStatus::ExecuteCommand),
        Just(ProcessStatus::Idle),
        Just(ProcessStatus::IdleInTransaction),
        Just(ProcessStatus::Connecting)
    ];
    (
        [any::<i32>(); 4],
        [
            text(20),
            text(10),
            text(10),
            text(19),
            text(19),
            text(19),
            text(19),
        ],
        [any::<i32>(); 4],
        any::<bool>(),
        status,
    )
        .prop_map(|(a, t, b, pool_connected, status)| ProcessInfo {
            pool_pid: a[0],
            start_time: t[0],
            client_connection_count: a[1],
            pool_id: a[2],
            backend_id: a[3],
            database: t[1],
            username: t[2],
            backend_connection_time: t[3],
            client_connection_time: t[4],
            client_disconnection_time: t[5],
            client_idle_duration: t[6],
            major_version: b[0],
            minor_version: b[1],
            pool_counter: b[2],
            pool_backend_pid: b[3],
            pool_connected,
            status,
        })
}

fn error_response() -> impl Strategy<Value = ErrorResponse<'static>> {
    let severity = prop_oneof![
        Just(Severity::Debug),
        Just(Severity::Log),
        Just(Severity::Info),
        Just(Severity::Notice),
        Just(Severity::Warning),
        Just(Severity::Error),
        Just(Severity::Fatal),
        Just(Severity::Panic)
    ];
    (
        severity,
        (field_bytes(), field_bytes()),
        proptest::option::of(field_bytes()),
        proptest::option::of(field_bytes()),
        proptest::option::of(field_bytes()),
        proptest::option::of(any::<i32>()),
    )
        .prop_map(
            |(severity, (code, message), detail, hint, file, line)| ErrorResponse {
                severity,
                code,
                message,
                detail,
                hint,
                file,
                line,
            },
        )
}

fn response() -> impl Strategy<Value = Response<'static>> {
    let count = 0..=i32::MAX as u32;
    let run_tag = prop_oneof![Just(b'i'), Just(b'p'), Just(b'b')];
    prop_oneof![
        any::<[u8; 4]>().prop_map(Response::Salt),
        Just(Response::AuthenticationOk),
        count.clone().prop_map(Response::NodeCount),
        (run_tag, count).prop_map(|(tag, count)| Response::ArraySize { tag, count }),
        node_info().prop_map(Response::NodeInfo),
        health_check_stats()
            .prop_filter("no nan", |s| {
                !s.average_retry_count.is_nan() && !s.average_health_check_duration.is_nan()
            })
            .prop_map(Response::HealthCheckStats),
        process_info().prop_map(Response::ProcessInfo),
        (text(30), text(60), text(40)).prop_map(|(name, value, description)| {
            Response::ConfigRow(ConfigRow {
                name,
                value,
                description,
            })
        }),
        text(300).prop_map(|json| Response::WatchdogInfo { json }),
        proptest::sample::select(&b"ipbdctza"[..])
            .prop_map(|tag| Response::CommandComplete { tag }),
        error_response().prop_map(|e| if e.severity >= Severity::Error {
            Response::Error(e)
        } else {
            Response::Notice(e)
        }),
    ]
}

/// Writes `response` and splits it back off.
fn round_trip_response(response: &Response<'_>) -> (BytesMut, Packet) {
    let mut buf = BytesMut::new();
    response.write(&mut buf).unwrap();
    let wire = buf.clone();
    let packet = split_response(&mut buf, DEFAULT_MAX_RESPONSE_LEN)
        .unwrap()
        .unwrap();
    assert!(buf.is_empty());
    (wire, packet)
}

proptest! {
    #[test]
    fn requests_round_trip(request in request()) {
        let mut buf = BytesMut::new();
        request.write(&mut buf).unwrap();
        let packet = split_request(&mut buf).unwrap().expect("whole");
        prop_assert!(buf.is_empty());
        prop_assert_eq!(packet.request().unwrap(), request);
    }

    #[test]
    fn responses_round_trip(response in response()) {
        let (_, packet) = round_trip_response(&response);
        prop_assert_eq!(packet.response().unwrap(), response);
    }

    #[test]
    fn process_counts_round_trip(pids in proptest::collection::vec(any::<i32>(), 0..50)) {
        let mut buf = BytesMut::new();
        response::write_process_count(&mut buf, &pids).unwrap();
        let packet = split_response(&mut buf, DEFAULT_MAX_RESPONSE_LEN).unwrap().unwrap();
        let Response::ProcessCount(view) = packet.response().unwrap() else {
            panic!("not a process count");
        };
        prop_assert_eq!(view.pids().collect::<Vec<_>>(), pids);
    }

    /// Flip, drop or insert bytes in a valid request: whatever still parses must be
    /// re-written to exactly the bytes it was parsed from.
    #[test]
    fn parsed_requests_are_canonical(
        request in request(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let mut wire = BytesMut::new();
        request.write(&mut wire).unwrap();
        let mut payload = wire[5..].to_vec();
        mutate(&mut payload, &edits);
        if let Ok(parsed) = Request::parse(wire[0], &payload) {
            let mut again = BytesMut::new();
            match parsed.write(&mut again) {
                Ok(()) => prop_assert_eq!(&again[5..], &payload[..]),
                // Parsing does not check lengths; framing and the writers do.
                Err(Error::TooLong { .. } | Error::UserTooLong { .. }) => {}
                Err(err) => prop_assert!(false, "{err}"),
            }
        }
    }

    #[test]
    fn parsed_responses_are_canonical(
        response in response(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let (wire, _) = round_trip_response(&response);
        let mut payload = wire[5..].to_vec();
        mutate(&mut payload, &edits);
        // Error packets skip unknown fields and may repeat one, so only the others are
        // canonical.
        if let Ok(parsed) = Response::parse(wire[0], &payload) {
            if !matches!(parsed, Response::Error(_) | Response::Notice(_)) {
                let mut again = BytesMut::new();
                parsed.write(&mut again).unwrap();
                prop_assert_eq!(&again[5..], &payload[..]);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(tag in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Request::parse(tag, &bytes);
        let _ = Response::parse(tag, &bytes);
        let _ = Header::parse(&bytes);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(packet)) = split_request(&mut buf) {
            let _ = packet.request();
        }
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(packet)) = split_response(&mut buf, 1 << 16) {
            let _ = packet.response();
        }
    }

    #[test]
    fn request_lengths_follow_the_260_limit(tag in any::<u8>(), len in any::<i32>()) {
        let header = Header { tag, len };
        prop_assert_eq!(header.check_request().is_ok(), (4..260).contains(&len));
        if let Err(err) = header.check_request() {
            let report = err.report().unwrap();
            prop_assert!(report.closes_connection());
            let detail = format!("incorrect packet length ({len})");
            prop_assert_eq!(report.detail.as_deref(), Some(detail.as_bytes()));
        }
    }

    #[test]
    fn c_doubles_parse_back_to_their_text(v in any::<f64>()) {
        let mut buf = BytesMut::new();
        super::codec::put_double(&mut buf, v);
        let text = &buf[..buf.len() - 1];
        let back = parse_c_double(text).unwrap();
        let mut again = BytesMut::new();
        super::codec::put_double(&mut again, back);
        prop_assert_eq!(&again[..], &buf[..]);
    }
}

/// Applies edits: kind 0 overwrites, 1 removes, 2 inserts a byte at the index.
fn mutate(payload: &mut Vec<u8>, edits: &[(prop::sample::Index, u8, u8)]) {
    for (at, byte, kind) in edits {
        match (kind, payload.is_empty()) {
            (0, false) => {
                let i = at.index(payload.len());
                payload[i] = *byte;
            }
            (1, false) => {
                payload.remove(at.index(payload.len()));
            }
            _ => {
                let i = at.index(payload.len() + 1);
                payload.insert(i, *byte);
            }
        }
    }
}
