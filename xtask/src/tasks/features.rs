//! Every feature combination of every library crate is linted and tested: the main run covers
//! `--all-features`; this covers each other subset of each crate's own features (its unit, doc and
//! crate-level tests, and clippy), so a method that needs a feature cannot slip out from behind
//! it, and no combination stops compiling unnoticed.

use std::path::Path;

use super::{cargo, run, workspace_root};

/// The library crates whose features are combined.
const CRATES: &[&str] = &[
    "connect-nats-config",
    "connect-nats-core",
    "connect-nats-jetstream",
    "connect-nats-publisher",
];

/// The features a crate declares in its `[features]` table (without `default`).
fn features_of(manifest: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let mut in_table = false;
    let mut features = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[features]";
            continue;
        }
        if !in_table || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && name != "default" {
                features.push(name.to_owned());
            }
        }
    }
    Ok(features)
}

/// Every subset of `features` but the full one (the main run has it), smallest first.
fn partial_subsets(features: &[String]) -> Vec<Vec<String>> {
    let n = features.len();
    let mut subsets: Vec<Vec<String>> = (0..(1u32 << n) - 1)
        .map(|mask| {
            features
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, f)| f.clone())
                .collect()
        })
        .collect();
    subsets.sort_by_key(Vec::len);
    subsets
}

/// Clippy and the tests of each crate for each partial feature combination.
pub fn check(env: &[(String, String)]) -> Result<(), String> {
    let root = workspace_root();
    for krate in CRATES {
        let manifest = root.join("crates").join(krate).join("Cargo.toml");
        for subset in partial_subsets(&features_of(&manifest)?) {
            let list = subset.join(",");
            let shown = if list.is_empty() {
                "no features"
            } else {
                &list
            };
            let mut clippy = cargo();
            clippy.args(["clippy", "--quiet", "-p", krate, "--all-targets"]);
            clippy.args(["--no-default-features", "--features", &list]);
            clippy.args(["--", "-D", "warnings"]);
            run(&format!("clippy {krate} ({shown})"), clippy)?;
            let mut test = cargo();
            test.args(["test", "--quiet", "-p", krate]);
            test.args(["--no-default-features", "--features", &list]);
            test.envs(env.iter().map(|(k, v)| (k, v)));
            run(&format!("test {krate} ({shown})"), test)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_leave_out_only_the_full_set() {
        let features: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let subsets = partial_subsets(&features);
        assert_eq!(subsets.len(), 7);
        assert_eq!(subsets[0], Vec::<String>::new());
        assert!(!subsets.contains(&features));
        assert!(partial_subsets(&[]).is_empty());
    }

    #[test]
    fn features_are_read_from_the_manifest() {
        let dir = std::env::temp_dir().join(format!("xtask-features-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = dir.join("Cargo.toml");
        std::fs::write(
            &manifest,
            "[package]\nname = \"x\"\n\n[features]\ndefault = []\n## doc\nmetrics = [\"dep:m\"]\notel = []\n\n[dependencies]\nm = \"1\"\n",
        )
        .unwrap();
        assert_eq!(features_of(&manifest).unwrap(), ["metrics", "otel"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
