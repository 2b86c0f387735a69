//! Where the backend → client direction of a backend connection stands between relay runs: what
//! has been walked, what the backend still owes, and replies corepool itself asked for.

use super::walker::Walker;

/// Where the backend → client direction of one backend connection stands between relay runs,
/// and what the backend still owes.
#[derive(Debug, Default)]
pub struct BackendSide {
    pub(crate) walker: Walker,
    /// Bytes at the front of the backend buffer already walked and due to the client.
    pub(crate) ready: usize,
    /// Requests forwarded that still owe a ReadyForQuery (Query, Sync, FunctionCall).
    pub in_flight: u32,
    /// ErrorResponses seen.
    pub errors: u32,
    /// A FATAL or PANIC was seen.
    pub fatal_seen: bool,
    /// The backend entered COPY BOTH (replication): never reusable.
    pub copy_both: bool,
    /// ParseComplete replies to drop (for Parses corepool re-sent on its own).
    pub swallow_parse_complete: u32,
    /// When the oldest request still owed a ReadyForQuery was forwarded (latency metric).
    pub(crate) request_started: Option<std::time::Instant>,
    /// Replies to requests corepool sent on its own (a statement run on every backend) that are
    /// read and dropped, not forwarded: the number of ReadyForQuery still to come.
    pub discard_pending: u32,
    /// Length of a message to drop once everything before it is forwarded (a swallowed
    /// ParseComplete).
    pub(crate) skip_len: Option<usize>,
}

impl BackendSide {
    /// True when nothing is owed or half-forwarded: the connection is between requests.
    pub fn is_quiet(&self) -> bool {
        self.in_flight == 0
            && self.ready == 0
            && !self.walker.mid_message()
            && self.skip_len.is_none()
    }
}
