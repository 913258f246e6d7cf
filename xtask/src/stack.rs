//! The whole stack on one machine: origin (axum + Postgres), the demo upstream and the edge Worker
//! under `wrangler dev`, each in its own process group. Used by `cargo xtask dev` (default ports, in
//! the foreground) and by `cargo xtask test` (free ports, a fresh database, then the system tests).

use crate::postgres::Postgres;
use crate::secrets::{self, Secrets};
use anyhow::{bail, Context as _, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use xtask::process::{run, wait_ready, Service};
use xtask::{edge, step, tools, Background};

/// Where each service listens.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub origin: u16,
    pub upstream: u16,
    pub edge: u16,
    pub inspector: u16,
}

impl Ports {
    /// Defaults for `dev`, each overridable: `ORIGIN_PORT`, `UPSTREAM_PORT`, `EDGE_PORT`, `INSPECTOR_PORT`.
    pub fn from_env() -> Ports {
        let port = |name: &str, default: u16| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Ports {
            origin: port("ORIGIN_PORT", 8080),
            upstream: port("UPSTREAM_PORT", 8081),
            edge: port("EDGE_PORT", 8787),
            inspector: port("INSPECTOR_PORT", 9229),
        }
    }

    /// Ports nobody listens on right now (for test runs beside a running `dev`).
    pub fn free() -> Result<Ports> {
        let free = || -> Result<u16> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        Ok(Ports {
            origin: free()?,
            upstream: free()?,
            edge: free()?,
            inspector: free()?,
        })
    }
}

/// What to start.
#[derive(Debug)]
pub struct StackConfig {
    pub ports: Ports,
    pub database_url: String,
    pub secrets: Secrets,
    /// Logs, the edge's env file and its local KV/Durable Object state go here.
    pub state_dir: PathBuf,
    /// Tenants to create at the origin (the edge trusts every tenant of the origin).
    pub tenants: Vec<TenantSpec>,
    /// More issuers the edge trusts (`IssuerPolicy` JSON), beyond the tenants: the system tests add
    /// one whose JWKS cannot be fetched.
    pub extra_issuers: Vec<serde_json::Value>,
    /// More environment for the origin (the system tests shorten the JWKS max-age).
    pub origin_env: Vec<(String, String)>,
    /// The Worker's build that `wrangler dev` serves (and its build hook keeps).
    pub edge_profile: edge::Profile,
}

/// A tenant of the stack, created at the origin.
#[derive(Debug, Clone)]
pub struct TenantSpec {
    pub slug: String,
    /// Its access-token lifetime (`None`: the origin's).
    pub access_token_ttl_secs: Option<u32>,
    /// The edge's leeway for its tokens (other than the template's 30 s: an exact issuer entry).
    pub leeway_secs: u64,
}

impl TenantSpec {
    /// A tenant with the origin's token lifetime and the shipped leeway (30 s, as in `wrangler.toml`).
    pub fn new(slug: &str) -> TenantSpec {
        TenantSpec {
            slug: slug.to_owned(),
            access_token_ttl_secs: None,
            leeway_secs: 30,
        }
    }
}

/// A running stack; dropping it stops every service (edge first).
#[derive(Debug)]
pub struct Stack {
    services: Vec<(Service, PathBuf)>,
    pub origin_url: String,
    /// The origin again, by the name browsers need for passkeys: `http://localhost:{port}` (an IP
    /// address cannot be a WebAuthn RP id), so tenants' passkeys default to RP id `localhost`.
    pub pages_url: String,
    pub upstream_url: String,
    pub edge_url: String,
}

/// What the stack runs, being built: the Worker compiles in the background (a target directory of
/// its own: cargo locks one for a whole build) and is bundled there once the npm packages are in
/// ([`Build::npm_ready`]), while [`Build::finish`] compiles origin-api and demo-upstream in the
/// foreground, with cargo's progress.
#[derive(Debug)]
pub struct Build {
    bundle: Option<Background<()>>,
    npm_ready: Option<std::sync::mpsc::Sender<()>>,
}

impl Build {
    /// Starts the Worker's build with `profile` unless its bundle is up to date (needs the wasm32
    /// target).
    pub fn start(root: &Path, profile: edge::Profile) -> Result<Build> {
        let bundle = edge::Bundle::served(root, profile)?;
        if bundle.is_fresh() {
            println!("edge bundle ({}) is up to date", profile.env_value());
            return Ok(Build {
                bundle: None,
                npm_ready: None,
            });
        }
        let (ready, npm_ready) = std::sync::mpsc::channel();
        let root = root.to_owned();
        let what = match profile {
            edge::Profile::Release => {
                "the edge Worker: compiled for wasm32 (release with LTO), bindings, wasm-opt, esbuild"
            }
            edge::Profile::Dev => {
                "the edge Worker: compiled for wasm32 (profile edge-dev: no LTO), bindings, esbuild"
            }
        };
        let background = Background::spawn(
            what,
            "~2-3 min on 2 cores the first time, seconds after a change",
            root.join(".dev/logs/edge-build.log"),
            move |log| {
                let wasm = bundle.compile(&root, Some(log))?;
                npm_ready
                    .recv()
                    .context("the npm packages (wasm-opt, esbuild) were not installed")?;
                bundle.finish(&root, &wasm, Some(log))
            },
        )?;
        Ok(Build {
            bundle: Some(background),
            npm_ready: Some(ready),
        })
    }

    /// Tells the Worker's build that the npm packages are installed.
    pub fn npm_ready(&mut self) {
        if let Some(ready) = self.npm_ready.take() {
            let _ = ready.send(());
        }
    }

    /// Compiles the native services, then waits for the Worker's bundle.
    pub fn finish(mut self, root: &Path) -> Result<()> {
        step("compiling origin-api and demo-upstream (native, debug): ~2-3 min on 2 cores the first time");
        let native = run(Command::new("cargo")
            .args(["build", "-p", "origin-api", "-p", "demo-upstream"])
            .current_dir(root));
        self.npm_ready();
        let bundle = self.bundle.map(Background::wait).transpose();
        native?;
        bundle?;
        Ok(())
    }
}

impl Stack {
    /// Starts the services (built by [`Build`]).
    pub fn start(root: &Path, cfg: &StackConfig) -> Result<Stack> {
        std::fs::create_dir_all(&cfg.state_dir)?;
        let target = target_dir(root);
        let origin_url = format!("http://127.0.0.1:{}", cfg.ports.origin);
        let upstream_url = format!("http://127.0.0.1:{}", cfg.ports.upstream);
        let edge_url = format!("http://127.0.0.1:{}", cfg.ports.edge);
        let pages_url = format!("http://localhost:{}", cfg.ports.origin);
        let mut stack = Stack {
            services: Vec::new(),
            origin_url,
            pages_url,
            upstream_url,
            edge_url,
        };

        step("starting the demo upstream");
        let log = cfg.state_dir.join("upstream.log");
        let mut cmd = Command::new(target.join("demo-upstream"));
        cmd.arg(format!("127.0.0.1:{}", cfg.ports.upstream)).env(
            secrets::UPSTREAM_SECRET,
            cfg.secrets.get(secrets::UPSTREAM_SECRET),
        );
        let mut upstream = Service::spawn("demo-upstream", cmd, &log)?;
        wait_ready(
            &mut upstream,
            &format!("{}/ready", stack.upstream_url),
            &log,
            Duration::from_secs(20),
        )?;
        stack.services.push((upstream, log));

        step("starting the origin");
        let log = cfg.state_dir.join("origin.log");
        let mut cmd = Command::new(target.join("origin-api"));
        cmd.arg("serve")
            .env("DATABASE_URL", &cfg.database_url)
            .env("ORIGIN_ADDR", format!("127.0.0.1:{}", cfg.ports.origin))
            .env("ORIGIN_PUBLIC_URL", &stack.origin_url)
            .env("ORIGIN_PAGES_URL", &stack.pages_url)
            .env(secrets::ADMIN_TOKEN, cfg.secrets.get(secrets::ADMIN_TOKEN))
            .env(
                secrets::KEY_ENCRYPTION_KEY,
                cfg.secrets.get(secrets::KEY_ENCRYPTION_KEY),
            )
            .env(
                "EDGE_PUSH_URL",
                format!("{}/__auth/revocations", stack.edge_url),
            )
            .env(secrets::PUSH_SECRET, cfg.secrets.get(secrets::PUSH_SECRET))
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(cfg.origin_env.iter().map(|(k, v)| (k, v)));
        let mut origin = Service::spawn("origin-api", cmd, &log)?;
        wait_ready(
            &mut origin,
            &format!("{}/healthz", stack.origin_url),
            &log,
            Duration::from_secs(60),
        )?;
        stack.services.push((origin, log));
        for tenant in &cfg.tenants {
            create_tenant(
                &stack.origin_url,
                cfg.secrets.get(secrets::ADMIN_TOKEN),
                tenant,
            )?;
        }

        step("starting the edge Worker under wrangler dev");
        let env_file = cfg.state_dir.join("edge.env");
        write_edge_env(&env_file, cfg, &stack)?;
        let log = cfg.state_dir.join("edge.log");
        let mut cmd = Command::new(root.join("node_modules/.bin/wrangler"));
        cmd.current_dir(root)
            .args([
                "dev",
                "--ip",
                "127.0.0.1",
                "--show-interactive-dev-session=false",
                "--log-level",
                "log",
            ])
            .args([
                "--port",
                &cfg.ports.edge.to_string(),
                "--inspector-port",
                &cfg.ports.inspector.to_string(),
            ])
            .arg("--persist-to")
            .arg(stack.edge_state(cfg))
            .arg("--env-file")
            .arg(&env_file)
            .env(edge::Profile::ENV, cfg.edge_profile.env_value());
        edge::offline_env(root, &mut cmd);
        let mut edge = Service::spawn("wrangler dev", cmd, &log)?;
        wait_ready(
            &mut edge,
            &format!("{}/__auth/health", stack.edge_url),
            &log,
            Duration::from_secs(120),
        )?;
        stack.services.push((edge, log));
        Ok(stack)
    }

    /// Where `wrangler dev` keeps the edge's local KV and Durable Object state.
    pub fn edge_state(&self, cfg: &StackConfig) -> PathBuf {
        cfg.state_dir.join("wrangler-state")
    }

    /// Fails if any service has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for (service, log) in &mut self.services {
            service.check_alive(log)?;
        }
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Edge first: it is the one with grandchildren (node, workerd).
        while let Some((service, _)) = self.services.pop() {
            drop(service);
        }
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("debug")
}

/// The issuer URL of a tenant at this origin.
pub fn issuer(origin_url: &str, tenant: &str) -> String {
    format!("{origin_url}/t/{tenant}")
}

fn create_tenant(origin_url: &str, admin_token: &str, tenant: &TenantSpec) -> Result<()> {
    let slug = &tenant.slug;
    let mut body = json!({ "slug": slug, "name": slug });
    if let Some(ttl) = tenant.access_token_ttl_secs {
        body["access_token_ttl_secs"] = json!(ttl);
    }
    let response = ureq::post(&format!("{origin_url}/v1/admin/tenants"))
        .set("authorization", &format!("Bearer {admin_token}"))
        .send_json(body);
    match response {
        Ok(_) => println!("tenant {slug}: created"),
        Err(ureq::Error::Status(409, _)) => println!("tenant {slug}: exists"),
        Err(e) => bail!("creating tenant {slug}: {e}"),
    }
    Ok(())
}

/// The edge's local configuration: trusted issuers, upstream and push secret. The origin's tenants
/// are trusted through one template entry (`{origin}/t/{tenant}`), so a tenant created while the
/// stack runs is usable through the edge at once; a tenant of the stack whose leeway differs from
/// the template's gets an exact entry of its own (exact entries win). A file rather than `--var`
/// flags so the secret stays out of process listings.
fn write_edge_env(path: &Path, cfg: &StackConfig, stack: &Stack) -> Result<()> {
    let origin_issuer = |iss: String, leeway_secs: u64| {
        json!({
            "issuer": iss,
            "audiences": ["api"],
            // A tenant signs with ES256 or EdDSA; the key's own `alg` decides which applies.
            "algorithms": ["ES256", "EdDSA"],
            "token_type": "at+jwt",
            "leeway_secs": leeway_secs,
            "tenant": "origin",
        })
    };
    let default_leeway = TenantSpec::new("").leeway_secs;
    let mut issuers = vec![origin_issuer(
        issuer(&stack.origin_url, "{tenant}"),
        default_leeway,
    )];
    for t in cfg
        .tenants
        .iter()
        .filter(|t| t.leeway_secs != default_leeway)
    {
        let iss = issuer(&stack.origin_url, &t.slug);
        let mut entry = origin_issuer(iss.clone(), t.leeway_secs);
        entry["jwks_uri"] = json!(format!("{iss}/.well-known/jwks.json"));
        issuers.push(entry);
    }
    issuers.extend(cfg.extra_issuers.iter().cloned());
    let text = format!(
        "AUTH_ISSUERS={}\nUPSTREAM_URL={}\n{}={}\n{}={}\n",
        json!({ "issuers": issuers }),
        stack.upstream_url,
        secrets::PUSH_SECRET,
        cfg.secrets.get(secrets::PUSH_SECRET),
        secrets::UPSTREAM_SECRET,
        cfg.secrets.get(secrets::UPSTREAM_SECRET),
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(())
}

/// `cargo xtask dev`.
pub fn dev(root: &Path) -> Result<()> {
    let started = Instant::now();
    let interrupted = xtask::interrupt_flag()?;
    step("checking tools: the wasm32 target, node and the npm packages (wrangler, wasm-opt, esbuild)");
    tools::ensure_wasm_target()?;
    let mut build = Build::start(root, edge::Profile::Dev)?;
    tools::ensure_node_packages(root)?;
    build.npm_ready();
    let postgres = Postgres::provision(root)?;
    build.finish(root)?;
    let database_url = postgres.dev_database()?;
    let secrets = Secrets::load_or_create(&root.join(".dev/secrets.env"))?;
    let cfg = StackConfig {
        ports: Ports::from_env(),
        database_url,
        secrets,
        state_dir: root.join(".dev/stack"),
        tenants: vec![TenantSpec::new("demo")],
        extra_issuers: Vec::new(),
        origin_env: Vec::new(),
        edge_profile: edge::Profile::Dev,
    };
    let mut stack = Stack::start(root, &cfg)?;
    xtask::print_summary("cargo xtask dev: the stack is up", started.elapsed());
    print_walkthrough(&stack, &cfg);
    while !interrupted.load(Ordering::SeqCst) {
        if let Err(e) = stack.check_alive() {
            eprintln!("{e:#}");
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    println!("\nstopping…");
    drop(stack);
    drop(postgres);
    Ok(())
}

fn print_walkthrough(stack: &Stack, cfg: &StackConfig) {
    let origin = &stack.origin_url;
    let edge = &stack.edge_url;
    let state = cfg.state_dir.display();
    println!(
        r#"
Running (Ctrl-C stops everything):
  origin API      {origin}        (log: {state}/origin.log)
  demo upstream   {upstream}        (log: {state}/upstream.log)
  edge Worker     {edge}        (wrangler dev; log: {state}/edge.log)
  admin token     {admin}
  tenant          demo: issuer {origin}/t/demo
  sign-in page    {pages}/t/demo/sign-in   (hosted pages: sign up with a passkey, then /t/demo/account)

Walk-through (copy-paste into another shell):

  # 1. sign up
  curl -s -X POST {origin}/t/demo/v1/users -H 'content-type: application/json' \
       -d '{{"email":"ada@example.com","password":"correct horse battery"}}'

  # 2. sign in, keep the access token and session id
  RESP=$(curl -s -X POST {origin}/t/demo/v1/sessions -H 'content-type: application/json' \
       -d '{{"email":"ada@example.com","password":"correct horse battery"}}')
  TOKEN=$(echo "$RESP" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  SID=$(echo "$RESP" | sed -E 's/.*"session_id":"([^"]+)".*/\1/')

  # 3. call the API through the edge: the upstream echoes what it received (see x-auth-*)
  curl -s {edge}/api/hello -H "authorization: Bearer $TOKEN"
  curl -s {edge}/public/hello
  curl -s -i {edge}/api/hello                      # 401 token_missing

  # 4. sign out: the origin revokes the session and pushes it to the edge
  curl -s -i -X DELETE {origin}/t/demo/v1/sessions/$SID -H "authorization: Bearer $TOKEN"

  # 5. call again: 401 token_revoked
  curl -s -i {edge}/api/hello -H "authorization: Bearer $TOKEN"
  curl -s -i {edge}/api/strict/hello -H "authorization: Bearer $TOKEN"

  # 6. rate limits: 10 searches at once per client address, then 429 rate_limited with
  #    Retry-After, RateLimit-Policy and RateLimit (policies/README.md, "Rate limits")
  for i in $(seq 11); do curl -s -o /dev/null -w '%{{http_code}} ' {edge}/public/search/books; done; echo
  curl -s -i {edge}/public/search/books
"#,
        upstream = stack.upstream_url,
        pages = stack.pages_url,
        admin = cfg.secrets.get(secrets::ADMIN_TOKEN),
    );
}
