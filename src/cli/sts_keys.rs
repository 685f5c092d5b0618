//! `gitiam sts-keys list|add|activate|rotate|remove`: manage the STS key
//! set file that signs session tokens and derives temporary secrets.
//!
//! The file is rewritten atomically (mode 0600); a running `gitiam serve`
//! reloads it when it changes. Across replicas, rotate in two steps so no
//! replica meets a token signed by a key it does not have yet: `add` and
//! copy the file everywhere, then `activate` and copy it again; `remove` a
//! retired key once its sessions have expired (or to revoke them at once).

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::server::session::keys::KeySet;

/// Where the key file is.
#[derive(Debug, clap::Args)]
pub struct Location {
    /// The key file itself.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub file: Option<PathBuf>,
    /// Read the key file's path from this configuration (`[sts]
    /// signing_keys`, default STATE_DIR/sts-keys.json).
    #[arg(long, short = 'c', value_name = "FILE", default_value = "gitiam.toml")]
    pub config: PathBuf,
}

/// `gitiam sts-keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List key ids (the active one first) and when they were made.
    List(Location),
    /// Add a new key that verifies but does not sign yet (rotation step 1).
    Add(Location),
    /// Make KID the key that signs new sessions (rotation step 2).
    Activate {
        /// The key id to activate.
        kid: String,
        #[command(flatten)]
        location: Location,
    },
    /// Add a new key and make it active at once (single server).
    Rotate(Location),
    /// Remove a retired key: sessions it signed stop working immediately.
    Remove {
        /// The key id to remove (not the active one).
        kid: String,
        #[command(flatten)]
        location: Location,
    },
}

fn path_of(location: &Location) -> Result<PathBuf> {
    if let Some(file) = &location.file {
        return Ok(file.clone());
    }
    let config = crate::shared::config::load(&location.config)
        .with_context(|| format!("loading {}", location.config.display()))?;
    Ok(config.sts.signing_keys)
}

fn save(keys: &KeySet, path: &std::path::Path) -> Result<()> {
    keys.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Runs the command; returns the process exit code.
pub fn run(command: Command) -> Result<u8> {
    match command {
        Command::List(location) => {
            let path = path_of(&location)?;
            let keys = KeySet::load(&path)?;
            for (i, kid) in keys.kids().into_iter().enumerate() {
                let created = keys.get(kid).map_or(0, |k| k.created());
                let when = time::OffsetDateTime::from_unix_timestamp(created)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
                let state = if i == 0 { "active" } else { "verify-only" };
                outln!("{kid}\t{state}\t{when}");
            }
        }
        Command::Add(location) => {
            let path = path_of(&location)?;
            let mut keys = KeySet::load_or_generate(&path)?;
            let kid = keys.add();
            save(&keys, &path)?;
            outln!("{kid}");
        }
        Command::Activate { kid, location } => {
            let path = path_of(&location)?;
            let mut keys = KeySet::load(&path)?;
            keys.activate(&kid)?;
            save(&keys, &path)?;
            outln!("{kid}");
        }
        Command::Rotate(location) => {
            let path = path_of(&location)?;
            let mut keys = KeySet::load_or_generate(&path)?;
            let kid = keys.rotate();
            save(&keys, &path)?;
            outln!("{kid}");
        }
        Command::Remove { kid, location } => {
            let path = path_of(&location)?;
            let mut keys = KeySet::load(&path)?;
            keys.remove(&kid)?;
            save(&keys, &path)?;
        }
    }
    Ok(0)
}
