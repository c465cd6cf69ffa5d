//! The `carbonaut` command: argument parsing and glue; the work lives in the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The daemon's compiler child (see `carbonaut_runtime::compiler`): no CLI, no logging,
    // no async runtime.
    let mut args = std::env::args_os().skip(1);
    if args
        .next()
        .is_some_and(|a| a == carbonaut_runtime::compiler::CHILD_ARG)
    {
        let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
        return carbonaut_runtime::compiler::serve_child(&rest);
    }
    carbonaut::memory::tune_allocator();
    let args = cli::Cli::parse();
    cli::init_logging(args.log_level());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    };
    // A state write stuck on a failing disk keeps its blocking thread, and dropping the
    // runtime waits for every blocking thread: the shutdown's own limit has passed by now.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
