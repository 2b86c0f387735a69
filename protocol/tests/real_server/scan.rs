//! Checks that `scan_run` walks a real server byte stream exactly as `split_frame` cuts it.

use bytes::BytesMut;
use corepool_protocol::framing::{scan_run, split_frame, Header, Limits, StopTags};
use corepool_protocol::message::backend::ReadyForQuery;
use corepool_protocol::message::tags::READY_FOR_QUERY_TAG;
use corepool_protocol::message::TransactionStatus;

use crate::client::TestResult;

/// One message of the reference cut.
struct Cut {
    /// Where it starts in the stream.
    offset: usize,
    /// Its header.
    header: Header,
    /// For ReadyForQuery, its status.
    status: Option<TransactionStatus>,
}

/// Feeds `stream` (everything a connection received) to `scan_run` in chunks of varying size,
/// as the engine would, forwarding each run; checks every run, stop and pending header against
/// the messages `split_frame` cuts from the same bytes. Returns how many messages there were.
pub fn check_scan_run_agrees(stream: &[u8]) -> TestResult<usize> {
    let cuts = reference_cuts(stream)?;
    let limits = Limits::default();
    let mut buf = BytesMut::new();
    let mut forwarded = 0usize; // bytes of `stream` forwarded so far
    let mut next = 0usize; // index in `cuts` of the first message not forwarded
    let mut fed = 0usize;
    let mut chunk = 1usize;
    while fed < stream.len() {
        // Chunks of 1 byte to about 4 KiB in a fixed pseudo-random order: many alignments.
        chunk = (chunk * 13 + 1) % 4099 + 1;
        let end = stream.len().min(fed + chunk);
        buf.extend_from_slice(&stream[fed..end]);
        fed = end;
        loop {
            let run = scan_run(&buf, &limits)?;
            let covered = cuts
                .get(next..next + run.messages)
                .ok_or("run past the end")?;
            let run_end = covered
                .last()
                .map_or(forwarded, |c| c.offset + c.header.frame_len());
            assert_eq!(
                forwarded + run.complete_len,
                run_end,
                "run length at {forwarded}"
            );
            check_stop(&run, covered, forwarded)?;
            match run.pending {
                Some(pending) => {
                    let cut = cuts
                        .get(next + run.messages)
                        .ok_or("pending past the end")?;
                    assert_eq!(pending, cut.header, "pending header at {}", cut.offset);
                }
                None if run.stop.is_none() => assert!(
                    buf.len() - run.complete_len < 5,
                    "a whole header after the run at {run_end} but no pending"
                ),
                None => {}
            }
            let _ = buf.split_to(run.complete_len).freeze();
            forwarded += run.complete_len;
            next += run.messages;
            if run.stop.is_none() {
                break;
            }
        }
    }
    assert!(buf.is_empty(), "{} bytes scan_run never took", buf.len());
    assert_eq!(forwarded, stream.len(), "bytes forwarded");
    assert_eq!(next, cuts.len(), "messages forwarded");
    Ok(cuts.len())
}

/// Checks that a run stops at its last message exactly when that message has a stop tag, and
/// never passes one.
fn check_stop(
    run: &corepool_protocol::framing::Run,
    covered: &[Cut],
    forwarded: usize,
) -> TestResult {
    let stops = StopTags::BACKEND;
    let Some((last, before)) = covered.split_last() else {
        assert!(run.stop.is_none(), "a stop in an empty run at {forwarded}");
        return Ok(());
    };
    for cut in before {
        assert!(
            !stops.contains(cut.header.tag),
            "run passed stop message {:?} at {}",
            char::from(cut.header.tag),
            cut.offset
        );
    }
    match run.stop {
        Some(stop) => {
            assert_eq!(forwarded + stop.offset, last.offset, "stop offset");
            assert_eq!(stop.header, last.header, "stop header");
            assert!(stops.contains(last.header.tag), "stopped at a non-stop tag");
            assert_eq!(
                stop.status, last.status,
                "ReadyForQuery status at {}",
                last.offset
            );
            let range = stop.frame_range();
            assert_eq!(range.len(), last.header.frame_len(), "stop frame range");
        }
        None => assert!(
            !stops.contains(last.header.tag),
            "run did not stop at {:?} at {}",
            char::from(last.header.tag),
            last.offset
        ),
    }
    Ok(())
}

/// Cuts `stream` with `split_frame`, checking the frames put back together are the stream.
fn reference_cuts(stream: &[u8]) -> TestResult<Vec<Cut>> {
    let mut buf = BytesMut::from(stream);
    let mut cuts = Vec::new();
    let mut offset = 0;
    while let Some(frame) = split_frame(&mut buf, &Limits::default())? {
        let bytes = frame.as_bytes();
        assert_eq!(
            &stream[offset..offset + bytes.len()],
            &bytes[..],
            "frame bytes"
        );
        let status = if frame.tag() == READY_FOR_QUERY_TAG {
            Some(ReadyForQuery::parse(frame.body())?.status())
        } else {
            None
        };
        cuts.push(Cut {
            offset,
            header: frame.header(),
            status,
        });
        offset += bytes.len();
    }
    assert!(buf.is_empty(), "the stream ends inside a message");
    Ok(cuts)
}
