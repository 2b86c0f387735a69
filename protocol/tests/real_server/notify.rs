//! Messages the server sends on its own: NotificationResponse and ParameterStatus.

use corepool_protocol::message::backend::BackendMessage;
use corepool_protocol::message::tags::PARAMETER_STATUS_TAG;
use corepool_protocol::message::TransactionStatus;
use corepool_testkit::Cluster;

use crate::client::{final_status, messages, Conn, Credential, Reads, TestResult};
use crate::scan::check_scan_run_agrees;

#[test]
fn notification_and_parameter_status_arrive_unasked() -> TestResult {
    let cluster = Cluster::builder().start()?;
    let port = cluster.primary().port();
    let mut listener = Conn::connect(port, Credential::Password(""), Reads::Tiny(9))?;
    let mut notifier = Conn::connect(port, Credential::Password(""), Reads::Large)?;
    check_notifications(&mut listener, &mut notifier)?;
    check_parameter_status(&mut listener)?;
    check_scan_run_agrees(listener.transcript())?;
    Ok(())
}

/// NotificationResponse after LISTEN, from another session and from the listener itself.
fn check_notifications(listener: &mut Conn, notifier: &mut Conn) -> TestResult {
    listener.simple_query("LISTEN corepool_chan")?;

    // From another session: the notification arrives while the listener is idle.
    notifier.simple_query("NOTIFY corepool_chan, 'hello from afar'")?;
    let frame = listener.read_frame()?;
    let notification = expect!(frame, BackendMessage::NotificationResponse(n) => n);
    assert_eq!(notification.channel(), "corepool_chan");
    assert_eq!(notification.payload(), "hello from afar");
    assert_eq!(
        notification.process_id(),
        notifier.process_id()?,
        "notifier's pid"
    );

    // From the listener itself, without a payload: delivered before its ReadyForQuery.
    let frames = listener.simple_query("NOTIFY corepool_chan")?;
    let own_pid = listener.process_id()?;
    let mut seen = 0;
    for message in messages(&frames)? {
        if let BackendMessage::NotificationResponse(n) = message {
            assert_eq!((n.channel(), n.payload()), ("corepool_chan", ""));
            assert_eq!(n.process_id(), own_pid);
            seen += 1;
        }
    }
    assert_eq!(seen, 1, "one notification");
    Ok(())
}

/// ParameterStatus after SET, SET LOCAL and the ROLLBACK that undoes it.
fn check_parameter_status(conn: &mut Conn) -> TestResult {
    let frames = conn.simple_query("SET application_name = 'renamed by SET'")?;
    let tags: String = frames.iter().map(|f| char::from(f.tag())).collect();
    assert_eq!(
        tags, "CSZ",
        "CommandComplete, ParameterStatus, ReadyForQuery"
    );
    expect!(frames[0], BackendMessage::CommandComplete(c) => assert_eq!(c.tag(), "SET"));
    expect!(frames[1], BackendMessage::ParameterStatus(p) => {
        assert_eq!((p.name(), p.value()), ("application_name", "renamed by SET"));
    });

    // A SET LOCAL rolled back reports the old value again.
    let frames = conn.simple_query("BEGIN; SET LOCAL TimeZone = 'Asia/Tokyo'")?;
    assert_eq!(final_status(&frames)?, TransactionStatus::InTransaction);
    let reported: Vec<_> = messages(&frames)?
        .into_iter()
        .filter_map(|m| match m {
            BackendMessage::ParameterStatus(p) => Some((p.name(), p.value())),
            _ => None,
        })
        .collect();
    assert_eq!(reported, [("TimeZone", "Asia/Tokyo")]);
    let before = conn
        .parameter("TimeZone")
        .ok_or("no TimeZone at startup")?
        .to_owned();
    let frames = conn.simple_query("ROLLBACK")?;
    let status = frames
        .iter()
        .find(|f| f.tag() == PARAMETER_STATUS_TAG)
        .ok_or("no ParameterStatus after ROLLBACK")?;
    expect!(status, BackendMessage::ParameterStatus(p) => {
        assert_eq!((p.name(), p.value()), ("TimeZone", before.as_str()));
    });
    Ok(())
}
