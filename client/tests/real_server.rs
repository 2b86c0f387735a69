//! The client against a real PostgreSQL server: queries, binary reads, errors, replication.

use corepool_client::replication::{parse_replication_message, ReplicationMessage};
use corepool_client::{ConnectOptions, Connection, Host, Replication};
use corepool_testkit::{AuthMethod, Cluster};

fn run<F: std::future::Future<Output = ()> + 'static>(f: F) {
    corepool_runtime::block_on(f).unwrap();
}

#[test]
fn queries_errors_and_replication() {
    let cluster = Cluster::builder()
        .host_auth(AuthMethod::ScramSha256)
        .superuser_password("s3cret")
        .start()
        .unwrap();
    let port = cluster.primary().port();
    let socket_dir = cluster.primary().socket_dir().to_owned();
    run(async move {
        let mut opts = ConnectOptions::new(Host::parse("127.0.0.1"), port, "postgres");
        opts.password = Some("wrong".into());
        let err = Connection::connect(&opts).await.unwrap_err();
        assert_eq!(err.code(), Some("28P01"), "{err}");
        opts.password = Some("s3cret".into());
        let mut c = Connection::connect(&opts).await.unwrap();
        let rows = c
            .simple_query("SELECT 1 AS a, NULL::text AS b; SELECT 'x'")
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text(0).unwrap(), Some("1"));
        assert_eq!(rows[0].text(1).unwrap(), None);
        assert_eq!(rows[0].columns()[1], "b");
        let err = c.simple_query("SELECT 1/0").await.unwrap_err();
        assert_eq!(err.code(), Some("22012"));
        // Notices keep every field the server sent.
        c.simple_query(
            "DO $$ BEGIN RAISE WARNING USING MESSAGE = 'm', DETAIL = 'd', HINT = 'h', \
             ERRCODE = '01P01'; RAISE NOTICE 'plain'; END $$",
        )
        .await
        .unwrap();
        let notices = c.take_notices();
        assert_eq!(
            notices,
            [
                corepool_client::Notice {
                    severity: "WARNING".into(),
                    code: "01P01".into(),
                    message: "m".into(),
                    detail: Some("d".into()),
                    hint: Some("h".into()),
                },
                corepool_client::Notice::info("00000", "plain"),
            ]
        );
        // Still usable after an error.
        let v = c
            .query_binary(
                "SELECT pg_read_binary_file($1, $2, $3, true)",
                &[Some("PG_VERSION"), Some("0"), Some("100")],
            )
            .await
            .unwrap();
        assert_eq!(v.as_deref(), Some(&b"15\n"[..]));
        let v = c
            .query_binary(
                "SELECT pg_read_binary_file($1, 0, 10, true)",
                &[Some("nope")],
            )
            .await
            .unwrap();
        assert_eq!(v, None);
        c.close().await;

        // UNIX socket, physical replication.
        let mut opts = ConnectOptions::new(Host::Unix(socket_dir), port, "postgres");
        opts.replication = Some(Replication::Physical);
        let mut r = Connection::connect(&opts).await.unwrap();
        let sys = r.identify_system().await.unwrap();
        assert_eq!(sys.timeline, 1);
        r.create_physical_slot("client_test", true).await.unwrap();
        let pos = u64::from_str_radix(sys.xlogpos.split('/').nth(1).unwrap(), 16).unwrap();
        r.start_replication(Some("client_test"), pos & !0xFF_FFFF, 1)
            .await
            .unwrap();
        let msg = r.copy_data().await.unwrap().unwrap();
        match parse_replication_message(&msg).unwrap() {
            ReplicationMessage::XLogData(x) => assert_eq!(x.start, pos & !0xFF_FFFF),
            ReplicationMessage::Keepalive(_) => {}
            other => panic!("{other:?}"),
        }
        r.end_copy_both().await.unwrap();
        assert_eq!(r.show("wal_segment_size").await.unwrap(), "16MB");
    });
}

/// Prepared executions read row by row, split off the buffer (`next_fetched`) and received in
/// place (`next_fetched_into`), give the same values, NULLs and errors; the session stays in
/// step after each.
#[test]
fn prepared_rows_copied_and_in_place() {
    use corepool_client::{Fetched, Placed};
    let cluster = Cluster::builder().start().unwrap();
    let port = cluster.primary().port();
    run(async move {
        let opts = ConnectOptions::new(Host::parse("127.0.0.1"), port, "postgres");
        let mut c = Connection::connect(&opts).await.unwrap();
        // Rows of i*7000 bytes of byte (i % 251), a NULL when i = 3.
        let sql = "SELECT CASE WHEN i = 3 THEN NULL \
                   ELSE decode(repeat(lpad(to_hex(i % 251), 2, '0'), i * 7000), 'hex') END \
                   FROM generate_series(1, $1::int) AS i";
        c.prepare("rows", sql).await.unwrap();
        let expected = |i: usize| (i != 3).then(|| vec![(i % 251) as u8; i * 7000]);

        c.send_prepared("rows", &[Some("12")]).await.unwrap();
        // A second execution pipelined behind the first.
        c.send_prepared("rows", &[Some("5")]).await.unwrap();
        let mut i = 1;
        while let Fetched::Row(v) = c.next_fetched().await.unwrap() {
            assert_eq!(v.as_deref(), expected(i).as_deref(), "row {i}");
            i += 1;
        }
        assert_eq!(i, 13);
        let mut dest = vec![0u8; 100_000];
        let mut i = 1;
        while let Placed::Row(n) = c.next_fetched_into(&mut dest).await.unwrap() {
            let got = n.map(|n| dest[..n].to_vec());
            assert_eq!(got, expected(i), "row {i}");
            i += 1;
        }
        assert_eq!(i, 6);

        // A value larger than the destination is refused, not truncated.
        c.send_prepared("rows", &[Some("2")]).await.unwrap();
        let mut small = vec![0u8; 10_000];
        assert_eq!(
            c.next_fetched_into(&mut small).await.unwrap(),
            Placed::Row(Some(7000))
        );
        assert!(c.next_fetched_into(&mut small).await.is_err());

        // Errors come back with their SQLSTATE and leave the session usable.
        let mut c = Connection::connect(&opts).await.unwrap();
        c.prepare("div", "SELECT 1 / $1::int").await.unwrap();
        c.send_prepared("div", &[Some("0")]).await.unwrap();
        let err = c.next_fetched_into(&mut dest).await.unwrap_err();
        assert_eq!(err.code(), Some("22012"), "{err}");
        let err = c.prepare("bad", "SELEC 1").await.unwrap_err();
        assert_eq!(err.code(), Some("42601"), "{err}");
        c.send_prepared("div", &[Some("4")]).await.unwrap();
        assert_eq!(
            c.next_fetched().await.unwrap(),
            Fetched::Row(Some(bytes::Bytes::from_static(&[0, 0, 0, 0])))
        );
        assert_eq!(c.next_fetched().await.unwrap(), Fetched::Done);
        c.close().await;
    });
}
