//! `strikemq-probe --bootstrap HOST:PORT --prefix NAME`: sends a fixed list of hand-built requests —
//! every API StrikeMQ advertises, at every version it advertises, with the awkward cases (unknown
//! topics, bad partitions, out-of-range offsets, corrupt batches, stale generations, …) — and
//! prints each decoded answer as JSON on stdout. `tests/conformance/test_raw_protocol.py` runs it
//! against Apache Kafka and against StrikeMQ and compares the answers field by field.
//!
//! The scenario is deterministic: the same requests in the same order against a fresh broker give
//! the same answers, apart from fields that name the broker (ids, ports, cluster id, uuids), which
//! the comparison normalises.

mod cases;
mod conn;

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// One request and what the broker answered.
#[derive(Serialize)]
pub(crate) struct Observation {
    /// A name unique within the run, e.g. `Produce v9: unknown topic`.
    pub(crate) case: String,
    pub(crate) api: i16,
    pub(crate) version: i16,
    /// The decoded response (`{:#?}`), `connection closed` or `no response`.
    pub(crate) answer: String,
}

fn main() -> Result<()> {
    let mut bootstrap = None;
    let mut prefix = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bootstrap" => bootstrap = args.next(),
            "--prefix" => prefix = args.next(),
            "-h" | "--help" => {
                println!("usage: strikemq-probe --bootstrap HOST:PORT --prefix NAME\n       strikemq-probe --versions   (the API ranges StrikeMQ advertises, as JSON)");
                return Ok(());
            }
            "--versions" => {
                let apis: Vec<_> = strikemq_codec::versions::supported_apis()
                    .map(|r| {
                        serde_json::json!({
                            "name": strikemq_codec::versions::api_name(r.key),
                            "key": r.key as i16,
                            "min": r.min,
                            "max": r.max,
                        })
                    })
                    .collect();
                serde_json::to_writer_pretty(std::io::stdout().lock(), &apis)?;
                println!();
                return Ok(());
            }
            other => bail!("unknown argument {other}; see --help"),
        }
    }
    let bootstrap = bootstrap.context("--bootstrap HOST:PORT is required")?;
    let prefix = prefix.context("--prefix NAME is required")?;
    let observations = cases::run(&bootstrap, &prefix)?;
    serde_json::to_writer_pretty(std::io::stdout().lock(), &observations)?;
    println!();
    Ok(())
}
