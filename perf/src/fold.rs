//! From `perf script` text to folded stacks (inferno's `collapse::perf`), an SVG flamegraph
//! (inferno's `flamegraph`) and a self-time ranking of functions.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use anyhow::{bail, Context, Result};
use inferno::collapse::perf::{Folder, Options};
use inferno::collapse::Collapse;
use inferno::flamegraph;

/// Folds the stacks of a `perf script` dump: one `frame;frame;...;leaf count` line per stack,
/// rooted at the thread's name, or with `per_thread` at `name-pid/tid` (corepool's shard threads
/// all read `corepool-shard-` once the kernel cut their names to 15 bytes, so only the tid tells
/// them apart).
pub fn collapse(script: &Path, per_thread: bool) -> Result<String> {
    let file = File::open(script).with_context(|| format!("open {}", script.display()))?;
    let mut folded = Vec::new();
    let mut options = Options::default();
    options.include_tid = per_thread;
    Folder::from(options)
        .collapse(BufReader::new(file), &mut folded)
        .context("fold perf script output")?;
    let folded = String::from_utf8(folded).context("folded stacks are not UTF-8")?;
    if folded.trim().is_empty() {
        bail!("perf recorded no samples of the process (was it busy?)");
    }
    Ok(folded)
}

/// `folded` with numbered threads of one pool merged: a root frame (the thread's name, as
/// perf reports it) ending in `-<digits>` or `-` (`pgbench-2`; `corepool-shard-0` arrives as
/// `corepool-shard-`, the kernel keeping 15 bytes of a name) loses the suffix, and stacks that
/// become equal are summed, so a pool's work reads as one tree.
pub fn merge_numbered_threads(folded: &str) -> String {
    let mut merged: Vec<(String, u64)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        let (root, rest) = stack.split_once(';').unwrap_or((stack, ""));
        let base = root.trim_end_matches(|c: char| c.is_ascii_digit());
        let root = match base.strip_suffix('-') {
            Some(pool) if !pool.is_empty() => pool,
            _ => root,
        };
        let key = if rest.is_empty() {
            root.to_string()
        } else {
            format!("{root};{rest}")
        };
        match index.get(&key) {
            Some(&i) => merged[i].1 += count,
            None => {
                index.insert(key.clone(), merged.len());
                merged.push((key, count));
            }
        }
    }
    let mut out = String::with_capacity(folded.len());
    for (stack, count) in merged {
        out.push_str(&stack);
        out.push(' ');
        out.push_str(&count.to_string());
        out.push('\n');
    }
    out
}

/// Draws `folded` as an SVG flamegraph at `out`; `unit` names what the counts are.
pub fn draw(folded: &str, title: &str, unit: &str, out: &Path) -> Result<()> {
    let mut options = flamegraph::Options::default();
    options.title = title.to_owned();
    options.count_name = unit.to_owned();
    let file = File::create(out).with_context(|| format!("create {}", out.display()))?;
    flamegraph::from_lines(&mut options, folded.lines(), BufWriter::new(file))
        .context("draw flamegraph")?;
    Ok(())
}

/// One function's share of the samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfTime {
    /// The frame name as perf resolved it.
    pub function: String,
    /// Summed sample weight (periods) with this function innermost on the stack.
    pub samples: u64,
}

/// The `n` functions most often innermost on the stack (self time), and the total sample count.
pub fn top_self(folded: &str, n: usize) -> (Vec<SelfTime>, u64) {
    let mut by_leaf: HashMap<&str, u64> = HashMap::new();
    let mut total = 0;
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        let leaf = stack.rsplit(';').next().unwrap_or(stack);
        *by_leaf.entry(leaf).or_default() += count;
        total += count;
    }
    let mut ranked: Vec<SelfTime> = by_leaf
        .into_iter()
        .map(|(function, samples)| SelfTime {
            function: function.to_owned(),
            samples,
        })
        .collect();
    ranked.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.function.cmp(&b.function)));
    ranked.truncate(n);
    (ranked, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_leaves_by_samples() {
        let folded = "corepool;main;relay;write 30\ncorepool;main;relay;read 50\n\
                      corepool;main;walk;read 20\nbroken line\n";
        let (top, total) = top_self(folded, 2);
        assert_eq!(total, 100);
        assert_eq!(
            top,
            vec![
                SelfTime {
                    function: "read".into(),
                    samples: 70
                },
                SelfTime {
                    function: "write".into(),
                    samples: 30
                }
            ]
        );
    }

    #[test]
    fn merges_numbered_shard_threads() {
        let folded = "corepool-shard-0;run;relay 30\ncorepool-shard-1;run;relay 20\n\
                      corepool-shard-;run;park 5\ncorepool;main 1\npostgres;exec 7\n\
                      pgbench-2;x 1\n";
        let merged = merge_numbered_threads(folded);
        assert_eq!(
            merged,
            "corepool-shard;run;relay 50\ncorepool-shard;run;park 5\ncorepool;main 1\n\
             postgres;exec 7\npgbench;x 1\n"
        );
    }

    #[test]
    fn folds_perf_script_text_and_draws() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("out.perf");
        std::fs::write(
            &script,
            "corepool 100/101 1.000: 1001001 cpu-clock:pppH: \n\
             \t55d0 relay+0x10 (/bin/corepool)\n\t55c0 main+0x20 (/bin/corepool)\n\n\
             corepool 100/101 1.001: 1001001 cpu-clock:pppH: \n\
             \t55d0 relay+0x10 (/bin/corepool)\n\t55c0 main+0x20 (/bin/corepool)\n\n",
        )
        .unwrap();
        let folded = collapse(&script, false).unwrap();
        // Each sample counts with its period (1,001,001 ns of cpu-clock), not as 1.
        assert_eq!(folded.trim(), "corepool;main;relay 2002002");
        let svg = dir.path().join("f.svg");
        draw(&folded, "test", "ns", &svg).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    }
}
