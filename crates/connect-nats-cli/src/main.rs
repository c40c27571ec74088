//! The `connect-nats` command.

fn main() {}
