//! The built Worker bundle matches `wrangler.toml`: a Durable Object class written in the
//! `durable-objects` crate reaches the bundle only if the Worker re-exports it.

use std::path::PathBuf;

fn repo_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path))
        .unwrap_or_else(|e| panic!("reading {path}: {e} (build it: cargo xtask build-edge)"))
}

/// The names a module's last `export {…}` clause exports, and the module it re-exports them from
/// (`export {…} from "./m.js"`), if any.
fn exports_of(module: &str) -> (Vec<String>, Option<String>) {
    let module = module.replace("export {", "export{");
    let clause = module
        .rsplit_once("export{")
        .map(|(_, e)| e)
        .expect("the module has an export clause");
    let (names, rest) = clause.split_once('}').unwrap_or((clause, ""));
    // `local as Exported` (minified) or plain `Exported`.
    let exported = names
        .split(',')
        .filter_map(|e| e.rsplit(" as ").next())
        .map(|e| e.trim().to_owned())
        .collect();
    let from = rest
        .trim_start()
        .strip_prefix("from")
        .and_then(|r| r.trim_start().get(1..))
        .and_then(|r| r.split(['"', '\'']).next())
        .map(str::to_owned);
    (exported, from)
}

#[test]
fn the_bundle_exports_every_durable_object_class_that_wrangler_binds() {
    let config: toml::Value =
        toml::from_str(&repo_file("wrangler.toml")).expect("wrangler.toml parses");
    let main = config["main"].as_str().expect("main is set");
    let (exported, from) = exports_of(&repo_file(main));
    // A class re-exported by the entry module must be exported by the bundle it names, too.
    let bundle_exports = from.map(|from| {
        let dir = main.rsplit_once('/').map_or("", |(d, _)| d);
        let path = format!("{dir}/{}", from.trim_start_matches("./"));
        exports_of(&repo_file(&path)).0
    });
    let bindings = config["durable_objects"]["bindings"]
        .as_array()
        .expect("durable object bindings");
    assert!(!bindings.is_empty());
    for binding in bindings {
        let class = binding["class_name"].as_str().expect("class_name");
        assert!(
            exported.iter().any(|e| e == class),
            "{class} is bound in wrangler.toml but {main} exports only {exported:?}"
        );
        if let Some(bundle) = &bundle_exports {
            assert!(
                bundle.iter().any(|e| e == class),
                "{main} re-exports {class}, but the bundle exports only {bundle:?}"
            );
        }
    }
    let migrated: Vec<&str> = config["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .flat_map(|m| {
            m["new_sqlite_classes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str())
        })
        .collect();
    for binding in bindings {
        let class = binding["class_name"].as_str().unwrap_or_default();
        assert!(
            migrated.contains(&class),
            "{class} has no SQLite migration in wrangler.toml"
        );
    }
}
