//! What a run tells the CI system and the people watching it: GitHub Actions log groups and
//! step summary, training progress in a log file, the disk figures in the manifest, and the
//! pooled raw-profile mode (all on one miniature tree).

use crate::common;

use std::collections::BTreeMap;

use common::{assert_success, stderr, MiniTree};

#[test]
fn a_stage_on_github_actions_groups_its_log_reports_progress_and_accounts_for_disk() {
    let tree = MiniTree::new("reporting", "legacy");
    let summary = tree.root.join("step-summary.md");
    let out = tree.opt_dist_with_env(
        &["rustc-pgo", "--raw-profiles", "pooled"],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_success(&out, "rustc-pgo with pooled raw profiles");
    let manifest = tree.manifest("rustc-pgo");
    let steps = manifest["steps"].as_array().unwrap();

    // One group per step, each closed before the next opens; a step that ran at the same time
    // as the one before is in that one's group, which says so.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let groups: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::group::") || l.starts_with("::endgroup::"))
        .collect();
    let alone: Vec<&serde_json::Value> = steps.iter().filter(|s| s["alongside"] != true).collect();
    assert!(alone.len() < steps.len(), "the collector builds alongside: {steps:#?}");
    assert_eq!(groups.len(), 2 * alone.len(), "{groups:#?}");
    for (pair, step) in groups.chunks(2).zip(alone) {
        let title = step["title"].as_str().unwrap();
        assert!(
            pair[0].starts_with("::group::[rustc-pgo ") && pair[0].contains(&format!("] {title}")),
            "{pair:?} for {title}"
        );
        assert_eq!(pair[1], "::endgroup::");
    }
    for step in steps.iter().filter(|s| s["alongside"] == true) {
        let title = step["title"].as_str().unwrap();
        let together = format!("; at the same time, step 3/11: {title}");
        assert!(groups.iter().any(|g| g.ends_with(&together)), "{title} in {groups:#?}");
    }

    // The step summary: every step with its time and share.
    let markdown = std::fs::read_to_string(&summary).expect("the step summary was written");
    assert!(markdown.contains("| stage | step | seconds | share |"), "{markdown}");
    for step in steps {
        let title = step["title"].as_str().unwrap();
        assert!(markdown.contains(&format!("| {title}")), "{title} in\n{markdown}");
    }
    assert!(markdown.contains("rustc-pgo-"), "artifacts listed:\n{markdown}");

    // Progress through the benchmarks as plain lines: stderr is not a terminal here.
    let err = stderr(&out);
    let crates = manifest["options"]["training"]["rustc"].as_array().unwrap().len();
    for i in 1..=crates {
        assert!(
            err.contains(&format!("training: benchmark {i} of {crates} done")),
            "progress {i}/{crates} in\n{err}"
        );
    }
    assert!(!err.contains('\u{1b}'), "no escape codes in a log file");

    // Pooled: the collector trained with the pool pattern, and few files were written.
    let collector = tree.records_of("collector");
    let pattern = collector[0]["env"]["LLVM_PROFILE_FILE"].as_str().unwrap();
    assert!(pattern.ends_with("/default_%4m.profraw"), "{pattern}");
    let raw = &manifest["raw_profiles"][0];
    let files = raw["count"].as_u64().unwrap();
    let runs: u64 = crates as u64;
    assert!(files < runs, "{files} raw files for {runs} benchmarks: not pooled");

    // The merged raw profiles were deleted while the optimized build ran: gone by the end.
    let left: Vec<_> = std::fs::read_dir(tree.stage_dir("rustc-pgo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("raw"))
        .collect();
    assert!(left.is_empty(), "{left:?} is left");

    // Disk figures, consistent with the rest of the manifest.
    let disk = &manifest["disk"];
    assert_eq!(disk["peak_raw_bytes"], raw["bytes"]);
    assert_eq!(disk["raw_files"], raw["count"]);
    let merged: u64 =
        manifest["outputs"].as_array().unwrap().iter().map(|o| o["size"].as_u64().unwrap()).sum();
    assert_eq!(disk["merged_bytes"].as_u64().unwrap(), merged);
    assert!(
        disk["build_dir_after"].as_u64().unwrap() > disk["build_dir_before"].as_u64().unwrap(),
        "the stage built a compiler: {disk}"
    );
    assert!(disk["free_before"].as_u64().unwrap() > 0);

    // The next estimate uses what was measured.
    let doctor = tree.opt_dist(&["doctor"]);
    let doctor_out = String::from_utf8_lossy(&doctor.stdout).to_string() + &stderr(&doctor);
    let disk_line =
        doctor_out.lines().find(|l| l.contains("free disk")).expect("doctor checks free disk");
    assert!(
        disk_line.contains("rustc-pgo") && disk_line.contains("measured by their last run"),
        "{disk_line}"
    );

    // On a terminal (script(1) gives it one), outside GitHub Actions: no workflow commands,
    // and the progress line is redrawn in place.
    let line = format!("{} opt-dist --src {} llvm-pgo", env!("CARGO_BIN_EXE_xtask"), tree.src());
    let out = std::process::Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("script(1) from util-linux runs");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "llvm-pgo on a terminal:\n{terminal}");
    assert!(!terminal.contains("::group::"));
    assert!(terminal.contains("==> [llvm-pgo 1/"));
    assert!(
        terminal.contains("\r\u{1b}[2K"),
        "the progress line is cleared before the next output:\n{terminal}"
    );

    // The machine outputs match docs/json.md, field by field.
    let schema = Schema::read();
    for stage in ["rustc-pgo", "llvm-pgo"] {
        schema.check(&tree.manifest(stage), "manifest", stage);
    }
    let status = tree.opt_dist(&["status", "--json"]);
    assert_success(&status, "status --json");
    schema.check(&serde_json::from_slice(&status.stdout).unwrap(), "status", "status");
    for args in [&["plan", "all", "--format", "json"][..], &["plan", "dist", "--format", "json"]] {
        let plan = tree.opt_dist(args);
        assert_success(&plan, "plan --format json");
        schema.check(&serde_json::from_slice(&plan.stdout).unwrap(), "plan", &args.join(" "));
    }
}

/// The objects of docs/json.md: per object, its fields with their types and whether optional.
struct Schema {
    objects: BTreeMap<String, BTreeMap<String, (String, bool)>>,
    action_kinds: Vec<String>,
}

impl Schema {
    fn read() -> Schema {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/json.md");
        let text = std::fs::read_to_string(path).unwrap();
        let mut objects: BTreeMap<String, BTreeMap<String, (String, bool)>> = BTreeMap::new();
        let mut current = None;
        let mut action_kinds = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("### ") {
                current = Some(name.trim().to_string());
                continue;
            }
            let (Some(object), Some(row)) = (&current, line.strip_prefix("| `")) else {
                continue;
            };
            let cells: Vec<&str> = row.split(" | ").collect();
            let field = cells[0].trim_end_matches('`').to_string();
            let ty = cells[1].replace("\\|", "|");
            let optional = ty.ends_with(", optional");
            let ty = ty.trim_end_matches(", optional").to_string();
            if object == "action" && field == "kind" {
                action_kinds = cells[2].split('`').skip(1).step_by(2).map(String::from).collect();
            }
            objects.entry(object.clone()).or_default().insert(field, (ty, optional));
        }
        Schema { objects, action_kinds }
    }

    /// Checks `value` against the object `name`, and its fields that are documented objects.
    fn check(&self, value: &serde_json::Value, name: &str, at: &str) {
        let fields =
            self.objects.get(name).unwrap_or_else(|| panic!("docs/json.md documents no `{name}`"));
        let object = value.as_object().unwrap_or_else(|| panic!("{at}: not an object: {value}"));
        if name == "action" {
            let kind = object["kind"].as_str().unwrap();
            assert!(
                self.action_kinds.iter().any(|k| k == kind),
                "{at}: action kind `{kind}` is not documented"
            );
            // A stage's own work has its own fields.
            if ![
                "run",
                "bootstrap",
                "reset-dir",
                "remove-dir",
                "move",
                "expect-raw-profiles",
                "validate",
            ]
            .contains(&kind)
            {
                return;
            }
        }
        for key in object.keys() {
            assert!(
                fields.contains_key(key),
                "{at}: `{name}` has field `{key}` that docs/json.md does not list"
            );
        }
        for (field, (ty, optional)) in fields {
            let Some(v) = object.get(field) else {
                assert!(
                    *optional || name == "action",
                    "{at}: `{name}` lacks documented field `{field}`"
                );
                continue;
            };
            self.check_type(v, ty, &format!("{at}.{field}"));
        }
    }

    fn check_type(&self, value: &serde_json::Value, ty: &str, at: &str) {
        if let Some(inner) = ty.strip_suffix(" | null") {
            if !value.is_null() {
                self.check_type(value, inner, at);
            }
            return;
        }
        if ty == "string | object" {
            assert!(value.is_string() || value.is_object(), "{at}: {value}");
            return;
        }
        if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let items =
                value.as_array().unwrap_or_else(|| panic!("{at}: expected an array, got {value}"));
            for (i, item) in items.iter().enumerate() {
                self.check_type(item, inner, &format!("{at}[{i}]"));
            }
            return;
        }
        let ok = match ty {
            "string" | "path" | "time" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "bool" => value.is_boolean(),
            "object" | "object of string" => value.is_object(),
            object if self.objects.contains_key(object) => {
                self.check(value, object, at);
                true
            }
            other => panic!("{at}: docs/json.md uses unknown type `{other}`"),
        };
        assert!(ok, "{at}: expected {ty}, got {value}");
    }
}
