//! `cargo xtask bench edge --profile`: V8 CPU profiles of the Workers under test, taken through
//! workerd's inspector (Chrome DevTools Protocol) while the benchmark's rounds run.
//!
//! Each profiled Worker gets `target/bench/profile-<worker>.txt`: the frames with the most samples of
//! their own, and the frames with the most samples under them, as shares of the Worker's busy time.
//! Wasm frames carry the Rust function names (the bundle keeps its name section). A profile slows what
//! it watches, so a profiling run writes no docs/benchmarks.md.

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The Workers profiled: ours with both caches off, ours as configured by default, the limits
/// bundle, the baseline and the pass-through (the floor: what ours does beyond it is ours).
pub const WORKERS: [&str; 5] = ["edge-nocache", "edge", "edge-limits", "jose", "passthrough"];
/// Frames listed per table.
const TOP: usize = 60;
/// Sampling interval, µs.
const INTERVAL_US: u64 = 50;

/// A CPU profile being taken of one Worker.
pub struct Session {
    worker: &'static str,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

/// Starts profiling every Worker of [`WORKERS`] on the inspector at `port`.
pub fn start(port: u16) -> Result<Vec<Session>> {
    let targets: Vec<Value> = ureq::get(&format!("http://127.0.0.1:{port}/json/list"))
        .call()
        .context("workerd's inspector does not answer")?
        .into_json()?;
    WORKERS
        .iter()
        .map(|worker| {
            let title = format!("workerd: worker {worker}");
            let url = targets
                .iter()
                .find(|t| t["title"] == title.as_str())
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                .with_context(|| format!("the inspector lists no {title:?}"))?;
            let (socket, _) = tungstenite::connect(url)
                .with_context(|| format!("connecting to the inspector of {worker}"))?;
            let mut session = Session {
                worker,
                socket,
                next_id: 0,
            };
            session.call("Profiler.enable", json!({}))?;
            session.call(
                "Profiler.setSamplingInterval",
                json!({ "interval": INTERVAL_US }),
            )?;
            session.call("Profiler.start", json!({}))?;
            Ok(session)
        })
        .collect()
}

impl Session {
    /// Sends a command and returns its result, skipping the events that arrive meanwhile.
    fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket.send(Message::text(request.to_string()))?;
        loop {
            let Message::Text(text) = self.socket.read()? else {
                continue;
            };
            let message: Value = serde_json::from_str(text.as_str())?;
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    bail!("{method} failed: {error}");
                }
                return Ok(message["result"].clone());
            }
        }
    }

    /// Stops the profile and writes its summary into `dir`; returns the file written.
    pub fn finish(mut self, dir: &Path) -> Result<PathBuf> {
        let result = self.call("Profiler.stop", json!({}))?;
        let text = summarize(self.worker, &result["profile"])?;
        let path = dir.join(format!("profile-{}.txt", self.worker));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// Self and inclusive sample shares per function, over the samples where the Worker was busy.
fn summarize(worker: &str, profile: &Value) -> Result<String> {
    let nodes = profile["nodes"]
        .as_array()
        .context("profile without nodes")?;
    let mut name_of = HashMap::new();
    let mut parent_of = HashMap::new();
    for node in nodes {
        let id = node["id"].as_u64().context("node without id")?;
        let frame = &node["callFrame"];
        let function = frame["functionName"].as_str().unwrap_or_default();
        let name = if function.is_empty() {
            "(anonymous)".to_owned()
        } else {
            without_hash(function)
        };
        name_of.insert(id, name);
        for child in node["children"].as_array().into_iter().flatten() {
            if let Some(child) = child.as_u64() {
                parent_of.insert(child, id);
            }
        }
    }
    let mut own: HashMap<&str, u64> = HashMap::new();
    let mut under: HashMap<&str, u64> = HashMap::new();
    let mut busy = 0u64;
    for sample in profile["samples"].as_array().into_iter().flatten() {
        let Some(mut id) = sample.as_u64() else {
            continue;
        };
        let Some(leaf) = name_of.get(&id) else {
            continue;
        };
        if leaf == "(idle)" {
            continue;
        }
        busy += 1;
        *own.entry(leaf.as_str()).or_default() += 1;
        let mut seen = HashSet::new();
        loop {
            if let Some(name) = name_of.get(&id) {
                if name != "(root)" && seen.insert(name.as_str()) {
                    *under.entry(name.as_str()).or_default() += 1;
                }
            }
            match parent_of.get(&id) {
                Some(parent) => id = *parent,
                None => break,
            }
        }
    }
    let mut out = format!(
        "CPU profile of {worker}: {busy} busy samples of {INTERVAL_US} µs (idle excluded)\n"
    );
    for (title, counts) in [("own time", &own), ("time under (inclusive)", &under)] {
        let mut ranked: Vec<_> = counts.iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let _ = writeln!(out, "\n{title}:");
        for (name, count) in ranked.into_iter().take(TOP) {
            let share = 100.0 * *count as f64 / busy.max(1) as f64;
            let _ = writeln!(out, "{share:6.1}%  {name}");
        }
    }
    Ok(out)
}

/// A Rust symbol without its `::h0123456789abcdef` hash.
fn without_hash(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find("::h") {
        let hash = rest.get(at + 3..at + 19);
        if hash.is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())) {
            out.push_str(&rest[..at]);
            rest = &rest[at + 19..];
        } else {
            out.push_str(&rest[..at + 3]);
            rest = &rest[at + 3..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_hashes_are_dropped_from_names() {
        assert_eq!(
            without_hash("edge_worker::gate::handle::{{closure}}::h0123456789abcdef"),
            "edge_worker::gate::handle::{{closure}}"
        );
        assert_eq!(without_hash("a::hello::b"), "a::hello::b");
    }

    #[test]
    fn shares_count_own_and_inclusive_time_over_busy_samples() {
        // root -> handler -> verify; root -> (idle)
        let profile = json!({
            "nodes": [
                {"id": 1, "callFrame": {"functionName": "(root)"}, "children": [2, 4]},
                {"id": 2, "callFrame": {"functionName": "handler"}, "children": [3]},
                {"id": 3, "callFrame": {"functionName": "verify"}},
                {"id": 4, "callFrame": {"functionName": "(idle)"}},
            ],
            "samples": [3, 3, 2, 4, 4],
        });
        let text = summarize("w", &profile).unwrap();
        assert!(text.contains("3 busy samples"), "{text}");
        let own = text.split("time under").next().unwrap();
        assert!(own.contains(" 66.7%  verify"), "{text}");
        assert!(own.contains(" 33.3%  handler"), "{text}");
        let under = text.split("time under").nth(1).unwrap();
        assert!(under.contains("100.0%  handler"), "{text}");
        assert!(!text.contains("(idle)"), "{text}");
    }
}
