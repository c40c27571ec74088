//! The containers and networks a run leaves behind.
//!
//! Every container and network started for tests, benchmarks, the soak or the demo carries the
//! label [`CONTAINER_LABEL`], whose value is the process id of the `cargo xtask` run that owns it
//! (handed to the testkit as [`RUN_ENV`]). A run removes, before it starts, what runs that are no
//! longer alive left behind (a killed run), and, when it ends (also when it fails), its own. Runs
//! that are still going on are left alone.

use std::process::{Command, Stdio};

use crate::names::{CONTAINER_LABEL, RUN_ENV};

/// This run's owner id: the label value its containers carry.
pub fn run_id() -> String {
    std::process::id().to_string()
}

/// `(id, owner)` of every labelled container (`ps`) or network (`network ls`).
fn labelled(list: &[&str]) -> Vec<(String, String)> {
    Command::new("docker")
        .args(list)
        .arg("--filter")
        .arg(format!("label={CONTAINER_LABEL}"))
        .arg("--format")
        .arg(format!("{{{{.ID}}}} {{{{.Label \"{CONTAINER_LABEL}\"}}}}"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| {
                    let (id, owner) = l.split_once(' ').unwrap_or((l, ""));
                    (!id.is_empty()).then(|| (id.to_owned(), owner.trim().to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn alive(owner: &str) -> bool {
    owner.parse::<u32>().is_ok_and(|pid| {
        pid != std::process::id() && std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
}

/// Removes the labelled containers, then networks, whose owner `doomed` selects; returns how many.
fn remove(doomed: impl Fn(&str) -> bool) -> usize {
    let mut removed = 0;
    for (list, rm) in [
        (&["ps", "--all"][..], &["rm", "--force", "--volumes"][..]),
        (&["network", "ls"][..], &["network", "rm"][..]),
    ] {
        let ids: Vec<String> = labelled(list)
            .into_iter()
            .filter(|(_, owner)| doomed(owner))
            .map(|(id, _)| id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let _ = Command::new("docker")
            .args(rm)
            .args(&ids)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        removed += ids.len();
    }
    removed
}

/// Removes leftovers of earlier runs when started, and this run's containers when dropped (at the
/// end of a task, also when it fails).
pub struct Sweep;

impl Sweep {
    /// Removes what runs that are no longer alive left behind, and sets [`RUN_ENV`] for the
    /// commands this run starts.
    pub fn start() -> Sweep {
        std::env::set_var(RUN_ENV, run_id());
        let removed = remove(|owner| !alive(owner) && owner != run_id());
        if removed > 0 {
            eprintln!("xtask: removed {removed} container(s)/network(s) left by an earlier run");
        }
        Sweep
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        let me = run_id();
        let removed = remove(|owner| owner == me);
        if removed > 0 {
            eprintln!("xtask: removed {removed} container(s)/network(s) this run left behind");
        }
    }
}
