//! `opt-dist all` on the miniature tree: the x.py calls it makes compared with the sequence
//! upstream opt-dist issues for the same options (opt-dist-facts §2, §3), and every stage for
//! real (PGO of the driver and of the LLVM analog, BOLT on both libraries, dist, tests).
//!
//! Every option set is checked on its plan (`plan all --format json`, the plan the runner
//! executes), which takes a fraction of a second; a few real runs, one per distinct way through
//! the stages (legacy and pgo-table interface, BOLT on and off, shared and static LLVM, stage by
//! stage, the `plan --format sh` replay), check that the calls the tree records are the planned
//! ones and what the runs leave behind.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    argv, assert_optimized_rustc_tarball, assert_same_calls, assert_success, dist_args,
    is_bolt_optimized, is_instrumented, stderr, untar, MiniTree, XPyCall, LLVM_BIN,
};

/// The options of one run, as upstream's opt-dist knows them.
#[derive(Clone, Copy)]
struct Options {
    bolt: bool,
    build_llvm: bool,
    shared_llvm: bool,
    try_build: bool,
    tests: bool,
    pgo_table: bool,
}

const DEFAULT: Options = Options {
    bolt: true,
    build_llvm: true,
    shared_llvm: true,
    try_build: false,
    tests: false,
    pgo_table: false,
};

/// The x.py calls upstream opt-dist makes, in order, written from the reference (not from the
/// xtask's code), with the xtask's artifact paths in place of upstream's.
fn upstream_sequence(tree: &MiniTree, o: Options) -> Vec<XPyCall> {
    let host = tree.host();
    let version = tree.version();
    let art = tree.root.join("build/opt-dist");
    let path = |stage: &str, file: String| art.join(stage).join(file).display().to_string();
    let rustc_raw = path("rustc-pgo", "raw".into());
    let rustc_profile = path("rustc-pgo", format!("rustc-pgo-{version}-{host}.profdata"));
    let rustdoc_profile = path("rustc-pgo", format!("rustdoc-pgo-{version}-{host}.profdata"));
    let clippy_profile = path("rustc-pgo", format!("clippy-pgo-{version}-{host}.profdata"));
    let llvm_raw = path("llvm-pgo", "raw/prof-%p".into());
    let llvm_profile = path("llvm-pgo", format!("llvm-pgo-{version}-{host}.profdata"));
    // Upstream hands dist its BOLT profiles as LLVM-bolt.profdata and rustc-bolt.profdata (the
    // names in the reproducible-artifacts tarball); the xtask names them so in dist's directory.
    let llvm_bolt = path("dist", "reproducible-artifacts/LLVM-bolt.profdata".into());
    let rustc_bolt = path("dist", "reproducible-artifacts/rustc-bolt.profdata".into());
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<String>>();
    let set = |key: &str, value: &str| s(&["--set", &format!("{key}=\"{value}\"")]);
    let try_sets = if o.try_build {
        s(&[
            "--set",
            "rust.llvm-bitcode-linker=false",
            "--set",
            "build.extended=false",
            "--set",
            "rust.codegen-backends=['llvm']",
            "--set",
            "rust.deny-warnings=false",
        ])
    } else {
        vec![]
    };
    let keep_0_1 = s(&["--keep-stage", "0", "--keep-stage", "1"]);
    let build = || {
        [
            s(&["build", "--target", &host, "--host", &host, "--stage", "2", "library/std"]),
            try_sets.clone(),
        ]
        .concat()
    };

    let mut calls = Vec::new();
    // Since PR #159642 the table instruments and optimizes clippy too, except in a fast try
    // build, which leaves clippy out.
    let clippy = o.pgo_table && !o.try_build;
    let tools = if clippy { s(&["rustdoc", "cargo", "clippy"]) } else { s(&["rustdoc", "cargo"]) };
    // Stage 1: instrumented rustc (with the table also rustdoc, cargo and clippy), then optimized.
    let mut instrumented = build();
    if o.pgo_table {
        instrumented.extend(tools.clone());
        for c in
            ["rustc", "cargo", "rustdoc", "clippy"].iter().filter(|c| clippy || **c != "clippy")
        {
            instrumented.extend(set(&format!("pgo.{c}.generate"), &rustc_raw));
        }
    } else {
        instrumented.extend(s(&["--rust-profile-generate", &rustc_raw]));
    }
    if o.shared_llvm {
        instrumented.extend(s(&["--set", "llvm.thin-lto=false", "--set", "llvm.link-shared=true"]));
    }
    calls.push((instrumented, None));
    let mut optimized = build();
    if o.pgo_table {
        optimized.extend(tools.clone());
        optimized.extend(set("pgo.rustc.use", &rustc_profile));
        optimized.extend(set("pgo.cargo.use", &rustc_profile));
        optimized.extend(set("pgo.rustdoc.use", &rustdoc_profile));
        if clippy {
            optimized.extend(set("pgo.clippy.use", &clippy_profile));
        }
    } else {
        optimized.extend(s(&["--rust-profile-use", &rustc_profile]));
    }
    if o.bolt {
        optimized.push("--enable-bolt-settings".into());
    }
    calls.push((optimized, None));
    // Stage 2: instrumented LLVM under the kept rustc.
    if o.build_llvm {
        let mut llvm = build();
        let env = if o.pgo_table {
            llvm.extend(set("pgo.llvm.generate", &llvm_raw));
            None
        } else {
            llvm.push("--llvm-profile-generate".into());
            Some(llvm_raw.clone())
        };
        llvm.extend(keep_0_1.clone());
        calls.push((llvm, env));
    }
    // Stage 3: the PGO-optimized LLVM, linked for BOLT.
    if o.bolt && o.build_llvm {
        let mut llvm = build();
        llvm.extend(s(&["--set", "llvm.ldflags=-Wl,-q"]));
        if o.pgo_table {
            llvm.extend(set("pgo.llvm.use", &llvm_profile));
        } else {
            llvm.extend(s(&["--llvm-profile-use", &llvm_profile]));
        }
        llvm.extend(keep_0_1.clone());
        calls.push((llvm, None));
    }
    // Stage 5: dist.
    let mut dist = [s(&["dist"]), dist_args(&host)].concat();
    if o.try_build {
        for skipped in [
            "rust-docs",
            "rustc-docs",
            "rustc-dev",
            "rust-docs-json",
            "rust-analyzer",
            "rustc-src",
            "rustc-src-gpl",
            "extended",
            "clippy",
            "miri",
            "rustfmt",
            "generate-copyright",
            "bootstrap",
            "rustc_codegen_gcc",
        ] {
            dist.extend(s(&["--skip", skipped]));
        }
        dist.extend(try_sets.clone());
        dist.push("cargo".into());
    }
    if o.build_llvm {
        if o.pgo_table {
            dist.extend(set("pgo.llvm.use", &llvm_profile));
        } else {
            dist.extend(s(&["--llvm-profile-use", &llvm_profile]));
        }
    }
    if o.pgo_table {
        dist.extend(set("pgo.rustc.use", &rustc_profile));
        dist.extend(set("pgo.cargo.use", &rustc_profile));
        dist.extend(set("pgo.rustdoc.use", &rustdoc_profile));
        if clippy {
            dist.extend(set("pgo.clippy.use", &clippy_profile));
        }
    } else {
        dist.extend(s(&["--rust-profile-use", &rustc_profile]));
    }
    if o.shared_llvm || !o.build_llvm {
        dist.extend(keep_0_1.clone());
    } else {
        dist.extend(s(&["--keep-stage", "0"]));
    }
    if o.bolt {
        if o.build_llvm {
            dist.extend(s(&["--reproducible-artifact", &llvm_bolt]));
        }
        dist.extend(s(&["--reproducible-artifact", &rustc_bolt]));
    }
    calls.push((dist, None));
    // Tests, never in a try build.
    if o.tests && !o.try_build {
        let mut test = s(&["test", "--build", &host, "--stage", "0"]);
        test.extend(s(&[
            "tests/assembly-llvm",
            "tests/codegen-llvm",
            "tests/codegen-units",
            "tests/incremental",
            "tests/mir-opt",
            "tests/pretty",
            "tests/run-make/glibc-symbols-x86_64-unknown-linux-gnu",
            "tests/run-make/rust-lld-x86_64-unknown-linux-gnu-dist",
            "tests/ui",
            "tests/crashes",
            "tests/rustdoc-html",
        ]));
        calls.push((test, None));
    }
    calls
}

fn assert_upstream_sequence(tree: &MiniTree, o: Options) {
    assert_same_calls(
        &tree.recorded_x_py_calls(),
        &upstream_sequence(tree, o),
        "recorded against upstream's",
    );
}

fn shared_libraries(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".so"))
        .collect()
}

fn profdata_max_count(profile: &Path) -> u64 {
    let out = Command::new(format!("{LLVM_BIN}/llvm-profdata"))
        .arg("show")
        .arg(profile)
        .output()
        .unwrap();
    assert!(out.status.success(), "{} does not validate", profile.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Maximum function count: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The stages of `all --run-tests`, in order.
const EVERY_STAGE: [&str; 6] = ["rustc-pgo", "llvm-pgo", "llvm-bolt", "rustc-bolt", "dist", "test"];

/// Option sets, as the command line says them and as upstream knows them, with the tree's
/// PGO interface.
const OPTION_SETS: [(&str, &[&str], Options); 10] = [
    ("legacy", &[], DEFAULT),
    ("legacy", &["--run-tests"], Options { tests: true, ..DEFAULT }),
    ("legacy", &["--use-bolt", "false"], Options { bolt: false, ..DEFAULT }),
    ("legacy", &["--build-llvm", "false"], Options { build_llvm: false, ..DEFAULT }),
    // Upstream's static-LLVM setup (Windows) runs without BOLT.
    (
        "legacy",
        &["--llvm-shared", "false", "--use-bolt", "false"],
        Options { shared_llvm: false, bolt: false, ..DEFAULT },
    ),
    // A try build skips the tests.
    (
        "legacy",
        &["--try-build", "--run-tests"],
        Options { try_build: true, tests: true, ..DEFAULT },
    ),
    ("pgo-table", &[], Options { pgo_table: true, ..DEFAULT }),
    (
        "pgo-table",
        &["--try-build", "--run-tests"],
        Options { pgo_table: true, try_build: true, tests: true, ..DEFAULT },
    ),
    (
        "pgo-table",
        &["--build-llvm", "false"],
        Options { pgo_table: true, build_llvm: false, ..DEFAULT },
    ),
    (
        "pgo-table",
        &["--use-bolt", "false", "--run-tests"],
        Options { pgo_table: true, bolt: false, tests: true, ..DEFAULT },
    ),
];

#[test]
fn every_option_set_plans_upstreams_calls_and_names_the_option_that_skips_a_stage() {
    for interface in ["legacy", "pgo-table"] {
        let tree = MiniTree::new(&format!("all-plans-{interface}"), interface);
        for (_, options, upstream) in OPTION_SETS.iter().filter(|s| s.0 == interface) {
            let what = format!("plan all {options:?} on a {interface} tree against upstream's");
            let args = tree.with_dist_args(&["all"], options);
            let plan = tree.plan_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_same_calls(
                &tree.planned_x_py_calls(&plan),
                &upstream_sequence(&tree, *upstream),
                &what,
            );
            let skip_reason = |stage: &str| {
                plan["stages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["stage"] == stage)
                    .unwrap_or_else(|| panic!("{stage} in the plan: {what}"))["skipped"]
                    .as_str()
                    .map(String::from)
            };
            if !upstream.bolt {
                for stage in ["llvm-bolt", "rustc-bolt"] {
                    let reason = skip_reason(stage).unwrap_or_default();
                    assert!(reason.contains("--use-bolt false"), "{stage}: {what}");
                }
            }
            if !upstream.build_llvm {
                let reason = skip_reason("llvm-pgo").unwrap_or_default();
                assert!(reason.contains("--build-llvm false"), "llvm-pgo: {what}");
            }
        }
    }
}

#[test]
fn stages_run_one_by_one_build_a_bolt_optimized_toolchain_from_our_profiles_with_upstreams_calls() {
    let tree = MiniTree::new("all-by-stage", "legacy");
    let host = tree.host();
    // Each stage on its own, as a user resuming by hand would: together they issue the calls of
    // `all --run-tests`, whose plan is checked above, and real `all` runs follow their plans
    // (below and in resume.rs).
    for stage in EVERY_STAGE {
        let args = if stage == "dist" {
            tree.with_dist_args(&[stage], &[])
        } else {
            vec![stage.to_string()]
        };
        let out = tree.opt_dist(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_success(&out, stage);
    }
    assert_upstream_sequence(&tree, Options { tests: true, ..DEFAULT });

    let version = tree.version();
    let art = tree.root.join("build/opt-dist");
    for stage in EVERY_STAGE {
        let manifest = tree.manifest(stage);
        assert_eq!(manifest["status"], "done", "{stage}");
    }

    // Every profile validates.
    let rustc_pgo = art.join(format!("rustc-pgo/rustc-pgo-{version}-{host}.profdata"));
    let llvm_pgo = art.join(format!("llvm-pgo/llvm-pgo-{version}-{host}.profdata"));
    assert!(profdata_max_count(&rustc_pgo) > 0);
    assert!(profdata_max_count(&llvm_pgo) > 0);
    let fdata: Vec<PathBuf> = ["llvm-bolt", "rustc-bolt"]
        .iter()
        .map(|s| art.join(format!("{s}/{s}-{version}-{host}.fdata")))
        .collect();
    for f in &fdata {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(text.lines().any(|l| l.starts_with("1 ")), "{} has no branch records", f.display());
    }

    // The toolchain was built with our PGO profiles (the tree's build stamp says so).
    let stamp: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tree.root.join(format!("build/{host}/stage2/mini-build.json"))).unwrap(),
    )
    .unwrap();
    let components = &stamp["components"];
    assert_eq!(components["rustc_driver"]["profile_use"], rustc_pgo.to_str().unwrap(), "{stamp}");
    assert_eq!(components["llvm"]["profile_use"], llvm_pgo.to_str().unwrap(), "{stamp}");
    assert_eq!(components["rustc_driver"]["bolt_link_flags"], true);
    assert_eq!(components["llvm"]["bolt_link_flags"], true);

    // The dist tarball's libraries are the BOLT-optimized ones, and nothing is instrumented.
    let dist = tree.root.join("build/dist");
    let unpacked = tree.root.join("check-unpacked");
    untar(&dist.join(format!("rustc-{version}-{host}.tar.xz")), &unpacked);
    let packaged = shared_libraries(&unpacked);
    for prefix in ["libLLVM.so", "librustc_driver-"] {
        let lib = packaged
            .iter()
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}* in the rustc tarball"));
        assert!(is_bolt_optimized(lib), "{} is not BOLT-optimized", lib.display());
    }
    for lib in packaged.iter().chain(&shared_libraries(&tree.root.join("build"))) {
        assert!(!is_instrumented(lib), "{} is still instrumented", lib.display());
    }
    let backups = art.join("backups");
    assert!(!backups.exists() || std::fs::read_dir(&backups).unwrap().next().is_none());

    assert_bolt_profiles_ship_under_upstreams_names(&tree);
    let (rustc, llvm) = (("rustc-pgo-", "librustc_driver-"), ("llvm-pgo-", "libLLVM.so"));
    assert_fits(&tree, "rustc-pgo", &[rustc]);
    assert_fits(&tree, "llvm-bolt", &[llvm]);
    let bolt = [("llvm-bolt-", "libLLVM.so"), ("rustc-bolt-", "librustc_driver-")];
    assert_fits(&tree, "dist", &[bolt[0], bolt[1], rustc, llvm]);

    // Running dist again leaves the optimized libraries alone.
    let lib_dir = tree.root.join(format!("build/{host}/stage2/lib"));
    let before: Vec<Vec<u8>> =
        shared_libraries(&lib_dir).iter().map(|l| std::fs::read(l).unwrap()).collect();
    let out = tree.opt_dist(
        &[&["dist", "--"][..], &dist_args(&host).iter().map(String::as_str).collect::<Vec<_>>()]
            .concat(),
    );
    assert_success(&out, "dist again");
    assert!(stderr(&out).contains("already optimized with this profile"), "{}", stderr(&out));
    let after: Vec<Vec<u8>> =
        shared_libraries(&lib_dir).iter().map(|l| std::fs::read(l).unwrap()).collect();
    assert!(before == after, "a second dist must not BOLT the libraries again");
}

/// Each build with profiles recorded, for each, how much of it the binary built holds (profile
/// and binary by the start of their names), and each fits: a PGO profile's functions mostly
/// (about 80% for rustc's, inlining removes the rest), a BOLT profile's at least half.
fn assert_fits(tree: &MiniTree, stage: &str, expected: &[(&str, &str)]) {
    let manifest = tree.manifest(stage);
    let fit = manifest["fit"].as_array().unwrap();
    let named = |f: &serde_json::Value| (f["profile"].to_string(), f["binary"].to_string());
    let got: Vec<_> = fit.iter().map(named).collect();
    assert_eq!(fit.len(), expected.len(), "{stage}: {got:?}");
    for (f, (profile, binary)) in fit.iter().zip(expected) {
        let field = |name: &str| f[name].as_u64().unwrap();
        assert!(f["profile"].as_str().unwrap().starts_with(profile), "{stage}: {got:?}");
        assert!(f["binary"].as_str().unwrap().starts_with(binary), "{stage}: {got:?}");
        let pgo = f.get("bolt").is_none();
        assert!(!pgo || field("found") * 100 >= field("functions") * 75, "{stage}: {f}");
        assert!(field("found") >= field("minimum") && field("minimum") > 0, "{stage}: {f}");
    }
}

/// The BOLT profiles ship in the reproducible-artifacts tarball under upstream's names
/// (`LLVM-bolt.profdata`, `rustc-bolt.profdata`), with our stage outputs' contents.
fn assert_bolt_profiles_ship_under_upstreams_names(tree: &MiniTree) {
    let (version, host) = (tree.version(), tree.host());
    let art = tree.root.join("build/opt-dist");
    let repro = tree.root.join("check-repro");
    untar(
        &tree.root.join(format!("build/dist/reproducible-artifacts-{version}-{host}.tar.xz")),
        &repro,
    );
    let shipped: Vec<PathBuf> = walkdir::WalkDir::new(&repro)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    for (stage, upstream_name) in
        [("llvm-bolt", "LLVM-bolt.profdata"), ("rustc-bolt", "rustc-bolt.profdata")]
    {
        let ours = art.join(format!("{stage}/{stage}-{version}-{host}.fdata"));
        let packaged = shipped
            .iter()
            .find(|p| p.file_name().unwrap() == upstream_name)
            .unwrap_or_else(|| panic!("{upstream_name} in {shipped:?}"));
        assert!(
            std::fs::read(packaged).unwrap() == std::fs::read(&ours).unwrap(),
            "{upstream_name} is {}",
            ours.display()
        );
    }
}

#[test]
fn all_on_a_pgo_table_tree_runs_its_plan() {
    let tree = MiniTree::new("all-table", "pgo-table");
    tree.run_all(&[]);
    assert_upstream_sequence(&tree, Options { pgo_table: true, ..DEFAULT });
    // A BOLT-optimized toolchain, with the profiles under upstream's names.
    assert_optimized_rustc_tarball(
        &tree.root.join(format!("build/dist/rustc-{}-{}.tar.xz", tree.version(), tree.host())),
        &tree.root.join("check-rustc"),
    );
    assert_bolt_profiles_ship_under_upstreams_names(&tree);
    // Each tool with a profile of its own holds it.
    let tools = [
        ("rustc-pgo-", "librustc_driver-"),
        ("rustdoc-pgo-", "rustdoc"),
        ("clippy-pgo-", "clippy-driver"),
    ];
    assert_fits(&tree, "rustc-pgo", &tools);
}

#[test]
#[ignore = "a whole pipeline with static LLVM and no BOLT: ~22 s (CI runs it)"]
fn all_with_static_llvm_and_without_bolt_runs_its_plan_and_records_the_skips() {
    let tree = MiniTree::new("all-static-llvm", "legacy");
    let out = tree.run_all(&["--llvm-shared", "false", "--use-bolt", "false"]);
    // The miniature tree's bootstrap builds a shared LLVM by default: the dist says that it
    // ships one without BOLT.
    assert!(stderr(&out).contains("note: the dist ships a shared libLLVM.so"), "{}", stderr(&out));
    // Skipped stages leave a manifest that says so, with the plan's reason.
    for stage in ["llvm-bolt", "rustc-bolt"] {
        let manifest = tree.manifest(stage);
        assert_eq!(manifest["status"], "skipped");
        assert!(
            manifest["skip_reason"].as_str().unwrap().contains("--use-bolt false"),
            "{manifest}"
        );
    }
}

#[test]
fn bolt_with_a_static_llvm_is_refused_up_front() {
    let tree = MiniTree::new("all-static-bolt", "legacy");
    let out = tree.opt_dist(&[
        "--interface",
        "legacy",
        "all",
        "--llvm-shared",
        "false",
        "--use-bolt",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--use-bolt true needs a shared LLVM"), "{}", stderr(&out));
    assert!(tree.recorded_x_py_calls().is_empty());
}

#[test]
fn plan_sh_replays_all_without_the_xtask() {
    let tree = MiniTree::new("all-replay", "legacy");
    let host = tree.host();
    let dist = dist_args(&host);
    let mut args = vec!["plan", "all", "--run-tests", "--format", "sh", "--"];
    args.extend(dist.iter().map(String::as_str));
    let out = tree.opt_dist(&args);
    assert_success(&out, "plan all --format sh");
    let script = tree.root.join("replay.sh");
    std::fs::write(&script, &out.stdout).unwrap();

    // The script alone, in a packaging recipe's shoes: plain sh, no xtask.
    let run = Command::new("sh").arg(&script).output().unwrap();
    assert!(run.status.success(), "the replay failed:\n{}", String::from_utf8_lossy(&run.stderr));
    // It issued upstream's x.py calls, the test run included, and its toolchain carries the
    // BOLT-optimized libraries.
    assert_upstream_sequence(&tree, Options { tests: true, ..DEFAULT });
    // The test run used the unpacked dist toolchain as its stage 0, under the configuration
    // the script wrote.
    let test_run = tree
        .records_of("x.py")
        .into_iter()
        .find(|r| argv(r).first().map(String::as_str) == Some("test"))
        .expect("the script ran x.py test");
    let config_path =
        test_run["env"]["RUST_BOOTSTRAP_CONFIG"].as_str().expect("x.py test got its configuration");
    let config = std::fs::read_to_string(config_path).unwrap();
    let sysroot =
        tree.root.join(format!("build/unpacked-dist/rustc-{}-{host}/rustc", tree.version()));
    assert!(config.contains(&format!("rustc = \"{}/bin/rustc\"", sysroot.display())), "{config}");
    assert!(config.contains("channel = \"stable\""), "{config}");
    assert!(
        sysroot
            .join(format!("lib/rustlib/{host}/lib"))
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "rust-std was copied into the sysroot"
    );
    let version = tree.version();
    let unpacked = tree.root.join("check-unpacked");
    untar(&tree.root.join(format!("build/dist/rustc-{version}-{host}.tar.xz")), &unpacked);
    let libs = shared_libraries(&unpacked);
    for prefix in ["libLLVM.so", "librustc_driver-"] {
        let lib = libs
            .iter()
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap();
        assert!(is_bolt_optimized(lib), "{} is not BOLT-optimized", lib.display());
    }
    // It cleaned up after itself: no backup or scratch copy of a library is left.
    let leftovers: Vec<PathBuf> = walkdir::WalkDir::new(tree.root.join("build/opt-dist"))
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            p.is_file()
                && (name.ends_with(".instrumented")
                    || name.ends_with(".original")
                    || name.ends_with(".bolt")
                    || p.parent().unwrap().ends_with("backups"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
