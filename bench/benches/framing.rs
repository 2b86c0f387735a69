//! Throughput of the framing hot path: `scan_run`, `split_frame` and DataRow views.
//!
//! Two realistic backend streams are built once with the protocol crate's writers: a result set
//! (RowDescription, 1000 DataRows of about 100 bytes in five columns, CommandComplete,
//! ReadyForQuery) and a COPY TO STDOUT stream of 64 KiB CopyData messages. Run with
//! `cargo bench -p corepool-bench --bench framing -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use corepool_protocol::framing::{scan_run, split_frame, Frame, Limits};
use corepool_protocol::message::backend::{DataRow, FieldDescription};
use corepool_protocol::message::tags::DATA_ROW_TAG;
use corepool_protocol::message::write::backend as write;
use corepool_protocol::message::{Format, TransactionStatus};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// RowDescription, `rows` DataRows of about 100 bytes, CommandComplete and ReadyForQuery.
fn result_set(rows: usize) -> Bytes {
    let mut buf = BytesMut::new();
    let column = |name, type_oid, type_size| FieldDescription {
        name,
        table_oid: 16_384,
        column_id: 1,
        type_oid,
        type_size,
        type_modifier: -1,
        format: Format::Text,
    };
    let fields = [
        column("id", 23, 4),
        column("email", 25, -1),
        column("created_at", 1184, 8),
        column("balance", 1700, -1),
        column("active", 16, 1),
    ];
    write::row_description(fields, &mut buf).expect("RowDescription");
    for i in 0..rows {
        let id = format!("{}", 100_000 + i);
        let email = format!("user{i:06}@example.com-{:08x}", i * 7919);
        let balance = format!("{}.{:02}", i * 37, i % 100);
        let values: [&[u8]; 5] = [
            id.as_bytes(),
            email.as_bytes(),
            b"2024-05-17 12:34:56.789012+00",
            balance.as_bytes(),
            b"t",
        ];
        write::data_row(values.map(Some), &mut buf).expect("DataRow");
    }
    write::command_complete(&format!("SELECT {rows}"), &mut buf).expect("CommandComplete");
    write::ready_for_query(TransactionStatus::Idle, &mut buf);
    buf.freeze()
}

/// CopyOutResponse, `chunks` CopyData messages of 64 KiB, CopyDone, CommandComplete and
/// ReadyForQuery.
fn copy_stream(chunks: usize) -> Bytes {
    let mut buf = BytesMut::new();
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| b"0123456789\t\n"[i % 12]).collect();
    for _ in 0..chunks {
        write::copy_data(&chunk, &mut buf).expect("CopyData");
    }
    write::copy_done(&mut buf);
    write::command_complete("COPY 1", &mut buf).expect("CommandComplete");
    write::ready_for_query(TransactionStatus::Idle, &mut buf);
    buf.freeze()
}

/// Scans `stream` run by run, as the engine's forwarding loop does.
fn scan_all(stream: &[u8], limits: &Limits) -> usize {
    let mut pos = 0;
    let mut messages = 0;
    while let Some(rest) = stream.get(pos..).filter(|rest| !rest.is_empty()) {
        let run = scan_run(rest, limits).expect("valid stream");
        if run.complete_len == 0 {
            break;
        }
        pos += run.complete_len;
        messages += run.messages;
    }
    messages
}

/// Splits every frame off a copy of `stream`.
fn split_all(mut buf: BytesMut, limits: &Limits) -> usize {
    let mut frames = 0;
    while let Some(frame) = split_frame(&mut buf, limits).expect("valid stream") {
        black_box(&frame);
        frames += 1;
    }
    frames
}

fn bench_framing(c: &mut Criterion) {
    let limits = Limits::default();
    let rows = result_set(1000);
    let copy = copy_stream(64);
    assert_eq!(scan_all(&rows, &limits), 1003);
    assert_eq!(scan_all(&copy, &limits), 67);

    for (name, stream) in [("datarows", &rows), ("copy_64k", &copy)] {
        let mut group = c.benchmark_group(format!("framing/{name}"));
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_function("scan_run", |b| {
            b.iter(|| scan_all(black_box(stream), &limits))
        });
        group.bench_function("split_frame", |b| {
            b.iter_batched(
                || BytesMut::from(&stream[..]),
                |buf| split_all(buf, &limits),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }

    let mut buf = BytesMut::from(&rows[..]);
    let frames: Vec<Frame> = std::iter::from_fn(|| split_frame(&mut buf, &limits).ok().flatten())
        .filter(|frame| frame.tag() == DATA_ROW_TAG)
        .collect();
    let bytes: usize = frames.iter().map(|frame| frame.as_bytes().len()).sum();
    let mut group = c.benchmark_group("framing/datarows");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse_data_row", |b| {
        b.iter(|| {
            let mut total = 0;
            for frame in black_box(&frames) {
                let row = DataRow::parse(frame.body()).expect("valid DataRow");
                total += row.values().flatten().map(<[u8]>::len).sum::<usize>();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench_framing);
criterion_main!(benches);
