//! The Worker bundle: the production one in `edge-worker/build` (what `wrangler.toml` runs), and
//! variants built with other cargo features (the conformance Worker, the benchmark's limits
//! bundle), each in a directory of its own laid out as production is: `entry.mjs` beside `build/`.
//!
//! A bundle is `build/index.js` and `build/index_bg.wasm`, made in four steps, with no tool to
//! install beyond `package-lock.json`: cargo compiles the crate for wasm32; wasm-bindgen's library
//! (the version of the `wasm-bindgen` crate, pinned in the workspace) generates the JS bindings
//! in-process; binaryen's `wasm-opt` optimises the module; esbuild folds the bindings, the crate's JS
//! snippets and our module around them (`edge/shim.js`: the fetch handler and the Durable Object
//! classes, each given a fresh wasm instance after a panic) into `index.js`.
//!
//! Every build is skipped when a fingerprint of its inputs is unchanged (wrangler's `[build]` hook
//! calls `cargo xtask build-edge` on every start).

use crate::process::{run, run_logged};
use crate::step;
use anyhow::{bail, Context as _, Result};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Our module around the bindings; the export line of each Durable Object class is appended.
const SHIM: &str = include_str!("edge/shim.js");
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The Worker's own target directory, apart from the native builds' `target/`, so that `cargo xtask
/// dev` compiles both at once (cargo locks a target directory for the whole of a build). The two
/// would share nothing anyway: a release build's host tools are compiled with other settings.
pub const TARGET_DIR: &str = "target/edge";

/// How the Worker is compiled. `Release` is the bundle that is deployed, benchmarked and measured
/// for size (`wrangler.toml` and `cargo xtask build-edge` build it); `Dev` is what `cargo xtask dev`
/// serves: cargo profile `edge-dev` (opt-level 1, no LTO, 16 codegen units) and no wasm-opt pass.
/// Fresh build, CPU-seconds: 238 against 258 + 25 (wasm-opt, one thread) for `Release`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    Release,
    Dev,
}

impl Profile {
    /// Set by `cargo xtask dev` for `wrangler dev`, whose build hook runs `cargo xtask build-edge`:
    /// the hook then finds the dev bundle fresh instead of building the release one over it.
    pub const ENV: &'static str = "EDGE_PROFILE";

    /// `Dev` when [`Profile::ENV`] says `dev`, else `Release`.
    pub fn from_env() -> Profile {
        match std::env::var(Profile::ENV).as_deref() {
            Ok("dev") => Profile::Dev,
            _ => Profile::Release,
        }
    }

    pub fn env_value(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "dev",
        }
    }

    /// The cargo profile, which is also the name of its directory under the target directory.
    fn cargo_profile(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "edge-dev",
        }
    }

    /// What the build does, for the progress lines.
    pub fn shown(self) -> &'static str {
        match self {
            Profile::Release => "release with LTO",
            Profile::Dev => "profile edge-dev: no LTO, no wasm-opt",
        }
    }
}

/// Environment that keeps wrangler offline: no metrics, no account lookups.
pub fn offline_env(_root: &Path, cmd: &mut Command) {
    cmd.env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("NO_UPDATE_NOTIFIER", "1");
}

/// Builds the production bundle into `edge-worker/build`.
pub fn build_production(root: &Path) -> Result<()> {
    Bundle::production(root)?.build(root)
}

/// Builds the bundle `wrangler.toml` serves (`edge-worker/build`) with `profile`.
pub fn build_served(root: &Path, profile: Profile) -> Result<()> {
    Bundle::served(root, profile)?.build(root)
}

/// Builds the Worker with cargo `features` into `target/edge-variants/<name>/build`, with a copy of
/// the entry module beside it, and returns that directory (what a `main` or a workerd config names).
/// The variant never replaces the production bundle, and shares the Worker's target directory with
/// it: only the crates whose features differ are compiled again.
pub fn build_variant(root: &Path, name: &str, features: &[&str]) -> Result<PathBuf> {
    let dir = root.join("target/edge-variants").join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let entry = dir.join("entry.mjs");
    std::fs::copy(root.join("edge-worker/entry.mjs"), &entry)
        .with_context(|| format!("copying the entry module to {}", entry.display()))?;
    Bundle::new(root, name, features, Profile::Release, &dir.join("build"))?.build(root)?;
    Ok(dir)
}

/// One bundle to build: its name, the cargo features, the profile and where it goes.
#[derive(Debug, Clone)]
pub struct Bundle {
    name: String,
    features: Vec<String>,
    profile: Profile,
    out_dir: PathBuf,
    stamp: String,
}

impl Bundle {
    pub fn production(root: &Path) -> Result<Bundle> {
        Bundle::served(root, Profile::Release)
    }

    /// The bundle `wrangler.toml` serves, built with `profile`.
    pub fn served(root: &Path, profile: Profile) -> Result<Bundle> {
        let name = match profile {
            Profile::Release => "production",
            Profile::Dev => "dev",
        };
        Bundle::new(root, name, &[], profile, &root.join("edge-worker/build"))
    }

    fn new(
        root: &Path,
        name: &str,
        features: &[&str],
        profile: Profile,
        out_dir: &Path,
    ) -> Result<Bundle> {
        let features: Vec<String> = features.iter().map(|f| (*f).to_owned()).collect();
        Ok(Bundle {
            stamp: fingerprint(root, name, &features)?,
            name: name.to_owned(),
            features,
            profile,
            out_dir: out_dir.to_owned(),
        })
    }

    /// Whether the bundle was built from these very inputs.
    pub fn is_fresh(&self) -> bool {
        self.out_dir.join("index.js").exists()
            && std::fs::read_to_string(self.stamp_path()).ok().as_deref() == Some(&self.stamp)
    }

    fn stamp_path(&self) -> PathBuf {
        self.out_dir.join(".inputs-fingerprint")
    }

    /// Builds it unless fresh, each part a step.
    pub fn build(&self, root: &Path) -> Result<()> {
        if self.is_fresh() {
            println!("edge bundle ({}) is up to date", self.name);
            return Ok(());
        }
        step(&format!(
            "compiling the edge Worker ({}) for wasm32: {}, ~2-3 min on 2 cores the first time, seconds after a change",
            self.shown(),
            self.profile.shown()
        ));
        let wasm = self.compile(root, None)?;
        self.finish(root, &wasm, None)
    }

    fn shown(&self) -> String {
        if self.features.is_empty() {
            self.name.clone()
        } else {
            format!("{}, features {}", self.name, self.features.join(","))
        }
    }

    /// `cargo build` of the Worker crate for wasm32, its output to `log` if given; returns the
    /// module it wrote.
    pub fn compile(&self, root: &Path, log: Option<&Path>) -> Result<PathBuf> {
        let target_dir = root.join(TARGET_DIR);
        let mut cmd = Command::new("cargo");
        cmd.current_dir(root)
            .args(["build", "--profile", self.profile.cargo_profile()])
            .args(["--target", WASM_TARGET])
            .args(["--package", "edge-worker"])
            .arg("--target-dir")
            .arg(&target_dir);
        if !self.features.is_empty() {
            cmd.args(["--features", &self.features.join(",")]);
        }
        run_to(&mut cmd, log)?;
        // A copy of its own: the next build of other features writes the same file.
        let built = target_dir
            .join(WASM_TARGET)
            .join(self.profile.cargo_profile())
            .join("edge_worker.wasm");
        let copy = target_dir
            .join("modules")
            .join(format!("{}.wasm", self.name));
        std::fs::create_dir_all(target_dir.join("modules"))?;
        std::fs::copy(&built, &copy)
            .with_context(|| format!("copying {} to {}", built.display(), copy.display()))?;
        Ok(copy)
    }

    /// Bindings, wasm-opt and the bundle of the compiled `wasm` (seconds; needs the npm packages):
    /// a step of its own, or, with `log`, work in the background that reports there.
    pub fn finish(&self, root: &Path, wasm: &Path, log: Option<&Path>) -> Result<()> {
        let what = match self.profile {
            Profile::Release => format!(
                "edge Worker ({}): bindings (wasm-bindgen, in-process), wasm-opt (~30 s), esbuild",
                self.shown()
            ),
            Profile::Dev => format!(
                "edge Worker ({}): bindings (wasm-bindgen, in-process), esbuild",
                self.shown()
            ),
        };
        let say = |line: &str| -> Result<()> {
            match log {
                Some(log) => {
                    use std::io::Write as _;
                    let mut file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(log)?;
                    Ok(writeln!(file, "{line}")?)
                }
                None => {
                    println!("{line}");
                    Ok(())
                }
            }
        };
        match log {
            Some(_) => say(&what)?,
            None => step(&what),
        }
        let staging = root.join(TARGET_DIR).join("staging").join(&self.name);
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("creating {}", staging.display()))?;
        let started = Instant::now();
        let exported = bindgen(wasm, &staging)?;
        let classes = bound_classes(root)?;
        if let Some(missing) = classes.iter().find(|c| !exported.contains(c)) {
            bail!(
                "wrangler.toml binds the Durable Object class {missing}, but the Worker exports only the \
                 classes {exported:?}: re-export it from edge-worker/src/lib.rs"
            );
        }
        say(&format!("bindings generated in {:.1?}", started.elapsed()))?;
        if self.profile == Profile::Release {
            let started = Instant::now();
            wasm_opt(root, &staging.join("index_bg.wasm"), log)?;
            say(&format!(
                "optimised (wasm-opt -O) in {:.1?}",
                started.elapsed()
            ))?;
        }
        bundle(root, &staging, &classes, log)?;

        let _ = std::fs::remove_dir_all(&self.out_dir);
        if let Some(parent) = self.out_dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&staging, &self.out_dir).with_context(|| {
            format!("moving {} to {}", staging.display(), self.out_dir.display())
        })?;
        std::fs::write(self.stamp_path(), &self.stamp)?;
        say(&format!(
            "edge bundle ({}) in {}, exporting {}",
            self.name,
            self.out_dir.display(),
            classes.join(", ")
        ))
    }
}

/// The JS bindings of `wasm`, for an ES module that imports the wasm module (`index.js`,
/// `index_bg.wasm`, `snippets/`), as worker-build asks of the wasm-bindgen CLI: a function that
/// resets the instance, and wasm-bindgen's abort handler on. Returns the exported classes.
fn bindgen(wasm: &Path, out_dir: &Path) -> Result<Vec<String>> {
    let mut output = wasm_bindgen_cli_support::Bindgen::new()
        .input_path(wasm)
        .out_name("index")
        .module(true)?
        .typescript(false)
        .reset_state_function(true)
        .force_enable_abort_handler(true)
        .generate_output()
        .with_context(|| format!("generating the JS bindings of {}", wasm.display()))?;
    output
        .emit(out_dir)
        .with_context(|| format!("writing the JS bindings to {}", out_dir.display()))?;
    // The module target imports the wasm module in the source phase (`import source x from`); workerd
    // gives the same `WebAssembly.Module` for a plain import, which esbuild also understands.
    let glue = out_dir.join("index.js");
    let js = output.js().replace("import source ", "import ");
    if !js.contains("from './index_bg.wasm'") && !js.contains("from \"./index_bg.wasm\"") {
        bail!("the bindings do not import ./index_bg.wasm as expected; has wasm-bindgen's module target changed?");
    }
    std::fs::write(&glue, &js).with_context(|| format!("writing {}", glue.display()))?;
    Ok(exported_classes(&js))
}

/// The Durable Object classes `wrangler.toml` binds: the ones the bundle exports, each wrapped.
fn bound_classes(root: &Path) -> Result<Vec<String>> {
    let path = root.join("wrangler.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let config: toml::Value =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let bindings = config
        .get("durable_objects")
        .and_then(|d| d.get("bindings"))
        .and_then(|b| b.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut classes: Vec<String> = bindings
        .iter()
        .filter_map(|b| b.get("class_name")?.as_str().map(str::to_owned))
        .collect();
    classes.dedup();
    Ok(classes)
}

/// The classes an ES module declares as `export class Name` (how wasm-bindgen exports a Rust struct).
fn exported_classes(js: &str) -> Vec<String> {
    js.lines()
        .filter_map(|l| l.strip_prefix("export class "))
        .filter_map(|rest| rest.split([' ', '{']).next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// binaryen's `wasm-opt -O` in place, with the features workerd runs (worker-build's list: no
/// encoding the runtime does not read yet), keeping the names section for stack traces.
fn wasm_opt(root: &Path, wasm: &Path, log: Option<&Path>) -> Result<()> {
    let optimised = wasm.with_extension("opt.wasm");
    let mut cmd = Command::new(root.join("node_modules/.bin/wasm-opt"));
    cmd.arg(wasm).arg("-o").arg(&optimised).arg("-O");
    for feature in [
        "mutable-globals",
        "sign-ext",
        "nontrapping-float-to-int",
        "bulk-memory",
        "multivalue",
        "reference-types",
        "exception-handling",
    ] {
        cmd.arg(format!("--enable-{feature}"));
    }
    cmd.arg("--debuginfo");
    run_to(&mut cmd, log)?;
    std::fs::rename(&optimised, wasm)?;
    Ok(())
}

/// Writes our module with one export per class, and folds it, the bindings and the snippets into
/// `index.js` (the wasm module and the runtime's own modules stay imports).
fn bundle(root: &Path, dir: &Path, classes: &[String], log: Option<&Path>) -> Result<()> {
    let mut shim = SHIM.to_owned();
    for class in classes {
        shim.push_str(&format!(
            "export const {class} = durableObject(wasm.{class});\n"
        ));
    }
    std::fs::write(dir.join("shim.js"), shim)?;
    run_to(
        Command::new(root.join("node_modules/.bin/esbuild"))
            .current_dir(dir)
            .args([
                "./shim.js",
                "--bundle",
                "--format=esm",
                "--minify",
                "--log-level=warning",
                "--external:./index_bg.wasm",
                "--external:cloudflare:*",
                "--outfile=index.js",
                "--allow-overwrite",
            ]),
        log,
    )?;
    std::fs::remove_file(dir.join("shim.js"))?;
    let snippets = dir.join("snippets");
    if snippets.exists() {
        std::fs::remove_dir_all(&snippets)?;
    }
    Ok(())
}

/// Runs `cmd`, its output to `log` if given.
fn run_to(cmd: &mut Command, log: Option<&Path>) -> Result<()> {
    match log {
        Some(log) => run_logged(cmd, log),
        None => run(cmd),
    }
}

/// A hash of everything a bundle is built from, and of its name and features (so that bundles of
/// different features never pass for each other).
fn fingerprint(root: &Path, name: &str, features: &[String]) -> Result<String> {
    let mut files = Vec::new();
    for dir in [
        "auth-core/src",
        "durable-objects/src",
        "edge-worker/js",
        "edge-worker/src",
        "policies",
    ] {
        collect(&root.join(dir), &mut files)?;
    }
    for file in [
        "bench/routes.toml",
        "Cargo.lock",
        "Cargo.toml",
        "auth-core/Cargo.toml",
        "durable-objects/Cargo.toml",
        "edge-worker/Cargo.toml",
        "edge-worker/build.rs",
        "edge-worker/entry.mjs",
        "package-lock.json",
        "wrangler.toml",
        "rust-toolchain.toml",
    ] {
        files.push(root.join(file));
    }
    files.sort();
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    features.hash(&mut hasher);
    // This program's part: the module around the bindings and the steps above.
    SHIM.hash(&mut hasher);
    include_str!("edge.rs").hash(&mut hasher);
    for f in files {
        f.hash(&mut hasher);
        std::fs::read(&f)
            .with_context(|| format!("reading {}", f.display()))?
            .hash(&mut hasher);
    }
    Ok(format!("{:016x}", hasher.finish()))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_classes_are_read_from_wasm_bindgens_export_lines() {
        let js = "export class TenantSessions {\n  constructor() {}\n}\nexport class RateLimiter{\n}\nexport function fetch() {}\nclass Local {}\n";
        assert_eq!(exported_classes(js), ["TenantSessions", "RateLimiter"]);
    }
}
