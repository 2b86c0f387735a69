//! Tests of whole SCRAM exchanges: RFC 7677's vector, round trips, failures and fuzzing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;

const RFC_PASSWORD: &[u8] = b"pencil";
const RFC_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
    p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/// The verifier behind RFC 7677's example.
fn rfc_verifier() -> ScramVerifier {
    let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("base64");
    ScramVerifier::with_salt(RFC_PASSWORD, &salt, 4096).expect("valid count")
}

/// A cheap verifier (two iterations) for tests that run many exchanges.
fn cheap_verifier(password: &[u8]) -> ScramVerifier {
    ScramVerifier::with_salt(password, b"0123456789abcdef", 2).expect("valid count")
}

fn scram_kind(result: Result<(), AuthError>) -> Option<ScramErrorKind> {
    match result {
        Err(AuthError::Scram { kind, .. }) => Some(kind),
        _ => None,
    }
}

#[test]
fn client_reproduces_rfc_7677() {
    let mut client = ScramSha256::with_user_and_nonce("user", RFC_PASSWORD, RFC_CLIENT_NONCE)
        .expect("valid nonce");
    assert_eq!(client.message(), RFC_CLIENT_FIRST.as_bytes());
    client
        .update(RFC_SERVER_FIRST.as_bytes())
        .expect("server-first");
    assert_eq!(client.message(), RFC_CLIENT_FINAL.as_bytes());
    client
        .finish(RFC_SERVER_FINAL.as_bytes())
        .expect("server signature");
    assert!(client.message().is_empty());
}

#[test]
fn server_reproduces_rfc_7677() {
    let mut server = ScramServer::with_nonce(rfc_verifier(), RFC_SERVER_NONCE).expect("nonce");
    server
        .update(RFC_CLIENT_FIRST.as_bytes())
        .expect("client-first");
    assert_eq!(server.message(), RFC_SERVER_FIRST.as_bytes());
    server.finish(RFC_CLIENT_FINAL.as_bytes()).expect("proof");
    assert_eq!(server.message(), RFC_SERVER_FINAL.as_bytes());
}

/// Recomputes RFC 5802's formulas step by step with the primitives, for an exchange between
/// our client and server, and checks both sides agree with it.
#[test]
fn exchange_matches_an_independent_computation() {
    let (password, salt, iterations) = (b"corepool-secret", b"NaCl-NaCl-NaCl-!", 4096);
    let verifier = ScramVerifier::with_salt(password, salt, iterations).expect("valid count");
    let mut client = ScramSha256::with_nonce(password, "client-nonce").expect("nonce");
    let mut server = ScramServer::with_nonce(verifier.clone(), "server-nonce").expect("nonce");
    server.update(client.message()).expect("client-first");
    client.update(server.message()).expect("server-first");
    let client_final = client.message().to_vec();
    server.finish(&client_final).expect("proof");
    client.finish(server.message()).expect("signature");

    let hmac = |key: &[u8], data: &[u8]| -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    };
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key).to_vec();
    let server_key = hmac(&salted, b"Server Key");
    assert_eq!(verifier.stored_key().as_slice(), stored_key);
    assert_eq!(verifier.server_key().as_slice(), server_key);

    let nonce = "client-nonceserver-nonce";
    let server_first = format!("r={nonce},s={},i=4096", STANDARD.encode(salt));
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("n=,r=client-nonce,{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let expected_final = format!("{without_proof},p={}", STANDARD.encode(proof));
    assert_eq!(client_final, expected_final.as_bytes());
    let server_signature = hmac(&server_key, auth_message.as_bytes());
    assert_eq!(
        server.message(),
        format!("v={}", STANDARD.encode(server_signature)).as_bytes()
    );
    assert_eq!(
        server.client_key().map(|key| key.as_bytes().to_vec()),
        Some(client_key)
    );
}

#[test]
fn round_trip_with_random_nonces_and_postgres_defaults() {
    let verifier = ScramVerifier::generate("pässwörd".as_bytes());
    let mut server = ScramServer::new(verifier, &mut rand::thread_rng());
    let mut client = ScramSha256::new("pässwörd".as_bytes());
    assert!(client.message().starts_with(b"n,,n=,r="));
    server.update(client.message()).expect("client-first");
    client.update(server.message()).expect("server-first");
    server.finish(client.message()).expect("proof");
    client.finish(server.message()).expect("signature");
    assert!(server.client_key().is_some());
}

#[test]
fn wrong_password_is_password_mismatch() {
    let mut server = ScramServer::new(cheap_verifier(b"right"), &mut rand::thread_rng());
    let mut client = ScramSha256::new(b"wrong");
    server.update(client.message()).expect("client-first");
    client.update(server.message()).expect("server-first");
    let err = server.finish(client.message()).expect_err("wrong password");
    assert_eq!(err, AuthError::PasswordMismatch);
    assert_eq!(err.sqlstate().code(), "28P01");
    assert!(server.message().is_empty());
    assert!(server.client_key().is_none());
}

#[test]
fn server_without_the_password_fails_the_signature_check() {
    let mut server = ScramServer::new(cheap_verifier(b"other"), &mut rand::thread_rng());
    let mut client = ScramSha256::new(b"secret");
    server.update(client.message()).expect("client-first");
    client.update(server.message()).expect("server-first");
    // A fake server answering with a signature from the wrong key.
    let forged = format!("v={}", STANDARD.encode([0u8; 32]));
    assert_eq!(
        client.finish(forged.as_bytes()),
        Err(AuthError::ServerSignatureMismatch)
    );
}

#[test]
fn tampered_nonces_are_refused() {
    // The server's nonce must extend the client's.
    let mut client = ScramSha256::with_nonce(b"pw", "abc").expect("nonce");
    let kind = scram_kind(client.update(b"r=abXdef,s=c2FsdA==,i=2"));
    assert_eq!(kind, Some(ScramErrorKind::NonceMismatch));
    // ... and add something to it.
    let mut client = ScramSha256::with_nonce(b"pw", "abc").expect("nonce");
    let kind = scram_kind(client.update(b"r=abc,s=c2FsdA==,i=2"));
    assert_eq!(kind, Some(ScramErrorKind::NonceMismatch));
    // The client-final nonce must be the combined one.
    let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
    server.update(b"n,,n=,r=abc").expect("client-first");
    let kind = scram_kind(server.finish(b"c=biws,r=abcSRX,p=AAAA"));
    assert_eq!(kind, Some(ScramErrorKind::NonceMismatch));
}

#[test]
fn server_rejects_malformed_client_first() {
    let cases: &[(&[u8], ScramErrorKind)] = &[
        (b"", ScramErrorKind::Empty),
        (b"n,,n=,r=a\0b", ScramErrorKind::NulByte),
        (
            b"p=tls-server-end-point,,n=,r=abc",
            ScramErrorKind::ChannelBindingUnsupported,
        ),
        (b"x,,n=,r=abc", ScramErrorKind::InvalidChannelBindingFlag),
        (b"n,a=admin,n=,r=abc", ScramErrorKind::AuthzidUnsupported),
        (b"n;,n=,r=abc", ScramErrorKind::ExpectedComma),
        (b"n,", ScramErrorKind::UnexpectedEnd),
        (b"n,,m=ext,n=,r=abc", ScramErrorKind::MandatoryExtension),
        (
            b"n,,r=abc",
            ScramErrorKind::ExpectedAttribute { expected: 'n' },
        ),
        (b"n,,n=user", ScramErrorKind::UnexpectedEnd),
        (
            b"n,,n=,s=abc",
            ScramErrorKind::ExpectedAttribute { expected: 'r' },
        ),
        (b"n,,n=,r=", ScramErrorKind::InvalidNonce),
        (b"n,,n=,r=a b", ScramErrorKind::InvalidNonce),
        (b"n,,n=,r=\xc3\xa9", ScramErrorKind::InvalidNonce),
        (b"n,,n=,r=abc,", ScramErrorKind::UnexpectedEnd),
        (b"n,,n=,r=abc,1=x", ScramErrorKind::MalformedAttribute),
    ];
    for &(input, expected) in cases {
        let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
        let result = server.update(input);
        assert_eq!(
            result,
            Err(AuthError::Scram {
                message: ScramMessage::ClientFirst,
                kind: expected
            }),
            "{}",
            input.escape_ascii()
        );
        // A failed exchange stays failed.
        assert_eq!(
            server.update(b"n,,n=,r=abc"),
            Err(AuthError::InvalidState { step: "update" })
        );
    }
}

#[test]
fn server_accepts_what_postgres_accepts_in_client_first() {
    for input in [
        &b"y,,n=,r=abc"[..],
        b"n,,n=someone,r=abc",
        b"n,,n=*,r=abc,x=extension",
        b"n,,n=\xff,r=abc",
    ] {
        let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
        server.update(input).expect("accepted");
        assert!(server.message().starts_with(b"r=abcSRV,s="));
    }
}

#[test]
fn server_rejects_malformed_client_final() {
    let proof = STANDARD.encode([0u8; 32]);
    let cases: Vec<(Vec<u8>, ScramErrorKind)> = vec![
        (b"".to_vec(), ScramErrorKind::Empty),
        (
            b"r=abcSRV,p=x".to_vec(),
            ScramErrorKind::ExpectedAttribute { expected: 'c' },
        ),
        (
            b"c=eSws,r=abcSRV".to_vec(),
            ScramErrorKind::ChannelBindingMismatch,
        ),
        (b"c=biws,r=abcSRV".to_vec(), ScramErrorKind::UnexpectedEnd),
        (b"c=biws,r=abcSRV,".to_vec(), ScramErrorKind::UnexpectedEnd),
        (
            b"c=biws,r=abcSRV;p=x".to_vec(),
            ScramErrorKind::NonceMismatch,
        ),
        (
            b"c=biws,p=x".to_vec(),
            ScramErrorKind::ExpectedAttribute { expected: 'r' },
        ),
        (
            format!("c=biws,r=abcSRV,p={proof},x=1").into_bytes(),
            ScramErrorKind::TrailingData,
        ),
        (
            b"c=biws,r=abcSRV,p=!!!!".to_vec(),
            ScramErrorKind::InvalidBase64 { attribute: 'p' },
        ),
        (
            b"c=biws,r=abcSRV,p=AAAA".to_vec(),
            ScramErrorKind::InvalidKeyLength { attribute: 'p' },
        ),
    ];
    for (input, expected) in cases {
        let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
        server.update(b"n,,n=,r=abc").expect("client-first");
        assert_eq!(
            scram_kind(server.finish(&input)),
            Some(expected),
            "{}",
            input.escape_ascii()
        );
    }
    // Extensions before the proof are allowed (and covered by the proof): wrong proof here.
    let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
    server.update(b"n,,n=,r=abc").expect("client-first");
    let input = format!("c=biws,r=abcSRV,x=ext,p={proof}");
    assert_eq!(
        server.finish(input.as_bytes()),
        Err(AuthError::PasswordMismatch)
    );
}

#[test]
fn client_rejects_malformed_server_messages() {
    let first_cases: &[(&[u8], Option<ScramErrorKind>)] = &[
        (b"", Some(ScramErrorKind::Empty)),
        (
            b"m=x,r=abcS,s=c2FsdA==,i=2",
            Some(ScramErrorKind::MandatoryExtension),
        ),
        (
            b"s=c2FsdA==,r=abcS,i=2",
            Some(ScramErrorKind::ExpectedAttribute { expected: 'r' }),
        ),
        (
            b"r=abc\x01S,s=c2FsdA==,i=2",
            Some(ScramErrorKind::InvalidNonce),
        ),
        (
            b"r=abcS,s=c2F!dA==,i=2",
            Some(ScramErrorKind::InvalidBase64 { attribute: 's' }),
        ),
        (
            b"r=abcS,s=c2FsdA==,i=two",
            Some(ScramErrorKind::InvalidIterationCount),
        ),
        (
            b"r=abcS,s=c2FsdA==,i=-1",
            Some(ScramErrorKind::InvalidIterationCount),
        ),
        (b"r=abcS,s=c2FsdA==", Some(ScramErrorKind::UnexpectedEnd)),
        (
            b"r=abcS,s=c2FsdA==,i=2,",
            Some(ScramErrorKind::UnexpectedEnd),
        ),
        (
            b"r=abcS,s=c2FsdA==,i=2;",
            Some(ScramErrorKind::InvalidIterationCount),
        ),
        (b"r=abcS,s=c2FsdA==,i=0", None),
        (b"r=abcS,s=c2FsdA==,i=10000001", None),
        (b"r=abcS,s=c2FsdA==,i=99999999999999999", None),
    ];
    for &(input, expected) in first_cases {
        let mut client = ScramSha256::with_nonce(b"pw", "abc").expect("nonce");
        let result = client.update(input);
        match expected {
            Some(kind) => assert_eq!(scram_kind(result), Some(kind), "{input:?}"),
            None => assert!(
                matches!(result, Err(AuthError::IterationCountOutOfRange { .. })),
                "{input:?}"
            ),
        }
        assert!(client.message().is_empty());
    }

    let final_cases: &[(&[u8], AuthError)] = &[
        (
            b"e=invalid-proof",
            AuthError::ServerRejected {
                reason: "invalid-proof".into(),
            },
        ),
        (
            b"e=\xff",
            AuthError::Scram {
                message: ScramMessage::ServerFinal,
                kind: ScramErrorKind::InvalidUtf8,
            },
        ),
        (
            b"x=1",
            AuthError::Scram {
                message: ScramMessage::ServerFinal,
                kind: ScramErrorKind::ExpectedAttribute { expected: 'v' },
            },
        ),
        (
            b"v=AAAA",
            AuthError::Scram {
                message: ScramMessage::ServerFinal,
                kind: ScramErrorKind::InvalidKeyLength { attribute: 'v' },
            },
        ),
    ];
    for (input, expected) in final_cases {
        let mut client = ScramSha256::with_nonce(b"pw", "abc").expect("nonce");
        client
            .update(b"r=abcS,s=c2FsdA==,i=2")
            .expect("server-first");
        assert_eq!(client.finish(input).as_ref(), Err(expected));
    }
}

#[test]
fn steps_out_of_order_are_refused() {
    let mut client = ScramSha256::with_nonce(b"pw", "abc").expect("nonce");
    assert_eq!(
        client.finish(b"v=AAAA"),
        Err(AuthError::InvalidState { step: "finish" })
    );
    let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
    assert_eq!(
        server.finish(b"c=biws"),
        Err(AuthError::InvalidState { step: "finish" })
    );
    assert!(ScramSha256::with_nonce(b"pw", "a,b").is_err());
    assert!(ScramServer::with_nonce(cheap_verifier(b"pw"), "").is_err());
}

/// The pass-through trick: the proxy checks a client against the backend's verifier, then logs
/// into the backend with the recovered ClientKey, never seeing the password.
#[test]
fn client_key_from_a_proof_logs_into_the_backend() {
    let backend_verifier = cheap_verifier(b"s3cret");
    // Client -> proxy.
    let mut proxy = ScramServer::new(backend_verifier.clone(), &mut rand::thread_rng());
    let mut app = ScramSha256::new(b"s3cret");
    proxy.update(app.message()).expect("client-first");
    app.update(proxy.message()).expect("server-first");
    proxy.finish(app.message()).expect("proof");
    app.finish(proxy.message()).expect("signature");
    let client_key = proxy.client_key().cloned().expect("recovered key");
    assert_eq!(&client_key.stored_key(), backend_verifier.stored_key());

    // Proxy -> backend, with the key.
    let mut backend = ScramServer::new(backend_verifier.clone(), &mut rand::thread_rng());
    let mut upstream = ScramSha256::from_client_key(client_key, *backend_verifier.server_key());
    backend.update(upstream.message()).expect("client-first");
    upstream.update(backend.message()).expect("server-first");
    backend
        .finish(upstream.message())
        .expect("proof from the key");
    upstream
        .finish(backend.message())
        .expect("backend signature");

    // A backend with another verifier for the same password (other salt) refuses the key.
    let other = ScramVerifier::with_salt(b"s3cret", b"other salt", 2).expect("valid count");
    let mut backend = ScramServer::new(other, &mut rand::thread_rng());
    let key = ClientKey::from_bytes(*proxy.client_key().expect("key").as_bytes());
    let mut upstream = ScramSha256::from_client_key(key, *backend_verifier.server_key());
    backend.update(upstream.message()).expect("client-first");
    upstream.update(backend.message()).expect("server-first");
    assert_eq!(
        backend.finish(upstream.message()),
        Err(AuthError::PasswordMismatch)
    );
}

#[test]
fn debug_output_holds_no_secrets() {
    let mut server = ScramServer::with_nonce(rfc_verifier(), RFC_SERVER_NONCE).expect("nonce");
    server
        .update(RFC_CLIENT_FIRST.as_bytes())
        .expect("client-first");
    server.finish(RFC_CLIENT_FINAL.as_bytes()).expect("proof");
    let key = server.client_key().expect("key");
    let client = ScramSha256::new(b"pencil");
    let shown = format!("{server:?} {key:?} {client:?}");
    for secret in ["pencil", "WG5d8o", "wfPLwc", "dHzbZa", "6rriTR"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!shown.contains(&hex[..8]));
}

/// Flips or drops one byte of `input`.
fn mutate(input: &[u8], at: usize, byte: u8, truncate: bool) -> Vec<u8> {
    let mut out = input.to_vec();
    let at = at % out.len().max(1);
    if truncate {
        out.truncate(at);
    } else if let Some(b) = out.get_mut(at) {
        *b = byte;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut client = ScramSha256::with_nonce(b"pw", "abc").expect("nonce");
        let _ = client.update(&input);
        let _ = client.finish(&input);

        let mut client = ScramSha256::with_nonce(b"pw", "abc").expect("nonce");
        client.update(b"r=abcS,s=c2FsdA==,i=1").expect("server-first");
        prop_assert!(client.finish(&input).is_err());

        let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
        let _ = server.update(&input);
        let _ = server.finish(&input);

        let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
        server.update(b"n,,n=,r=abc").expect("client-first");
        prop_assert!(server.finish(&input).is_err());

        if let Ok(text) = std::str::from_utf8(&input) {
            let _ = ScramVerifier::parse(text);
        }
        let _ = crate::auth::StoredPassword::classify(&input);
        let _ = crate::auth::Md5Hash::parse(&input);
        let hash = crate::auth::Md5Hash::from_password(b"u", b"p");
        prop_assert!(hash.verify_response([1, 2, 3, 4], &input).is_err());
    }

    #[test]
    fn attribute_shaped_input_never_panics(
        parts in proptest::collection::vec("[a-zA-Z]?=?[ -~]{0,12}", 0..8),
        prefix in "(n|y|p|x)?,?(a=[a-z]*)?,?",
    ) {
        let body = parts.join(",");
        let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
        let _ = server.update(format!("{prefix}{body}").as_bytes());
        let _ = server.finish(body.as_bytes());
        let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
        server.update(b"n,,n=,r=abc").expect("client-first");
        let _ = server.finish(format!("c=biws,r=abcSRV,{body}").as_bytes());
        let mut client = ScramSha256::with_nonce(b"pw", "abc").expect("nonce");
        let _ = client.update(format!("r=abcS,{body}").as_bytes());
    }

    #[test]
    fn any_change_to_the_final_messages_is_refused(
        at in any::<usize>(),
        byte in any::<u8>(),
        truncate in any::<bool>(),
    ) {
        let mut client = ScramSha256::with_nonce(b"pw", "abc").expect("nonce");
        let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
        server.update(client.message()).expect("client-first");
        client.update(server.message()).expect("server-first");
        let client_final = client.message().to_vec();
        let changed = mutate(&client_final, at, byte, truncate);
        prop_assume!(changed != client_final);
        prop_assert!(server.finish(&changed).is_err());

        let mut server = ScramServer::with_nonce(cheap_verifier(b"pw"), "SRV").expect("nonce");
        server.update(b"n,,n=,r=abc").expect("client-first");
        server.finish(&client_final).expect("proof");
        let server_final = server.message().to_vec();
        let changed = mutate(&server_final, at, byte, truncate);
        prop_assume!(changed != server_final);
        prop_assert!(client.finish(&changed).is_err());
    }
}
