//! The markdown tables of a comparison: one per workload (medians, percentiles, CPU per
//! transaction and the ratios), the latency each proxy adds at one client, and the memory per
//! idle client. Plain text with padded columns, so they read in a terminal too.

use std::fmt::Write;

use crate::kind::TargetKind;
use crate::results::{Entry, IdleOutcome, IdleRow, Medians, Throughput};

/// Renders one markdown table per workload, each followed by its notes.
pub fn render_throughput(t: &Throughput) -> String {
    let headers = throughput_headers(t);
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut out = String::new();
    for (w, workload) in t.workloads.iter().enumerate() {
        let _ = writeln!(out, "### `{workload}`\n");
        let mut notes = Vec::new();
        let floor = t.floor(w);
        let rows: Vec<Vec<String>> = t
            .targets
            .iter()
            .map(|&target| {
                let mut cells = row(t, w, target, floor.map(|f| f.1), &mut notes);
                cells.truncate(headers.len() - usize::from(!t.nodes.is_empty()));
                if !t.nodes.is_empty() {
                    cells.push(reads_per_node(t, w, target));
                }
                cells
            })
            .collect();
        out.push_str(&table(&headers, &rows));
        if let Some((pump, _)) = floor {
            let note = if workload.connect_per_txn {
                format!(
                    "floor: {pump} (the pump with the lower CPU per transaction); with -C the \
                     pumps open a PostgreSQL connection per transaction, which a pooler avoids, \
                     so here they are a reference, not a floor"
                )
            } else {
                format!("floor: {pump} (the pump with the lower CPU per transaction)")
            };
            notes.insert(0, note);
        }
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
        out.push('\n');
    }
    out
}

/// Columns of [`row`] before the optional floor and reads-per-node columns.
const BASE_COLUMNS: usize = 10;

fn throughput_headers(t: &Throughput) -> Vec<String> {
    let base = &t.baseline_label;
    let mut headers: Vec<String> = [
        "target",
        "pooling",
        "TPS (median)",
        "TPS min–max",
        "avg ms",
        "p50 / p99 / p99.9 ms",
        "proxy CPU µs/txn",
    ]
    .map(String::from)
    .to_vec();
    headers.extend([
        format!("TPS vs {base}"),
        format!("CPU vs {base}"),
        "TPS vs direct".into(),
    ]);
    debug_assert_eq!(headers.len(), BASE_COLUMNS);
    if t.has_floor() {
        headers.extend(["TPS vs floor".into(), "CPU vs floor".into()]);
    }
    if !t.nodes.is_empty() {
        headers.push("reads per node".into());
    }
    headers
}

/// `num / den` as `1.23×`, or `—`.
fn ratio(num: Option<f64>, den: Option<f64>) -> String {
    match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => format!("{:.2}×", n / d),
        _ => "—".into(),
    }
}

fn row(
    t: &Throughput,
    w: usize,
    target: TargetKind,
    floor: Option<Medians>,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let name = target.name().to_string();
    let pooling = t.pooling(target).label().to_string();
    let blank = |first: &str| {
        let mut r = vec![name.clone(), pooling.clone(), first.to_string()];
        r.resize(BASE_COLUMNS + 2, "—".into());
        r
    };
    let runs = match t.entry(w, target) {
        None => return blank("not run"),
        Some(Entry::NotApplicable(why)) => {
            notes.push(format!("{target}: n/a — {why}"));
            return blank("n/a");
        }
        Some(Entry::Unavailable(why)) => {
            notes.push(format!("{target}: skipped — {}", one_line(why)));
            return blank("skipped");
        }
        Some(Entry::Runs(runs)) => runs,
    };
    let failures: Vec<&String> = runs.iter().filter_map(|r| r.as_ref().err()).collect();
    if let Some(first) = failures.first() {
        notes.push(format!(
            "{target}: {} of {} rounds failed — {}",
            failures.len(),
            runs.len(),
            one_line(first)
        ));
    }
    let Some(m) = Medians::of(runs) else {
        return blank("failed");
    };
    let base = t.baseline(target).and_then(|b| t.median(w, b));
    let direct = t.median(w, TargetKind::Direct);
    let cpu = m.cpu_us_per_txn;
    vec![
        name,
        pooling,
        format!("{:.0}", m.tps),
        format!("{:.0}–{:.0}", m.tps_range.0, m.tps_range.1),
        format!("{:.3}", m.latency_ms),
        m.percentiles.map_or("—".into(), |(a, b, c)| {
            format!("{} / {} / {}", ms(a), ms(b), ms(c))
        }),
        cpu.map_or("—".into(), |c| format!("{c:.1}")),
        ratio(Some(m.tps), base.map(|b| b.tps)),
        ratio(cpu, base.and_then(|b| b.cpu_us_per_txn)),
        ratio(Some(m.tps), direct.map(|d| d.tps)),
        ratio(Some(m.tps), floor.map(|f| f.tps)),
        ratio(cpu, floor.and_then(|f| f.cpu_us_per_txn)),
    ]
}

/// A latency in ms with three significant digits where it matters (0.412, 1.23, 12.3).
fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3}")
    } else if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// Each node's share of the transactions committed in the benchmark database, summed over the
/// successful rounds of one pair: `12% / 44% / 44%` (primary first).
fn reads_per_node(t: &Throughput, w: usize, target: TargetKind) -> String {
    let mut sums = vec![0u64; t.nodes.len()];
    for commits in t
        .runs(w, target)
        .into_iter()
        .filter_map(|r| r.node_commits.as_ref())
    {
        for (sum, c) in sums.iter_mut().zip(commits) {
            *sum += c;
        }
    }
    let total: u64 = sums.iter().sum();
    if total == 0 {
        return "—".into();
    }
    sums.iter()
        .map(|&n| format!("{:.0}%", n as f64 * 100.0 / total as f64))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The latency each proxy adds at one client (target − direct, in µs, medians of the rounds)
/// for each one-client steady workload; empty when the run had none, or no direct run.
pub fn render_added_latency(t: &Throughput) -> String {
    let single: Vec<usize> = (0..t.workloads.len())
        .filter(|&w| t.workloads[w].clients == 1 && !t.workloads[w].connect_per_txn)
        .filter(|&w| t.median(w, TargetKind::Direct).is_some())
        .collect();
    if single.is_empty() {
        return String::new();
    }
    let mut headers = vec!["target".to_string()];
    for &w in &single {
        let mode = t.workloads[w].mode.as_str();
        headers.extend([format!("{mode} +p50 µs"), format!("{mode} +p99 µs")]);
        headers.push(format!("{mode} +avg µs"));
    }
    let rows: Vec<Vec<String>> = t
        .targets
        .iter()
        .filter(|&&target| target != TargetKind::Direct)
        .map(|&target| {
            let mut cells = vec![target.name().to_string()];
            for &w in &single {
                let (Some(m), Some(d)) = (t.median(w, target), t.median(w, TargetKind::Direct))
                else {
                    cells.extend(["—".into(), "—".into(), "—".into()]);
                    continue;
                };
                let added = |a: Option<f64>, b: Option<f64>| match (a, b) {
                    (Some(a), Some(b)) => format!("{:+.0}", (a - b) * 1000.0),
                    _ => "—".into(),
                };
                let (p, q) = (m.percentiles, d.percentiles);
                cells.push(added(p.map(|p| p.0), q.map(|q| q.0)));
                cells.push(added(p.map(|p| p.1), q.map(|q| q.1)));
                cells.push(added(Some(m.latency_ms), Some(d.latency_ms)));
            }
            cells
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(&headers, &rows)
}

/// Renders the idle-client memory table.
pub fn render_idle(rows: &[IdleRow]) -> String {
    let headers = [
        "target",
        "idle clients",
        "RSS before MiB",
        "RSS after MiB",
        "RSS KiB/client",
        "PSS KiB/client",
        "PG backends",
    ];
    let mut notes = Vec::new();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.target.name().to_string(), r.clients.to_string()];
            match &r.outcome {
                IdleOutcome::Measured {
                    before,
                    after,
                    backends,
                } => {
                    let per = |a: u64, b: u64| (a as f64 - b as f64) / r.clients as f64;
                    cells.extend([
                        format!("{:.1}", before.rss_kib as f64 / 1024.0),
                        format!("{:.1}", after.rss_kib as f64 / 1024.0),
                        format!("{:.2}", per(after.rss_kib, before.rss_kib)),
                        format!("{:.2}", per(after.pss_kib, before.pss_kib)),
                        backends.map_or("?".into(), |b| b.to_string()),
                    ]);
                }
                IdleOutcome::NotApplicable(why) => {
                    notes.push(format!("{} at {}: n/a — {why}", r.target, r.clients));
                    cells.push("n/a".into());
                }
                IdleOutcome::Failed(why) => {
                    notes.push(format!(
                        "{} at {}: failed — {}",
                        r.target,
                        r.clients,
                        one_line(why)
                    ));
                    cells.push("failed".into());
                }
            }
            cells.resize(headers.len(), "—".into());
            cells
        })
        .collect();
    let mut out = table(&headers, &body);
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    out
}

/// A markdown table with padded columns, readable as plain text too.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .chain([headers[i].chars().count(), 3])
            .max()
            .unwrap_or(3)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let line = |cells: Vec<&str>| {
        let mut s = String::from("|");
        for (i, w) in widths.iter().enumerate() {
            let cell = cells.get(i).copied().unwrap_or("");
            let pad = w.saturating_sub(cell.chars().count());
            let _ = write!(s, " {cell}{} |", " ".repeat(pad));
        }
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    let dashes: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(&line(dashes.iter().map(String::as_str).collect()));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// The first line of an error chain, shortened for a table note.
pub fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 {
        format!("{}…", flat.chars().take(300).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests;
