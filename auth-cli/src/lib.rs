//! `edge-auth`, the command line for debugging a refused request offline.
//!
//! It owns the adapters around the core — reading a JWKS from a file or URL, reading policy files,
//! reading the clock once — and the rendering of the core's decisions for a person or a script. It
//! owns no rule: whether a token is valid, which route decides and whether its requirements are met
//! are all answered by `auth-core`, the same code the edge and the origin run. A difference between
//! what this tool says and what the edge does is a bug here, never a second opinion.
//!
//! It must never print a bearer token or its signature.

pub mod args;
mod jwks;
mod policy_check;
mod policy_explain;
mod render;
mod trust;
mod unverified;
mod verify_token;

use args::{Cli, Command, PolicyCommand};
use std::io::{BufRead, Write};

/// How a command ended when it could run. Usage and I/O errors are `Err` instead (exit 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The token is valid, the policy files are sound, the request is allowed.
    Passed,
    /// The token is refused, a policy file is broken, the request is denied.
    Refused,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Passed => 0,
            Outcome::Refused => 1,
        }
    }
}

/// The exit code of a usage or I/O error.
pub const EXIT_ERROR: u8 = 2;

/// Runs one command. Standard input is read only when the token is `-` or absent.
pub fn run(cli: Cli, stdin: &mut dyn BufRead, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::VerifyToken(a) => verify_token::run(&a, stdin, out),
        Command::Policy(PolicyCommand::Check(a)) => policy_check::run(&a, out),
        Command::Policy(PolicyCommand::Explain(a)) => policy_explain::run(&a, stdin, out),
    }
}
