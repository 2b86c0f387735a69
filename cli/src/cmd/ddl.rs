//! `corepool ddl`: runs a script whose HighGo sharding DDL is translated into standard
//! PostgreSQL and postgres_fdw statements (everything else runs as written), like psql would.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::anyhow;
use clap::{ArgAction, Args};
use corepool_ddl::client::{pgpass, ConnectOptions, Host};
use corepool_ddl::{dry_run, execute, ClientSession, DdlExecError, Notice, SqlServer};
use corepool_protocol::ddl;
use corepool_protocol::sql::split;

use super::Failure;

/// psql's connection flags, `-c` / `-f`, and `--dry-run`.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct DdlArgs {
    /// Run this SQL (one or more statements separated by `;`); repeatable, run in order as
    /// psql runs several `-c`.
    #[arg(short = 'c', long = "command", conflicts_with = "file")]
    command: Vec<String>,
    /// Run the statements in this file (`-` for standard input); repeatable, run in order.
    #[arg(short = 'f', long = "file")]
    file: Vec<PathBuf>,
    /// Print the standard SQL each statement would run, and where, without changing anything
    /// (only catalog queries run).
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Database server host or socket directory.
    #[arg(short = 'h', long = "host", env = "PGHOST")]
    host: Option<String>,
    /// Database server port.
    #[arg(short = 'p', long = "port", env = "PGPORT", default_value_t = 5432)]
    port: u16,
    /// Database user name.
    #[arg(short = 'U', long = "username", env = "PGUSER")]
    username: Option<String>,
    /// Database name.
    #[arg(short = 'd', long = "dbname", env = "PGDATABASE")]
    dbname: Option<String>,
    /// Password (prefer PGPASSWORD or ~/.pgpass).
    #[arg(
        long = "password",
        env = "PGPASSWORD",
        hide_env_values = true,
        hide = true
    )]
    password: Option<String>,
    /// Never prompt for a password (accepted; corepool never prompts).
    #[arg(short = 'w', long = "no-password")]
    no_password: bool,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

/// Runs the script; stops at the first failing statement, as `psql -v ON_ERROR_STOP=1` does.
pub fn run(args: DdlArgs) -> Result<(), Failure> {
    let script = read_script(&args).map_err(Failure::config)?;
    let options = connect_options(&args);
    let dry = args.dry_run;
    corepool_runtime::block_on(async move { run_script(&options, &script, dry).await })
        .map_err(|e| Failure::from(anyhow!("cannot start the executor: {e}")))?
}

fn read_script(args: &DdlArgs) -> anyhow::Result<String> {
    if !args.command.is_empty() {
        // Each -c is a whole command string, as in psql: a missing final `;` ends it anyway.
        let mut script = String::new();
        for sql in &args.command {
            script += sql;
            if !sql.trim_end().ends_with(';') {
                script.push_str("\n;"); // on its own line: a trailing `--` comment cannot hide it
            }
            script.push('\n');
        }
        return Ok(script);
    }
    if args.file.is_empty() {
        return Err(anyhow!("give the SQL with -c 'SQL' or -f FILE"));
    }
    let mut script = String::new();
    for path in &args.file {
        if path.as_os_str() == "-" {
            std::io::stdin().read_to_string(&mut script)?;
        } else {
            script += &std::fs::read_to_string(path)
                .map_err(|e| anyhow!("could not read \"{}\": {e}", path.display()))?;
        }
        script.push('\n');
    }
    Ok(script)
}

fn connect_options(a: &DdlArgs) -> ConnectOptions {
    let host = a.host.clone().unwrap_or_else(|| {
        if std::path::Path::new("/var/run/postgresql").is_dir() {
            "/var/run/postgresql".into()
        } else {
            "/tmp".into()
        }
    });
    let user = a
        .username
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "postgres".into());
    let db = a.dbname.clone().unwrap_or_else(|| user.clone());
    let mut password = a.password.clone();
    if password.is_none() {
        if let Some(content) = pgpass::default_path().and_then(|p| std::fs::read_to_string(p).ok())
        {
            password = pgpass::lookup(&content, &host, a.port, &db, &user);
        }
    }
    let _ = a.no_password;
    let mut opts = ConnectOptions::new(Host::parse(&host), a.port, user);
    opts.database = Some(db);
    opts.password = password;
    opts.application_name = Some("corepool_ddl".into());
    opts
}

async fn run_script(options: &ConnectOptions, script: &str, dry: bool) -> Result<(), Failure> {
    let mut local = ClientSession::connect(options)
        .await
        .map_err(|e| Failure::unavailable(anyhow!("{e}")))?;
    let mut result = Ok(());
    for span in split(script) {
        let span = match span {
            Ok(span) => span,
            Err(e) => {
                result = Err(Failure::from(anyhow!("ERROR:  {e}")));
                break;
            }
        };
        if let Err(e) = run_statement(&mut local, span.text(script), dry).await {
            result = Err(e);
            break;
        }
    }
    local.close().await;
    result
}

async fn run_statement(local: &mut ClientSession, sql: &str, dry: bool) -> Result<(), Failure> {
    let stmt = match ddl::parse(sql) {
        Ok(stmt) => stmt,
        Err(e) => return Err(statement_failure(&DdlExecError::from_parse(&e, sql))),
    };
    let mut out = std::io::stdout().lock();
    match (stmt, dry) {
        (Some(stmt), true) => {
            let text = dry_run(local, &stmt)
                .await
                .map_err(|e| statement_failure(&e))?;
            let _ = write!(out, "{text}");
        }
        (Some(stmt), false) => {
            let tag = execute(local, &stmt, &mut print_notice)
                .await
                .map_err(|e| statement_failure(&e))?;
            let _ = writeln!(out, "{}", tag.as_str());
        }
        (None, true) => {
            let _ = writeln!(out, "-- as written:\n{sql};");
        }
        (None, false) => {
            let mut notices = Vec::new();
            let result = local.query(sql, &mut notices).await;
            notices.into_iter().for_each(print_notice);
            let reply = result.map_err(|e| match e {
                corepool_ddl::QueryError::Server(n) => statement_failure(
                    &DdlExecError::from_server(corepool_ddl::ErrorKind::Local, n),
                ),
                corepool_ddl::QueryError::Broken(why) => Failure::unavailable(anyhow!("{why}")),
            })?;
            for row in &reply.rows {
                let cells: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("")).collect();
                let _ = writeln!(out, "{}", cells.join("|"));
            }
            for tag in &reply.tags {
                let _ = writeln!(out, "{tag}");
            }
        }
    }
    Ok(())
}

/// Prints a notice as psql does: `NOTICE:  message`, then DETAIL and HINT lines.
fn print_notice(n: Notice) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}:  {}", n.severity, n.message);
    if let Some(d) = &n.detail {
        let _ = writeln!(err, "DETAIL:  {d}");
    }
    if let Some(h) = &n.hint {
        let _ = writeln!(err, "HINT:  {h}");
    }
}

/// The error as psql prints it (`ERROR:  …`, `DETAIL:  …`, `HINT:  …`); exit status 1.
fn statement_failure(e: &DdlExecError) -> Failure {
    let mut text = format!("ERROR:  {}", e.message());
    if let Some(p) = e.position() {
        text.push_str(&format!(" (at character {p})"));
    }
    if let Some(d) = e.detail() {
        text.push_str(&format!("\nDETAIL:  {d}"));
    }
    if let Some(h) = e.hint() {
        text.push_str(&format!("\nHINT:  {h}"));
    }
    Failure::from(anyhow!(text))
}

#[cfg(test)]
mod tests {
    use crate::cmd::{Cli, Command};
    use clap::Parser;

    #[test]
    fn psql_flags_take_the_last_value_but_every_command_runs() {
        let argv = [
            "corepool",
            "ddl",
            "-h",
            "x",
            "-d",
            "a",
            "-c",
            "SELECT 1",
            "-h",
            "y",
            "-d",
            "b",
            "-c",
            "SELECT 2;",
        ];
        let Ok(Command::Ddl(d)) = Cli::try_parse_from(argv).map(|c| c.command) else {
            panic!("not parsed as ddl");
        };
        assert_eq!(
            (d.host.as_deref(), d.dbname.as_deref()),
            (Some("y"), Some("b"))
        );
        assert_eq!(super::read_script(&d).unwrap(), "SELECT 1\n;\nSELECT 2;\n");
        // -v still counts.
        let cli = Cli::try_parse_from(["corepool", "-v", "-v", "ddl", "-c", "x"]).unwrap();
        assert_eq!(cli.verbose, 2);
    }
}
