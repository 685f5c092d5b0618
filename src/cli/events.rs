//! `gitiam events list|redeliver`: look at the push-event outbox under the
//! state dir and send events again. Works on the files directly, so it
//! needs no running server; a running `gitiam serve` picks redelivered
//! events up within a second, and a paused endpoint probes at once.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::server::events::{Outbox, Status};

/// `gitiam events` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List stored events (pending, failed and delivered), oldest first.
    List {
        /// The configuration (for `[server] state_dir`).
        #[arg(long, short = 'c', value_name = "FILE", default_value = "gitiam.toml")]
        config: PathBuf,
        /// Only events in this state.
        #[arg(long, value_parser = ["pending", "failed", "delivered"])]
        status: Option<String>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send events again: the given ids (to every endpoint that has them),
    /// or every failed event.
    Redeliver {
        /// The configuration (for `[server] state_dir`).
        #[arg(long, short = 'c', value_name = "FILE", default_value = "gitiam.toml")]
        config: PathBuf,
        /// Every failed event.
        #[arg(long, conflicts_with = "ids")]
        failed: bool,
        /// Event ids.
        ids: Vec<String>,
    },
}

fn outbox(config: &Path) -> Result<Outbox> {
    let config = crate::shared::config::load(config)
        .with_context(|| format!("loading {}", config.display()))?;
    Ok(Outbox::new(&config.server.state_dir))
}

/// Runs a subcommand; the exit code.
pub fn run(command: Command) -> Result<u8> {
    match command {
        Command::List {
            config,
            status,
            json,
        } => list(
            &outbox(&config)?,
            status.as_deref().and_then(Status::parse),
            json,
        ),
        Command::Redeliver {
            config,
            failed,
            ids,
        } => redeliver(&outbox(&config)?, failed, &ids),
    }
}

fn list(outbox: &Outbox, status: Option<Status>, json: bool) -> Result<u8> {
    let mut rows = Vec::new();
    for entry in outbox.list(status) {
        let data = match std::fs::read(&entry.path) {
            Ok(d) => d,
            // Delivered (moved) by a running server meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", entry.path.display()));
            }
        };
        let d: crate::server::events::Delivery = serde_json::from_slice(&data)
            .with_context(|| format!("reading {}", entry.path.display()))?;
        rows.push((entry.status, d));
    }
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(s, d)| {
                serde_json::json!({
                    "id": d.id, "status": s.as_str(), "endpoint": d.endpoint,
                    "event": d.event, "repository": d.repository,
                    "reference": d.reference, "created": d.created,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    outln!(
        "{:<10} {:<16} {:<36} {:<17} {:<20} REPOSITORY",
        "STATUS",
        "ENDPOINT",
        "ID",
        "EVENT",
        "REFERENCE"
    );
    for (s, d) in &rows {
        outln!(
            "{:<10} {:<16} {:<36} {:<17} {:<20} {}",
            s.as_str(),
            d.endpoint,
            d.id,
            d.event,
            d.reference,
            d.repository
        );
    }
    Ok(0)
}

fn redeliver(outbox: &Outbox, failed: bool, ids: &[String]) -> Result<u8> {
    if !failed && ids.is_empty() {
        bail!("name event ids, or --failed");
    }
    let wanted = |key: &str| {
        ids.iter().any(|id| {
            key.strip_suffix(".json")
                .is_some_and(|k| k.ends_with(&format!("-{id}")))
        })
    };
    let mut moved = 0usize;
    let mut endpoints = std::collections::BTreeSet::new();
    let mut found = std::collections::BTreeSet::new();
    for entry in outbox.list(None) {
        let endpoint = entry
            .path
            .parent()
            .and_then(|p| p.parent())
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pick = if failed {
            entry.status == Status::Failed
        } else {
            wanted(&entry.key)
        };
        if !pick {
            continue;
        }
        if let Some(id) = ids.iter().find(|id| entry.key.contains(id.as_str())) {
            found.insert(id.clone());
        }
        if entry.status != Status::Pending {
            outbox
                .rename(&endpoint, &entry.key, entry.status, Status::Pending)
                .with_context(|| format!("moving {}", entry.path.display()))?;
            moved += 1;
        }
        endpoints.insert(endpoint);
    }
    for endpoint in &endpoints {
        let wake = outbox.wake_file(endpoint);
        std::fs::write(&wake, b"").with_context(|| format!("writing {}", wake.display()))?;
    }
    let missing: Vec<&String> = ids.iter().filter(|id| !found.contains(*id)).collect();
    outln!("{moved} event(s) queued for delivery again");
    if !missing.is_empty() {
        eprintln!(
            "no such event: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(super::EXIT_FAILURE);
    }
    Ok(0)
}
