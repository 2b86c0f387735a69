//! The replies a backend owes, message by message, when corepool changes the client's
//! extended-protocol stream on its way (transaction pooling's prepared statements): Parses it
//! adds whose ParseComplete the client must not see, and replies it makes up for messages it
//! answered itself (a Parse of a statement the backend already has, a Close) that must reach
//! the client exactly where the server would have sent them.
//!
//! Every message sent to the backend that the server answers is queued with what its reply is
//! and whether the client sees it; a made-up reply is queued in the client's order and goes out
//! once everything before it was answered. An ErrorResponse answers the message at the front;
//! the server then skips everything up to the next Sync, so those entries (made-up replies
//! among them) are dropped, as the server would have sent nothing for them.

use std::collections::VecDeque;

use super::prepared::Definition;

use corepool_protocol::message::tags::{
    BIND_COMPLETE_TAG, CLOSE_COMPLETE_TAG, COMMAND_COMPLETE_TAG, EMPTY_QUERY_RESPONSE_TAG,
    ERROR_RESPONSE_TAG, NO_DATA_TAG, PARAMETER_DESCRIPTION_TAG, PARSE_COMPLETE_TAG,
    PORTAL_SUSPENDED_TAG, READY_FOR_QUERY_TAG, ROW_DESCRIPTION_TAG,
};

/// Which message a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Parse: ParseComplete.
    Parse,
    /// Bind: BindComplete.
    Bind,
    /// Describe of a statement: ParameterDescription, then RowDescription or NoData.
    DescribeStatement,
    /// Describe of a portal: RowDescription or NoData.
    DescribePortal,
    /// Execute: rows, then CommandComplete, EmptyQueryResponse or PortalSuspended.
    Execute,
    /// Close: CloseComplete.
    Close,
    /// Sync: ReadyForQuery.
    Sync,
    /// A simple Query: everything up to ReadyForQuery.
    Query,
    /// FunctionCall: FunctionCallResponse, then ReadyForQuery.
    FunctionCall,
}

/// One owed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A message sent to the backend.
    Sent {
        /// What it was.
        kind: Kind,
        /// The client never sent it: drop its replies.
        hidden: bool,
        /// For a Parse corepool made: the statement to forget if it fails.
        statement: Option<Definition>,
    },
    /// A reply corepool makes up, sent to the client in this place.
    MadeUp(&'static [u8]),
}

/// What to do with one reply message from the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposition {
    /// Forward it to the client (false: drop it).
    pub forward: bool,
    /// A Parse corepool made failed: its statement is not on the backend.
    pub failed_statement: Option<Definition>,
}

/// The owed replies of one backend connection.
#[derive(Debug, Default, Clone)]
pub struct Expected {
    queue: VecDeque<Expect>,
    /// The statement Describe at the front already sent its ParameterDescription.
    described_parameters: bool,
}

impl Expected {
    /// True when nothing is owed (the plain relay applies).
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a message sent to the backend.
    pub fn sent(&mut self, kind: Kind, hidden: bool, statement: Option<Definition>) {
        self.queue.push_back(Expect::Sent {
            kind,
            hidden,
            statement,
        });
    }

    /// Queues a made-up reply.
    pub fn made_up(&mut self, reply: &'static [u8]) {
        self.queue.push_back(Expect::MadeUp(reply));
    }

    /// The made-up reply at the front, if it may go out now (everything before it answered).
    pub fn pop_made_up(&mut self) -> Option<&'static [u8]> {
        match self.queue.front() {
            Some(Expect::MadeUp(r)) => {
                let r = *r;
                self.queue.pop_front();
                Some(r)
            }
            _ => None,
        }
    }

    /// True when a made-up reply is at the front (it must go out before the next reply).
    pub fn pop_made_up_ready(&self) -> bool {
        matches!(self.queue.front(), Some(Expect::MadeUp(_)))
    }

    /// A reply message with `tag` arrived (made-up replies at the front were taken first).
    pub fn on_reply(&mut self, tag: u8) -> Disposition {
        let forward_async = Disposition {
            forward: true,
            failed_statement: None,
        };
        let Some(Expect::Sent {
            kind,
            hidden,
            statement,
        }) = self.queue.front().cloned()
        else {
            // Nothing corepool changed is owed (or only made-up replies, which the caller sends
            // first): pass it on.
            return forward_async;
        };
        let done = |this: &mut Self| {
            this.queue.pop_front();
            this.described_parameters = false;
            Disposition {
                forward: !hidden,
                failed_statement: None,
            }
        };
        match (kind, tag) {
            (_, ERROR_RESPONSE_TAG) => self.failed(kind, hidden, statement),
            (Kind::Parse, PARSE_COMPLETE_TAG)
            | (Kind::Bind, BIND_COMPLETE_TAG)
            | (Kind::Close, CLOSE_COMPLETE_TAG)
            | (Kind::DescribePortal, ROW_DESCRIPTION_TAG | NO_DATA_TAG)
            | (
                Kind::Execute,
                COMMAND_COMPLETE_TAG | EMPTY_QUERY_RESPONSE_TAG | PORTAL_SUSPENDED_TAG,
            )
            | (Kind::Sync | Kind::Query | Kind::FunctionCall, READY_FOR_QUERY_TAG) => done(self),
            (Kind::DescribeStatement, PARAMETER_DESCRIPTION_TAG) => {
                self.described_parameters = true;
                Disposition {
                    forward: !hidden,
                    failed_statement: None,
                }
            }
            (Kind::DescribeStatement, ROW_DESCRIPTION_TAG | NO_DATA_TAG)
                if self.described_parameters =>
            {
                done(self)
            }
            // Rows, COPY data, a FunctionCallResponse, notices: part of the front's answer.
            _ => Disposition {
                forward: !hidden,
                failed_statement: None,
            },
        }
    }

    /// An ErrorResponse answered the front message. In the extended protocol the server skips
    /// every message up to the next Sync; a simple Query still ends with its ReadyForQuery.
    fn failed(&mut self, kind: Kind, hidden: bool, statement: Option<Definition>) -> Disposition {
        self.described_parameters = false;
        // The client hears the error even when the failing message was corepool's own (a Parse
        // made for its Bind): its request failed.
        let _ = hidden;
        let d = Disposition {
            forward: true,
            failed_statement: statement,
        };
        if matches!(kind, Kind::Query | Kind::FunctionCall | Kind::Sync) {
            // The ReadyForQuery still comes for this one.
            return d;
        }
        self.queue.pop_front();
        while let Some(front) = self.queue.front() {
            match front {
                Expect::Sent {
                    kind: Kind::Sync, ..
                } => break,
                _ => {
                    self.queue.pop_front();
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PC: &[u8] = b"1\0\0\0\x04";

    #[test]
    fn hidden_replies_are_dropped_and_made_up_ones_go_out_in_place() {
        let mut e = Expected::default();
        e.sent(Kind::Parse, true, Some(std::rc::Rc::from(&b"s"[..]))); // corepool's own Parse before the client's Bind
        e.sent(Kind::Bind, false, None);
        e.made_up(PC); // the client's duplicate Parse, answered by corepool
        e.sent(Kind::Execute, false, None);
        e.sent(Kind::Sync, false, None);
        assert_eq!(e.pop_made_up(), None, "the Parse and Bind come first");
        assert!(!e.on_reply(PARSE_COMPLETE_TAG).forward);
        assert!(e.on_reply(BIND_COMPLETE_TAG).forward);
        assert_eq!(e.pop_made_up(), Some(PC));
        assert!(e.on_reply(b'D').forward);
        assert!(e.on_reply(COMMAND_COMPLETE_TAG).forward);
        assert!(e.on_reply(READY_FOR_QUERY_TAG).forward);
        assert!(e.is_empty());
    }

    #[test]
    fn an_error_skips_to_the_sync_dropping_made_up_replies_after_it() {
        let mut e = Expected::default();
        e.sent(Kind::Parse, true, Some(std::rc::Rc::from(&b"t"[..])));
        e.sent(Kind::Bind, false, None);
        e.made_up(b"3\0\0\0\x04");
        e.sent(Kind::Execute, false, None);
        e.sent(Kind::Sync, false, None);
        let d = e.on_reply(ERROR_RESPONSE_TAG);
        assert_eq!(d.failed_statement.as_deref(), Some(&b"t"[..]));
        assert!(d.forward, "the client's request failed: it hears why");
        assert_eq!(e.pop_made_up(), None, "skipped with the rest of the batch");
        assert!(e.on_reply(READY_FOR_QUERY_TAG).forward);
        assert!(e.is_empty());
    }

    #[test]
    fn describes_of_statements_end_at_their_second_reply() {
        let mut e = Expected::default();
        e.sent(Kind::DescribeStatement, false, None);
        e.sent(Kind::Sync, false, None);
        assert!(e.on_reply(PARAMETER_DESCRIPTION_TAG).forward);
        assert!(e.on_reply(ROW_DESCRIPTION_TAG).forward);
        assert!(e.on_reply(READY_FOR_QUERY_TAG).forward);
        assert!(e.is_empty());
        // A simple query's error still ends with its own ReadyForQuery.
        e.sent(Kind::Query, false, None);
        assert!(e.on_reply(ERROR_RESPONSE_TAG).forward);
        assert!(!e.is_empty());
        assert!(e.on_reply(READY_FOR_QUERY_TAG).forward);
        assert!(e.is_empty());
    }
}
