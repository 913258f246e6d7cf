//! Before anything is measured: each Worker must answer a good token with the upstream's 200 (with
//! the identity forwarded and the bearer token not), and refuse a tampered token, a missing token
//! and a revoked session with 401. Otherwise a fast refusal could pass for a fast verification.

use super::tokens::{self, Alg};
use super::workerd::Ports;
use super::{Pools, Worker, PATH};
use anyhow::{bail, Result};
use std::time::Duration;

pub fn check(ports: &Ports, pools: &Pools) -> Result<()> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    for worker in Worker::OURS.into_iter().chain([Worker::Jose]) {
        let url = format!("http://127.0.0.1:{}{PATH}", worker.port(ports));
        for (i, alg) in Alg::ALL.iter().enumerate() {
            let what = format!("{worker:?} with an {} token", alg.name());
            let ok = send(&agent, &url, Some(&pools.valid[i]))?;
            expect(&what, &ok, 200)?;
            if ok.subject != "user-0" || ok.authorization != "absent" {
                bail!(
                    "{what}: the upstream saw subject {:?} and authorization {:?}; expected \
                     the verified subject and no token",
                    ok.subject,
                    ok.authorization
                );
            }
            let bad = tokens::tampered(&pools.valid[i]);
            expect(
                &format!("{what} (tampered)"),
                &send(&agent, &url, Some(&bad))?,
                401,
            )?;
            expect(
                &format!("{what} (revoked session)"),
                &send(&agent, &url, Some(&pools.revoked[i]))?,
                401,
            )?;
        }
        expect(
            &format!("{worker:?} without a token"),
            &send(&agent, &url, None)?,
            401,
        )?;
    }
    for port in [ports.passthrough, ports.passthrough_kv] {
        let url = format!("http://127.0.0.1:{port}{PATH}");
        let through = send(&agent, &url, Some(&pools.valid[0]))?;
        expect("the pass-through", &through, 200)?;
        if through.authorization != "absent" {
            bail!("the pass-through forwarded the bearer token");
        }
    }
    Ok(())
}

#[derive(Debug)]
struct Answer {
    status: u16,
    subject: String,
    authorization: String,
    body: String,
}

fn send(agent: &ureq::Agent, url: &str, token: Option<&str>) -> Result<Answer> {
    let mut request = agent.get(url);
    if let Some(t) = token {
        request = request.set("authorization", &format!("Bearer {t}"));
    }
    let response = match request.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => bail!("GET {url}: {e}"),
    };
    let header = |n: &str| response.header(n).unwrap_or_default().to_owned();
    let (subject, authorization) = (header("x-bench-subject"), header("x-bench-authorization"));
    let status = response.status();
    let body = response.into_string().unwrap_or_default();
    Ok(Answer {
        status,
        subject,
        authorization,
        body,
    })
}

fn expect(what: &str, answer: &Answer, status: u16) -> Result<()> {
    if answer.status != status {
        let body: String = answer.body.chars().take(300).collect();
        bail!("{what}: expected {status}, got {}: {body}", answer.status);
    }
    Ok(())
}
