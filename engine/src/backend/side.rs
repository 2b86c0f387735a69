//! Where the backend → client direction of a backend connection stands between relay runs: the
//! walk over its replies, what it still owes, and replies corepool itself asked for.

use std::time::Instant;

use corepool_protocol::framing::ChunkWalker;

/// The relay's state of one backend connection, kept with the connection (it moves with it
/// between sessions of a shard and back into the pool).
#[derive(Debug, Default)]
pub struct BackendSide {
    /// The walk over the backend's replies (a message may be half forwarded).
    pub(crate) walker: ChunkWalker,
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
    /// When the oldest request still owed a ReadyForQuery was forwarded (latency metric; the
    /// loop turn's clock, so no clock is read per request).
    pub(crate) request_started: Option<Instant>,
    /// Replies to requests corepool sent on its own (a statement run on every backend) that are
    /// read and dropped, not forwarded: the number of ReadyForQuery still to come.
    pub discard_pending: u32,
    /// Message by message, the replies owed while corepool rewrites the client's
    /// extended-protocol stream (transaction pooling's prepared statements).
    pub expect: super::expect::Expected,
}

impl BackendSide {
    /// True when nothing is owed or half-forwarded: the connection is between requests.
    pub fn is_quiet(&self) -> bool {
        self.in_flight == 0
            && self.discard_pending == 0
            && self.expect.is_empty()
            && !self.walker.mid_message()
    }
}
