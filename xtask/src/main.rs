//! Project tasks, run as `cargo xtask <task>`: `test`, `bench`, `demo`, `soak` and `server`
//! (see [`flags::USAGE`]). Each task has its flags in [`flags`] and its code in one module of
//! [`tasks`].
//!
//! Only the standard library is used, so the task runner itself builds in seconds.

mod containers;
mod demo_server;
mod flags;
mod image;
#[path = "../../tests/src/names.rs"]
mod names;
mod provision;
mod tasks;

use std::process::ExitCode;

use flags::Task;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = Task::parse(&argv).and_then(|task| match task {
        Task::Test(flags) => tasks::test::run(&flags),
        Task::Bench(flags) => tasks::bench::run(&flags),
        Task::Demo(flags) => tasks::demo::run(&flags),
        Task::Soak(flags) => tasks::soak::run(&flags),
        Task::Server(flags) => tasks::server::run(&flags),
        Task::Help => {
            println!("{}", flags::USAGE);
            Ok(())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}
