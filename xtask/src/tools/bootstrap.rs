//! Everything we know about bootstrap's command line, in one place.
//!
//! [`Bootstrap`] builds `x.py` invocations with one method per bootstrap concept (instrument a
//! component, use a profile, BOLT link settings, keep stages). Bootstrap has two ways to say
//! "PGO": the legacy flags of rustc <= 1.95 (`--rust-profile-generate`, `--llvm-profile-use`, ...)
//! and, since July 2026, the `[pgo]` table (`--set pgo.<component>.<generate|use>="<path>"`).
//! [`Interface`] names them; [`detect_interface`] asks the tree's own bootstrap which one it has,
//! and [`detect_clippy_pgo`] whether its table has the `clippy` key master added later.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::tools::profiles::{kind, ProfileFile};
use crate::tools::tree::Tree;
use crate::util::cmd::Cmd;
use crate::util::{fs, sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interface {
    /// `--rust-profile-generate/-use`, `--llvm-profile-generate` (+ `LLVM_PROFILE_DIR`),
    /// `--llvm-profile-use`: rustc 1.95.0 and older.
    Legacy,
    /// `--set pgo.<component>.generate|use="<path>"`: upstream master since July 2026.
    PgoTable,
}

impl Interface {
    pub fn name(self) -> &'static str {
        match self {
            Interface::Legacy => "legacy",
            Interface::PgoTable => "pgo-table",
        }
    }
}

/// Dist components a fast try build skips (upstream opt-dist's list at 1.95.0).
const TRY_BUILD_SKIPPED: &[&str] = &[
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
];

/// The parts of the toolchain bootstrap can build with PGO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Rustc,
    Rustdoc,
    Cargo,
    Llvm,
    /// Only where the table has the key (see [`detect_clippy_pgo`]).
    Clippy,
}

impl Component {
    fn table_key(self) -> &'static str {
        match self {
            Component::Rustc => "rustc",
            Component::Rustdoc => "rustdoc",
            Component::Cargo => "cargo",
            Component::Llvm => "llvm",
            Component::Clippy => "clippy",
        }
    }
}

/// An `x.py` invocation under construction.
pub struct Bootstrap {
    interface: Interface,
    cmd: Cmd,
}

impl Bootstrap {
    /// `x.py build --target H --host H --stage 2 library/std`: the build every stage starts from.
    pub fn build(tree: &Tree, interface: Interface) -> Bootstrap {
        let host = tree.host.as_str();
        let cmd = Bootstrap::x_py(tree, "build")
            .env("RUST_BACKTRACE", "full")
            .args([
                "--target",
                host,
                "--host",
                host,
                "--stage",
                "2",
                "library/std",
            ]);
        Bootstrap { interface, cmd }
    }

    /// `x.py dist <the user's arguments>`: the final build that packages everything.
    pub fn dist(tree: &Tree, interface: Interface, user_args: &[String]) -> Bootstrap {
        let cmd = Bootstrap::x_py(tree, "dist")
            .env("RUST_BACKTRACE", "full")
            .args(user_args.iter().cloned());
        Bootstrap { interface, cmd }
    }

    /// `x.py test --build H --stage 0 <suites>` with the dist toolchain as stage 0: `config`
    /// (see [`TestConfig`]) is handed over with `RUST_BOOTSTRAP_CONFIG`, which bootstrap reads
    /// before the tree's own `bootstrap.toml`, and the dist-only tests are enabled.
    pub fn test(tree: &Tree, suites: &[&str], skipped: &[String], config: &Path) -> Bootstrap {
        // Unlike the builds, upstream's test run does not ask for full backtraces.
        let mut cmd = Bootstrap::x_py(tree, "test")
            .args(["--build", &tree.host, "--stage", "0"])
            .args(suites.iter().copied())
            .env("COMPILETEST_ENABLE_DIST_TESTS", "1")
            .env("RUST_BOOTSTRAP_CONFIG", config.display().to_string());
        for test in skipped {
            cmd = cmd.args(["--skip", test]);
        }
        Bootstrap {
            interface: Interface::Legacy,
            cmd,
        }
    }

    /// Adds `--reproducible-artifact`: dist ships the file in reproducible-artifacts-*.tar.xz,
    /// under its name (so a BOLT profile is handed over under the name upstream gives it).
    pub fn with_reproducible_artifact(mut self, file: &Path) -> Bootstrap {
        self.cmd = self
            .cmd
            .arg("--reproducible-artifact")
            .arg(file.display().to_string());
        self
    }

    fn x_py(tree: &Tree, command: &str) -> Cmd {
        let mut cmd = Cmd::new(tree.python.clone(), &tree.src)
            .arg(tree.x_py().display().to_string())
            .arg(command);
        if tree.build_dir_is_explicit {
            cmd = cmd
                .arg("--build-dir")
                .arg(tree.build_dir.display().to_string());
        }
        cmd
    }

    /// Adds build paths (`rustdoc`, `cargo`) to the build.
    pub fn with_paths(mut self, paths: &[&str]) -> Bootstrap {
        self.cmd = self.cmd.args(paths.iter().copied());
        self
    }

    /// Builds `component` instrumented, writing raw profiles below `dir`.
    pub fn pgo_generate(mut self, component: Component, dir: &Path) -> Result<Bootstrap> {
        self.cmd = match (self.interface, component) {
            (Interface::PgoTable, _) => self.cmd.args(table_setting(component, "generate", dir)),
            (Interface::Legacy, Component::Rustc) => self
                .cmd
                .arg("--rust-profile-generate")
                .arg(dir.display().to_string()),
            // Legacy bootstrap takes the LLVM profile directory from the environment; it
            // becomes LLVM's LLVM_PROFILE_DATA_DIR.
            (Interface::Legacy, Component::Llvm) => self
                .cmd
                .arg("--llvm-profile-generate")
                .env("LLVM_PROFILE_DIR", dir.display().to_string()),
            (Interface::Legacy, other) => bail!(
                "bootstrap's legacy interface cannot instrument {other:?}; only the [pgo] table can"
            ),
        };
        Ok(self)
    }

    /// Builds rustc optimized with its profile.
    pub fn use_rustc_profile(self, profile: &ProfileFile<kind::RustcPgo>) -> Result<Bootstrap> {
        self.pgo_use(Component::Rustc, profile.path())
    }

    /// Builds cargo optimized with rustc's profile: cargo runs instrumented while rustc is
    /// trained, so its counts are in rustc's profile.
    pub fn use_cargo_profile(self, profile: &ProfileFile<kind::RustcPgo>) -> Result<Bootstrap> {
        self.pgo_use(Component::Cargo, profile.path())
    }

    pub fn use_rustdoc_profile(self, profile: &ProfileFile<kind::RustdocPgo>) -> Result<Bootstrap> {
        self.pgo_use(Component::Rustdoc, profile.path())
    }

    pub fn use_clippy_profile(self, profile: &ProfileFile<kind::ClippyPgo>) -> Result<Bootstrap> {
        self.pgo_use(Component::Clippy, profile.path())
    }

    pub fn use_llvm_profile(self, profile: &ProfileFile<kind::LlvmPgo>) -> Result<Bootstrap> {
        self.pgo_use(Component::Llvm, profile.path())
    }

    /// Builds `component` optimized with the merged profile `profile`.
    fn pgo_use(mut self, component: Component, profile: &Path) -> Result<Bootstrap> {
        let path = profile.display().to_string();
        self.cmd = match (self.interface, component) {
            (Interface::PgoTable, _) => self.cmd.args(table_setting(component, "use", profile)),
            (Interface::Legacy, Component::Rustc) => self.cmd.arg("--rust-profile-use").arg(path),
            (Interface::Legacy, Component::Llvm) => self.cmd.arg("--llvm-profile-use").arg(path),
            (Interface::Legacy, other) => bail!(
                "bootstrap's legacy interface cannot use a profile for {other:?}; only the [pgo] table can"
            ),
        };
        Ok(self)
    }

    /// The LLVM built alongside the instrumented rustc is thrown away after stage 1, so it is
    /// built without ThinLTO (minutes instead of tens of minutes), as a shared library.
    pub fn without_llvm_lto(mut self) -> Bootstrap {
        self.cmd = self.cmd.args([
            "--set",
            "llvm.thin-lto=false",
            "--set",
            "llvm.link-shared=true",
        ]);
        self
    }

    /// Reuses the stage 0 and 1 compilers already in the build dir instead of rebuilding them
    /// (the PGO-optimized rustc of stage 1 stays what it is while LLVM is rebuilt).
    pub fn keep_stages(mut self, stages: &[u32]) -> Bootstrap {
        for stage in stages {
            self.cmd = self.cmd.arg("--keep-stage").arg(stage.to_string());
        }
        self
    }

    /// Links LLVM with relocations kept (`-Wl,-q`) so BOLT can rewrite libLLVM later.
    pub fn with_llvm_bolt_ldflags(mut self) -> Bootstrap {
        self.cmd = self.cmd.args(["--set", "llvm.ldflags=-Wl,-q"]);
        self
    }

    /// Upstream's fast try build (`DIST_TRY_BUILD`) for dist: skip the components a minimal
    /// toolchain does without, then the settings every try-build command gets, and cargo,
    /// which `build.extended=false` would drop.
    pub fn for_try_dist(mut self, try_build: bool) -> Bootstrap {
        if try_build {
            for component in TRY_BUILD_SKIPPED {
                self.cmd = self.cmd.args(["--skip", component]);
            }
            self = self.for_try_build(true);
            self.cmd = self.cmd.arg("cargo");
        }
        self
    }

    /// Upstream's fast try build (`DIST_TRY_BUILD`): skip what `--skip` cannot.
    pub fn for_try_build(mut self, try_build: bool) -> Bootstrap {
        if try_build {
            self.cmd = self.cmd.args([
                "--set",
                "rust.llvm-bitcode-linker=false",
                "--set",
                "build.extended=false",
                "--set",
                "rust.codegen-backends=['llvm']",
                "--set",
                "rust.deny-warnings=false",
            ]);
        }
        self
    }

    /// Links librustc_driver with relocations kept (`-Wl,-q`) so BOLT can rewrite it later.
    pub fn with_rustc_bolt_settings(mut self) -> Bootstrap {
        self.cmd = self.cmd.arg("--enable-bolt-settings");
        self
    }

    pub fn into_cmd(self) -> Cmd {
        self.cmd
    }
}

/// The configuration that makes an unpacked dist toolchain bootstrap's stage 0 for the test
/// stage, as upstream writes it: the toolchain's rustc and cargo, a local rebuild, stage-0
/// compiletest, the release channel of the tarballs, no rust-lld (it cannot be combined with an
/// external LLVM), and the build's llvm-config so that bootstrap builds no LLVM.
pub struct TestConfig<'a> {
    pub rustc: &'a str,
    pub cargo: &'a str,
    pub channel: &'a str,
    /// Repeated only when the user's configuration moved the build dir.
    pub build_dir: Option<&'a str>,
    pub host: &'a str,
    pub llvm_config: &'a str,
}

impl TestConfig<'_> {
    /// The file's text. Values are written as given, inside TOML double quotes: the caller
    /// passes paths with forward slashes (see [`toml_path`]), or shell variables when the text
    /// is a here-document of `plan --format sh`.
    pub fn render(&self) -> String {
        let mut text = format!(
            "# Written by cargo xtask opt-dist for its test stage.\n\
             profile = \"user\"\nchange-id = 115898\n\n[rust]\nchannel = \"{}\"\n\
             verbose-tests = true\n# rust-lld cannot be combined with an external LLVM\nlld = false\n\n\
             [build]\nrustc = \"{}\"\ncargo = \"{}\"\nlocal-rebuild = true\n\
             compiletest-allow-stage0 = true\n",
            self.channel, self.rustc, self.cargo
        );
        if let Some(build_dir) = self.build_dir {
            text.push_str(&format!("build-dir = \"{build_dir}\"\n"));
        }
        text.push_str(&format!(
            "\n[target.{}]\nllvm-config = \"{}\"\n",
            self.host, self.llvm_config
        ));
        text
    }
}

/// A path as TOML wants it inside double quotes: backslashes are escape characters there.
pub fn toml_path(path: &Path) -> String {
    path.display().to_string().replace('\\', "/")
}

/// `--set pgo.<component>.<key>="<path>"`: forward slashes inside TOML double quotes, because
/// backslashes are escape characters in TOML strings (they broke upstream on Windows).
fn table_setting(component: Component, key: &str, path: &Path) -> [String; 2] {
    let path = toml_path(path).replace('"', "\\\"");
    [
        "--set".to_string(),
        format!("pgo.{}.{key}=\"{path}\"", component.table_key()),
    ]
}

/// The interface of the tree's bootstrap, remembered in `<build-dir>/opt-dist/interface.json`
/// (see [`cached`]).
pub fn cached_interface(tree: &Tree, sh: &xshell::Shell, remember: bool) -> Result<Interface> {
    cached(tree, "interface.json", remember, || {
        detect_interface(tree, sh)
    })
}

/// Whether the tree's `[pgo]` table takes `pgo.clippy`, remembered in
/// `<build-dir>/opt-dist/clippy-pgo.json` (see [`cached`]).
pub fn cached_clippy_pgo(tree: &Tree, sh: &xshell::Shell, remember: bool) -> Result<bool> {
    cached(tree, "clippy-pgo.json", remember, || {
        detect_clippy_pgo(tree, sh)
    })
}

/// An answer of the tree's bootstrap, remembered in `<build-dir>/opt-dist/<file>` for as long as
/// bootstrap's sources, x.py and the configuration are unchanged (by size and modification
/// time), so that a run with nothing to do calls no x.py; asked otherwise. With `remember`
/// false a new answer is not written down: a command that must leave the build dir as it was
/// until it has checked its input (`import`) only reads.
fn cached<T: Serialize + serde::de::DeserializeOwned + Copy>(
    tree: &Tree,
    file: &str,
    remember: bool,
    ask: impl FnOnce() -> Result<T>,
) -> Result<T> {
    #[derive(Serialize, serde::Deserialize)]
    struct Cached<T> {
        key: String,
        answer: T,
    }
    let path = tree.artifacts_root().join(file);
    let key = bootstrap_sources_key(tree);
    let cached: Option<Cached<T>> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if let Some(cached) = cached.filter(|c| c.key == key) {
        return Ok(cached.answer);
    }
    let answer = ask()?;
    if !remember {
        return Ok(answer);
    }
    // Only an optimization: a failure to remember is no reason to stop.
    let _ = std::fs::create_dir_all(tree.artifacts_root()).map(|()| {
        let cached = Cached { key, answer };
        serde_json::to_vec(&cached).map(|bytes| fs::write_atomically(&path, &bytes))
    });
    Ok(answer)
}

/// Name, size and modification time of every file bootstrap's answer depends on, hashed.
fn bootstrap_sources_key(tree: &Tree) -> String {
    let mut files: Vec<std::path::PathBuf> = walkdir::WalkDir::new(tree.src.join("src/bootstrap"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.push(tree.x_py());
    files.extend(tree.config.file.clone());
    files.sort();
    let mut listing = String::new();
    for file in files {
        let stamp = std::fs::metadata(&file).ok().map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), modified)
        });
        // Relative to the tree: a tree copied with its times (a restored cache) keeps the key.
        let name = file.strip_prefix(&tree.src).unwrap_or(&file);
        listing.push_str(&format!("{}\t{stamp:?}\n", name.display()));
    }
    sha256::hex(listing.as_bytes())
}

/// Asks the tree's bootstrap, with a `--dry-run` that builds nothing, whether it accepts the
/// `[pgo]` table. Legacy bootstrap rejects the key with "unknown field `pgo`"; any other
/// failure is reported as it is, since guessing would emit flags the tree rejects hours later.
pub fn detect_interface(tree: &Tree, sh: &xshell::Shell) -> Result<Interface> {
    eprintln!("opt-dist: asking the tree's bootstrap which PGO interface it has (x.py --dry-run)");
    let accepted = probe_table_key(tree, sh, Component::Rustc, "`pgo`", "which PGO interface")?;
    Ok(match accepted {
        true => Interface::PgoTable,
        false => Interface::Legacy,
    })
}

/// Asks the tree's bootstrap, as [`detect_interface`] does, whether its `[pgo]` table has a
/// `clippy` key (upstream master since PR #159642; the table as first added rejects it with
/// "unknown field `clippy`", a bootstrap without the table with "unknown field `pgo`").
pub fn detect_clippy_pgo(tree: &Tree, sh: &xshell::Shell) -> Result<bool> {
    eprintln!(
        "opt-dist: asking the tree's bootstrap whether it builds clippy with PGO (x.py --dry-run)"
    );
    probe_table_key(
        tree,
        sh,
        Component::Clippy,
        "`clippy`",
        "whether bootstrap's [pgo] table has clippy",
    )
    .or_else(
        |err| match format!("{err:#}").contains("unknown field `pgo`") {
            true => Ok(false),
            false => Err(err),
        },
    )
}

/// `x.py build --set pgo.<component>.generate=… --dry-run library/std`: true when bootstrap
/// accepts it, false when it rejects the key naming `unknown_field`; any other failure is
/// reported as it is, since guessing would emit flags the tree rejects hours later.
fn probe_table_key(
    tree: &Tree,
    sh: &xshell::Shell,
    component: Component,
    unknown_field: &str,
    question: &str,
) -> Result<bool> {
    let probe_dir = tree.artifacts_root().join("interface-probe");
    let probe = Bootstrap::x_py(tree, "build")
        .env("RUST_BACKTRACE", "full")
        .args(table_setting(component, "generate", &probe_dir))
        .args(["--dry-run", "library/std"]);
    let (ok, _stdout, stderr) = probe.probe(sh).with_context(|| {
        format!(
            "could not run the tree's bootstrap: is `{}` a python interpreter? (--python)",
            tree.python
        )
    })?;
    if ok {
        return Ok(true);
    }
    if stderr.contains(&format!("unknown field {unknown_field}")) {
        return Ok(false);
    }
    let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    bail!(
        "could not tell {question}: `{}` failed without naming the [pgo] table:\n{}\nfix the \
         tree's bootstrap configuration, or pass --interface legacy|pgo-table",
        probe.shell_line(),
        tail.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn tree() -> Tree {
        Tree {
            src: PathBuf::from("/src"),
            python: "python3".to_string(),
            build_dir: PathBuf::from("/src/build"),
            build_dir_is_explicit: false,
            host: "x86_64-unknown-linux-gnu".to_string(),
            version: "1.95.0".to_string(),
            commit: None,
            config: Default::default(),
        }
    }

    fn line(b: Result<Bootstrap>) -> String {
        b.unwrap().into_cmd().shell_line()
    }

    #[test]
    fn legacy_flags_for_rustc_and_llvm() {
        let t = tree();
        let raw = Path::new("/a/rustc-pgo/raw");
        assert_eq!(
            line(Bootstrap::build(&t, Interface::Legacy).pgo_generate(Component::Rustc, raw)),
            "RUST_BACKTRACE=full python3 /src/x.py build --target x86_64-unknown-linux-gnu \
             --host x86_64-unknown-linux-gnu --stage 2 library/std --rust-profile-generate \
             /a/rustc-pgo/raw"
        );
        let llvm = Bootstrap::build(&t, Interface::Legacy)
            .pgo_generate(Component::Llvm, Path::new("/a/llvm-pgo/prof-%p"))
            .unwrap()
            .into_cmd();
        assert_eq!(llvm.env["LLVM_PROFILE_DIR"], "/a/llvm-pgo/prof-%p");
        assert!(llvm.argv.contains(&"--llvm-profile-generate".to_string()));
        let used =
            line(Bootstrap::build(&t, Interface::Legacy).pgo_use(Component::Llvm, Path::new("/p")));
        assert!(used.ends_with("--llvm-profile-use /p"), "{used}");
    }

    #[test]
    fn legacy_cannot_express_rustdoc_or_cargo() {
        let b = Bootstrap::build(&tree(), Interface::Legacy);
        assert!(b.pgo_generate(Component::Rustdoc, Path::new("/r")).is_err());
    }

    #[test]
    fn table_settings_are_quoted_toml_with_forward_slashes() {
        let t = tree();
        let cmd = Bootstrap::build(&t, Interface::PgoTable)
            .pgo_use(Component::Cargo, Path::new(r"C:\a\rustc-pgo.profdata"))
            .unwrap()
            .pgo_generate(Component::Llvm, Path::new("/a/llvm-pgo/prof-%p"))
            .unwrap()
            .into_cmd();
        let tail: Vec<&str> = cmd
            .argv
            .iter()
            .rev()
            .take(4)
            .rev()
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "--set",
                r#"pgo.cargo.use="C:/a/rustc-pgo.profdata""#,
                "--set",
                r#"pgo.llvm.generate="/a/llvm-pgo/prof-%p""#
            ]
        );
        assert!(!cmd.env.contains_key("LLVM_PROFILE_DIR"));
    }

    #[test]
    fn explicit_build_dir_is_passed_on() {
        let mut t = tree();
        t.build_dir = PathBuf::from("/elsewhere");
        t.build_dir_is_explicit = true;
        let l = Bootstrap::build(&t, Interface::Legacy)
            .into_cmd()
            .shell_line();
        assert!(
            l.contains("/src/x.py build --build-dir /elsewhere --target"),
            "{l}"
        );
    }
}
