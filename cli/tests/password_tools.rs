//! `corepool md5` and `corepool enc` against Debian's pg_md5 and pg_enc (pgpool2 4.3.5): the
//! same arguments in two directories set up alike must print the same bytes, succeed or fail
//! alike, and leave the same pool_passwd. AES output is deterministic (pg_enc derives key and
//! IV from the passphrase, no salt), so it is compared byte for byte, and OpenSSL's own
//! implementation decrypts what corepool wrote. The prompts run under `script`, which gives
//! the tools a terminal.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

const PG_MD5: &str = "/usr/sbin/pg_md5";
const PG_ENC: &str = "/usr/sbin/pg_enc";
const KEY: &str = "k3y-for-tests";

/// What one run left: exit success, stdout, stderr, and the pool_passwd file if any.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    ok: bool,
    stdout: String,
    stderr_lines: Vec<String>,
    pool_passwd: Option<String>,
}

/// A directory with pgpool.conf (pool_passwd = 'pool_passwd'), a 0600 key file `key`, an input
/// file `in.txt` and, if given, a pool_passwd to start from.
fn setup(seed: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("pgpool.conf"),
        "# test\npool_passwd = 'pool_passwd'\nport = 9999\n",
    )
    .unwrap();
    std::fs::write(p.join("key"), format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(p.join("key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        p.join("in.txt"),
        "u1:p1\n\nno colon\nempty:\n:forme\nu2:pass:with:colons\nu1:again",
    )
    .unwrap();
    if let Some(s) = seed {
        std::fs::write(p.join("pool_passwd"), s).unwrap();
    }
    dir
}

fn outcome(dir: &Path, out: std::process::Output) -> Outcome {
    Outcome {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr_lines: String::from_utf8(out.stderr)
            .expect("utf-8 stderr")
            .lines()
            .map(str::to_owned)
            .collect(),
        pool_passwd: std::fs::read_to_string(dir.join("pool_passwd")).ok(),
    }
}

/// `corepool <tool>` or Debian's tool, run in `dir` with `args` and `envs`.
fn command(debian: bool, tool: &str, dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = if debian {
        Command::new(if tool == "md5" { PG_MD5 } else { PG_ENC })
    } else {
        let mut c = Command::new(env!("CARGO_BIN_EXE_corepool"));
        c.arg(tool);
        c
    };
    cmd.args(args)
        .current_dir(dir)
        .env_remove("PGPOOLKEYFILE")
        .envs(envs.iter().copied())
        .stdin(Stdio::null());
    cmd
}

/// Runs both tools alike and returns (Debian's outcome, corepool's).
fn both(
    tool: &str,
    args: &[&str],
    seed: Option<&str>,
    envs: &[(&str, &str)],
) -> (Outcome, Outcome) {
    let run = |debian| {
        let dir = setup(seed);
        let out = command(debian, tool, dir.path(), args, envs)
            .output()
            .expect("tool runs");
        outcome(dir.path(), out)
    };
    (run(true), run(false))
}

/// Both tools print the same, succeed alike and leave the same pool_passwd.
fn same(tool: &str, args: &[&str], seed: Option<&str>) -> Outcome {
    let (debian, corepool) = both(tool, args, seed, &[]);
    assert_eq!(
        (debian.ok, &debian.stdout, &debian.pool_passwd),
        (corepool.ok, &corepool.stdout, &corepool.pool_passwd),
        "{tool} {args:?}\nDebian: {debian:#?}\ncorepool: {corepool:#?}"
    );
    corepool
}

const SEED: &str = "alice:TEXTold\n# a comment stays\nbob:y:backend:z\nalice:duplicate\nlast:q\n";

#[test]
fn md5_prints_and_writes_what_pg_md5_does() {
    let out = same("md5", &["secret"], None);
    assert_eq!(out.stdout, "5ebe2294ecd0e0f08eab7690d2a6ee69\n");
    let out = same(
        "md5",
        &["-m", "-u", "alice", "-f", "pgpool.conf", "secret"],
        Some(SEED),
    );
    assert!(out
        .pool_passwd
        .unwrap()
        .starts_with("alice:md54a0a68b43b6cd5cf266fa02f196e2371\n"));
    // No -u: the current user's entry; long options; a new file.
    same(
        "md5",
        &["--md5auth", "--config-file=pgpool.conf", "pw"],
        None,
    );
    same(
        "md5",
        &["-m", "-f", "pgpool.conf", "--username", "bob", "pw"],
        Some(SEED),
    );
    // The input file: numbered lines, blank and invalid ones reported, hashes or entries.
    same("md5", &["-i", "in.txt"], None);
    same(
        "md5",
        &["-m", "-f", "pgpool.conf", "-i", "in.txt"],
        Some(SEED),
    );
    // Refusals: a password too long, none at all, a missing pgpool.conf with -m.
    let long = "x".repeat(129);
    let (debian, corepool) = both("md5", &[long.as_str()], None, &[]);
    assert!(!debian.ok && !corepool.ok);
    let (debian, corepool) = both("md5", &[], None, &[]);
    assert!(!debian.ok && !corepool.ok);
    let (debian, corepool) = both("md5", &["-m", "-f", "nothere.conf", "pw"], None, &[]);
    assert!(!debian.ok && !corepool.ok);
    assert_eq!(corepool.pool_passwd, None);
}

#[test]
fn enc_prints_and_writes_what_pg_enc_does() {
    let out = same("enc", &["-K", "secretkey", "mypassword"], None);
    assert_eq!(
        out.stdout,
        "\nGLnfFFp7OQXHBqHb9dPyoQ==\npool_passwd string: AESGLnfFFp7OQXHBqHb9dPyoQ==\n"
    );
    same("enc", &["-k", "key", "pw"], None);
    same(
        "enc",
        &["--key-file=key", "a longer password, with spaces"],
        None,
    );
    let out = same(
        "enc",
        &["-m", "-u", "carol", "-k", "key", "-f", "pgpool.conf", "pw"],
        Some(SEED),
    );
    assert!(out.pool_passwd.unwrap().contains("\nlast:q\ncarol:AES"));
    same(
        "enc",
        &["-m", "-u", "alice", "-k", "key", "-f", "pgpool.conf", "pw"],
        Some(SEED),
    );
    same(
        "enc",
        &["--update-pass", "-k", "key", "-f", "pgpool.conf", "pw"],
        None,
    );
    // The input file; invalid lines are reported on stderr by both.
    let (debian, corepool) = both("enc", &["-k", "key", "-i", "in.txt"], None, &[]);
    assert_eq!(debian, corepool);
    assert_eq!(corepool.stderr_lines.len(), 2, "{corepool:#?}");
    same(
        "enc",
        &["-m", "-k", "key", "-f", "pgpool.conf", "-i", "in.txt"],
        Some(SEED),
    );
    // PGPOOLKEYFILE names the key file when -k does not.
    let (debian, corepool) = both("enc", &["pw"], None, &[("PGPOOLKEYFILE", "key")]);
    assert_eq!(debian, corepool);
    assert!(corepool
        .stdout
        .starts_with("trying to read key from file key\n"));
    // No key at all: both refuse.
    let (debian, corepool) = both("enc", &["-k", "missing", "pw"], None, &[]);
    assert!(!debian.ok && !corepool.ok);
}

#[test]
fn openssl_decrypts_what_enc_writes() {
    let dir = setup(None);
    let out = command(
        false,
        "enc",
        dir.path(),
        &[
            "-m",
            "-u",
            "dave",
            "-k",
            "key",
            "-f",
            "pgpool.conf",
            "s3cret pässword",
        ],
        &[],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let file = std::fs::read_to_string(dir.path().join("pool_passwd")).unwrap();
    let b64 = file
        .strip_prefix("dave:AES")
        .and_then(|r| r.strip_suffix('\n'))
        .expect("one AES entry");
    let mut openssl = Command::new("openssl")
        .args([
            "enc",
            "-d",
            "-aes-256-cbc",
            "-md",
            "sha1",
            "-nosalt",
            "-a",
            "-A",
        ])
        .arg(format!("-pass=pass:{KEY}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs");
    use std::io::Write;
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(b64.as_bytes())
        .unwrap();
    let plain = openssl.wait_with_output().unwrap();
    assert!(plain.status.success());
    assert_eq!(plain.stdout, "s3cret pässword".as_bytes());
}

/// Runs `program args` under `script` (a terminal), typing `typed` one second after the start;
/// returns the terminal output from `from` on, newlines as `\n`.
fn on_terminal(dir: &Path, program: &str, args: &[&str], typed: &str, from: &str) -> String {
    let line = std::iter::once(program)
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let typing = format!("(sleep 1; printf '{typed}') | script -qec \"{line}\" /dev/null",);
    let out = Command::new("sh")
        .args(["-c", &typing])
        .current_dir(dir)
        .env_remove("PGPOOLKEYFILE")
        .output()
        .expect("script runs");
    let text = String::from_utf8(out.stdout)
        .expect("utf-8")
        .replace("\r\n", "\n");
    let at = text
        .find(from)
        .unwrap_or_else(|| panic!("no {from:?} in {text:?}"));
    text[at..].to_owned()
}

#[test]
fn prompts_read_from_the_terminal_like_the_tools() {
    let corepool = env!("CARGO_BIN_EXE_corepool");
    let cases: [(&str, &[&str], &str, &str); 4] = [
        ("md5", &["-p"], "secret\\n", "password: "),
        (
            "md5",
            &["-p", "-m", "-u", "erin", "-f", "pgpool.conf"],
            "secret\\n",
            "password: ",
        ),
        ("enc", &["-p", "-k", "key"], "pw\\n", "db password: "),
        (
            "enc",
            &["-p", "-m", "-u", "erin", "-k", "key", "-f", "pgpool.conf"],
            "pw\\n",
            "db password: ",
        ),
    ];
    for (tool, args, typed, from) in cases {
        let (a, b) = (setup(None), setup(None));
        let debian = on_terminal(
            a.path(),
            if tool == "md5" { PG_MD5 } else { PG_ENC },
            args,
            typed,
            from,
        );
        let mut ours = vec![tool];
        ours.extend_from_slice(args);
        let mine = on_terminal(b.path(), corepool, &ours, typed, from);
        assert_eq!(debian, mine, "{tool} {args:?}");
        let secret = typed.trim_end_matches("\\n");
        assert!(
            secret.len() < 6 || !mine.contains(secret),
            "no echo: {mine:?}"
        );
        assert_eq!(
            std::fs::read_to_string(a.path().join("pool_passwd")).ok(),
            std::fs::read_to_string(b.path().join("pool_passwd")).ok()
        );
    }
    // pg_enc 4.3.5 reads the key of -P but then says "encryption key not provided" (it never
    // uses it); corepool uses it, with the result pg_enc gives for the same key with -K.
    let dir = setup(None);
    let mine = on_terminal(
        dir.path(),
        corepool,
        &["enc", "-P", "pw"],
        "typed-key\\n",
        "encryption key: ",
    );
    let with_k = command(true, "enc", dir.path(), &["-K", "typed-key", "pw"], &[])
        .output()
        .unwrap();
    let with_k = String::from_utf8(with_k.stdout).unwrap();
    assert_eq!(mine, format!("encryption key: \n{with_k}"));
    // Without a terminal both refuse to prompt.
    let (debian, corepool) = both("md5", &["-p"], None, &[]);
    assert!(!debian.ok && !corepool.ok);
    assert_eq!(corepool.stderr_lines, ["corepool: stdin is not tty"]);
}

#[test]
fn an_entry_after_a_last_line_without_newline_gets_its_own_line() {
    // The one place corepool writes differently: pg_enc glues the new entry to the line.
    let seed = "alice:TEXTold\nlast:q";
    let args = ["-m", "-u", "carol", "-k", "key", "-f", "pgpool.conf", "pw"];
    let (debian, corepool) = both("enc", &args, Some(seed), &[]);
    let entry = "carol:AES";
    assert!(debian
        .pool_passwd
        .unwrap()
        .contains(&format!("last:q{entry}")));
    assert!(corepool
        .pool_passwd
        .unwrap()
        .contains(&format!("last:q\n{entry}")));
    // Replacing an entry keeps the missing newline, as pg_md5 does.
    same(
        "md5",
        &["-m", "-u", "alice", "-f", "pgpool.conf", "pw"],
        Some(seed),
    );
}
