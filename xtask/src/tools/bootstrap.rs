//! Everything we know about bootstrap's command line, in one place.
//!
//! [`Bootstrap`] builds `x.py` invocations with one method per bootstrap concept. Bootstrap has
//! two ways to say "PGO": the legacy flags of rustc <= 1.95 (`--rust-profile-generate`,
//! `--llvm-profile-use`, ...) and, since July 2026, the `[pgo]` table
//! (`--set pgo.<component>.<generate|use>="<path>"`). [`Interface`] names them;
//! [`detect_interface`] asks the tree's own bootstrap which one it has, and
//! [`cached_clippy_pgo`] whether its table has the `clippy` key master added later.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::tools::profiles::{kind, ProfileFile};
use crate::tools::tree::Tree;
use crate::util::cmd::Cmd;
use crate::util::{fs, sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interface {
    /// rustc 1.95.0 and older.
    Legacy,
    /// Upstream master since July 2026.
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

/// The parts of the toolchain bootstrap can build with PGO; the legacy flags name only rustc
/// and LLVM, and the table has `clippy` only since PR #159642.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Rustc,
    Rustdoc,
    Cargo,
    Llvm,
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

pub struct Bootstrap {
    interface: Interface,
    cmd: Cmd,
}

/// `python x.py <command>`, told the build dir only when the user moved it (so the stages made
/// without `--build-dir` stay valid), with full backtraces where upstream asks for them.
fn x_py(tree: &Tree, command: &str, backtrace: bool) -> Cmd {
    let mut cmd = Cmd::new(tree.python.clone(), &tree.src).arg(tree.x_py()).arg(command);
    if tree.build_dir_is_explicit {
        let build_dir = tree.build_dir.display().to_string();
        cmd = cmd.args(["--build-dir".to_string(), build_dir]);
    }
    match backtrace {
        true => cmd.env("RUST_BACKTRACE", "full"),
        false => cmd,
    }
}

/// Whether `cmd` is an `x.py build` (not a dist or a test run).
pub fn is_build(cmd: &Cmd) -> bool {
    cmd.argv.get(2).is_some_and(|command| command == "build")
}

impl Bootstrap {
    /// `x.py build --target H --host H --stage 2 library/std`: the build every stage starts from.
    pub fn build(tree: &Tree, interface: Interface) -> Bootstrap {
        let host = tree.host.as_str();
        let cmd = x_py(tree, "build", true).args(["--target", host, "--host", host]).args([
            "--stage",
            "2",
            "library/std",
        ]);
        Bootstrap { interface, cmd }
    }

    pub fn dist(tree: &Tree, interface: Interface, user_args: &[String]) -> Bootstrap {
        let cmd = x_py(tree, "dist", true).args(user_args.iter().cloned());
        Bootstrap { interface, cmd }
    }

    /// `x.py test --build H --stage 0 <suites>` with the dist toolchain as stage 0: `config`
    /// (see [`TestConfig`]) is handed over with `RUST_BOOTSTRAP_CONFIG`, which bootstrap reads
    /// before the tree's own `bootstrap.toml`, and the dist-only tests are enabled. Unlike the
    /// builds, upstream's test run does not ask for full backtraces.
    pub fn test(tree: &Tree, suites: &[&str], skipped: &[String], config: &Path) -> Bootstrap {
        let cmd = x_py(tree, "test", false)
            .args(["--build", &tree.host, "--stage", "0"])
            .args(suites.iter().copied())
            .env("COMPILETEST_ENABLE_DIST_TESTS", "1")
            .env("RUST_BOOTSTRAP_CONFIG", config)
            .args(skipped.iter().flat_map(|test| ["--skip", test]));
        let interface = Interface::Legacy;
        Bootstrap { interface, cmd }
    }

    fn with(mut self, edit: impl FnOnce(Cmd) -> Cmd) -> Bootstrap {
        self.cmd = edit(self.cmd);
        self
    }

    /// Dist ships the file in reproducible-artifacts-*.tar.xz under its name (so a BOLT profile
    /// is handed over under the name upstream gives it).
    pub fn with_reproducible_artifact(self, file: &Path) -> Bootstrap {
        let file = file.display().to_string();
        self.with(|cmd| cmd.args(["--reproducible-artifact".to_string(), file]))
    }

    pub fn with_paths(self, paths: &[&str]) -> Bootstrap {
        self.with(|cmd| cmd.args(paths.iter().copied()))
    }

    /// Builds `component` instrumented, writing raw profiles below `dir`.
    pub fn pgo_generate(self, component: Component, dir: &Path) -> Result<Bootstrap> {
        self.pgo(component, "generate", dir)
    }

    pub fn use_rustc_profile(self, profile: &ProfileFile<kind::RustcPgo>) -> Result<Bootstrap> {
        self.pgo(Component::Rustc, "use", &profile.path)
    }

    /// cargo runs instrumented while rustc is trained, so its counts are in rustc's profile.
    pub fn use_cargo_profile(self, profile: &ProfileFile<kind::RustcPgo>) -> Result<Bootstrap> {
        self.pgo(Component::Cargo, "use", &profile.path)
    }

    pub fn use_rustdoc_profile(self, profile: &ProfileFile<kind::RustdocPgo>) -> Result<Bootstrap> {
        self.pgo(Component::Rustdoc, "use", &profile.path)
    }

    pub fn use_clippy_profile(self, profile: &ProfileFile<kind::ClippyPgo>) -> Result<Bootstrap> {
        self.pgo(Component::Clippy, "use", &profile.path)
    }

    pub fn use_llvm_profile(self, profile: &ProfileFile<kind::LlvmPgo>) -> Result<Bootstrap> {
        self.pgo(Component::Llvm, "use", &profile.path)
    }

    /// `key` is the table's: `generate` (raw profiles below `path`) or `use` (the merged
    /// profile `path`).
    fn pgo(self, component: Component, key: &str, path: &Path) -> Result<Bootstrap> {
        let shown = path.display().to_string();
        Ok(match (self.interface, component, key) {
            (Interface::PgoTable, ..) => {
                self.with(|cmd| cmd.args(table_setting(component, key, path)))
            }
            (_, Component::Rustc, "generate") => {
                self.with(|cmd| cmd.args(["--rust-profile-generate", &shown]))
            }
            // Legacy bootstrap takes the LLVM profile directory from the environment; it
            // becomes LLVM's LLVM_PROFILE_DATA_DIR.
            (_, Component::Llvm, "generate") => {
                self.with(|cmd| cmd.arg("--llvm-profile-generate").env("LLVM_PROFILE_DIR", shown))
            }
            (_, Component::Rustc, _) => self.with(|cmd| cmd.args(["--rust-profile-use", &shown])),
            (_, Component::Llvm, _) => self.with(|cmd| cmd.args(["--llvm-profile-use", &shown])),
            (_, other, _) => {
                let what = if key == "use" { "use a profile for" } else { "instrument" };
                bail!("bootstrap's legacy interface cannot {what} {other:?}; only the [pgo] table can")
            }
        })
    }

    /// The LLVM built alongside the instrumented rustc is thrown away after stage 1, so it is
    /// built without ThinLTO (minutes instead of tens of minutes), as a shared library.
    pub fn without_llvm_lto(self) -> Bootstrap {
        self.with(|cmd| {
            cmd.args(["--set", "llvm.thin-lto=false"]).args(["--set", "llvm.link-shared=true"])
        })
    }

    /// Reuses the stage 0 and 1 compilers already in the build dir instead of rebuilding them
    /// (the PGO-optimized rustc of stage 1 stays what it is while LLVM is rebuilt).
    pub fn keep_stages(self, stages: &[u32]) -> Bootstrap {
        let args = stages.iter().flat_map(|s| ["--keep-stage".to_string(), s.to_string()]);
        self.with(|cmd| cmd.args(args))
    }

    /// Links LLVM with relocations kept (`-Wl,-q`) so BOLT can rewrite libLLVM later.
    pub fn with_llvm_bolt_ldflags(self) -> Bootstrap {
        self.with(|cmd| cmd.args(["--set", "llvm.ldflags=-Wl,-q"]))
    }

    /// Upstream's fast try build (`DIST_TRY_BUILD`) for dist: skip the components a minimal
    /// toolchain does without, then the settings every try-build command gets, and cargo,
    /// which `build.extended=false` would drop.
    pub fn for_try_dist(self, try_build: bool) -> Bootstrap {
        if !try_build {
            return self;
        }
        self.with(|cmd| cmd.args(TRY_BUILD_SKIPPED.iter().flat_map(|c| ["--skip", c])))
            .for_try_build(true)
            .with(|cmd| cmd.arg("cargo"))
    }

    /// Upstream's fast try build (`DIST_TRY_BUILD`): skip what `--skip` cannot.
    pub fn for_try_build(self, try_build: bool) -> Bootstrap {
        if !try_build {
            return self;
        }
        self.with(|cmd| {
            cmd.args(["--set", "rust.llvm-bitcode-linker=false"])
                .args(["--set", "build.extended=false"])
                .args(["--set", "rust.codegen-backends=['llvm']"])
                .args(["--set", "rust.deny-warnings=false"])
        })
    }

    /// Links librustc_driver with relocations kept (`-Wl,-q`) so BOLT can rewrite it later.
    pub fn with_rustc_bolt_settings(self) -> Bootstrap {
        self.with(|cmd| cmd.arg("--enable-bolt-settings"))
    }

    pub fn into_cmd(self) -> Cmd {
        self.cmd
    }
}

/// The configuration that makes an unpacked dist toolchain bootstrap's stage 0 for the test
/// stage, as upstream writes it: a local rebuild, stage-0 compiletest, the release channel of
/// the tarballs, no rust-lld (it cannot be combined with an external LLVM), and the build's
/// llvm-config so that bootstrap builds no LLVM. Values are written as given, inside TOML
/// double quotes: paths with forward slashes (see [`toml_path`]), or shell variables when the
/// text is a here-document of `plan --format sh`.
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
    pub fn render(&self) -> String {
        let build_dir = self.build_dir.map(|dir| format!("build-dir = \"{dir}\"\n"));
        format!(
            "# Written by cargo xtask opt-dist for its test stage.\n\
             profile = \"user\"\nchange-id = 115898\n\n[rust]\nchannel = \"{}\"\n\
             verbose-tests = true\n# rust-lld cannot be combined with an external LLVM\nlld = false\n\n\
             [build]\nrustc = \"{}\"\ncargo = \"{}\"\nlocal-rebuild = true\n\
             compiletest-allow-stage0 = true\n{}\n[target.{}]\nllvm-config = \"{}\"\n",
            self.channel,
            self.rustc,
            self.cargo,
            build_dir.unwrap_or_default(),
            self.host,
            self.llvm_config
        )
    }
}

/// A path as TOML wants it inside double quotes: backslashes are escape characters there (they
/// broke upstream's `--set pgo...` on Windows).
pub fn toml_path(path: &Path) -> String {
    path.display().to_string().replace('\\', "/")
}

fn table_setting(component: Component, key: &str, path: &Path) -> [String; 2] {
    let path = toml_path(path).replace('"', "\\\"");
    let setting = format!("pgo.{}.{key}=\"{path}\"", component.table_key());
    ["--set".to_string(), setting]
}

/// Remembered in `<build-dir>/opt-dist/interface.json` (see [`cached`]).
pub fn cached_interface(tree: &Tree, sh: &xshell::Shell, remember: bool) -> Result<Interface> {
    cached(tree, "interface.json", remember, || detect_interface(tree, sh))
}

/// Whether the tree's `[pgo]` table takes `pgo.clippy` (upstream master since PR #159642; the
/// table as first added rejects it with "unknown field `clippy`", a bootstrap without the table
/// with "unknown field `pgo`"), remembered in `<build-dir>/opt-dist/clippy-pgo.json`.
pub fn cached_clippy_pgo(tree: &Tree, sh: &xshell::Shell, remember: bool) -> Result<bool> {
    cached(tree, "clippy-pgo.json", remember, || {
        eprintln!("opt-dist: asking the tree's bootstrap whether it builds clippy with PGO (x.py --dry-run)");
        let question = "whether bootstrap's [pgo] table has clippy";
        probe_table_key(tree, sh, Component::Clippy, &["clippy", "pgo"], question)
    })
}

/// An answer of the tree's bootstrap, remembered in `<build-dir>/opt-dist/<file>` for as long as
/// bootstrap's sources, x.py and the configuration are unchanged (by size and modification
/// time), so that a run with nothing to do calls no x.py. With `remember` false a new answer is
/// not written down: a command that must leave the build dir as it was until it has checked its
/// input (`import`) only reads.
fn cached<T: Serialize + DeserializeOwned>(
    tree: &Tree,
    file: &str,
    remember: bool,
    ask: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let path = tree.artifacts_root().join(file);
    let key = bootstrap_sources_key(tree);
    // Only an optimization: an unreadable answer is asked again, one that cannot be written
    // down is no reason to stop.
    match fs::read_json::<(String, T)>(&path) {
        Ok(Some((cached_key, answer))) if cached_key == key => return Ok(answer),
        _ => {}
    }
    let answer = ask()?;
    if remember {
        let _ = fs::create_dir(&tree.artifacts_root())
            .and_then(|()| fs::write_json(&path, &(key, &answer)));
    }
    Ok(answer)
}

/// Whether the tree's bootstrap, as it is now, has answered in this build dir (its interface
/// is remembered): it has then downloaded its stage0 toolchain (`src/stage0` is in the key),
/// and calls made at the same time do not each download it.
pub fn has_run_here(tree: &Tree) -> bool {
    let answer =
        fs::read_json::<(String, Interface)>(&tree.artifacts_root().join("interface.json"));
    answer.is_ok_and(|a| a.is_some_and(|(key, _)| key == bootstrap_sources_key(tree)))
}

/// Name, size and modification time of every file bootstrap's answer depends on (and of
/// `src/stage0`, which says what bootstrap downloads), hashed.
fn bootstrap_sources_key(tree: &Tree) -> String {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(tree.src.join("src/bootstrap"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .chain([tree.x_py(), tree.src.join("src/stage0")])
        .chain(tree.config.file.clone())
        .collect();
    files.sort();
    let listing: String = files
        .iter()
        .map(|file| {
            let stamp = std::fs::metadata(file).ok().map(|m| (m.len(), m.modified().ok()));
            // Relative to the tree: a tree copied with its times (a restored cache) keeps the key.
            let name = file.strip_prefix(&tree.src).unwrap_or(file);
            format!("{}\t{stamp:?}\n", name.display())
        })
        .collect();
    sha256::hex(listing.as_bytes())
}

/// Asks the tree's bootstrap whether it accepts the `[pgo]` table: legacy bootstrap rejects the
/// key with "unknown field `pgo`".
pub fn detect_interface(tree: &Tree, sh: &xshell::Shell) -> Result<Interface> {
    eprintln!("opt-dist: asking the tree's bootstrap which PGO interface it has (x.py --dry-run)");
    let table = probe_table_key(tree, sh, Component::Rustc, &["pgo"], "which PGO interface")?;
    Ok(match table {
        true => Interface::PgoTable,
        false => Interface::Legacy,
    })
}

/// `x.py build --set pgo.<component>.generate=… --dry-run library/std`, which builds nothing:
/// true when bootstrap accepts it, false when it rejects one of the keys `unknown`; any other
/// failure is reported as it is, since guessing would emit flags the tree rejects hours later.
fn probe_table_key(
    tree: &Tree,
    sh: &xshell::Shell,
    component: Component,
    unknown: &[&str],
    question: &str,
) -> Result<bool> {
    let probe_dir = tree.artifacts_root().join("interface-probe");
    let probe = x_py(tree, "build", true)
        .args(table_setting(component, "generate", &probe_dir))
        .args(["--dry-run", "library/std"]);
    let python = &tree.python;
    let (ok, _, stderr) = probe.probe(sh).with_context(|| {
        format!(
            "could not run the tree's bootstrap: is `{python}` a python interpreter? (--python)"
        )
    })?;
    if ok || unknown.iter().any(|key| stderr.contains(&format!("unknown field `{key}`"))) {
        return Ok(ok);
    }
    let lines: Vec<&str> = stderr.lines().collect();
    bail!(
        "could not tell {question}: `{}` failed without naming the [pgo] table:\n{}\nfix the \
         tree's bootstrap configuration, or pass --interface legacy|pgo-table",
        probe.shell_line(),
        lines[lines.len().saturating_sub(12)..].join("\n")
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
        let used = line(Bootstrap::build(&t, Interface::Legacy).pgo(
            Component::Llvm,
            "use",
            Path::new("/p"),
        ));
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
            .pgo(Component::Cargo, "use", Path::new(r"C:\a\rustc-pgo.profdata"))
            .unwrap()
            .pgo_generate(Component::Llvm, Path::new("/a/llvm-pgo/prof-%p"))
            .unwrap()
            .into_cmd();
        let tail: Vec<&str> = cmd.argv.iter().rev().take(4).rev().map(String::as_str).collect();
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
        let l = Bootstrap::build(&t, Interface::Legacy).into_cmd().shell_line();
        assert!(l.contains("/src/x.py build --build-dir /elsewhere --target"), "{l}");
    }
}
