//! `corepool enc`: pg_enc. Encrypts a password with the pool key (AES-256-CBC, the scheme of
//! [`PoolKey`]) and prints it base64-encoded, or with `-m` writes the user's `AES…` entry into
//! the pool_passwd of `-f`'s pgpool.conf — the entries `corepool serve` decrypts with the same
//! key file.
//!
//! One difference: a key file with group or world access is refused, as `corepool serve`
//! refuses it, where pg_enc only warns.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use corepool_engine::auth::pool_key::PoolKey;
use corepool_engine::auth::pool_passwd::PasswordEntry;

use super::{entry_user, print, prompt, InputLine, DEFAULT_CONFIG, MAX_INPUT};
use crate::cmd::Failure;

/// pg_enc's options.
#[derive(Debug, Args)]
pub struct EncArgs {
    /// The key file (default: $PGPOOLKEYFILE, else ~/.pgpoolkey of the current user).
    #[arg(short = 'k', long = "key-file")]
    key_file: Option<PathBuf>,
    /// The encryption key itself.
    #[arg(short = 'K', long = "enc-key")]
    enc_key: Option<String>,
    /// pgpool.conf; its pool_passwd setting names the file, relative to its directory.
    #[arg(short = 'f', long = "config-file", default_value = DEFAULT_CONFIG)]
    config_file: PathBuf,
    /// A file of `username:password` lines, each encrypted (or written with -m) in turn.
    #[arg(short = 'i', long = "input-file")]
    input_file: Option<PathBuf>,
    /// Prompt for the database password on the terminal (also when none is given).
    #[arg(short = 'p', long)]
    prompt: bool,
    /// Prompt for the encryption key on the terminal.
    #[arg(short = 'P', long = "prompt-for-key")]
    prompt_for_key: bool,
    /// Write the AES entry into pool_passwd instead of printing it.
    #[arg(short = 'm', long = "update-pass")]
    update_pass: bool,
    /// The user of the pool_passwd entry (default: the current user).
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// The database password. Prefer -p or -i: other users can read command lines.
    password: Option<String>,
}

/// Runs pg_enc.
pub fn run(args: EncArgs) -> Result<(), Failure> {
    if args.username.as_ref().is_some_and(|u| u.len() > MAX_INPUT) {
        return Err(anyhow!("Error: input exceeds maximum username length!").into());
    }
    if let Some(input) = &args.input_file {
        let key = key(&args)?;
        return from_file(&args, input, &key);
    }
    let password = match &args.password {
        Some(_) if args.prompt => prompt("db password: ", MAX_INPUT - 1)?,
        None => prompt("db password: ", MAX_INPUT - 1)?,
        Some(p) if p.len() > MAX_INPUT => {
            return Err(anyhow!(
                "Error: Input exceeds maximum password length given:{} max allowed:{MAX_INPUT}!",
                p.len()
            )
            .into())
        }
        Some(p) => p.clone(),
    };
    let key = key(&args)?;
    encrypt_one(&args, args.username.as_deref(), &password, &key)
}

/// The key: prompted (-P), given (-K), or read from the key file.
fn key(args: &EncArgs) -> Result<PoolKey, Failure> {
    if args.prompt_for_key {
        let key = prompt("encryption key: ", MAX_INPUT - 1)?;
        if key.is_empty() {
            return Err(anyhow!("encryption key not provided").into());
        }
        return Ok(PoolKey::new(key));
    }
    if let Some(k) = args.enc_key.as_ref().filter(|k| !k.is_empty()) {
        return Ok(PoolKey::new(k.as_bytes()));
    }
    let env = std::env::var_os("PGPOOLKEYFILE");
    let home = super::current_user().ok().map(|(_, home)| home);
    let path = PoolKey::locate(args.key_file.as_deref(), env.as_deref(), home.as_deref())
        .ok_or_else(|| anyhow!("encryption key not provided"))?;
    print(&format!(
        "trying to read key from file {}\n",
        path.display()
    ))?;
    PoolKey::load(&path).map_err(|e| anyhow!("encryption key not provided: {e}").into())
}

/// Prints the ciphertext as pg_enc does, or writes the pool_passwd entry with -m.
fn encrypt_one(
    args: &EncArgs,
    user: Option<&str>,
    password: &str,
    key: &PoolKey,
) -> Result<(), Failure> {
    let entry = PasswordEntry::Aes(key.encrypt(password));
    if args.update_pass {
        let path = super::pool_passwd_path(&args.config_file)?;
        let user = entry_user(user)?;
        super::update_pool_passwd(&path, &user, &entry)
    } else {
        let line = entry.to_file_form();
        let b64 = line.strip_prefix("AES").unwrap_or(&line);
        print(&format!("\n{b64}\npool_passwd string: {line}\n"))
    }
}

/// `-i`: each valid line encrypted in turn; invalid lines are reported on stderr, blank lines
/// skipped, as pg_enc does.
fn from_file(args: &EncArgs, input: &std::path::Path, key: &PoolKey) -> Result<(), Failure> {
    print(&format!(
        "trying to read username:password pairs from file {}\n",
        input.display()
    ))?;
    for (i, line) in super::read_input(input)?.into_iter().enumerate() {
        match line {
            InputLine::Blank => {}
            InputLine::Invalid => eprintln!("LINE#{:02}: invalid username:password pair", i + 1),
            InputLine::Pair { user, password } => encrypt_one(args, Some(&user), &password, key)?,
        }
    }
    Ok(())
}
