//! The command line, declared with clap's derive.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Debug a refused request offline: verify a token and explain route policies with the same core
/// code the edge runs.
#[derive(Debug, Parser)]
#[command(name = "edge-auth", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify a bearer token against a JWKS, an issuer and an audience, and print the decision.
    ///
    /// Exit status: 0 valid, 1 refused, 2 usage or I/O error.
    VerifyToken(VerifyTokenArgs),
    /// Check route policy files, or explain the decision for one request.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Args)]
pub struct VerifyTokenArgs {
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The token (a leading `Bearer ` is ignored), or `-` to read it from standard input (the
    /// default). Prefer stdin: an argument lands in the shell history.
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the token is checked against: the settings of one trusted issuer, as the edge has them.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// The issuer's key set: a JWKS file, or an http(s) URL to fetch it from.
    #[arg(long, value_name = "FILE|URL")]
    pub jwks: String,
    /// The exact `iss` the token must carry, or a template for the origin's tenants
    /// (`https://auth.example.com/t/{tenant}`, bound to `origin`; `--jwks` is then the key set of
    /// the tenant the token names).
    #[arg(long, value_name = "ISS")]
    pub issuer: String,
    /// An accepted audience; the token's `aud` must hold one of them. Repeat for several.
    #[arg(long = "audience", value_name = "AUD", required = true)]
    pub audiences: Vec<String>,
    #[command(flatten)]
    pub settings: VerifySettings,
}

/// The issuer settings that have defaults.
#[derive(Debug, Clone, Args)]
pub struct VerifySettings {
    /// Allowed algorithms, comma-separated (ES256, EdDSA, RS256, PS256). Default: the core's
    /// default for an issuer.
    #[arg(long = "alg", value_name = "ALG,...", value_delimiter = ',')]
    pub algorithms: Vec<String>,
    /// The `typ` header the token must carry, or `none` to skip the check.
    #[arg(long = "type", value_name = "TYP", default_value = "at+jwt")]
    pub token_type: String,
    /// Clock-skew allowance in seconds. Default: the core's default.
    #[arg(long = "leeway", value_name = "SECS")]
    pub leeway_secs: Option<u64>,
    /// Which of our tenants the issuer's tokens act for, as the edge's `tenant` setting:
    /// `none` (default), `origin` (the tenant the key set names; the token's `tid` must agree), or a
    /// tenant id assigned to a third-party issuer. A template issuer (`--issuer
    /// 'https://auth.example.com/t/{tenant}'`) is always `origin`.
    #[arg(long = "tenant", value_name = "BINDING")]
    pub tenant: Option<String>,
    /// Verify as of this Unix time instead of now (to replay a refusal seen earlier).
    #[arg(long, value_name = "UNIX")]
    pub now: Option<i64>,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only add noise to the declarations"
)]
pub enum PolicyCommand {
    /// Compile policy files and report each one's routes or its error with the line.
    ///
    /// Exit status: 0 all sound, 1 any broken, 2 a file could not be read.
    Check(CheckArgs),
    /// Show which route decides a request, what it requires, and (given a token) the decision.
    ///
    /// Exit status: 0 allowed, 1 denied, 2 usage or I/O error.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Policy files. Default: every `policies/*.toml` in the current directory or the nearest
    /// parent that has a `policies/` folder.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The policy file.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// The request's method.
    #[arg(long, value_name = "METHOD")]
    pub method: String,
    /// The request's raw (still percent-encoded) path.
    #[arg(long, value_name = "PATH")]
    pub path: String,
    /// The `Host` the client addressed; routes bound to a host match only when it is given.
    #[arg(long, value_name = "HOST", default_value = "")]
    pub host: String,
    /// A token to verify and authorize, or `-` to read it from standard input.
    #[arg(long, value_name = "TOKEN", requires_all = ["jwks", "issuer", "audiences"])]
    pub token: Option<String>,
    // The issuer's settings, as for `verify-token`; optional here because the token is. (clap's
    // optional flatten would still insist on the required members: clap-rs/clap#5092.)
    /// With --token: the issuer's key set, a JWKS file or an http(s) URL.
    #[arg(long, value_name = "FILE|URL", requires = "token")]
    pub jwks: Option<String>,
    /// With --token: the exact `iss` the token must carry.
    #[arg(long, value_name = "ISS", requires = "token")]
    pub issuer: Option<String>,
    /// With --token: an accepted audience. Repeat for several.
    #[arg(long = "audience", value_name = "AUD", requires = "token")]
    pub audiences: Vec<String>,
    #[command(flatten)]
    pub settings: VerifySettings,
}

impl ExplainArgs {
    /// The token and what to check it against, when a token is given.
    pub fn token_and_trust(&self) -> Option<(&str, TrustArgs)> {
        let token = self.token.as_deref()?;
        let trust = TrustArgs {
            jwks: self.jwks.clone()?,
            issuer: self.issuer.clone()?,
            audiences: self.audiences.clone(),
            settings: self.settings.clone(),
        };
        Some((token, trust))
    }
}
