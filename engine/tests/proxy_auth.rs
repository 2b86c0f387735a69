//! Client authentication through corepool: pool_hba.conf methods, pool_passwd secrets, and how
//! corepool then logs in to a backend that itself requires SCRAM or md5.

mod common;

use std::path::Path;

use common::{write_file, Proxy};
use corepool_engine::config::Config;
use corepool_testkit::{AuthMethod, Cluster};

const APP_PASSWORD: &str = "app s3cret";

/// A cluster whose host connections need SCRAM, with role `app` (SCRAM) and role `legacy`
/// (md5-stored password, md5 hba line).
fn cluster() -> Cluster {
    let cluster = Cluster::builder()
        .host_auth(AuthMethod::ScramSha256)
        .superuser_password("super pw")
        .hba_line("host all legacy 127.0.0.1/32 md5")
        .start()
        .expect("cluster");
    cluster
        .primary()
        .psql(
            "postgres",
            &format!(
                "CREATE ROLE app LOGIN PASSWORD '{APP_PASSWORD}'; \
                 SET password_encryption = 'md5'; CREATE ROLE legacy LOGIN PASSWORD 'old pw';"
            ),
        )
        .expect("roles");
    cluster
}

fn with_files(hba: &'static str, passwd: String) -> impl FnOnce(&mut Config, &Path) {
    move |c, dir| {
        write_file(dir, "pool_hba.conf", hba);
        let passwd_path = write_file(dir, "pool_passwd", &passwd);
        c.enable_pool_hba = true;
        c.pool_passwd = passwd_path.display().to_string();
        c.source_file = Some(dir.join("pgpool.conf"));
    }
}

fn psql(proxy: &Proxy, user: &str, password: &str) -> Result<String, String> {
    let out = proxy.psql_output("postgres", user, Some(password), "SELECT current_user");
    corepool_testkit::psql_result(&out)
}

#[test]
fn scram_client_with_a_clear_text_pool_passwd_entry_logs_in_to_a_scram_backend() {
    let proxy = Proxy::start_on(
        cluster(),
        with_files(
            "host all all 127.0.0.1/32 scram-sha-256\n",
            format!("app:TEXT{APP_PASSWORD}\n"),
        ),
    );
    assert_eq!(psql(&proxy, "app", APP_PASSWORD).unwrap(), "app");
    let err = psql(&proxy, "app", "wrong").unwrap_err();
    assert!(
        err.contains("password authentication failed for user \"app\""),
        "{err}"
    );
}

#[test]
fn scram_pass_through_with_the_servers_own_verifier() {
    let cluster = cluster();
    let verifier = cluster
        .primary()
        .psql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'",
        )
        .unwrap();
    assert!(verifier.starts_with("SCRAM-SHA-256$"));
    let proxy = Proxy::start_on(
        cluster,
        with_files(
            "host all all 127.0.0.1/32 scram-sha-256\n",
            format!("app:{verifier}\n"),
        ),
    );
    // corepool never sees the password: it logs in to the backend with the keys recovered from
    // the client's proof.
    assert_eq!(psql(&proxy, "app", APP_PASSWORD).unwrap(), "app");
    assert!(psql(&proxy, "app", "wrong")
        .unwrap_err()
        .contains("password authentication failed"));
}

#[test]
fn md5_client_with_an_md5_pool_passwd_entry_logs_in_to_an_md5_backend() {
    let cluster = cluster();
    let hash = cluster
        .primary()
        .psql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'legacy'",
        )
        .unwrap();
    assert!(hash.starts_with("md5"));
    let proxy = Proxy::start_on(
        cluster,
        with_files(
            "host all all 127.0.0.1/32 md5\n",
            format!("legacy:{hash}\n"),
        ),
    );
    assert_eq!(psql(&proxy, "legacy", "old pw").unwrap(), "legacy");
    let err = psql(&proxy, "legacy", "new pw").unwrap_err();
    assert!(
        err.contains("password authentication failed for user \"legacy\""),
        "{err}"
    );
}

#[test]
fn clear_text_password_method_lets_the_backend_verify() {
    let proxy = Proxy::start_on(
        cluster(),
        with_files("host all all 127.0.0.1/32 password\n", String::new()),
    );
    assert_eq!(psql(&proxy, "app", APP_PASSWORD).unwrap(), "app");
    let err = psql(&proxy, "app", "wrong").unwrap_err();
    assert!(
        err.contains("password authentication failed for user \"app\""),
        "{err}"
    );
}

#[test]
fn pool_hba_reject_and_no_match_refuse_with_28000() {
    let proxy = Proxy::start_on(
        cluster(),
        with_files(
            "host postgres legacy 127.0.0.1/32 reject\nhost postgres app 127.0.0.1/32 scram-sha-256\n",
            format!("app:TEXT{APP_PASSWORD}\n"),
        ),
    );
    let err = psql(&proxy, "legacy", "old pw").unwrap_err();
    assert!(
        err.contains("pool_hba.conf rejects connection for host \"127.0.0.1\", user \"legacy\""),
        "{err}"
    );
    // No line matches user postgres: rejected too.
    let err = psql(&proxy, "postgres", "super pw").unwrap_err();
    assert!(err.contains("pool_hba.conf rejects connection"), "{err}");
    assert_eq!(psql(&proxy, "app", APP_PASSWORD).unwrap(), "app");
}

#[test]
fn a_backend_needing_a_password_corepool_lacks_gives_a_clear_error() {
    let proxy = Proxy::start_on(
        cluster(),
        with_files("host all all 127.0.0.1/32 trust\n", String::new()),
    );
    let err = psql(&proxy, "app", "").unwrap_err();
    assert!(err.contains("add it to pool_passwd"), "{err}");
}

#[test]
fn without_pool_hba_clear_text_frontend_auth_forwards_the_password() {
    let proxy = Proxy::start_on(cluster(), |c, _| {
        c.enable_pool_hba = false;
        c.allow_clear_text_frontend_auth = true;
    });
    assert_eq!(psql(&proxy, "app", APP_PASSWORD).unwrap(), "app");
    let err = psql(&proxy, "app", "wrong").unwrap_err();
    assert!(
        err.contains("password authentication failed for user \"app\""),
        "{err}"
    );
}
