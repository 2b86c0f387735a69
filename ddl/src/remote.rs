//! Foreign servers: how to reach one (its options and the user mapping, as `postgres_fdw`
//! reads them) and the connections a run keeps open to them.

use std::path::Path;
use std::time::Duration;

use corepool_client::{ConnectOptions, Host};
use corepool_protocol::ddl::catalog::server_sql;
use corepool_protocol::sqlstate;

use crate::error::{DdlExecError, ErrorKind};
use crate::server::{ClientSession, Notice, QueryError, SqlServer};

/// How to reach one foreign server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The catalog name.
    pub name: String,
    /// Where and as whom to connect.
    pub options: ConnectOptions,
}

impl ServerInfo {
    /// `host=… port=… dbname=… user=…`, without the password (for `--dry-run`).
    pub fn describe(&self) -> String {
        let host = match &self.options.host {
            Host::Tcp(h) => h.clone(),
            Host::Unix(d) => d.display().to_string(),
        };
        let db = self
            .options
            .database
            .as_deref()
            .unwrap_or(&self.options.user);
        format!(
            "host={host} port={} dbname={db} user={}",
            self.options.port, self.options.user
        )
    }
}

/// Looks `server` up on the local server and builds its connection options (`kind` is what
/// an error is reported as).
pub async fn lookup<L: SqlServer>(
    local: &mut L,
    server: &str,
    kind: ErrorKind,
    notices: &mut Vec<Notice>,
) -> Result<ServerInfo, DdlExecError> {
    let rows = local
        .query(&server_sql(server), notices)
        .await
        .map_err(|e| local_error(e, ErrorKind::Lookup))?
        .rows;
    let Some(row) = rows.into_iter().next() else {
        return Err(DdlExecError::new(
            ErrorKind::Lookup,
            sqlstate::UNDEFINED_OBJECT,
            format!("server \"{server}\" does not exist"),
        ));
    };
    let col = |i: usize| row.get(i).cloned().flatten();
    let wrapper = col(1).unwrap_or_default();
    if wrapper != "postgres_fdw" {
        return Err(DdlExecError::new(
            kind,
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("foreign server \"{server}\" uses foreign-data wrapper \"{wrapper}\""),
        )
        .with_detail("WITH PUSHDOWN and INCLUDE REMOTE reach postgres_fdw servers only."));
    }
    let server_options = parse_text_array(col(2).as_deref().unwrap_or("{}"));
    let Some(user_options) = col(3) else {
        let user = current_user(local, notices).await?;
        return Err(DdlExecError::new(
            ErrorKind::Lookup,
            sqlstate::UNDEFINED_OBJECT,
            format!("user mapping not found for \"{user}\""),
        ));
    };
    let user_options = parse_text_array(&user_options);
    let (Some(server_options), Some(user_options)) = (server_options, user_options) else {
        return Err(DdlExecError::new(
            ErrorKind::Lookup,
            sqlstate::INTERNAL_ERROR,
            format!("malformed options of foreign server \"{server}\""),
        ));
    };
    let get = |list: &[(String, String)], key: &str| {
        list.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let user = match get(&user_options, "user") {
        Some(u) => u,
        None => current_user(local, notices).await?,
    };
    let unusable = |what: String| {
        DdlExecError::new(kind, sqlstate::FEATURE_NOT_SUPPORTED, what)
            .with_detail(format!("foreign server \"{server}\""))
    };
    if let Some(mode) = get(&server_options, "sslmode") {
        if !matches!(mode.as_str(), "disable" | "allow" | "prefer") {
            return Err(unusable(format!(
                "sslmode \"{mode}\" is not supported for reaching foreign servers"
            )));
        }
    }
    let host = get(&server_options, "hostaddr")
        .or_else(|| get(&server_options, "host"))
        .map(|h| h.split(',').next().unwrap_or_default().to_owned())
        .filter(|h| !h.is_empty());
    let host = match host {
        Some(h) => Host::parse(&h),
        None if Path::new("/var/run/postgresql").is_dir() => {
            Host::Unix("/var/run/postgresql".into())
        }
        None => Host::Unix("/tmp".into()),
    };
    let port = match get(&server_options, "port") {
        Some(p) => p
            .split(',')
            .next()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .ok_or_else(|| unusable(format!("invalid port \"{p}\"")))?,
        None => 5432,
    };
    let mut options = ConnectOptions::new(host, port, user);
    options.database = get(&server_options, "dbname");
    options.password = get(&user_options, "password");
    options.application_name =
        Some(get(&server_options, "application_name").unwrap_or_else(|| "corepool-ddl".into()));
    if let Some(secs) = get(&server_options, "connect_timeout").and_then(|s| s.parse().ok()) {
        if secs > 0 {
            options.connect_timeout = Duration::from_secs(secs);
        }
    }
    Ok(ServerInfo {
        name: server.to_owned(),
        options,
    })
}

async fn current_user<L: SqlServer>(
    local: &mut L,
    notices: &mut Vec<Notice>,
) -> Result<String, DdlExecError> {
    let reply = local
        .query("SELECT CURRENT_USER", notices)
        .await
        .map_err(|e| local_error(e, ErrorKind::Lookup))?;
    Ok(reply
        .rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .unwrap_or_default())
}

/// A local query's failure as the run's error.
pub fn local_error(e: QueryError, kind: ErrorKind) -> DdlExecError {
    match e {
        QueryError::Server(n) => DdlExecError::from_server(kind, n),
        QueryError::Broken(why) => DdlExecError::new(
            ErrorKind::Connection,
            sqlstate::CONNECTION_FAILURE,
            "connection to the local server was lost",
        )
        .with_detail(why),
    }
}

/// One foreign server a run has opened.
pub struct Remote {
    /// How it was reached.
    pub info: ServerInfo,
    /// The connection; `None` once it broke.
    pub session: Option<ClientSession>,
    /// A transaction is open on it.
    pub in_transaction: bool,
}

impl Remote {
    /// Connects to the server.
    ///
    /// # Errors
    /// postgres_fdw's `could not connect to server "s1"` (08001) with the reason in DETAIL.
    pub async fn open(info: ServerInfo, kind: ErrorKind) -> Result<Remote, DdlExecError> {
        let session = ClientSession::connect(&info.options).await.map_err(|e| {
            DdlExecError::new(
                kind,
                sqlstate::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                format!("could not connect to server \"{}\"", info.name),
            )
            .with_detail(e.to_string())
        })?;
        let mut remote = Remote {
            info,
            session: Some(session),
            in_transaction: false,
        };
        if kind == ErrorKind::RemoteDrop {
            // As postgres_fdw's own sessions: the server then names the objects a CASCADE
            // drops with their schema (`drop cascades to view public.view1`), as the guide
            // shows. Creations keep the default path: column types are written as the user
            // wrote them.
            let mut ignored = Vec::new();
            let _ = remote
                .run("SET search_path = pg_catalog", &mut ignored)
                .await;
        }
        Ok(remote)
    }

    /// Runs `sql`; a broken connection is dropped (the server then rolls back what is open).
    pub async fn run(&mut self, sql: &str, notices: &mut Vec<Notice>) -> Result<(), QueryError> {
        let Some(session) = self.session.as_mut() else {
            return Err(QueryError::Broken(
                "the connection was lost earlier".to_owned(),
            ));
        };
        match session.query(sql, notices).await {
            Ok(_) => Ok(()),
            Err(e @ QueryError::Server(_)) => Err(e),
            Err(e @ QueryError::Broken(_)) => {
                self.session = None;
                self.in_transaction = false;
                Err(e)
            }
        }
    }

    /// Runs `sql` outside any transaction, reconnecting first if the connection broke.
    pub async fn run_again(
        &mut self,
        sql: &str,
        notices: &mut Vec<Notice>,
    ) -> Result<(), QueryError> {
        if self.session.is_none() {
            let session = ClientSession::connect(&self.info.options)
                .await
                .map_err(|e| QueryError::Broken(e.to_string()))?;
            self.session = Some(session);
        }
        self.run(sql, notices).await
    }

    /// Closes the connection.
    pub async fn close(self) {
        if let Some(s) = self.session {
            s.close().await;
        }
    }
}

/// Parses a one-dimensional `text[]` in PostgreSQL's output form (`{a=1,"b=x y"}`) into
/// `key=value` pairs; `None` when it is malformed or holds an element without `=`.
pub fn parse_text_array(text: &str) -> Option<Vec<(String, String)>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    if inner.is_empty() {
        return Some(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => item.push(chars.next()?),
                    '"' => break,
                    c => item.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                item.push(c);
                chars.next();
            }
        }
        let (k, v) = item.split_once('=')?;
        out.push((k.to_owned(), v.to_owned()));
        match chars.next() {
            None => return Some(out),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_text_array;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn option_arrays() {
        assert_eq!(
            parse_text_array("{host=127.0.0.1,port=5433,dbname=postgres}"),
            Some(pairs(&[
                ("host", "127.0.0.1"),
                ("port", "5433"),
                ("dbname", "postgres")
            ]))
        );
        assert_eq!(
            parse_text_array(r#"{"password=a \"b\", c\\d",user=x}"#),
            Some(pairs(&[("password", r#"a "b", c\d"#), ("user", "x")]))
        );
        assert_eq!(parse_text_array("{}"), Some(vec![]));
        assert_eq!(parse_text_array("{novalue}"), None);
        assert_eq!(parse_text_array("{\"unterminated}"), None);
        assert_eq!(parse_text_array("x"), None);
    }
}
