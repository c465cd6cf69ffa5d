//! `carbonaut wit [--out DIR]`: the WIT contract plugins are built against, embedded in the
//! binary so an author in any language can get the exact files this host implements.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

/// Every file of `wit/`, by its path below that folder. Adding a file to `wit/` without
/// listing it here fails the `wit_command_writes_the_repository_files` test.
pub const FILES: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../../wit/0.3.0/types.wit")),
    ("worlds.wit", include_str!("../../../wit/0.3.0/worlds.wit")),
    (
        "deps/cli.wit",
        include_str!("../../../wit/0.3.0/deps/cli.wit"),
    ),
    (
        "deps/clocks.wit",
        include_str!("../../../wit/0.3.0/deps/clocks.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../../wit/0.3.0/deps/filesystem.wit"),
    ),
    (
        "deps/http.wit",
        include_str!("../../../wit/0.3.0/deps/http.wit"),
    ),
    (
        "deps/io.wit",
        include_str!("../../../wit/0.3.0/deps/io.wit"),
    ),
    (
        "deps/random.wit",
        include_str!("../../../wit/0.3.0/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../../wit/0.3.0/deps/sockets.wit"),
    ),
];

pub fn run(out: Option<&Path>) -> anyhow::Result<ExitCode> {
    match out {
        Some(dir) => {
            write_to(dir)?;
            println!(
                "wrote {} WIT files (carbonaut:provider@{}) to {}",
                FILES.len(),
                carbonaut_plugins::SUPPORTED_WIT,
                dir.display()
            );
        }
        None => match print(&mut std::io::stdout().lock()) {
            // `carbonaut wit | head` closes the pipe early: not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("writing to standard output")?,
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// One stream an author can page through; `--out` gives the files themselves.
fn print(out: &mut impl Write) -> std::io::Result<()> {
    for (path, text) in FILES {
        writeln!(out, "// ==> wit/{path} <==")?;
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            writeln!(out)?;
        }
    }
    out.flush()
}

/// Writes the WIT tree (`types.wit`, `worlds.wit`, `deps/*.wit`) into `dir`, the layout
/// componentize-py's `-d` and componentize-js's `--wit` expect.
pub fn write_to(dir: &Path) -> anyhow::Result<()> {
    for (path, text) in FILES {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}
