//! The HighGo guide's chapter 5 ("Parallel Backup") as a user follows it: its pg_hba.conf
//! snapshot (a REPLICATION role admitted by `host replication` lines only), each of 5.2's eight
//! commands typed as written — only `$BACKUP_DIR`, `$BACKUP_DIR1`, `$BACKUP_DIR2` and `$SLOT`
//! substituted, host, port and user from PGHOST/PGPORT/PGUSER as the guide says — each ending
//! in a backup pg_verifybackup accepts; then the same eight after applying what corepool's
//! warning says to add, in parallel; and 5.1.1: more workers than the server admits.
//!
//! The guide's tablespaces live in `/home/highgo/test/ts1` and `ts2`; here they live in the
//! test's own directory, so that path is substituted too.

// Output of the programs, shown in assertion messages only.
#![allow(clippy::disallowed_methods)]

use corepool_testkit::Cluster;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// 5.2's eight commands, after `pg_basebackup`.
const GUIDE_COMMANDS: [&str; 8] = [
    "-j 4 -D $BACKUP_DIR",
    "--jobs=10 -D $BACKUP_DIR -v",
    "-D $BACKUP_DIR",
    "-j 4 -D $BACKUP_DIR \
     -T /home/highgo/test/ts1=$BACKUP_DIR1/new_tablespace/ \
     -T /home/highgo/test/ts2=$BACKUP_DIR2/new_tablespace/ \
     --no-verify-checksums",
    "-D $BACKUP_DIR -P -j 4",
    "-D $BACKUP_DIR -j 10 -S backup -C --slot=$SLOT -P",
    "-D $BACKUP_DIR -j 4 -S backup -C --slot=$SLOT -R",
    "-D $BACKUP_DIR -j 4 --max-rate=100m -D $BACKUP_DIR",
];

/// The guide's 5.1.2 pg_hba.conf, from this host: its `highgo` line with 127.0.0.1 for
/// 172.17.0.2 (the `127.0.0.1/32 ident` line above it would otherwise take the connection
/// first), and `trust` for the local lines (the testkit's own channel: no identd or peer map
/// here). No line admits `highgo` to an SQL session.
const GUIDE_HBA: &str = "\
local   all            all                                     trust
local   replication    all                                     trust
host    replication    highgo          127.0.0.1/32            trust
host    replication    all             ::1/128                 ident
";

const PASSWORD: &str = "highgo pw";

/// A cluster set up as chapter 5 says, with a little data and role `highgo`.
struct Guide {
    cluster: Cluster,
    ts_root: PathBuf,
}

impl Guide {
    fn start(settings: &[(&str, &str)]) -> Guide {
        // A spread checkpoint (the guide passes no -c) paces its writes over
        // checkpoint_completion_target of checkpoint_timeout; 0 makes it finish at once.
        let mut b = Cluster::builder()
            .data_checksums(true)
            .setting("checkpoint_completion_target", "0");
        for (k, v) in settings {
            b = b.setting(*k, *v);
        }
        let cluster = b.start().unwrap();
        let p = cluster.primary();
        p.psql(
            "postgres",
            &format!("CREATE ROLE highgo LOGIN REPLICATION PASSWORD '{PASSWORD}'; CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g"),
        )
        .unwrap();
        let out = cluster.pgbench(&["-i", "-s", "1", "-q"]).output().unwrap();
        assert!(out.status.success());
        std::fs::write(p.data_dir().join("pg_hba.conf"), GUIDE_HBA).unwrap();
        p.psql("postgres", "SELECT pg_reload_conf()").unwrap();
        let ts_root = cluster.create_dir("highgo_test").unwrap();
        Guide { cluster, ts_root }
    }

    /// Creates tablespaces ts1 and ts2 (a table in each) where the guide has them.
    fn create_tablespaces(&self) {
        for ts in ["ts1", "ts2"] {
            let dir = self
                .cluster
                .create_dir(&format!("highgo_test/{ts}"))
                .unwrap();
            let p = self.cluster.primary();
            p.psql(
                "postgres",
                &format!("CREATE TABLESPACE {ts} LOCATION '{}'", dir.display()),
            )
            .unwrap();
            p.psql(
                "postgres",
                &format!("CREATE TABLE {ts}_t TABLESPACE {ts} AS SELECT g AS id FROM generate_series(1, 5000) g"),
            )
            .unwrap();
        }
    }

    /// Appends `line` to pg_hba.conf and reloads.
    fn add_hba_line(&self, line: &str) {
        let p = self.cluster.primary();
        let path = p.data_dir().join("pg_hba.conf");
        let mut hba = std::fs::read_to_string(&path).unwrap();
        hba.push_str(line.trim());
        hba.push('\n');
        std::fs::write(&path, hba).unwrap();
        p.psql("postgres", "SELECT pg_reload_conf()").unwrap();
    }

    /// Runs `corepool basebackup` with one of the guide's commands, substituted.
    fn run(&self, command: &str, vars: &[(&str, &Path)]) -> Output {
        let mut text = command.replace("/home/highgo/test", &self.ts_root.display().to_string());
        // Longest names first: $BACKUP_DIR1 before $BACKUP_DIR.
        let mut vars = vars.to_vec();
        vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        for (name, value) in vars {
            text = text.replace(name, &value.display().to_string());
        }
        assert!(!text.contains('$'), "unsubstituted: {text}");
        let p = self.cluster.primary();
        // CHECKPOINT first, so the backup's own (spread) checkpoint has nothing to wait for.
        p.psql("postgres", "CHECKPOINT").unwrap();
        Command::new(env!("CARGO_BIN_EXE_corepool"))
            .arg("basebackup")
            .args(text.split_whitespace())
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", p.port().to_string())
            .env("PGUSER", "highgo")
            .env("PGPASSWORD", PASSWORD)
            .env("HOME", self.cluster.root_dir())
            .env_remove("PGSSLMODE")
            .output()
            .unwrap()
    }

    fn verify(&self, dir: &Path, extra: &[&Path]) {
        for p in extra.iter().copied().chain([dir]) {
            self.cluster.give(p).unwrap();
        }
        let v = self
            .cluster
            .command("pg_verifybackup")
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "pg_verifybackup {}: {}{}",
            dir.display(),
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    }

    fn slot_exists(&self, name: &str) -> bool {
        self.cluster
            .primary()
            .psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{name}'"),
            )
            .unwrap()
            == "1"
    }
}

/// A server started from a backup on its own port; stopped on drop.
struct Restored<'a> {
    cluster: &'a Cluster,
    dir: PathBuf,
    sock: PathBuf,
    port: u16,
}

impl<'a> Restored<'a> {
    fn start(cluster: &'a Cluster, dir: &Path, name: &str) -> Restored<'a> {
        cluster.give(dir).unwrap();
        let sock = cluster.create_dir(&format!("{name}_sock")).unwrap();
        let port = corepool_testkit::free_port();
        let log = cluster.root_dir().join(format!("{name}.log"));
        let opts = format!("-p {port} -k {} -c fsync=off", sock.display());
        let out = cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Restored {
            cluster,
            dir: dir.to_owned(),
            sock,
            port,
        }
    }

    fn psql(&self, sql: &str) -> String {
        let out = self
            .cluster
            .command("psql")
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.sock)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until the standby's WAL receiver streams from the primary.
    fn wait_streaming(&self) {
        for _ in 0..200 {
            if self.psql("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")
                == "1"
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the standby made from the backup does not stream");
    }
}

impl Drop for Restored<'_> {
    fn drop(&mut self) {
        let _ = self
            .cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Runs the eight commands and checks each backup. `guide_set_up`: every `-j` command must
/// print the one fallback warning (returned, the first of them); otherwise none may warn. The
/// `-T` command runs last, once the tablespaces exist: the others, with no `-T`, would write
/// into the tablespaces' own (non-empty) directories on this host.
fn run_the_eight(g: &Guide, guide_set_up: bool, tag: &str) -> Option<String> {
    let mut first_warning = None;
    for i in [0, 1, 2, 4, 5, 6, 7, 3] {
        let command = GUIDE_COMMANDS[i];
        let root = g.cluster.root_dir();
        let dir = root.join(format!("{tag}_backup{i}"));
        let (dir1, dir2) = (
            root.join(format!("{tag}_b{i}_1")),
            root.join(format!("{tag}_b{i}_2")),
        );
        let slot = format!("{tag}_slot{i}");
        if i == 3 {
            g.create_tablespaces();
            std::fs::create_dir_all(&dir1).unwrap();
            std::fs::create_dir_all(&dir2).unwrap();
        }
        let vars: [(&str, &Path); 4] = [
            ("$BACKUP_DIR", &dir),
            ("$BACKUP_DIR1", &dir1),
            ("$BACKUP_DIR2", &dir2),
            ("$SLOT", Path::new(&slot)),
        ];
        let out = g.run(command, &vars);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{tag} {command}:\n{stderr}");
        let warnings = stderr.matches("WARNING:").count();
        let parallel = command.contains("-j") || command.contains("--jobs");
        if guide_set_up && parallel {
            assert_eq!(warnings, 1, "{command}:\n{stderr}");
            assert!(
                stderr.contains("is not possible")
                    && stderr.contains("continues over one replication stream"),
                "{command}:\n{stderr}"
            );
            first_warning.get_or_insert(stderr.clone());
        } else {
            assert_eq!(warnings, 0, "{tag} {command}:\n{stderr}");
        }
        match i {
            1 => {
                assert!(stderr.contains("write-ahead log end point"), "{stderr}");
                // -v names the workers: with the parallel set-up all ten connected.
                let workers = if guide_set_up { "0" } else { "10" };
                assert!(
                    stderr.contains(&format!(", {workers} parallel worker(s))")),
                    "{stderr}"
                );
                g.verify(&dir, &[]);
            }
            3 => check_relocated(g, &dir, &dir1, &dir2, tag),
            5 => {
                assert!(g.slot_exists(&slot), "-C --slot={slot} made no slot");
                assert!(!g.slot_exists("backup"), "-S backup was not overridden");
                g.verify(&dir, &[]);
            }
            6 => check_standby(g, &dir, &slot, tag),
            _ => g.verify(&dir, &[]),
        }
    }
    first_warning
}

/// `-T`: both tablespaces relocated under the new directories, and readable from there.
fn check_relocated(g: &Guide, dir: &Path, dir1: &Path, dir2: &Path, tag: &str) {
    let new1 = dir1.join("new_tablespace");
    let new2 = dir2.join("new_tablespace");
    let mut targets: Vec<PathBuf> = std::fs::read_dir(dir.join("pg_tblspc"))
        .unwrap()
        .map(|e| std::fs::read_link(e.unwrap().path()).unwrap())
        .collect();
    targets.sort();
    assert_eq!(targets, [new1.clone(), new2.clone()]);
    g.verify(dir, &[&new1, &new2]);
    let r = Restored::start(&g.cluster, dir, &format!("{tag}_relocated"));
    assert_eq!(r.psql("SELECT count(*) FROM ts1_t"), "5000");
    assert_eq!(r.psql("SELECT count(*) FROM ts2_t"), "5000");
    let loc = r.psql("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts2'");
    assert_eq!(Path::new(&loc), new2);
}

/// `-R` with `-S backup -C --slot=$SLOT`: a standby that streams through slot `$SLOT`.
fn check_standby(g: &Guide, dir: &Path, slot: &str, tag: &str) {
    assert!(dir.join("standby.signal").exists());
    let auto = std::fs::read_to_string(dir.join("postgresql.auto.conf")).unwrap();
    assert!(
        auto.contains(&format!("primary_slot_name = '{slot}'")),
        "{auto}"
    );
    g.verify(dir, &[]);
    let r = Restored::start(&g.cluster, dir, &format!("{tag}_standby"));
    r.wait_streaming();
    assert_eq!(r.psql("SELECT slot_name FROM pg_stat_wal_receiver"), slot);
}

#[test]
fn the_guides_set_up_takes_all_eight_backups_over_one_stream_with_one_warning() {
    let g = Guide::start(&[]);
    let warning = run_the_eight(&g, true, "guide").expect("a -j command warned");
    // The warning names the guide's error, the pg_hba.conf line and the GRANTs to add.
    assert!(
        warning.contains(
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"highgo\", database \"postgres\""
        ),
        "{warning}"
    );
    assert!(
        warning.contains("\n    host    postgres    highgo    127.0.0.1/32    scram-sha-256\n"),
        "{warning}"
    );
    assert!(
        warning.contains("GRANT EXECUTE ON FUNCTION pg_read_binary_file(text, bigint, bigint, boolean) TO highgo;"),
        "{warning}"
    );
}

#[test]
fn with_what_the_warning_says_added_all_eight_run_in_parallel() {
    let g = Guide::start(&[]);
    // The guide's set-up first: -j 4 warns; then apply its advice verbatim.
    let dir = g.cluster.root_dir().join("first");
    let out = g.run("-j 4 -D $BACKUP_DIR", &[("$BACKUP_DIR", &dir)]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let advice: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("    "))
        .map(str::trim)
        .collect();
    let hba: Vec<&&str> = advice.iter().filter(|l| l.starts_with("host")).collect();
    assert_eq!(hba.len(), 1, "{stderr}");
    g.add_hba_line(hba[0]);
    let grants: Vec<&str> = advice
        .iter()
        .copied()
        .filter(|l| l.starts_with("GRANT"))
        .collect();
    assert_eq!(grants.len(), 5, "{stderr}");
    g.cluster
        .primary()
        .psql("postgres", &grants.join(" "))
        .unwrap();
    run_the_eight(&g, false, "parallel");
}

#[test]
fn more_workers_than_the_server_admits_finish_the_backup_with_the_guides_warning() {
    // Workers are SQL sessions: a non-superuser gets max_connections less
    // superuser_reserved_connections (and reserved_connections from 16 on) = 7 sessions, the
    // control session one of them; max_wal_senders (10) does not bound them.
    let g = Guide::start(&[
        ("max_connections", "10"),
        ("superuser_reserved_connections", "3"),
    ]);
    g.add_hba_line("host postgres highgo 127.0.0.1/32 scram-sha-256");
    let grants: Vec<String> = corepool_backup::admission::NEEDED_FUNCTIONS
        .iter()
        .map(|f| format!("GRANT EXECUTE ON FUNCTION {f} TO highgo;"))
        .collect();
    g.cluster
        .primary()
        .psql("postgres", &grants.join(" "))
        .unwrap();
    let dir = g.cluster.root_dir().join("j10");
    let out = g.run("--jobs=10 -D $BACKUP_DIR -v", &[("$BACKUP_DIR", &dir)]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("WARNING:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("parallel worker connections were refused"),
        "{stderr}"
    );
    // 53300: "remaining connection slots are reserved for …" once only reserved slots are
    // left, or "sorry, too many clients already" when a closing session still holds one.
    assert!(
        stderr.contains("remaining connection slots are reserved")
            || stderr.contains("sorry, too many clients already"),
        "{stderr}"
    );
    let workers: usize = stderr
        .split(" parallel worker(s))")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!((1..=6).contains(&workers), "{workers} workers: {stderr}");
    g.verify(&dir, &[]);
}
