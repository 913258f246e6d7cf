//! Postgres for local runs and tests: `DATABASE_URL` if set; else the server on 127.0.0.1:5432 if it
//! answers; else a throwaway cluster under `.dev/postgres` made with the system's `initdb`/`pg_ctl`
//! (installing Debian's `postgresql` package if they are absent).

use anyhow::{bail, Context as _, Result};
use sqlx::{Connection as _, Executor as _, PgConnection};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xtask::process::{output, run};
use xtask::step;

const LOCAL_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const CLUSTER_PORT: u16 = 5433;

/// A reachable server, and the cluster we started if we had to.
#[derive(Debug)]
pub struct Postgres {
    /// URL of a maintenance database on the server (for creating and dropping databases).
    server_url: String,
    /// Set when the user gave `DATABASE_URL`: used as-is for the dev database.
    user_database: Option<String>,
    /// Held so that dropping `Postgres` stops a cluster we started.
    _cluster: Option<Cluster>,
}

impl Postgres {
    pub fn provision(root: &Path) -> Result<Postgres> {
        step("provisioning Postgres");
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let server_url = with_database(&url, "postgres");
            probe(&url).with_context(|| "DATABASE_URL is set but does not answer".to_owned())?;
            println!("using DATABASE_URL");
            return Ok(Postgres {
                server_url,
                user_database: Some(url),
                _cluster: None,
            });
        }
        let local = std::env::var("XTASK_PG_PROBE_URL").unwrap_or_else(|_| LOCAL_SERVER.to_owned());
        if probe(&local).is_ok() {
            println!("using the server at {}", redact(&local));
            return Ok(Postgres {
                server_url: local,
                user_database: None,
                _cluster: None,
            });
        }
        println!(
            "no server answers at {}; starting a throwaway cluster",
            redact(&local)
        );
        let cluster = Cluster::start(&root.join(".dev/postgres"))?;
        let server_url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
        probe(&server_url).context("the throwaway cluster does not answer")?;
        Ok(Postgres {
            server_url,
            user_database: None,
            _cluster: Some(cluster),
        })
    }

    /// URL of the server's maintenance database: `#[sqlx::test]` creates its own databases from it.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The dev database (created if missing): `DATABASE_URL` itself when the user gave one.
    pub fn dev_database(&self) -> Result<String> {
        if let Some(url) = &self.user_database {
            return Ok(url.clone());
        }
        self.create_database("edge_auth_dev", false)
    }

    /// Creates `name` (dropping it first if `fresh`) and returns its URL.
    pub fn create_database(&self, name: &str, fresh: bool) -> Result<String> {
        let server = self.server_url.clone();
        let name = name.to_owned();
        block_on(async move {
            let mut conn = PgConnection::connect(&server).await?;
            if fresh {
                conn.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                    .await?;
            }
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(&name)
                    .fetch_one(&mut conn)
                    .await?;
            if !exists {
                conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
                    .await?;
            }
            Ok(with_database(&server, &name))
        })
    }

    pub fn drop_database(&self, name: &str) -> Result<()> {
        let server = self.server_url.clone();
        let name = name.to_owned();
        block_on(async move {
            let mut conn = PgConnection::connect(&server).await?;
            conn.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                .await?;
            Ok(())
        })
    }
}

fn block_on<T>(fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(fut)
}

fn probe(url: &str) -> Result<()> {
    let url = url.to_owned();
    block_on(async move {
        let conn =
            tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(&url)).await??;
        conn.close().await?;
        Ok(())
    })
}

/// Replaces the database name of a Postgres URL (keeping any query string).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A URL with any password removed, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let user_end = s + 3 + url[s + 3..at].find(':').unwrap_or(0);
            format!("{}:***{}", &url[..user_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// A cluster we created and started; stopped on drop.
#[derive(Debug)]
struct Cluster {
    data: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl Cluster {
    fn start(dir: &Path) -> Result<Cluster> {
        let bin = postgres_bin_dir()?;
        let data = dir.join("data");
        std::fs::create_dir_all(dir)?;
        let as_root = nix::unistd::Uid::effective().is_root();
        if as_root {
            // initdb refuses to run as root: the cluster belongs to the `postgres` system user.
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir))?;
        }
        if !data.join("PG_VERSION").exists() {
            run(&mut as_postgres(as_root, bin.join("initdb"), |c| {
                c.arg("-D").arg(&data).args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]);
            }))?;
        }
        let port = std::env::var("XTASK_PG_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(CLUSTER_PORT);
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        run(&mut as_postgres(as_root, bin.join("pg_ctl"), |c| {
            c.arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-o", &options, "-w", "start"]);
        }))?;
        Ok(Cluster { data, port, bin })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let as_root = nix::unistd::Uid::effective().is_root();
        let _ = run(&mut as_postgres(as_root, self.bin.join("pg_ctl"), |c| {
            c.arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "stop"]);
        }));
    }
}

fn as_postgres(as_root: bool, program: PathBuf, args: impl FnOnce(&mut Command)) -> Command {
    let mut cmd = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    args(&mut cmd);
    cmd
}

/// The directory holding `initdb` and `pg_ctl`, installing Debian's `postgresql` if needed.
fn postgres_bin_dir() -> Result<PathBuf> {
    if let Some(found) = find_bin_dir() {
        return Ok(found);
    }
    if !nix::unistd::Uid::effective().is_root() {
        bail!("no Postgres server answers and initdb is not installed: install PostgreSQL or set DATABASE_URL");
    }
    println!("installing Debian's postgresql package");
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "postgresql"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    find_bin_dir().context("postgresql was installed but initdb is still not found")
}

fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().or_else(|| {
        let initdb = output(Command::new("which").arg("initdb"))?;
        PathBuf::from(initdb).parent().map(Path::to_path_buf)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced_and_passwords_hidden() {
        assert_eq!(
            with_database("postgres://u:p@h:1/db?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
