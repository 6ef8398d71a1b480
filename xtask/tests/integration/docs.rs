//! The docs against the code.
//!
//! - `docs/usage.md` lists exactly the options of every command: its two option tables (the one
//!   headed `| global option | meaning |`, and the one headed `| option | commands | meaning |`,
//!   where "stages" stands for every stage command) are compared with `opt-dist --help` and
//!   `opt-dist <command> --help` of the built xtask, so an option added to the code and not to
//!   the docs, or dropped from the code and not from the docs, fails here.
//! - "Adding a stage" in `docs/contributing.md` says exactly what to do: its
//!   ```` ```rust <file> ```` blocks are put into a copy of the crate, which must build and have
//!   the new stage everywhere the section promises (ignored: it builds the crate again).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{assert_success, Beside, MiniTree};
use crate::guides::{blocks, project_root};

const USAGE: &str = "docs/usage.md";
const CONTRIBUTING: &str = "docs/contributing.md";

/// `opt-dist <args> --help` of `xtask`.
fn help_of(xtask: &Path, args: &[&str]) -> String {
    let out = Command::new(xtask)
        .arg("opt-dist")
        .args(args)
        .arg("--help")
        .env_remove("OPT_DIST_SRC")
        .output()
        .expect("the xtask runs");
    assert_success(&out, &format!("opt-dist {} --help", args.join(" ")));
    String::from_utf8(out.stdout).unwrap()
}

fn built_xtask() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xtask"))
}

/// A help's sections, in order: each heading (`COMMANDS:`, `OPTIONS:`, `GLOBAL (…):`) with its
/// entries, the lines indented by exactly four spaces (deeper lines continue an entry's text).
fn sections(help: &str) -> Vec<(String, Vec<String>)> {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    for line in help.lines() {
        let heading = !line.is_empty()
            && !line.starts_with(char::is_whitespace)
            && line.trim_end().ends_with(':');
        if heading {
            found.push((line.trim_end().to_string(), Vec::new()));
        } else if let Some(entry) = line.strip_prefix("    ") {
            if let (false, Some((_, entries))) = (entry.starts_with(' '), found.last_mut()) {
                entries.push(entry.to_string());
            }
        }
    }
    found
}

/// `--name` or `--name <VALUE>` from a help entry such as `-h, --help   this help` or
/// `--src <DIR>   the rust source tree`, or from a docs cell; `None` for anything else.
fn option_spec(entry: &str) -> Option<String> {
    let entry = match entry.split_once(", ") {
        Some((short, rest)) if short.len() == 2 && short.starts_with('-') => rest,
        _ => entry,
    };
    if !entry.starts_with("--") {
        return None;
    }
    let mut words = entry.split_whitespace();
    let name = words.next()?;
    match words.next() {
        Some(value) if value.starts_with('<') => Some(format!("{name} {value}")),
        _ => Some(name.to_string()),
    }
}

fn name_of(spec: &str) -> &str {
    spec.split_whitespace().next().unwrap()
}

/// The options in the sections of `help` whose heading starts with "GLOBAL" (`global`) or does
/// not (`!global`).
fn options_in(help: &str, global: bool) -> BTreeSet<String> {
    sections(help)
        .into_iter()
        .filter(|(heading, _)| heading.starts_with("GLOBAL") == global)
        .flat_map(|(_, entries)| entries)
        .filter_map(|entry| option_spec(&entry))
        .collect()
}

/// What the help of `xtask` says: the commands in order, the global options, and each
/// command's own options (those its help lists that are not global, so not `--help` either).
struct Help {
    commands: Vec<String>,
    global: BTreeSet<String>,
    own: BTreeMap<String, BTreeSet<String>>,
}

impl Help {
    fn of(xtask: &Path) -> Help {
        let top = help_of(xtask, &[]);
        let commands: Vec<String> = sections(&top)
            .into_iter()
            .find(|(heading, _)| heading == "COMMANDS:")
            .expect("opt-dist --help has a COMMANDS: section")
            .1
            .iter()
            .map(|entry| entry.split_whitespace().next().unwrap().to_string())
            .collect();
        let global = options_in(&top, true);
        assert!(
            global.iter().any(|o| o == "--src <DIR>"),
            "no global options found in opt-dist --help:\n{top}"
        );
        let global_names: BTreeSet<&str> = global.iter().map(|o| name_of(o)).collect();
        let own = commands
            .iter()
            .map(|command| {
                let help = help_of(xtask, &[command]);
                let own = options_in(&help, false)
                    .into_iter()
                    .filter(|o| !global_names.contains(name_of(o)))
                    .collect();
                (command.clone(), own)
            })
            .collect();
        Help { commands, global, own }
    }

    /// The stage commands: `opt-dist --help` lists them first, before `all`.
    fn stages(&self) -> &[String] {
        let all =
            self.commands.iter().position(|c| c == "all").expect("opt-dist --help lists `all`");
        &self.commands[..all]
    }
}

/// The rows of the table in `markdown` whose header row is `header`, each as its cells (`\|`
/// unescaped).
fn table(markdown: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = markdown.lines().skip_while(|line| line.trim() != header);
    assert!(lines.next().is_some(), "{USAGE} has no table headed `{header}`");
    lines.next(); // |---|---|
    lines
        .take_while(|line| line.starts_with('|'))
        .map(|row| {
            row.trim()
                .trim_start_matches('|')
                .trim_end_matches('|')
                .replace("\\|", "\u{0}")
                .split('|')
                .map(|cell| cell.trim().replace('\u{0}', "|"))
                .collect()
        })
        .collect()
}

/// An option cell, one code span: `` `--name <VALUE>` ``.
fn option_cell(cell: &str) -> String {
    cell.strip_prefix('`').and_then(|c| c.strip_suffix('`')).and_then(option_spec).unwrap_or_else(
        || panic!("{USAGE}: an option cell is one code span such as `--name <VALUE>`: {cell}"),
    )
}

/// What usage.md says: the global options, and the options of each command.
fn documented(help: &Help) -> (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>) {
    let text = std::fs::read_to_string(project_root().join(USAGE)).unwrap();
    let global = table(&text, "| global option | meaning |")
        .iter()
        .map(|row| option_cell(&row[0]))
        .collect();
    let mut own: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in table(&text, "| option | commands | meaning |") {
        assert_eq!(row.len(), 3, "{USAGE}: a row of the option table: {row:?}");
        let option = option_cell(&row[0]);
        for item in row[1].split(", ") {
            let commands: Vec<String> = match item.trim() {
                "stages" => help.stages().to_vec(),
                item => vec![item
                    .strip_prefix('`')
                    .and_then(|c| c.strip_suffix('`'))
                    .unwrap_or_else(|| {
                        panic!(
                            "{USAGE}: {option}: the commands cell lists `command`s and \
                             \"stages\", separated by \", \": {item}"
                        )
                    })
                    .to_string()],
            };
            for command in commands {
                own.entry(command).or_default().insert(option.clone());
            }
        }
    }
    (global, own)
}

/// What differs between `help` and `docs` for one command (or the global options).
fn differences(
    what: &str,
    help: &BTreeSet<String>,
    docs: &BTreeSet<String>,
    problems: &mut Vec<String>,
) {
    for missing in help.difference(docs) {
        problems.push(format!("{what}: --help has `{missing}`, which {USAGE} does not list"));
    }
    for extra in docs.difference(help) {
        problems.push(format!("{what}: {USAGE} lists `{extra}`, which --help does not have"));
    }
}

#[test]
fn usage_md_lists_exactly_the_options_of_every_command() {
    let help = Help::of(&built_xtask());
    let (global, own) = documented(&help);
    let mut problems = Vec::new();
    differences("global options", &help.global, &global, &mut problems);
    for command in &help.commands {
        let docs = own.get(command).cloned().unwrap_or_default();
        differences(&format!("`{command}`"), &help.own[command], &docs, &mut problems);
    }
    for command in own.keys() {
        if !help.commands.contains(command) {
            problems.push(format!(
                "{USAGE} lists options of `{command}`, which opt-dist --help does not list as a \
                 command ({})",
                help.commands.join(", ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{USAGE} and the xtask's --help differ (the option tables in {USAGE} must list exactly \
         the options of each command):\n{}",
        problems.join("\n")
    );
}

/// The rows of the `stages!` table in a `stages/mod.rs`: `(variant, module)`, in order.
fn stage_rows(mod_rs: &str) -> Vec<(String, String)> {
    let table = mod_rs.split_once("stages! {").expect("stages/mod.rs has the `stages! {` table").1;
    let table = &table[..table.find('}').expect("the table ends")];
    table
        .lines()
        .filter_map(|line| line.trim().trim_end_matches(',').split_once(" => "))
        .map(|(variant, module)| (variant.trim().to_string(), module.trim().to_string()))
        .collect()
}

/// Puts a ```` ```rust <file> ```` block into `file`: a file that does not exist yet is the
/// block; in one that does, the block's lines that are already there (consecutive in the file,
/// and found once) show where its other lines go.
fn apply(file: &Path, block: &str, at: &str) {
    if !file.exists() {
        std::fs::write(file, block).unwrap();
        return;
    }
    let text = std::fs::read_to_string(file).unwrap();
    let lines: BTreeSet<&str> = text.lines().collect();
    let anchors: Vec<&str> = block.lines().filter(|l| lines.contains(l)).collect();
    assert!(
        !anchors.is_empty(),
        "{at}: no line of the block is in {}, so it does not say where it goes",
        file.display()
    );
    let anchors = anchors.join("\n") + "\n";
    assert_eq!(
        text.matches(&anchors).count(),
        1,
        "{at}: the block's lines that are in {} must be consecutive there, once:\n{anchors}",
        file.display()
    );
    std::fs::write(file, text.replacen(&anchors, block, 1)).unwrap();
}

/// Copies the workspace's manifest and lock and the xtask crate without build output.
fn copy_crate(to: &Path) {
    let root = project_root();
    std::fs::create_dir_all(to).unwrap();
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root.join(file), to.join(file)).unwrap();
    }
    let from = root.join("xtask");
    for entry in
        walkdir::WalkDir::new(&from).into_iter().filter_entry(|e| e.file_name() != "target")
    {
        let entry = entry.unwrap();
        let dest = to.join("xtask").join(entry.path().strip_prefix(&from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// The stage headings of a text plan (`<stage>: <title>`), in order.
fn planned_stages(plan: &str, names: &[String]) -> Vec<String> {
    plan.lines()
        .filter(|line| !line.starts_with(char::is_whitespace))
        .filter_map(|line| line.split_once(": "))
        .map(|(name, _)| name.to_string())
        .filter(|name| names.contains(name))
        .collect()
}

#[test]
#[ignore = "heavy: builds a copy of the crate with a new stage (CI runs it)"]
fn adding_a_stage_as_contributing_md_says() {
    let tree = MiniTree::new("docs-new-stage", "legacy");
    let beside = Beside::new(&tree);
    let copy = beside.0.join("crate");
    copy_crate(&copy);
    let mod_rs = copy.join("xtask/src/stages/mod.rs");
    let rows_before = stage_rows(&std::fs::read_to_string(&mod_rs).unwrap());

    // The section's code, where its blocks say.
    let code: Vec<_> =
        blocks(CONTRIBUTING).into_iter().filter(|b| b.lang.starts_with("rust ")).collect();
    let mut new_stage = None;
    for block in &code {
        let file = block.lang.split_whitespace().nth(1).unwrap();
        if !copy.join(file).exists() {
            // The new stage's file: its name is the command's.
            new_stage = block.text.lines().find_map(|line| {
                let name = line.trim().strip_prefix("name: \"")?;
                Some(name.split('"').next()?.to_string())
            });
        }
        apply(&copy.join(file), &block.text, &block.at);
    }
    let new_stage = new_stage.unwrap_or_else(|| {
        panic!("{CONTRIBUTING}: no ```rust block makes a new file with `name: \"<stage>\"`")
    });
    let rows_after = stage_rows(&std::fs::read_to_string(&mod_rs).unwrap());
    assert_eq!(
        rows_after.len(),
        rows_before.len() + 1,
        "{CONTRIBUTING}: the blocks add one row to the stages! table: {rows_after:?}"
    );
    let place = rows_after.iter().position(|row| !rows_before.contains(row)).unwrap();

    // It builds, offline, in a target dir of its own (kept between runs for the dependencies).
    let target = project_root().join("target/docs-new-stage");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--offline", "--manifest-path"])
        .arg(copy.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert_success(&out, "cargo build of the crate with the new stage");
    let xtask = target.join("debug/xtask");

    // The stages as before, with the new one where its row is.
    let before = Help::of(&built_xtask());
    let mut stages = before.stages().to_vec();
    stages.insert(place, new_stage.clone());
    let after = Help::of(&xtask);
    assert_eq!(after.stages(), &stages[..], "the commands of opt-dist --help");
    assert_eq!(
        after.own[&new_stage], after.own[&stages[0]],
        "`{new_stage} --help` lists the options every stage takes"
    );
    let help = help_of(&xtask, &[&new_stage]);
    assert!(help.contains(&format!(" {new_stage} [OPTIONS]")), "{help}");

    let run = |args: &[&str]| {
        let out = Command::new(&xtask)
            .args(["opt-dist", "--src", tree.src()])
            .args(args)
            .env_remove("OPT_DIST_SRC")
            .output()
            .expect("the xtask runs");
        assert_success(&out, &format!("opt-dist {}", args.join(" ")));
        String::from_utf8(out.stdout).unwrap()
    };
    let plan = run(&["plan", "all", "--run-tests"]);
    assert_eq!(planned_stages(&plan, &stages), stages, "{plan}");
    let plan = run(&["plan", &new_stage]);
    assert_eq!(planned_stages(&plan, &stages), vec![new_stage.clone()], "{plan}");
    let status = run(&["status"]);
    let listed: Vec<&str> = status
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| stages.iter().any(|s| s == word))
        .collect();
    assert_eq!(listed, stages, "{status}");
}
