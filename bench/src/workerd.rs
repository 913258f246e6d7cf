//! The benchmark's runtime: one workerd process started directly from a capnp config, serving our
//! Worker twice (cache on and off) and the limits bundle, the jose baseline, the pass-through (with
//! and without a KV lookup), the upstream, the JWKS and the KV stub. No `wrangler dev` in front: its
//! Node proxy caps throughput near ~900 req/s on two cores, below what the Workers behind it can
//! answer.

use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xtask::process::{run, wait_ready, Service};

pub const WORKERD: &str = "node_modules/@cloudflare/workerd-linux-64/bin/workerd";
const TEMPLATE: &str = "bench/workerd.capnp.tmpl";

/// The port of each socket of the config.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub edge: u16,
    pub edge_nocache: u16,
    pub jose: u16,
    pub passthrough: u16,
    pub passthrough_kv: u16,
    pub upstream: u16,
    pub jwks: u16,
    /// Ours with the benchmark's limits policy ([`LIMITS_VARIANT`]).
    pub limits: u16,
}

/// The bundle built with `bench/routes.toml` (edge-worker feature `bench-policy`), under
/// `target/edge-variants/`.
pub const LIMITS_VARIANT: &str = "bench-limits";

impl Ports {
    /// Ports nobody listens on right now.
    pub fn free() -> Result<Ports> {
        // Held open together, so they are distinct; released just before workerd binds them.
        let listeners = (0..8)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<Vec<_>>>()?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Ports {
            edge: ports[0],
            edge_nocache: ports[1],
            jose: ports[2],
            passthrough: ports[3],
            passthrough_kv: ports[4],
            upstream: ports[5],
            jwks: ports[6],
            limits: ports[7],
        })
    }

    pub fn jwks_uri(&self) -> String {
        format!("http://127.0.0.1:{}/jwks.json", self.jwks)
    }
}

/// What the config is filled with, besides the ports.
#[derive(Debug)]
pub struct Settings {
    /// `AUTH_ISSUERS`, as the JSON string our Worker and the baseline both parse.
    pub auth_issuers: String,
    pub jwks: String,
    pub push_secret: String,
    /// JSON object of KV entries present from the start.
    pub kv_seed: String,
}

/// How workerd is started.
#[derive(Debug, Clone)]
pub enum Launch {
    Plain,
    /// With the V8 inspector on this port (`--profile`).
    Inspector(u16),
    /// Under valgrind's callgrind, dumps to this path (`--instructions`, see [`crate::callgrind`]).
    Callgrind(PathBuf),
}

/// A running workerd; stopped (its process group) on drop.
#[derive(Debug)]
pub struct Workerd {
    service: Service,
    pub log: PathBuf,
}

impl Workerd {
    /// Bundles the baseline, writes the config into `dir` and starts workerd on it as `launch` says.
    pub fn start(
        root: &Path,
        dir: &Path,
        ports: &Ports,
        settings: &Settings,
        launch: &Launch,
    ) -> Result<Workerd> {
        bundle_baseline(root, dir)?;
        // The limits bundle's Durable Object storage (the config's `do-storage`): fresh every run.
        let storage = dir.join("do-storage");
        let _ = std::fs::remove_dir_all(&storage);
        std::fs::create_dir_all(&storage)
            .with_context(|| format!("creating {}", storage.display()))?;
        let config = render(root, ports, settings)?;
        let config_path = dir.join("workerd.capnp");
        std::fs::write(&config_path, config)
            .with_context(|| format!("writing {}", config_path.display()))?;
        let log = dir.join("workerd.log");
        let binary = root.join(WORKERD);
        let mut cmd = match launch {
            Launch::Callgrind(out) => crate::callgrind::command(&binary, out),
            _ => Command::new(&binary),
        };
        cmd.arg("serve").arg("--verbose");
        if let Launch::Inspector(port) = launch {
            cmd.arg(format!("--inspector-addr=127.0.0.1:{port}"));
        }
        cmd.arg(&config_path).current_dir(dir);
        let mut service = Service::spawn("workerd", cmd, &log)?;
        let ready = format!("http://127.0.0.1:{}/", ports.upstream);
        // Under valgrind workerd starts ~50x slower: it compiles every Worker before it listens.
        let patience = match launch {
            Launch::Callgrind(_) => Duration::from_secs(600),
            _ => Duration::from_secs(30),
        };
        wait_ready(&mut service, &ready, &log, patience)?;
        Ok(Workerd { service, log })
    }

    /// workerd's process id, for its CPU time (under valgrind, the same process).
    pub fn pid(&self) -> u32 {
        self.service.id()
    }

    pub fn check_alive(&mut self) -> Result<()> {
        self.service.check_alive(&self.log)
    }
}

/// `workerd --version`, e.g. `workerd 2026-04-26`.
pub fn version(root: &Path) -> String {
    xtask::process::output(Command::new(root.join(WORKERD)).arg("--version"))
        .unwrap_or_else(|| "unknown".into())
}

/// The jose baseline and its imports as one ES module (workerd resolves no npm packages).
fn bundle_baseline(root: &Path, dir: &Path) -> Result<()> {
    run(Command::new(root.join("node_modules/.bin/esbuild"))
        .arg(root.join("bench/workers/jose-baseline.js"))
        .args([
            "--bundle",
            "--format=esm",
            "--platform=neutral",
            "--log-level=warning",
        ])
        .arg(format!(
            "--outfile={}",
            dir.join("jose-baseline.bundle.js").display()
        ))
        .current_dir(root))
}

fn render(root: &Path, ports: &Ports, s: &Settings) -> Result<String> {
    let template = std::fs::read_to_string(root.join(TEMPLATE))
        .with_context(|| format!("reading {TEMPLATE}"))?;
    let values = [
        (
            "LIMITS_DIR",
            format!("../../target/edge-variants/{LIMITS_VARIANT}"),
        ),
        ("EDGE_LIMITS_PORT", ports.limits.to_string()),
        // The config is written to target/bench/, two levels below the workspace root.
        ("ROOT", "../..".to_owned()),
        ("COMPATIBILITY_DATE", compatibility_date(root)?),
        ("EDGE_PORT", ports.edge.to_string()),
        ("EDGE_NOCACHE_PORT", ports.edge_nocache.to_string()),
        ("JOSE_PORT", ports.jose.to_string()),
        ("PASSTHROUGH_PORT", ports.passthrough.to_string()),
        ("PASSTHROUGH_KV_PORT", ports.passthrough_kv.to_string()),
        ("UPSTREAM_PORT", ports.upstream.to_string()),
        ("JWKS_PORT", ports.jwks.to_string()),
        ("AUTH_ISSUERS", capnp_text(&s.auth_issuers)),
        ("JWKS", capnp_text(&s.jwks)),
        ("EDGE_PUSH_SECRET", capnp_text(&s.push_secret)),
        ("KV_SEED", capnp_text(&s.kv_seed)),
    ];
    let mut config = template;
    for (name, value) in values {
        config = config.replace(&format!("{{{{{name}}}}}"), &value);
    }
    if let Some(at) = config.find("{{") {
        let rest = &config[at..];
        let name = rest.get(..rest.find("}}").map_or(rest.len(), |e| e + 2));
        bail!("{TEMPLATE} has a placeholder the harness does not fill: {name:?}");
    }
    Ok(config)
}

/// The Worker's `compatibility_date` from `wrangler.toml`, so the benchmark runs what is deployed.
fn compatibility_date(root: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(root.join("wrangler.toml")).context("reading wrangler.toml")?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("compatibility_date"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .next()
        .context("wrangler.toml has no compatibility_date")
}

/// A Cap'n Proto text literal's contents: backslashes, quotes and control characters escaped.
fn capnp_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capnp_text_escapes_quotes_and_backslashes() {
        assert_eq!(capnp_text(r#"{"a":"b\c"}"#), r#"{\"a\":\"b\\c\"}"#);
        assert_eq!(capnp_text("x\ny"), "x\\ny");
    }

    #[test]
    fn the_template_renders_with_no_placeholder_left() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let ports = Ports {
            edge: 1,
            edge_nocache: 2,
            jose: 3,
            passthrough: 4,
            passthrough_kv: 7,
            upstream: 5,
            jwks: 6,
            limits: 9,
        };
        let settings = Settings {
            auth_issuers: r#"{"issuers":[]}"#.into(),
            jwks: r#"{"keys":[]}"#.into(),
            push_secret: "s".repeat(32),
            kv_seed: "{}".into(),
        };
        let config = render(root, &ports, &settings).unwrap();
        assert!(config.contains(r#"text = "{\"issuers\":[]}""#));
        assert!(config.contains("127.0.0.1:6"));
        assert!(config.contains("127.0.0.1:9"));
        assert!(
            config.contains(r#"embed "../../target/edge-variants/bench-limits/build/index.js""#)
        );
        assert!(!config.contains("{{"));
    }
}
