//! Git wire formats, read exactly as Git reads them: pkt-lines, the
//! command section of a receive-pack request, the report a refused push
//! answers with, the backend's report on a push, and the smart-HTTP URL pieces. No I/O beyond reading a
//! request body; the proxy and the backends build on these.

pub mod inspect;
pub mod pktline;
pub mod receive_pack;
pub mod report;
pub mod report_status;
pub mod service;

pub use inspect::{InspectLimits, ReplayBody, inspect_receive_pack};
pub use receive_pack::{
    Capabilities, ObjectFormat, ObjectId, PushRequest, ReceivePackError, RefUpdate, RefUpdateKind,
    parse_command_section,
};
pub use report::{DrainLimits, DrainOutcome, RefDenial, RefusalAnswer, drain, refuse_push};
pub use report_status::{PushReport, ReportReader, read_report};
pub use service::{GitEndpoint, GitService, RepoName, RepoNameError, RouteError, route};

/// Why a receive-pack request body was refused before anything was forwarded.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The command section does not parse.
    #[error("invalid receive-pack request: {0}")]
    Protocol(#[from] ReceivePackError),
    /// The command section is larger than the inspection limit.
    #[error("receive-pack command section exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Ref updates with new objects but no `PACK` after the section.
    #[error("invalid receive-pack request: expected a pack after the commands")]
    MissingPack,
    /// The client stopped sending.
    #[error("no request data for {0:?}")]
    IdleTimeout(std::time::Duration),
    /// Reading the body failed (client gone, bad chunking).
    #[error("reading the request body: {0}")]
    Body(#[source] crate::shared::BoxError),
}
