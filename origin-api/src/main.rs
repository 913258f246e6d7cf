//! `origin-api [serve]` runs the origin; `origin-api migrate` applies the schema and exits;
//! `origin-api openapi` prints the OpenAPI document it serves at `/openapi.json`.

use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: origin-api [serve | migrate | openapi]\n\n  serve    apply migrations and serve http (default)\n  migrate  apply migrations and exit\n  openapi  print the OpenAPI document (docs/openapi.json) and exit";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let result = match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate().await,
        Some("openapi") => {
            use std::io::Write as _;
            let document = origin_api::openapi_document();
            let mut stdout = std::io::stdout().lock();
            return match stdout.write_all(document.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("writing the document: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("unknown command {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error.cause = format!("{e:#}"), "origin-api failed");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    origin_api::serve(origin_api::Config::from_env()?).await
}

async fn migrate() -> anyhow::Result<()> {
    origin_api::migrate(&origin_api::config::database_url_from_env()?).await?;
    tracing::info!("migrations applied");
    Ok(())
}
