//! The floors of the `carbonaut` crate (issue 22): every module of `host/src` sits on a floor
//! listed in the README ("How the pieces fit") and imports only from floors below its own. The
//! crates under `host/crates` cannot import upwards at all (cargo refuses a dependency cycle);
//! inside one crate only this test holds the line. It reads the source as text: every
//! `crate::module` path (grouped imports and `super::` chains that reach the crate root
//! included), comments left out, and fails on an arrow the README does not allow or on a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the modules of the same crate it names.
type Arrows = BTreeMap<String, BTreeSet<String>>;

const README_START: &str = "<!-- floors";
const README_END: &str = "<!-- /floors -->";

#[test]
fn the_carbonaut_crate_keeps_its_floors() {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(host.join("../README.md")).expect("README.md");
    let floors = parse_floors(&readme).expect("the README lists the floors");
    let sources = read_sources(&host.join("src"));
    let arrows = arrows_of(&sources);
    // A parser that found nothing would pass anything: the crate has dozens of arrows.
    let count: usize = arrows.values().map(BTreeSet::len).sum();
    assert!(count >= 20, "only {count} arrows found: {arrows:?}");
    let problems = check(&floors, &arrows);
    assert!(
        problems.is_empty(),
        "the carbonaut crate breaks its floors (README.md, \"How the pieces fit\"):\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_planted_cycle_and_an_upward_import_fail() {
    let floors = parse_floors(
        "<!-- floors -->\n1. `clock`: time\n2. `snapshot`, `vitals`: what is served\n\
         3. `collect`: collection\n<!-- /floors -->\n",
    )
    .expect("floors");
    let planted = sources(&[
        (
            "snapshot.rs",
            "use crate::collect::ProviderHealth;\nuse crate::clock::now;",
        ),
        ("collect.rs", "use crate::{snapshot::Snapshot, clock};"),
        (
            "vitals.rs",
            "// use crate::collect::Nothing; (a comment, not an arrow)",
        ),
        ("clock.rs", "pub fn now() {}"),
    ]);
    let arrows = arrows_of(&planted);
    let problems = check(&floors, &arrows);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("snapshot → collect") && p.contains("floor 2 imports floor 3")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("cycle") && p.contains("collect") && p.contains("snapshot")),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 2, "{problems:?}");

    let sound = sources(&[
        ("snapshot.rs", "use crate::clock::now;"),
        ("collect.rs", "use crate::{snapshot::Snapshot, clock};"),
        ("vitals.rs", ""),
        ("clock.rs", ""),
    ]);
    assert_eq!(check(&floors, &arrows_of(&sound)), Vec::<String>::new());
}

#[test]
fn grouped_imports_and_super_chains_are_arrows() {
    let planted = sources(&[
        (
            "api/router.rs",
            "use crate::{\n    config::Config,\n    snapshot::{self, Snapshot},\n    vitals,\n};\n\
             use super::super::reload::Handle;\nuse super::json;\nfn f() { crate::cluster::g() }",
        ),
        ("config.rs", "use super::model::X;"),
    ]);
    let arrows = arrows_of(&planted);
    let api: Vec<&str> = arrows["api"].iter().map(String::as_str).collect();
    assert_eq!(api, ["cluster", "config", "reload", "snapshot", "vitals"]);
    let config: Vec<&str> = arrows["config"].iter().map(String::as_str).collect();
    assert_eq!(config, ["model"]);
}

#[test]
fn a_module_on_no_floor_fails() {
    let floors =
        parse_floors("<!-- floors -->\n1. `clock`: time\n<!-- /floors -->").expect("floors");
    let arrows = arrows_of(&sources(&[
        ("clock.rs", ""),
        ("stray.rs", "use crate::clock::now;"),
    ]));
    let problems = check(&floors, &arrows);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`stray` is on no floor")),
        "{problems:?}"
    );
}

/// Module name → floor number, from the README's numbered list between the markers.
fn parse_floors(readme: &str) -> Option<BTreeMap<String, usize>> {
    let start = readme.find(README_START)?;
    let end = readme[start..].find(README_END)? + start;
    let mut floors = BTreeMap::new();
    for line in readme[start..end].lines() {
        let Some((number, rest)) = line.split_once(". ") else {
            continue;
        };
        let Ok(floor) = number.trim().parse::<usize>() else {
            continue;
        };
        let names = rest.split_once(": ").map_or(rest, |(names, _)| names);
        for name in names.split(',') {
            let name = name.trim().trim_matches('`');
            if !name.is_empty() {
                floors.insert(name.to_owned(), floor);
            }
        }
    }
    (!floors.is_empty()).then_some(floors)
}

/// Every `.rs` file of the library under `src`, by path relative to it. The binary (`main.rs`
/// and `cli/`) stands above every floor and is left out.
fn read_sources(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(src)
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                let binary =
                    relative == "main.rs" || relative == "cli.rs" || relative.starts_with("cli/");
                if !binary && relative != "lib.rs" {
                    out.insert(
                        relative,
                        std::fs::read_to_string(&path).expect("read a source"),
                    );
                }
            }
        }
    }
    out
}

fn sources(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(path, text)| ((*path).to_owned(), (*text).to_owned()))
        .collect()
}

/// The top-level module each file belongs to, and the modules it names.
fn arrows_of(sources: &BTreeMap<String, String>) -> Arrows {
    let mut arrows = Arrows::new();
    for (path, text) in sources {
        let parts: Vec<&str> = path.trim_end_matches(".rs").split('/').collect();
        let module = parts[0].to_owned();
        let depth = parts.len();
        let code = without_comments(text);
        let named = arrows.entry(module.clone()).or_default();
        for target in crate_paths(&code, depth) {
            if target != module {
                named.insert(target);
            }
        }
    }
    arrows
}

/// The source with `//` comments (doc comments included) removed.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment after the crate root of every path in `code`: `crate::x`, the items of
/// `crate::{x::A, y}`, and `super::…::x` chains that climb to the root from a file `depth`
/// modules deep.
fn crate_paths(code: &str, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let at_word = i == 0 || !is_ident(bytes[i - 1]);
        if at_word && bytes[i..].starts_with(b"crate::") {
            i += "crate::".len();
            i = after_root(code, i, &mut found);
        } else if at_word && bytes[i..].starts_with(b"super::") {
            let mut climbs = 0;
            while bytes[i..].starts_with(b"super::") {
                climbs += 1;
                i += "super::".len();
            }
            if climbs == depth {
                i = after_root(code, i, &mut found);
            }
        } else {
            i += 1;
        }
    }
    found
}

/// Reads what follows a path to the crate root at `i`: one name, or a `{…}` group whose
/// items' first names are taken. Returns where reading stopped.
fn after_root(code: &str, mut i: usize, found: &mut Vec<String>) -> usize {
    let bytes = code.as_bytes();
    if bytes.get(i) == Some(&b'{') {
        let mut level = 0;
        let mut item_start = true;
        while i < bytes.len() {
            match bytes[i] {
                b'{' => {
                    level += 1;
                    item_start = level == 1;
                }
                b'}' => {
                    level -= 1;
                    if level == 0 {
                        return i + 1;
                    }
                }
                b',' if level == 1 => item_start = true,
                c if item_start && is_ident(c) => {
                    let end = ident_end(bytes, i);
                    found.push(code[i..end].to_owned());
                    item_start = false;
                    i = end;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        i
    } else {
        let end = ident_end(bytes, i);
        if end > i {
            found.push(code[i..end].to_owned());
        }
        end
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn ident_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && is_ident(bytes[i]) {
        i += 1;
    }
    i
}

/// Every arrow that does not go down a floor, every module on no floor, and every cycle.
fn check(floors: &BTreeMap<String, usize>, arrows: &Arrows) -> Vec<String> {
    let mut problems = Vec::new();
    for (from, targets) in arrows {
        let Some(&high) = floors.get(from) else {
            problems.push(format!(
                "`{from}` is on no floor: add it to the README's list"
            ));
            continue;
        };
        for to in targets {
            match floors.get(to) {
                Some(&low) if low < high => {}
                Some(&low) => problems.push(format!(
                    "{from} → {to}: floor {high} imports floor {low}; only lower floors may be imported"
                )),
                // A module of the crate on no floor is reported as such above; anything else
                // (a macro at the crate root) is not an arrow between modules.
                None => {}
            }
        }
    }
    problems.extend(
        cycles(arrows)
            .into_iter()
            .map(|c| format!("cycle: {}", c.join(" → "))),
    );
    problems
}

/// The cycles of the graph, each as its modules in order (found by depth-first search; one
/// report per cycle's set of modules).
fn cycles(arrows: &Arrows) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        arrows: &Arrows,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut BTreeMap<BTreeSet<String>, Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            found
                .entry(path[at..].iter().cloned().collect())
                .or_insert(cycle);
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for next in arrows.get(node).into_iter().flatten() {
            visit(next, arrows, path, done, found);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut found = BTreeMap::new();
    let mut done = BTreeSet::new();
    for node in arrows.keys() {
        visit(node, arrows, &mut Vec::new(), &mut done, &mut found);
    }
    found.into_values().collect()
}
