//! The request-level IAM context keys (`aws:SourceIp`, `aws:CurrentTime`,
//! ...), the same for every front door and the STS API.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::server::identity::Identity;
use crate::shared::policy::Context;

/// Request facts that go into the context, besides the principal's.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Client address (`aws:SourceIp`), when known.
    pub source_ip: Option<IpAddr>,
    /// Time of the request (`aws:CurrentTime`, `aws:EpochTime`).
    pub now: SystemTime,
    /// Server region (`aws:RequestedRegion`).
    pub region: &'a str,
}

/// The context keys of the request itself (no principal keys).
pub fn request_context(facts: &RequestFacts<'_>) -> Context {
    let mut ctx = Context::new();
    if let Some(ip) = facts.source_ip {
        ctx.insert("aws:SourceIp", ip.to_canonical().to_string());
    }
    let now = time::OffsetDateTime::from(facts.now).replace_nanosecond(0);
    if let Ok(Ok(t)) = now.map(|t| t.format(&time::format_description::well_known::Rfc3339)) {
        ctx.insert("aws:CurrentTime", t);
    }
    let epoch = facts
        .now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    ctx.insert("aws:EpochTime", epoch.to_string());
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:RequestedRegion", facts.region.to_string());
    ctx
}

/// The context of a request by `identity`: the request's keys and the
/// principal's.
pub fn caller_context(identity: &Identity, facts: &RequestFacts<'_>) -> Context {
    let mut ctx = request_context(facts);
    identity.fill_context(&mut ctx);
    ctx
}
