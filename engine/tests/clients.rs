//! Real client drivers through corepool: Python's psycopg2 (libpq) and the PostgreSQL JDBC
//! driver, each doing parameterised queries, transactions, server-side prepared statements and
//! an error that the session survives.

mod common;

use std::process::Command;

use common::Proxy;

const PSYCOPG_SCRIPT: &str = r#"
import sys, psycopg2
conn = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres", dbname="postgres")
cur = conn.cursor()
cur.execute("CREATE TABLE py (id int primary key, name text)")
cur.executemany("INSERT INTO py VALUES (%s, %s)", [(i, "n%d" % i) for i in range(100)])
conn.commit()
cur.execute("SELECT count(*), max(name) FROM py WHERE id >= %s", (50,))
assert cur.fetchone() == (50, "n99"), "rows"
try:
    cur.execute("SELECT 1/0")
    raise SystemExit("no error")
except psycopg2.errors.DivisionByZero:
    conn.rollback()
cur.execute("SELECT %s::text || %s::text", ("a", "b"))
assert cur.fetchone()[0] == "ab"
with conn.cursor(name="server_side") as named:
    named.itersize = 10
    named.execute("SELECT id FROM py ORDER BY id")
    assert sum(1 for _ in named) == 100
conn.close()
print("psycopg ok")
"#;

#[test]
fn psycopg2_works_through_corepool() {
    let proxy = Proxy::start(0, |_, _| {});
    let out = Command::new("/usr/bin/python3")
        .args(["-c", PSYCOPG_SCRIPT, &proxy.port.to_string()])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8(out.stdout).unwrap_or_default();
    assert!(
        out.status.success() && stdout.contains("psycopg ok"),
        "{stdout}\n{}",
        String::from_utf8(out.stderr).unwrap_or_default()
    );
}

const JDBC_SOURCE: &str = r#"
import java.sql.*;

public class Jdbc {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/postgres?prepareThreshold=1";
        try (Connection c = DriverManager.getConnection(url, "postgres", "")) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE j (id int primary key, v text)");
            }
            c.setAutoCommit(false);
            try (PreparedStatement p = c.prepareStatement("INSERT INTO j VALUES (?, ?)")) {
                for (int i = 0; i < 200; i++) {
                    p.setInt(1, i);
                    p.setString(2, "v" + i);
                    p.addBatch();
                }
                p.executeBatch();
            }
            c.commit();
            c.setAutoCommit(true);
            try (PreparedStatement q = c.prepareStatement("SELECT count(*) FROM j WHERE id < ?")) {
                for (int i = 1; i <= 20; i++) {
                    q.setInt(1, i * 10);
                    try (ResultSet r = q.executeQuery()) {
                        r.next();
                        if (r.getInt(1) != i * 10) throw new AssertionError("count " + r.getInt(1));
                    }
                }
            }
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT 1/0");
                throw new AssertionError("no error");
            } catch (SQLException e) {
                if (!"22012".equals(e.getSQLState())) throw e;
            }
            // HighGo's partition syntax through JDBC's extended protocol, translated by corepool.
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE hg (a int) PARTITION BY RANGE (a) "
                    + "(PARTITION hg_low FOR VALUES FROM (0) TO (10), PARTITION hg_rest DEFAULT)");
                s.executeUpdate("INSERT INTO hg SELECT generate_series(0, 19)");
                try (ResultSet r = s.executeQuery("SELECT count(*) FROM hg_low")) {
                    r.next();
                    if (r.getInt(1) != 10) throw new AssertionError("hg_low " + r.getInt(1));
                }
                s.execute("DROP TABLE hg INCLUDE REMOTE");
                try (ResultSet r = s.executeQuery("SELECT count(*) FROM pg_class WHERE relname LIKE 'hg%'")) {
                    r.next();
                    if (r.getInt(1) != 0) throw new AssertionError("hg left " + r.getInt(1));
                }
            }
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT 'still working'")) {
                r.next();
                System.out.println("jdbc " + r.getString(1));
            }
        }
    }
}
"#;

#[test]
fn jdbc_works_through_corepool() {
    let jar = "/usr/share/java/postgresql.jar";
    assert!(
        std::path::Path::new(jar).exists(),
        "Debian's libpostgresql-jdbc-java is installed by scripts/setup.sh"
    );
    let proxy = Proxy::start(0, |_, _| {});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Jdbc.java"), JDBC_SOURCE).unwrap();
    let javac = Command::new("javac")
        .current_dir(dir.path())
        .arg("Jdbc.java")
        .output()
        .expect("javac runs");
    assert!(
        javac.status.success(),
        "{}",
        String::from_utf8(javac.stderr).unwrap_or_default()
    );
    let cp = format!("{}:{jar}", dir.path().display());
    let out = Command::new("java")
        .args(["-cp", &cp, "Jdbc", &proxy.port.to_string()])
        .output()
        .expect("java runs");
    let stdout = String::from_utf8(out.stdout).unwrap_or_default();
    assert!(
        out.status.success() && stdout.contains("jdbc still working"),
        "{stdout}\n{}",
        String::from_utf8(out.stderr).unwrap_or_default()
    );
}
