//! The SCRAM verifier PostgreSQL 15 stores, served by the crate's `ScramServer`; and a verifier
//! the crate builds, accepted by PostgreSQL.

use corepool_protocol::auth::{
    AuthError, ScramServer, ScramSha256, ScramVerifier, DEFAULT_ITERATIONS,
};
use corepool_testkit::{AuthMethod, Node};

use crate::auth::{cluster, PASSWORD};
use crate::client::{Conn, Credential, Reads, TestResult, DATABASE};

/// The stored secret of `role`, read over the Unix socket.
fn rolpassword(node: &Node, role: &str) -> TestResult<String> {
    let sql = format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'");
    Ok(node.psql(DATABASE, &sql)?)
}

/// Runs a whole exchange in process between a `ScramSha256` client with `password` and a
/// `ScramServer` holding `verifier`; returns the server, which knows the client's key on
/// success.
fn exchange(verifier: &ScramVerifier, password: &str) -> Result<ScramServer, AuthError> {
    let mut server = ScramServer::new(verifier.clone(), &mut rand::thread_rng());
    let mut client = ScramSha256::new(password.as_bytes());
    server.update(client.message())?;
    client.update(server.message())?;
    server.finish(client.message())?;
    client.finish(server.message())?;
    Ok(server)
}

#[test]
fn postgres15_verifier_checks_passwords_and_serves_scram() -> TestResult {
    let cluster = cluster(AuthMethod::ScramSha256)?;
    let node = cluster.primary();
    let stored = rolpassword(node, "postgres")?;
    let verifier = ScramVerifier::parse(&stored)?;
    assert_eq!(
        verifier.iterations(),
        DEFAULT_ITERATIONS,
        "PostgreSQL's default"
    );
    assert_eq!(verifier.salt().len(), 16, "PostgreSQL's salt length");
    assert_eq!(
        verifier.to_string(),
        stored,
        "Display gives back the stored form"
    );

    verifier.verify_password(PASSWORD.as_bytes())?;
    assert_eq!(
        verifier.verify_password(b"not the password"),
        Err(AuthError::PasswordMismatch)
    );

    // The crate's server, holding PostgreSQL's verifier, accepts the crate's client.
    let server = exchange(&verifier, PASSWORD)?;
    let client_key = server
        .client_key()
        .ok_or("no ClientKey after a good proof")?;
    assert_eq!(
        &client_key.stored_key(),
        verifier.stored_key(),
        "H(ClientKey)"
    );
    assert!(matches!(
        exchange(&verifier, "not the password"),
        Err(AuthError::PasswordMismatch)
    ));

    // Pass-through: the ClientKey learned in process logs into PostgreSQL, and the verifier's
    // ServerKey checks PostgreSQL's signature.
    let keys = Credential::ScramKeys(client_key.clone(), *verifier.server_key());
    let mut conn = Conn::connect(node.port(), keys, Reads::Large)?;
    assert_eq!(conn.value("SELECT current_user")?, "postgres");

    // With a wrong ServerKey, PostgreSQL accepts the proof but its signature does not check.
    let mut wrong_server_key = *verifier.server_key();
    wrong_server_key[0] ^= 1;
    let keys = Credential::ScramKeys(client_key.clone(), wrong_server_key);
    match Conn::login(node.port(), "postgres", keys, Reads::Large) {
        Err(e) => {
            let mismatch = e.downcast_ref::<AuthError>();
            assert_eq!(mismatch, Some(&AuthError::ServerSignatureMismatch), "{e}");
        }
        Ok(_) => return Err("a wrong ServerKey went unnoticed".into()),
    }
    Ok(())
}

#[test]
fn crate_built_verifiers_are_accepted_by_postgres() -> TestResult {
    let cluster = cluster(AuthMethod::ScramSha256)?;
    let node = cluster.primary();
    let port = node.port();
    let built = [
        (
            "gen_default",
            "generated pw",
            ScramVerifier::generate(b"generated pw"),
        ),
        (
            "gen_salted",
            "salted pw ß",
            ScramVerifier::with_salt("salted pw ß".as_bytes(), b"sixteen byte slt", 1000)?,
        ),
    ];
    for (role, password, verifier) in &built {
        // PostgreSQL stores a password that already is a SCRAM secret as it is.
        node.psql(
            DATABASE,
            &format!("CREATE ROLE {role} LOGIN PASSWORD '{verifier}'"),
        )?;
        assert_eq!(
            rolpassword(node, role)?,
            verifier.to_string(),
            "{role} stored as is"
        );
        let mut conn = Conn::connect_as(port, role, Credential::Password(password), Reads::Large)?;
        assert_eq!(conn.value("SELECT current_user")?, *role);
    }
    Ok(())
}
