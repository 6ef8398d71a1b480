//! The xtask's modules depend on each other one way: `cli` on `commands` on `stages` on
//! `engine` on `tools` on `util` (docs/contributing.md), and no modules form a cycle. This reads
//! every reference between the xtask's modules (`use crate::…`, `use super::…`, and `crate::…` or
//! `super::…` paths written inline or linked from doc comments; unit-test modules aside) and
//! fails on one that points up a layer or closes a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: [&str; 6] = ["util", "tools", "engine", "stages", "commands", "cli"];

/// `xtask/src/engine/plan.rs` -> `engine::plan`; `engine/mod.rs` -> `engine`; `main.rs` -> ``.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| p != "mod" && p != "main")
        .collect();
    parts.join("::")
}

/// The layer of a module: its first path segment's place in [`LAYERS`] (`main` is above all).
fn layer(module: &str) -> usize {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS.iter().position(|l| *l == top).unwrap_or(LAYERS.len())
}

/// Source without comments (but with their intra-doc links), string literals (which may hold
/// `crate::` as text) and `#[cfg(test)]` modules (whose `super::` is the file's own module).
fn code_only(source: &str) -> String {
    let source = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    let mut out = String::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A comment is dropped, but its intra-doc links stay: a reader follows them too.
            '/' if chars.peek() == Some(&'/') => {
                let comment: String = chars.by_ref().take_while(|c| *c != '\n').collect();
                for link in comment.split("[`").skip(1).filter_map(|l| l.split_once("`]")) {
                    out.push_str(&format!(" {};", link.0));
                }
                out.push('\n');
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal ('"' and the like), not a lifetime.
            '\'' if source.len() > 2 => {
                let rest: String = chars.clone().take(3).collect();
                let literal = rest.starts_with("\\") || rest.chars().nth(1) == Some('\'');
                if literal {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                    out.push_str("' '");
                } else {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Every path a `use` tree names, braces expanded: `a::{b, c::{d}}` -> `a::b`, `a::c::d`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap().trim().to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| match p.as_str() {
            "self" => prefix.trim_end_matches("::").to_string(),
            _ => format!("{prefix}{p}"),
        })
        .collect()
}

/// The paths starting with `crate::` or `super::` that `code` refers to.
fn references(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let tree = statement.strip_prefix("pub use ").or_else(|| statement.strip_prefix("use "));
        match tree {
            Some(tree) => found.extend(expand(tree)),
            None => {
                let mut rest = statement;
                while let Some(at) =
                    ["crate::", "super::"].iter().filter_map(|p| rest.find(p)).min()
                {
                    let path: String = rest[at..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    let boundary = at == 0
                        || !rest[..at]
                            .chars()
                            .last()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
                    if boundary {
                        found.push(path.clone());
                    }
                    rest = &rest[at + path.len().max(1)..];
                }
            }
        }
    }
    found.into_iter().filter(|p| p.starts_with("crate::") || p.starts_with("super::")).collect()
}

/// The module a path from `module` names: the longest of `modules` it starts with.
fn target(module: &str, path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut segments: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    let mut rest = path;
    if let Some(after) = rest.strip_prefix("crate::") {
        segments.clear();
        rest = after;
    }
    while let Some(after) = rest.strip_prefix("super::") {
        segments.pop();
        rest = after;
    }
    segments.extend(rest.split("::").filter(|s| !s.is_empty()));
    (0..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|candidate| modules.contains(candidate))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Module -> the modules it refers to, for every module of `src`.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(src);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(src, file);
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let targets: BTreeSet<String> = references(&code)
            .iter()
            .filter_map(|path| target(&module, path, &modules))
            // A module's own items, and its children (declared with `mod`), are its own.
            .filter(|t| *t != module && !t.starts_with(&format!("{module}::")))
            .filter(|t| !module.is_empty() || !t.is_empty())
            .collect();
        graph.insert(module, targets);
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_reference_points_down_the_layers_and_none_closes_a_cycle() {
    let graph = dependencies(&src());
    assert!(graph.len() > 20, "the xtask's modules were read: {graph:?}");
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(from, targets)| targets.iter().map(move |to| (from, to)))
        .filter(|(from, to)| layer(to) > layer(from))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(upward.is_empty(), "references up a layer ({LAYERS:?}, low to high): {upward:#?}");
    if let Some(cycle) = cycle(&graph) {
        panic!("modules that import each other: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_reader_finds_every_kind_of_reference() {
    let code = code_only(
        "use super::{backup, plan::{Step, Effect as E}};\nuse crate::util::fs;\n\
         // use crate::cli;\n/// Runs ([`super::effects`]).\nfn f() { let x = \"crate::commands\"; \
         crate::tools::llvm::f(); super::super::stages::rebuild(); }",
    );
    let found = references(&code);
    assert_eq!(
        found,
        [
            "super::backup",
            "super::plan::Step",
            "super::plan::Effect",
            "crate::util::fs",
            "super::effects",
            "crate::tools::llvm::f",
            "super::super::stages::rebuild",
        ]
    );
    let modules: BTreeSet<String> = ["engine", "engine::plan", "engine::backup", "stages"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        target("engine::runner", "super::plan::Step", &modules).as_deref(),
        Some("engine::plan")
    );
    assert_eq!(
        target("engine::runner", "super::super::stages::rebuild", &modules).as_deref(),
        Some("stages")
    );
    // An upward reference and a cycle are found.
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("engine::a", "engine::b"), ("engine::b", "engine::a"), ("tools::x", "engine::a")]
            .iter()
            .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
            .collect();
    assert!(cycle(&graph).is_some());
    assert!(layer("engine::a") > layer("tools::x"));
}
