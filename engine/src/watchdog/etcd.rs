//! A small client of etcd's v3 API through its HTTP/JSON gateway (`/v3/...`): leases, range,
//! put, delete, a guarded transaction, and the election API's campaign. Keys and values travel
//! base64-encoded, 64-bit numbers as JSON strings, as the gateway's mapping of the gRPC API.
//!
//! Each call tries the member that answered last, then the others once each; an expired auth
//! token is renewed once. Blocking, for the watchdog's threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::http::{self, Abort, Endpoint, HttpError, Limits};

/// Why an etcd call failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No member answered.
    #[error("no etcd member answered: {0}")]
    Unreachable(String),
    /// A member answered with an error.
    #[error("etcd: {message} (code {code})")]
    Server {
        /// gRPC status code.
        code: i64,
        /// etcd's message.
        message: String,
    },
    /// A member answered something this client cannot read.
    #[error("etcd: unexpected answer to {call}: {detail}")]
    Protocol {
        /// The API path.
        call: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// One key as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    /// The key (UTF-8; corepool writes only UTF-8 keys).
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
    /// Revision at which the key was created.
    pub create_revision: i64,
    /// The lease it is bound to (0: none).
    pub lease: i64,
}

/// One operation of a guarded transaction.
#[derive(Debug, Clone)]
pub enum TxnOp {
    /// Put `key` = `value`, bound to `lease` (0: none).
    Put {
        /// Key.
        key: String,
        /// Value.
        value: Vec<u8>,
        /// Lease (0: none).
        lease: i64,
    },
    /// Delete `key`.
    Delete {
        /// Key.
        key: String,
    },
}

/// Credentials for etcd's authentication.
#[derive(Clone)]
pub struct Credentials {
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// An etcd client over a list of members. Cheap to clone; clones share the member choice and
/// the auth token.
#[derive(Debug, Clone)]
pub struct Etcd {
    endpoints: Arc<[Endpoint]>,
    current: Arc<AtomicUsize>,
    tls: Option<Arc<rustls::ClientConfig>>,
    credentials: Option<Credentials>,
    token: Arc<Mutex<Option<String>>>,
    limits: Limits,
}

impl Etcd {
    /// A client of `endpoints`; each exchange is bounded by `limits`.
    pub fn new(
        endpoints: Vec<Endpoint>,
        tls: Option<Arc<rustls::ClientConfig>>,
        credentials: Option<Credentials>,
        limits: Limits,
    ) -> Self {
        Self {
            endpoints: endpoints.into(),
            current: Arc::new(AtomicUsize::new(0)),
            tls,
            credentials,
            token: Arc::new(Mutex::new(None)),
            limits,
        }
    }

    /// Grants a lease of `ttl`; returns its id and the TTL etcd granted (etcd may raise it).
    pub fn grant(&self, ttl: Duration) -> Result<(i64, u64), EtcdError> {
        let v = self.call("/v3/lease/grant", json!({ "TTL": ttl.as_secs().max(1) }))?;
        Ok((
            int(&v, "ID", "lease/grant")?,
            int(&v, "TTL", "lease/grant")? as u64,
        ))
    }

    /// Renews lease `id`; returns the remaining TTL (0: the lease is gone).
    pub fn keep_alive(&self, id: i64) -> Result<u64, EtcdError> {
        let v = self.call("/v3/lease/keepalive", json!({ "ID": id.to_string() }))?;
        let result = v.get("result").unwrap_or(&v);
        Ok(opt_int(result, "TTL").max(0) as u64)
    }

    /// Revokes lease `id`: every key bound to it goes at once.
    pub fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        self.call("/v3/lease/revoke", json!({ "ID": id.to_string() }))
            .map(drop)
    }

    /// Every key under `prefix` (a linearizable read: it needs a quorum of members).
    pub fn range_prefix(&self, prefix: &str) -> Result<Vec<Kv>, EtcdError> {
        let v = self.call(
            "/v3/kv/range",
            json!({ "key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix)) }),
        )?;
        let Some(kvs) = v.get("kvs").and_then(Value::as_array) else {
            return Ok(Vec::new());
        };
        kvs.iter().map(parse_kv).collect()
    }

    /// Puts `key` = `value` bound to `lease` (0: none).
    pub fn put(&self, key: &str, value: &[u8], lease: i64) -> Result<(), EtcdError> {
        self.call("/v3/kv/put", put_body(key, value, lease))
            .map(drop)
    }

    /// Runs `ops` only if `guard` still exists with creation revision `rev`; returns whether
    /// it did. The leader writes the shared state this way, so a deposed leader cannot.
    pub fn txn_if_created(&self, guard: &str, rev: i64, ops: &[TxnOp]) -> Result<bool, EtcdError> {
        let success: Vec<Value> = ops
            .iter()
            .map(|op| match op {
                TxnOp::Put { key, value, lease } => {
                    json!({ "request_put": put_body(key, value, *lease) })
                }
                TxnOp::Delete { key } => {
                    json!({ "request_delete_range": { "key": b64(key.as_bytes()) } })
                }
            })
            .collect();
        let body = json!({
            "compare": [{
                "key": b64(guard.as_bytes()),
                "target": "CREATE",
                "result": "EQUAL",
                "create_revision": rev.to_string(),
            }],
            "success": success,
        });
        let v = self.call("/v3/kv/txn", body)?;
        Ok(v.get("succeeded").and_then(Value::as_bool).unwrap_or(false))
    }

    /// The election API's Campaign: adds this lease's candidate key under `election` with
    /// `value` and returns once it is the oldest (this instance leads). It may block for as
    /// long as another instance leads; `abort` lets another thread end the wait.
    pub fn campaign(
        &self,
        election: &str,
        lease: i64,
        value: &[u8],
        abort: &Abort,
    ) -> Result<(), EtcdError> {
        let body = json!({
            "name": b64(election.as_bytes()),
            "lease": lease.to_string(),
            "value": b64(value),
        });
        let limits = Limits {
            connect: self.limits.connect,
            io: Duration::from_secs(24 * 3600),
        };
        self.call_with("/v3/election/campaign", &body, limits, Some(abort))
            .map(drop)
    }

    fn call(&self, path: &'static str, body: Value) -> Result<Value, EtcdError> {
        self.call_with(path, &body, self.limits, None)
    }

    fn call_with(
        &self,
        path: &'static str,
        body: &Value,
        limits: Limits,
        abort: Option<&Abort>,
    ) -> Result<Value, EtcdError> {
        let bytes = body.to_string().into_bytes();
        match self.try_members(path, &bytes, limits, abort) {
            Err(EtcdError::Server { message, .. })
                if self.credentials.is_some() && message.contains("auth") =>
            {
                self.set_token(None);
                self.try_members(path, &bytes, limits, abort)
            }
            other => other,
        }
    }

    fn try_members(
        &self,
        path: &'static str,
        body: &[u8],
        limits: Limits,
        abort: Option<&Abort>,
    ) -> Result<Value, EtcdError> {
        let count = self.endpoints.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut last = String::from("no endpoint configured");
        for i in 0..count {
            let at = (first + i) % count;
            let endpoint = &self.endpoints[at];
            let token = match self.token_for(endpoint, limits) {
                Ok(t) => t,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match http::post(
                endpoint,
                self.tls.as_ref(),
                path,
                token.as_deref(),
                body,
                limits,
                abort,
            ) {
                Ok(answer) => {
                    self.current.store(at, Ordering::Relaxed);
                    return decode(path, answer.status, &answer.body);
                }
                Err(e @ (HttpError::BadEndpoint(_) | HttpError::NoTls(_))) => last = e.to_string(),
                Err(e) => last = e.to_string(),
            }
        }
        Err(EtcdError::Unreachable(last))
    }

    /// The auth token, authenticating first when there are credentials and no token yet.
    fn token_for(&self, endpoint: &Endpoint, limits: Limits) -> Result<Option<String>, EtcdError> {
        let Some(c) = &self.credentials else {
            return Ok(None);
        };
        if let Some(t) = self.token.lock().ok().and_then(|g| g.clone()) {
            return Ok(Some(t));
        }
        let body = json!({ "name": c.user, "password": c.password }).to_string();
        let answer = http::post(
            endpoint,
            self.tls.as_ref(),
            "/v3/auth/authenticate",
            None,
            body.as_bytes(),
            limits,
            None,
        )
        .map_err(|e| EtcdError::Unreachable(e.to_string()))?;
        let v = decode("/v3/auth/authenticate", answer.status, &answer.body)?;
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| EtcdError::Protocol {
                call: "/v3/auth/authenticate",
                detail: "no token".into(),
            })?
            .to_owned();
        self.set_token(Some(token.clone()));
        Ok(Some(token))
    }

    fn set_token(&self, token: Option<String>) {
        if let Ok(mut g) = self.token.lock() {
            *g = token;
        }
    }
}

/// The gateway's answer: JSON on 200, `{"error", "message", "code"}` otherwise.
fn decode(call: &'static str, status: u16, body: &[u8]) -> Result<Value, EtcdError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| EtcdError::Protocol {
        call,
        detail: format!("HTTP {status}: {e}"),
    })?;
    if status == 200 && v.get("error").is_none() {
        return Ok(v);
    }
    let message = v
        .get("message")
        .or_else(|| v.get("error"))
        .and_then(Value::as_str)
        .unwrap_or("unknown error")
        .to_owned();
    Err(EtcdError::Server {
        code: v.get("code").and_then(Value::as_i64).unwrap_or(-1),
        message,
    })
}

fn put_body(key: &str, value: &[u8], lease: i64) -> Value {
    let mut v = json!({ "key": b64(key.as_bytes()), "value": b64(value) });
    if lease != 0 {
        v["lease"] = Value::String(lease.to_string());
    }
    v
}

fn parse_kv(v: &Value) -> Result<Kv, EtcdError> {
    let bad = |detail: &str| EtcdError::Protocol {
        call: "/v3/kv/range",
        detail: detail.to_owned(),
    };
    let key = unb64(
        v.get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("kv without key"))?,
    )
    .ok_or_else(|| bad("key is not base64"))?;
    let key = String::from_utf8(key).map_err(|_| bad("key is not UTF-8"))?;
    let value = match v.get("value").and_then(Value::as_str) {
        Some(s) => unb64(s).ok_or_else(|| bad("value is not base64"))?,
        None => Vec::new(),
    };
    Ok(Kv {
        key,
        value,
        create_revision: opt_int(v, "create_revision"),
        lease: opt_int(v, "lease"),
    })
}

/// The first key after every key that starts with `prefix` (etcd's `range_end` for a prefix).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    B64.decode(text).ok()
}

/// A 64-bit field: the gateway writes them as strings; absent means 0 (proto3).
fn opt_int(v: &Value, field: &str) -> i64 {
    match v.get(field) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn int(v: &Value, field: &str, call: &'static str) -> Result<i64, EtcdError> {
    match v.get(field) {
        Some(_) => Ok(opt_int(v, field)),
        None => Err(EtcdError::Protocol {
            call,
            detail: format!("no {field}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end("/a/"), b"/a0");
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }

    #[test]
    fn gateway_errors_and_kvs_decode() {
        let e = decode("x", 500, br#"{"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14}"#).unwrap_err();
        assert!(matches!(e, EtcdError::Server { code: 14, .. }), "{e}");
        assert!(decode("x", 200, b"<html>").is_err());
        let kv =
            parse_kv(&json!({"key":"L3AvYQ==","create_revision":"2","value":"eA==","lease":"41"}))
                .unwrap();
        assert_eq!(
            kv,
            Kv {
                key: "/p/a".into(),
                value: b"x".to_vec(),
                create_revision: 2,
                lease: 41
            }
        );
        assert!(parse_kv(&json!({"key": "!!"})).is_err());
    }
}
