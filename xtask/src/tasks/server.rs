//! `cargo xtask server`: the backend `test` would use.

use super::workspace_root;
use crate::flags;
use crate::provision::provision;

/// `cargo xtask server`: provisions the backend `test` would use and prints it.
pub fn run(flags: &flags::Server) -> Result<(), String> {
    let backend = provision(flags, &workspace_root())?;
    println!("{}", backend.describe());
    for (key, value) in backend.test_env() {
        println!("{key}={value}");
    }
    Ok(())
}
