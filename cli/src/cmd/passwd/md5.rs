//! `corepool md5`: pg_md5. Prints MD5(password) in hex (the form pcp.conf takes), or with `-m`
//! writes the user's md5 entry (MD5(password ‖ user)) into the pool_passwd of `-f`'s pgpool.conf.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use corepool_engine::auth::pcp_conf::PcpUsers;
use corepool_engine::auth::pool_passwd::PasswordEntry;

use super::{entry_user, print, prompt, InputLine, DEFAULT_CONFIG, MAX_INPUT};
use crate::cmd::Failure;

/// pg_md5's options.
#[derive(Debug, Args)]
pub struct Md5Args {
    /// Prompt for the password on the terminal (echo off).
    #[arg(short = 'p', long)]
    prompt: bool,
    /// Write a pool_passwd md5 entry instead of printing the hash.
    #[arg(short = 'm', long = "md5auth")]
    md5auth: bool,
    /// The user of the pool_passwd entry (default: the current user).
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// pgpool.conf; its pool_passwd setting names the file, relative to its directory.
    #[arg(short = 'f', long = "config-file", default_value = DEFAULT_CONFIG)]
    config_file: PathBuf,
    /// A file of `username:password` lines, each hashed (or written with -m) in turn.
    #[arg(short = 'i', long = "input-file")]
    input_file: Option<PathBuf>,
    /// The password. Prefer -p or -i: other users can read command lines.
    password: Option<String>,
}

/// Runs pg_md5.
pub fn run(args: Md5Args) -> Result<(), Failure> {
    if args.username.as_ref().is_some_and(|u| u.len() > MAX_INPUT) {
        return Err(anyhow!("Error: input exceeds maximum username length!").into());
    }
    if let Some(input) = &args.input_file {
        return from_file(&args, input);
    }
    let password = if args.prompt {
        prompt("password: ", MAX_INPUT)?
    } else {
        let Some(p) = args.password.clone() else {
            return Err(anyhow!("a password is required (or -p to prompt, -i for a file)").into());
        };
        if p.len() > MAX_INPUT {
            return Err(anyhow!("Error: Input exceeds maximum password length!").into());
        }
        p
    };
    if args.md5auth {
        write_entry(&args, args.username.as_deref(), &password)
    } else {
        print(&format!("{}\n", PcpUsers::hash_password(&password)))
    }
}

fn write_entry(args: &Md5Args, user: Option<&str>, password: &str) -> Result<(), Failure> {
    let path = super::pool_passwd_path(&args.config_file)?;
    let user = entry_user(user)?;
    super::update_pool_passwd(&path, &user, &PasswordEntry::md5_for(&user, password))
}

/// `-i`: the lines pg_md5 prints, then each hash or pool_passwd entry.
fn from_file(args: &Md5Args, input: &std::path::Path) -> Result<(), Failure> {
    print(&format!(
        "trying to read username:password pairs from file {}\n",
        input.display()
    ))?;
    for (i, line) in super::read_input(input)?.into_iter().enumerate() {
        let number = format!("LINE#{:02}: ", i + 1);
        match line {
            InputLine::Blank => print(&format!("{number}BLANK LINE\n"))?,
            InputLine::Invalid => print(&format!("{number}Invalid username:password pair\n"))?,
            InputLine::Pair { user, .. } if user.len() > MAX_INPUT => print(&format!(
                "{number}input exceeds maximum username length {MAX_INPUT}\n\n"
            ))?,
            InputLine::Pair { password, .. } if password.len() > MAX_INPUT => print(&format!(
                "{number}input exceeds maximum password length {MAX_INPUT}\n"
            ))?,
            InputLine::Pair { user, password } => {
                print(&format!("{number}USER: <{user}>\n"))?;
                if args.md5auth {
                    write_entry(args, Some(&user), &password)?;
                } else {
                    let hash = PcpUsers::hash_password(&password);
                    print(&format!("{hash}\n"))?;
                }
            }
        }
    }
    Ok(())
}
