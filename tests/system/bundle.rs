//! The built Worker bundle matches `wrangler.toml`: a Durable Object class written in the
//! `durable-objects` crate reaches the bundle only if the Worker re-exports it.

use std::path::PathBuf;

fn repo_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path))
        .unwrap_or_else(|e| panic!("reading {path}: {e} (build it: cargo xtask build-edge)"))
}

#[test]
fn the_bundle_exports_every_durable_object_class_that_wrangler_binds() {
    let config: toml::Value =
        toml::from_str(&repo_file("wrangler.toml")).expect("wrangler.toml parses");
    let main = config["main"].as_str().expect("main is set");
    let bundle = repo_file(main).replace("export {", "export{");
    let exports = bundle
        .rsplit_once("export{")
        .map(|(_, e)| e)
        .expect("the bundle has an export clause");
    let exports = exports.split('}').next().unwrap_or_default();
    // `local as Exported` (minified) or plain `Exported`.
    let exported: Vec<&str> = exports
        .split(',')
        .filter_map(|e| e.rsplit(" as ").next())
        .map(str::trim)
        .collect();
    let bindings = config["durable_objects"]["bindings"]
        .as_array()
        .expect("durable object bindings");
    assert!(!bindings.is_empty());
    for binding in bindings {
        let class = binding["class_name"].as_str().expect("class_name");
        assert!(
            exported.contains(&class),
            "{class} is bound in wrangler.toml but the bundle exports only {exported:?}"
        );
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
