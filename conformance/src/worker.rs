//! The WebCrypto path: the edge Worker built with the `conformance` feature, under `wrangler dev`.
//!
//! The bundle goes to a directory of its own (`xtask::edge::build_variant`), so it never replaces the
//! production bundle (`edge-worker/build`). Its configuration is a
//! throwaway `wrangler.toml` under `.dev/conformance/` with the production bindings and the
//! production `compatibility_date`, so the runtime behaves as it does in production.

use super::{Case, Input, KeySource, Outcome};
use crate::request_path::Issuer;
use anyhow::{bail, ensure, Context as _, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xtask::edge;
use xtask::process::{wait_ready, Service};

/// Cases per request: large enough that the proxy in front of workerd is not the bottleneck, small
/// enough that one slow request does not hide which batch failed.
const BATCH: usize = 256;

/// The conformance Worker, running; stopped (with its whole process group) on drop.
#[derive(Debug)]
pub struct Edge {
    service: Option<Service>,
    /// Configuration, state and log of this run; removed by [`Edge::finish`], kept otherwise.
    dir: PathBuf,
    finished: bool,
    log: PathBuf,
    url: String,
    agent: ureq::Agent,
}

impl Edge {
    /// Starts the Worker, trusting `issuer` (the request-path checks' issuer and upstream).
    pub fn start(root: &Path, bundle: &Path, issuer: &Issuer) -> Result<Edge> {
        let dir = root
            .join(".dev/conformance")
            .join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("wrangler.toml");
        std::fs::write(&config, wrangler_toml(root, bundle, issuer)?)
            .with_context(|| format!("writing {}", config.display()))?;
        let (port, inspector) = (free_port()?, free_port()?);
        let log = dir.join("wrangler.log");
        let mut cmd = Command::new(root.join("node_modules/.bin/wrangler"));
        cmd.current_dir(&dir)
            .arg("dev")
            .arg("--config")
            .arg(&config)
            .args(["--ip", "127.0.0.1", "--show-interactive-dev-session=false"])
            .args(["--log-level", "warn"])
            .args(["--port", &port.to_string()])
            .args(["--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(dir.join("state"));
        edge::offline_env(root, &mut cmd);
        let mut service = Service::spawn("wrangler dev (conformance)", cmd, &log)?;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(
            &mut service,
            &format!("{url}/__conformance/health"),
            &log,
            Duration::from_secs(120),
        )?;
        println!("conformance Worker ready at {url} (log: {})", log.display());
        Ok(Edge {
            service: Some(service),
            dir,
            finished: false,
            log,
            url,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(120))
                .build(),
        })
    }

    /// A panic fails only its own request: the next one is answered by a rebuilt wasm instance,
    /// and a real verification works on it.
    pub fn recovers_from_a_panic(&self) -> Result<()> {
        let panicked = self
            .agent
            .post(&format!("{}/__conformance/panic", self.url))
            .call();
        match panicked {
            Err(ureq::Error::Status(status, _)) if status >= 500 => {}
            Err(ureq::Error::Transport(_)) => {}
            other => bail!(
                "a panicking request was answered {:?} (Worker log: {})",
                other.map(|r| r.status()),
                self.log.display()
            ),
        }
        let health = self
            .agent
            .get(&format!("{}/__conformance/health", self.url))
            .call()
            .map_err(|e| {
                anyhow::anyhow!(
                    "after a panic the Worker no longer answers: {e} (Worker log: {})",
                    self.log.display()
                )
            })?
            .into_string()?;
        ensure!(
            health == "ok",
            "after a panic the health check answered {health:?}"
        );
        Ok(())
    }

    /// `GET path` with a bearer token through the Worker's request path: the answer's status.
    pub fn get_status(&self, path: &str, token: &str) -> Result<u16> {
        let url = format!("{}{path}", self.url);
        match self
            .agent
            .get(&url)
            .set("authorization", &format!("Bearer {token}"))
            .call()
        {
            Ok(response) => Ok(response.status()),
            Err(ureq::Error::Status(status, _)) => Ok(status),
            Err(e) => bail!("GET {url}: {e} (Worker log: {})", self.log.display()),
        }
    }

    /// `GET path`, with a bearer token when given: the status and the named headers' values.
    pub fn get_with_headers(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[&str],
    ) -> Result<(u16, Vec<Option<String>>)> {
        let url = format!("{}{path}", self.url);
        let mut request = self.agent.get(&url);
        if let Some(token) = token {
            request = request.set("authorization", &format!("Bearer {token}"));
        }
        let response = match request.call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => bail!("GET {url}: {e} (Worker log: {})", self.log.display()),
        };
        let values = headers
            .iter()
            .map(|h| response.header(h).map(str::to_owned))
            .collect();
        Ok((response.status(), values))
    }

    /// Takes every rate limit's object down (`true`) or brings them back.
    pub fn set_limiter_down(&self, down: bool) -> Result<()> {
        let url = format!("{}/__conformance/limiter-down", self.url);
        self.agent
            .post(&url)
            .send_json(down)
            .map_err(|e| anyhow::anyhow!("POST {url}: {e} (Worker log: {})", self.log.display()))?;
        Ok(())
    }

    /// What the Worker has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path`, answered with JSON.
    pub fn get_json(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.url);
        self.agent
            .get(&url)
            .call()
            .map_err(|e| anyhow::anyhow!("GET {url}: {e} (Worker log: {})", self.log.display()))?
            .into_json()
            .with_context(|| format!("reading the answer of {url}"))
    }

    /// Stops the Worker and removes its directory: the run needs no evidence kept.
    pub fn finish(mut self) {
        self.finished = true;
    }

    /// Every case's outcome through the Worker, batched; `None` for cases neither path runs.
    pub fn run_all(&self, cases: &[Case]) -> Result<Vec<Option<Outcome>>> {
        let mut out: Vec<Option<Outcome>> = vec![None; cases.len()];
        // Raw signatures: any mix of keys per request.
        let signatures: Vec<(usize, Value)> = cases
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.input {
                Input::Signature {
                    jwk,
                    alg,
                    signing_input,
                    signature,
                } => Some((
                    i,
                    json!({"jwk": jwk, "alg": alg, "signing_input": signing_input, "signature": signature}),
                )),
                _ => None,
            })
            .collect();
        for chunk in signatures.chunks(BATCH) {
            let body = Value::Array(chunk.iter().map(|(_, v)| v.clone()).collect());
            let answers: Vec<Outcome> = self.post("signature", &body, chunk.len())?;
            for ((i, _), answer) in chunk.iter().zip(answers) {
                out[*i] = Some(answer);
            }
        }
        // Tokens: one request per run of consecutive cases with the same key.
        let mut i = 0;
        while i < cases.len() {
            let Input::Token {
                key,
                opaque_payload,
                ..
            } = &cases[i].input
            else {
                i += 1;
                continue;
            };
            let mut batch = Vec::new();
            while let Some(Input::Token {
                key: k,
                token,
                opaque_payload: o,
            }) = cases.get(i + batch.len()).map(|c| &c.input)
            {
                if k != key || o != opaque_payload || batch.len() == BATCH {
                    break;
                }
                batch.push(token.clone());
            }
            let mut body = json!({"tokens": batch, "opaque_payload": opaque_payload});
            match key {
                KeySource::Jwk(jwk) => body["jwk"] = jwk.clone(),
                KeySource::Jwks(document) => body["jwks"] = Value::String(document.clone()),
            }
            let answers: Vec<Outcome> = self.post("token", &body, batch.len())?;
            for (offset, answer) in answers.into_iter().enumerate() {
                out[i + offset] = Some(answer);
            }
            i += batch.len();
        }
        // Key sets.
        let sets: Vec<(usize, &String)> = cases
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.input {
                Input::KeySet { document } => Some((i, document)),
                _ => None,
            })
            .collect();
        if !sets.is_empty() {
            let body = Value::Array(
                sets.iter()
                    .map(|(_, d)| Value::String((*d).clone()))
                    .collect(),
            );
            let answers: Vec<KeySetAnswer> = self.post("jwks", &body, sets.len())?;
            for ((i, _), answer) in sets.iter().zip(answers) {
                out[*i] = Some(answer.into_outcome());
            }
        }
        Ok(out)
    }

    fn post<T: for<'de> Deserialize<'de>>(
        &self,
        endpoint: &str,
        body: &Value,
        expected: usize,
    ) -> Result<Vec<T>> {
        let url = format!("{}/__conformance/{endpoint}", self.url);
        let answers: Vec<T> = self
            .agent
            .post(&url)
            .send_json(body)
            .map_err(|e| anyhow::anyhow!("POST {url}: {e} (Worker log: {})", self.log.display()))?
            .into_json()
            .with_context(|| format!("reading the answer of {url}"))?;
        if answers.len() != expected {
            bail!(
                "{url} answered {} verdicts for {expected} cases",
                answers.len()
            );
        }
        Ok(answers)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        drop(self.service.take());
        if self.finished {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("conformance Worker log kept in {}", self.log.display());
        }
    }
}

/// `/__conformance/jwks`'s answer.
#[derive(Debug, Deserialize)]
struct KeySetAnswer {
    accepted: bool,
    keys: usize,
    error: Option<String>,
}

impl KeySetAnswer {
    fn into_outcome(self) -> Outcome {
        Outcome {
            stage: if self.accepted {
                "keyset_accepted"
            } else {
                "keyset_refused"
            }
            .into(),
            valid: self.accepted,
            detail: self.error.unwrap_or_default(),
            keys: self.accepted.then_some(self.keys),
        }
    }
}

/// The conformance Worker's configuration: the production bindings and compatibility date, and the
/// request-path checks' issuer, also its upstream (the conformance endpoints use neither).
fn wrangler_toml(root: &Path, bundle: &Path, issuer: &Issuer) -> Result<String> {
    let production = std::fs::read_to_string(root.join("wrangler.toml"))
        .context("reading wrangler.toml for its compatibility_date")?;
    let date = production
        .lines()
        .find_map(|l| l.trim().strip_prefix("compatibility_date"))
        .map(|rest| rest.trim_start_matches([' ', '=']).trim().trim_matches('"'))
        .context("wrangler.toml has no compatibility_date")?;
    let issuers = json!({ "issuers": [issuer.policy()] });
    let upstream = &issuer.url;
    let main = serde_json::to_string(&bundle.join("entry.mjs"))?;
    Ok(format!(
        r#"# Generated by `cargo xtask conformance`; throwaway.
name = "edge-auth-conformance"
main = {main}
compatibility_date = "{date}"

[vars]
UPSTREAM_URL = "{upstream}"
AUTH_ISSUERS = '{issuers}'

[[kv_namespaces]]
binding = "REVOCATIONS"
id = "conformance-revocations"

[[kv_namespaces]]
binding = "JWKS"
id = "conformance-jwks"

[[durable_objects.bindings]]
name = "TENANT_SESSIONS"
class_name = "TenantSessions"

[[durable_objects.bindings]]
name = "RATE_LIMITER"
class_name = "RateLimiter"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["TenantSessions", "RateLimiter"]
"#
    ))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
