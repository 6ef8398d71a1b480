//! The rust source tree we optimize: where it is, what version it is, how its bootstrap is
//! configured, and where bootstrap puts what it builds.
//!
//! Works the same for a git checkout and for the rustc-src tarball: the version comes from the
//! tarball's `version` file or the checkout's `src/version`, the commit from `git-commit-hash`
//! or git itself.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::tools::profiles::Profile;
use crate::util::cmd::Cmd;

/// Where the tree is and how to run its bootstrap, as the command line says (paths absolute).
#[derive(Debug, Default, Clone)]
pub struct TreeArgs {
    pub src: Option<PathBuf>,
    pub build_dir: Option<PathBuf>,
    pub host: Option<String>,
    /// A bare name is looked up in PATH; anything with a `/` is an absolute path.
    pub python: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tree {
    pub src: PathBuf,
    pub python: String,
    pub build_dir: PathBuf,
    /// Given with `--build-dir`: then every x.py call is told too, so bootstrap builds there.
    pub build_dir_is_explicit: bool,
    pub host: String,
    pub version: String,
    pub commit: Option<String>,
    pub config: BootstrapConfig,
}

/// What we read from the tree's `bootstrap.toml` (or legacy `config.toml`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BootstrapConfig {
    pub file: Option<PathBuf>,
    pub build_dir: Option<PathBuf>,
    pub build_triple: Option<String>,
    pub rustc: Option<PathBuf>,
    pub cargo: Option<PathBuf>,
    /// `target.<host>.llvm-config`: an external LLVM, so bootstrap builds none in the tree.
    pub llvm_config: Option<PathBuf>,
}

impl Tree {
    pub fn locate(global: &TreeArgs, sh: &xshell::Shell) -> Result<Tree> {
        let src = find_src(global)?;
        let config = read_bootstrap_config(&src)?;
        let default_build_dir = config.build_dir.clone().unwrap_or_else(|| src.join("build"));
        let (build_dir, build_dir_is_explicit) = match &global.build_dir {
            // `--build-dir` naming the directory bootstrap builds in anyway changes nothing:
            // the x.py calls, and so the stages made without it, stay the same.
            Some(dir) if same_dir(dir, &default_build_dir) => (default_build_dir, false),
            Some(dir) => (dir.clone(), true),
            None => (default_build_dir, false),
        };
        let mut tree = Tree {
            version: read_version(&src)?,
            commit: read_commit(&src, sh),
            src,
            python: global.python.clone().unwrap_or_else(|| "python3".to_string()),
            build_dir,
            build_dir_is_explicit,
            host: String::new(),
            config,
        };
        tree.host = match (&global.host, &tree.config.build_triple) {
            (Some(host), _) | (None, Some(host)) => host.clone(),
            (None, None) => host_of_rustc(&tree.stage0_rustc_or_path(), sh)?,
        };
        Ok(tree)
    }

    /// `rust <version> at <src>, host <host>, build dir <dir>`: the heading of a report.
    pub fn describe(&self) -> String {
        format!(
            "rust {} at {}, host {}, build dir {}",
            self.version,
            self.src.display(),
            self.host,
            self.build_dir.display()
        )
    }

    pub fn x_py(&self) -> PathBuf {
        self.src.join("x.py")
    }

    /// `<build-dir>/opt-dist`: every stage's artifacts live below it.
    pub fn artifacts_root(&self) -> PathBuf {
        self.build_dir.join("opt-dist")
    }

    pub fn host_build(&self) -> PathBuf {
        self.build_dir.join(&self.host)
    }

    pub fn stage2_rustc(&self) -> PathBuf {
        self.host_build().join("stage2/bin/rustc")
    }

    /// A tool `x.py build --stage 2 <tool>` builds (cargo, clippy-driver): made by the stage 1
    /// compiler, so in `stage2-tools-bin` (bootstrap's `Build::tools_dir`:
    /// `stage{build compiler's stage + 1}-tools-bin`).
    pub fn stage2_tool(&self, name: &str) -> PathBuf {
        self.host_build().join("stage2-tools-bin").join(name)
    }

    /// The stage0 toolchain: configured in bootstrap.toml, else where bootstrap downloads it.
    pub fn stage0_cargo(&self) -> PathBuf {
        let configured = self.config.cargo.clone();
        configured.unwrap_or_else(|| self.host_build().join("stage0/bin/cargo"))
    }

    pub fn stage0_rustc(&self) -> PathBuf {
        let configured = self.config.rustc.clone();
        configured.unwrap_or_else(|| self.host_build().join("stage0/bin/rustc"))
    }

    /// Before bootstrap's first run there is no downloaded stage0; the host's rustc stands in
    /// for questions like "which host is this".
    pub fn stage0_rustc_or_path(&self) -> PathBuf {
        Some(self.stage0_rustc())
            .filter(|stage0| stage0.exists())
            .unwrap_or_else(|| PathBuf::from("rustc"))
    }

    pub fn rustc_perf_dir(&self) -> PathBuf {
        self.src.join("src/tools/rustc-perf")
    }

    pub fn in_tree_llvm_profdata(&self) -> PathBuf {
        self.host_build().join("llvm/build/bin/llvm-profdata")
    }

    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.artifacts_root().join(stage)
    }

    /// Where this tree keeps `profile`: in the directory of the stage that makes it, under a
    /// name that says which tree and host made it.
    pub fn profile(&self, profile: Profile) -> PathBuf {
        self.stage_dir(profile.row().stage).join(profile.file_name(&self.version, &self.host))
    }
}

fn find_src(global: &TreeArgs) -> Result<PathBuf> {
    let (src, how) = if let Some(src) = &global.src {
        (src.clone(), "--src")
    } else if let Some(src) = std::env::var_os("OPT_DIST_SRC") {
        (PathBuf::from(src), "OPT_DIST_SRC")
    } else {
        // Installed into a rust tree (ci/install-into-tree.sh puts the crate at
        // src/tools/opt-dist-xtask), the tree is the first ancestor of this crate with an x.py.
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let Some(tree) = crate_dir.ancestors().find(|dir| dir.join("x.py").is_file()) else {
            bail!(
                "no rust source tree given, and this xtask ({}) is not inside one (no x.py in \
                 it or any directory above it)\n\
                 pass --src <DIR> or set OPT_DIST_SRC; the bundled example tree is \
                 tests/mini-rust-tree",
                crate_dir.display()
            );
        };
        (tree.to_path_buf(), "the tree the xtask is installed in")
    };
    if src.exists() && !src.is_dir() {
        bail!(
            "the rust source tree {} (from {how}) is a file, not a directory: point it at the \
             top of a rust checkout or an unpacked rustc-src tarball",
            src.display()
        );
    }
    if !src.is_dir() {
        bail!("the rust source tree {} (from {how}) does not exist", src.display());
    }
    let src = src.canonicalize().with_context(|| format!("cannot resolve {}", src.display()))?;
    if !src.join("x.py").is_file() {
        bail!(
            "{} (from {how}) is not a rust source tree: it has no x.py\n\
             point --src at the top of a rust checkout or an unpacked rustc-src tarball",
            src.display()
        );
    }
    Ok(src)
}

/// The tarball's `version` reads `1.95.0 (59807616e 2026-04-14)`; a checkout's `src/version`
/// reads `1.95.0`. The first word is the release either way.
fn read_version(src: &Path) -> Result<String> {
    ["version", "src/version"]
        .iter()
        .filter_map(|file| std::fs::read_to_string(src.join(file)).ok())
        .find_map(|text| Some(text.split_whitespace().next()?.to_string()))
        .with_context(|| {
            format!(
                "cannot tell the version of {}: neither `version` (tarball) nor `src/version` \
                 (checkout) has one",
                src.display()
            )
        })
}

fn read_commit(src: &Path, sh: &xshell::Shell) -> Option<String> {
    let file = std::fs::read_to_string(src.join("git-commit-hash")).unwrap_or_default();
    if !file.trim().is_empty() {
        return Some(file.trim().to_string());
    }
    let git = Cmd::new("git", src).args(["rev-parse", "HEAD"]);
    match src.join(".git").exists().then(|| git.probe(sh)) {
        Some(Ok((true, stdout, _))) => Some(stdout.trim().to_string()),
        _ => None,
    }
}

fn read_bootstrap_config(src: &Path) -> Result<BootstrapConfig> {
    let file = match std::env::var_os("RUST_BOOTSTRAP_CONFIG") {
        Some(path) => Some(PathBuf::from(path)),
        None => ["bootstrap.toml", "config.toml"].iter().map(|f| src.join(f)).find(|f| f.is_file()),
    };
    let Some(file) = file else {
        return Ok(BootstrapConfig::default());
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let value: toml::Table = text.parse().with_context(|| {
        format!("{} is not valid TOML; bootstrap would reject it too", file.display())
    })?;
    let str_at = |table: &str, key: &str| value.get(table)?.get(key)?.as_str();
    let path_at = |table: &str, key: &str| str_at(table, key).map(|p| src.join(p));
    let build_triple = str_at("build", "build").map(String::from);
    // The config may be for any host, and the host is not known yet: take the build triple's
    // llvm-config, or the only one there is.
    let targets = value.get("target").and_then(|t| t.as_table());
    let llvm_config = targets.and_then(|targets| match &build_triple {
        Some(triple) => targets.get(triple)?.get("llvm-config")?.as_str(),
        None => targets.values().find_map(|t| t.get("llvm-config")?.as_str()),
    });
    Ok(BootstrapConfig {
        build_dir: path_at("build", "build-dir"),
        rustc: path_at("build", "rustc"),
        cargo: path_at("build", "cargo"),
        llvm_config: llvm_config.map(PathBuf::from),
        build_triple,
        file: Some(file),
    })
}

/// The same directory: the same path, or (both existing) the same place after links.
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

fn host_of_rustc(rustc: &Path, sh: &xshell::Shell) -> Result<String> {
    let out = match Cmd::new(rustc, Path::new(".")).arg("-vV").remembered_probe(sh) {
        Ok((true, out, _)) => out,
        Ok((false, _, stderr)) => bail!(
            "cannot ask rustc for the host triple (`{} -vV` failed: {}): pass --host <TRIPLE>",
            rustc.display(),
            stderr.trim()
        ),
        Err(err) => bail!("cannot ask rustc for the host triple ({err:#}): pass --host <TRIPLE>"),
    };
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .context("`rustc -vV` printed no `host:` line: pass --host <TRIPLE>")
}
