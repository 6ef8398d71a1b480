//! The LLVM tools and what they read: finding the host's `llvm-profdata`, `llvm-bolt` and
//! `merge-fdata` of the compiler's LLVM major version (the raw profile format changes between
//! majors: Debian's LLVM 14 llvm-profdata cannot read rustc 1.95's LLVM 22 profiles), and
//! reading profiles back, since rustc and BOLT take an unreadable, empty or foreign profile
//! without complaint and build an unoptimized toolchain.

use std::collections::BTreeSet;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::tools::tree::Tree;
use crate::util::cmd::Cmd;
use crate::util::fs::{file_name, human_bytes};

/// What reading a merged profile back found: recorded in the stage's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Validation {
    pub profile: String,
    pub functions: u64,
    pub total_count: u64,
    pub max_function_count: u64,
    /// The functions with the largest counts, as `llvm-profdata show --topn` names them.
    pub hottest_functions: Vec<String>,
}

/// The LLVM version `program args` prints: `LLVM version: 22.1.8` in `rustc -vV`, `LLVM
/// version 22.1.8` (perhaps after a vendor's name) in an LLVM tool's `--version`.
/// Asked once per run for each program as it is ([`Cmd::remembered_probe`]): preflight and the
/// steps ask the same tools.
fn llvm_version(program: &Path, args: &[&str], sh: &xshell::Shell) -> Result<String> {
    let cmd = Cmd::new(program, Path::new(".")).args(args.iter().copied());
    let (_, stdout, stderr) = cmd.remembered_probe(sh)?;
    format!("{stdout}{stderr}")
        .lines()
        .find_map(|l| l.split("LLVM version").nth(1))
        .map(|v| v.trim_start_matches(':').trim().to_string())
        .with_context(|| format!("`{}` did not report an LLVM version", cmd.shell_line()))
}

/// The full LLVM version an LLVM tool (llvm-profdata, llvm-bolt, merge-fdata, ...) reports.
pub fn llvm_tool_version(tool: &Path, sh: &xshell::Shell) -> Result<String> {
    if !tool.is_file() {
        bail!("{} does not exist", tool.display());
    }
    match file_name(tool).starts_with("llvm-profdata") {
        // `llvm-profdata --version` is rejected by older releases; `merge --version` works on all.
        true => llvm_version(tool, &["merge", "--version"], sh),
        false => llvm_version(tool, &["--version"], sh),
    }
}

/// The host LLVM tools the pipeline runs, by name, and whether Debian ships each with BOLT
/// (`bolt-<major>`) rather than with LLVM's tools (`llvm-<major>`).
pub const HOST_TOOLS: [(&str, bool); 4] =
    [("llvm-profdata", false), ("llvm-nm", false), ("llvm-bolt", true), ("merge-fdata", true)];

/// Asks the host LLVM tools for their versions, all at once and in the background: preflight
/// and the checks of finished stages compare them, and find the answers ready (or wait for
/// them) instead of starting each tool in turn.
pub fn ask_versions_ahead(llvm_dir: Option<PathBuf>, tree: Tree) {
    std::thread::spawn(move || {
        let Ok(sh) = xshell::Shell::new() else { return };
        let host = HostLlvm::locate(llvm_dir.as_deref(), &tree, &sh);
        std::thread::scope(|scope| {
            for (tool, _) in HOST_TOOLS {
                let tool = host.tool(tool);
                scope.spawn(move || llvm_tool_version(&tool, &xshell::Shell::new()?));
            }
        });
    });
}

/// llvm-profdata must be of the compiler's LLVM major version, or it cannot read (or mis-reads)
/// the compiler's raw profiles. Returns both versions, for the manifest.
pub fn check_profdata_matches(
    profdata: &Path,
    compiler: &Path,
    sh: &xshell::Shell,
) -> Result<(String, String)> {
    if !profdata.is_file() {
        bail!("llvm-profdata not found at {}", profdata.display());
    }
    // Both at once: each is a program's start, no more.
    let (tool, compiler_version) = std::thread::scope(|scope| {
        let compiler_says =
            scope.spawn(|| llvm_version(compiler, &["-vV"], &xshell::Shell::new()?));
        let tool = llvm_tool_version(profdata, sh);
        (tool, compiler_says.join().unwrap_or_else(|_| bail!("asking the compiler panicked")))
    });
    let tool = tool?;
    let compiler_version = compiler_version
        .with_context(|| format!("cannot ask {} for its LLVM version", compiler.display()))?;
    eprintln!(
        "    {} is LLVM {tool}; {} uses LLVM {compiler_version}",
        profdata.display(),
        compiler.display()
    );
    let major = llvm_major(&tool);
    if major.is_none() || major != llvm_major(&compiler_version) {
        bail!(
            "{} is LLVM {tool}, but the compiler {} uses LLVM {compiler_version}: llvm-profdata \
             cannot read raw profiles of another LLVM major version",
            profdata.display(),
            compiler.display()
        );
    }
    Ok((tool, compiler_version))
}

/// `22` from `22.1.8`, `Debian LLVM version 22.1.8` or `22.1.2-rust-1.95.0-stable`.
pub fn llvm_major(text: &str) -> Option<u32> {
    let mut numbers = text.split(|c: char| !c.is_ascii_digit());
    numbers.find(|n| !n.is_empty())?.parse().ok()
}

#[derive(Debug, Clone, Serialize)]
pub struct HostLlvm {
    /// `<dir>/bin` holding the tools, when one was found; otherwise tools come from PATH.
    pub bin_dir: Option<PathBuf>,
    pub found_by: String,
    /// The LLVM major version the tools should have, if anything could tell it yet.
    pub expected_major: Option<u32>,
}

impl HostLlvm {
    /// `--llvm-dir`, else the configured external LLVM, else Debian's installation of the
    /// expected major version, else PATH.
    pub fn locate(llvm_dir: Option<&Path>, tree: &Tree, sh: &xshell::Shell) -> HostLlvm {
        let expected_major = expected_llvm_major(tree, sh);
        let debian = |major| PathBuf::from(format!("/usr/lib/llvm-{major}/bin"));
        let found = llvm_dir
            .map(|dir| (dir.join("bin"), "--llvm-dir".to_string()))
            .or_else(|| {
                let config = tree.config.llvm_config.as_ref()?;
                let found_by = format!("llvm-config {}", config.display());
                Some((PathBuf::from(llvm_config(tree, "--bindir", sh)?), found_by))
            })
            .or_else(|| {
                let major = expected_major.filter(|&major| debian(major).is_dir())?;
                Some((debian(major), format!("the LLVM {major} installation")))
            });
        let (bin_dir, found_by) = match found {
            Some((dir, found_by)) => (Some(dir), found_by),
            None => (None, "PATH".to_string()),
        };
        HostLlvm { bin_dir, found_by, expected_major }
    }

    /// The path of tool `name`: in the found installation, else `name-<major>` or `name` from
    /// PATH (the name alone when nothing is found, so the error says what was looked for).
    pub fn tool(&self, name: &str) -> PathBuf {
        if let Some(dir) = &self.bin_dir {
            return dir.join(name);
        }
        let path = std::env::var_os("PATH");
        let versioned = self.expected_major.map(|m| format!("{name}-{m}"));
        for candidate in versioned.iter().map(String::as_str).chain([name]) {
            let mut found = path.iter().flat_map(std::env::split_paths).map(|d| d.join(candidate));
            if let Some(found) = found.find(|p| p.is_file()) {
                return found;
            }
        }
        PathBuf::from(name)
    }
}

fn llvm_config(tree: &Tree, arg: &str, sh: &xshell::Shell) -> Option<String> {
    let config = tree.config.llvm_config.as_ref()?;
    let cmd = Cmd::new(config, &tree.src).arg(arg);
    match cmd.remembered_probe(sh) {
        Ok((true, out, _)) => Some(out.trim().to_string()),
        _ => None,
    }
}

/// The best early guess of the compiler's LLVM major version: the built compiler's own answer,
/// else the configured external LLVM, else the in-tree LLVM sources, else the stage0 compiler.
/// The merge step checks against the built compiler again; this only picks a default tool.
fn expected_llvm_major(tree: &Tree, sh: &xshell::Shell) -> Option<u32> {
    let of_rustc = |rustc: PathBuf| llvm_major(&llvm_version(&rustc, &["-vV"], sh).ok()?);
    let cmake = tree.src.join("src/llvm-project/cmake/Modules/LLVMVersion.cmake");
    Some(tree.stage2_rustc())
        .filter(|stage2| stage2.exists())
        .and_then(of_rustc)
        .or_else(|| llvm_major(&llvm_config(tree, "--version", sh)?))
        .or_else(|| {
            let text = std::fs::read_to_string(cmake).ok()?;
            text.lines().find_map(|l| {
                let rest = l.trim().strip_prefix("set(LLVM_VERSION_MAJOR")?;
                rest.trim().trim_end_matches(')').trim().parse().ok()
            })
        })
        .or_else(|| of_rustc(tree.stage0_rustc_or_path()))
}

/// The `llvm-profdata show` that [`validate_profile`] runs: the runner records it with the
/// stage's other commands.
pub fn show_profile(profdata: &Path, profile: &Path) -> Cmd {
    let dir = profile.parent().unwrap_or(Path::new("/"));
    Cmd::new(profdata, dir).args(["show", "--all-functions", "--topn=10"]).arg(profile)
}

/// Runs [`show_profile`]'s `show`: the profile must parse and carry counts. The listing of its
/// functions comes with it, for the fit checks of the builds that use it.
pub fn validate_profile(show: &Cmd, profile: &Path, sh: &xshell::Shell) -> Result<Validation> {
    let (ok, stdout, stderr) = show.probe(sh)?;
    if !ok {
        bail!("`{}` cannot read the merged profile: {}", show.shell_line(), stderr.trim());
    }
    profile_functions(profile, || Ok(parse_all_functions(&stdout).functions))?;
    let hottest_functions = stdout
        .lines()
        .filter_map(|l| l.trim().rsplit_once(", max count = "))
        .filter(|(_, count)| count.trim().parse::<u64>().is_ok_and(|c| c > 0))
        .map(|(name, _)| name.rsplit(';').next().unwrap_or(name).to_string())
        .collect();
    let validation = Validation {
        profile: file_name(profile),
        functions: summary_number(&stdout, "Total functions:"),
        total_count: summary_number(&stdout, "Total count:"),
        max_function_count: summary_number(&stdout, "Maximum function count:"),
        hottest_functions,
    };
    if validation.functions == 0 || validation.max_function_count == 0 {
        bail!(
            "the merged profile {} has no counts ({} functions, maximum count {}): the \
             training did not exercise the instrumented compiler",
            profile.display(),
            validation.functions,
            validation.max_function_count
        );
    }
    Ok(validation)
}

/// A merged `.fdata` must hold branch records with counts.
pub fn validate_fdata(profile: &Path) -> Result<Validation> {
    let file = std::fs::File::open(profile)
        .with_context(|| format!("cannot read the merged BOLT profile {}", profile.display()))?;
    let summary = read_fdata(std::io::BufReader::new(file), profile)?;
    if summary.max_count == 0 {
        bail!(
            "the merged BOLT profile {} holds no branch records with counts: the instrumented \
             library was not exercised",
            profile.display()
        );
    }
    Ok(Validation {
        profile: file_name(profile),
        functions: summary.functions.len() as u64,
        total_count: summary.total_count,
        max_function_count: summary.max_count,
        hottest_functions: Vec::new(),
    })
}

/// The functions of the indexed profile `profile` by their symbol names, as `ask` lists them,
/// remembered for the rest of the run while the file is the same one: the validation after
/// the merge lists them (with the in-tree llvm-profdata, of the same LLVM as the host's), the
/// fit checks of later builds look them up.
pub fn profile_functions(
    profile: &Path,
    ask: impl FnOnce() -> Result<Vec<String>>,
) -> Result<Vec<String>> {
    crate::util::fs::remembered(&[profile], "the functions of an indexed profile", ask)
}

#[derive(Debug, Default)]
pub struct ProfileSummary {
    /// By symbol name, sorted, each once: the names to look for in a binary's symbol table.
    pub functions: Vec<String>,
    pub max_count: u64,
    pub total_count: u64,
}

/// The summary of an indexed LLVM profile read from `source`, which llvm-profdata gets on its
/// standard input: it reads exactly the bytes the caller reads (and hashes), not a path that
/// could change in between. `shown` names the profile in errors.
pub fn profile_summary_from(
    profdata: &Path,
    source: &mut (dyn Read + Send),
    shown: &Path,
) -> Result<ProfileSummary> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(profdata)
        .args(["show", "--all-functions", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", profdata.display()))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let (fed, output) = std::thread::scope(|scope| {
        let feeder = scope.spawn(move || std::io::copy(source, &mut stdin));
        let output = child.wait_with_output();
        (feeder.join(), output)
    });
    let output = output.with_context(|| format!("waiting for {}", profdata.display()))?;
    if !output.status.success() {
        bail!(
            "`{} show --all-functions` cannot read {}: {}",
            profdata.display(),
            shown.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    fed.map_err(|_| anyhow!("reading {} failed", shown.display()))?
        .with_context(|| format!("cannot read {}", shown.display()))?;
    Ok(parse_all_functions(&String::from_utf8_lossy(&output.stdout)))
}

/// `llvm-profdata show --all-functions`: each function is a line indented by two spaces and
/// ending in `:` (a local function's name after its `<file>;`), its details are indented
/// further, the summary is not indented.
fn parse_all_functions(listing: &str) -> ProfileSummary {
    let functions: BTreeSet<String> = listing
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l[2..].strip_suffix(':'))
        .map(|name| name.rsplit(';').next().unwrap_or(name).to_string())
        .collect();
    ProfileSummary {
        functions: functions.into_iter().collect(),
        max_count: summary_number(listing, "Maximum function count:"),
        total_count: 0,
    }
}

/// The number after `label` in llvm-profdata's summary; 0 when there is none.
fn summary_number(listing: &str, label: &str) -> u64 {
    let value = listing.lines().find_map(|l| l.trim().strip_prefix(label));
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Longer than any symbol name; a line beyond it is no branch record, and is not read whole.
const MAX_FDATA_LINE: u64 = 1 << 20;

/// Reads a BOLT profile from `source`: its functions (at either end of a branch record, not the
/// PLT stubs calls go through) and counts. `shown` names it in errors.
pub fn read_fdata(mut source: impl BufRead, shown: &Path) -> Result<ProfileSummary> {
    let mut functions = BTreeSet::new();
    let (mut max_count, mut total_count) = (0, 0);
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let n = (&mut source)
            .take(MAX_FDATA_LINE)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", shown.display()))?;
        if n == 0 {
            break;
        }
        if n as u64 == MAX_FDATA_LINE && line.last() != Some(&b'\n') {
            bail!(
                "line {number} of {} is longer than {}: this is not a BOLT profile",
                shown.display(),
                human_bytes(MAX_FDATA_LINE)
            );
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            bail!(
                "line {number} of {} is not text: this is not a BOLT profile (text branch \
                 records)",
                shown.display()
            );
        };
        // `<is symbol> <from> <offset> <is symbol> <to> <offset> <mispredicts> <count>`, where
        // an end that is no symbol is `0 [unknown] <address>`.
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [from_is, from, _, to_is, to, _, _, count] = fields[..] else {
            continue;
        };
        for (is, name) in [(from_is, from), (to_is, to)] {
            if is == "1" && name != "[unknown]" && !name.ends_with("@PLT") {
                functions.insert(strip_local_suffix(name).to_string());
            }
        }
        let count = count.parse().unwrap_or(0);
        max_count = max_count.max(count);
        total_count += count;
    }
    Ok(ProfileSummary { functions: functions.into_iter().collect(), max_count, total_count })
}

/// BOLT names a local symbol `<name>/<n>`.
fn strip_local_suffix(name: &str) -> &str {
    match name.rsplit_once('/') {
        Some((symbol, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => symbol,
        _ => name,
    }
}

/// Whether `symbol` is a Rust function's: v0 mangling (`_R…`) or the legacy one, which is
/// Itanium C++ mangling ending in a hash (`_ZN…17h<16 hex digits>E`); C++'s own `_ZN…` names
/// have no such hash, and C names are not mangled. A suffix LLVM adds (`.llvm.<n>`, `.cold`)
/// is allowed.
pub fn is_rust_symbol(symbol: &str) -> bool {
    // macOS puts one more underscore in front.
    let symbol = match symbol.strip_prefix("__") {
        Some(rest) => &symbol[symbol.len() - rest.len() - 1..],
        None => symbol,
    };
    if let Some(rest) = symbol.strip_prefix("_R") {
        // `_R`, an optional decimal encoding version, then an uppercase tag (`N` for a path).
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        return rest.starts_with(|c: char| c.is_ascii_uppercase());
    }
    if !symbol.starts_with("_ZN") {
        return false;
    }
    symbol.match_indices("17h").any(|(at, _)| {
        let hash = &symbol.as_bytes()[at + 3..];
        hash.len() >= 17
            && hash[..16].iter().all(u8::is_ascii_hexdigit)
            && hash[16] == b'E'
            && (hash.len() == 17 || hash[17] == b'.')
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum Contents {
    IndexedProfile,
    RawProfile,
    /// A BOLT profile is (branch records, one per line).
    Text,
    Binary,
    Empty,
}

/// LLVM's `IndexedInstrProf::Magic` (an indexed profile is little-endian) and
/// `__llvm_profile_raw_magic`, 64- and 32-bit (a raw profile has its writer's byte order).
const INDEXED_MAGIC: u64 = 0x8169_666f_7270_6cff;
const RAW_MAGICS: [u64; 2] = [0xff6c_7072_6f66_7281, 0xff6c_7072_6f66_5281];

impl Contents {
    /// From the first 8 bytes of a file (fewer when it is shorter).
    pub fn of(head: &[u8]) -> Contents {
        let text = |b: &u8| b.is_ascii_graphic() || b.is_ascii_whitespace() || *b >= 0x80;
        if head.is_empty() {
            Contents::Empty
        } else if head == INDEXED_MAGIC.to_le_bytes() {
            Contents::IndexedProfile
        } else if RAW_MAGICS.iter().any(|m| head == m.to_le_bytes() || head == m.to_be_bytes()) {
            Contents::RawProfile
        } else if head.iter().all(text) {
            Contents::Text
        } else {
            Contents::Binary
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Contents::IndexedProfile => {
                "an indexed LLVM profile (what `llvm-profdata merge` writes)"
            }
            Contents::RawProfile => {
                "a raw LLVM profile (.profraw) as an instrumented program writes it, not merged"
            }
            Contents::Text => "text",
            Contents::Binary => "binary data of an unknown format",
            Contents::Empty => "empty",
        }
    }
}

pub fn read_head(source: &mut impl Read, shown: &Path) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(8);
    source
        .take(8)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", shown.display()))?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_from_every_shape() {
        assert_eq!(llvm_major("22.1.8"), Some(22));
        assert_eq!(llvm_major("Debian LLVM version 14.0.6"), Some(14));
        assert_eq!(llvm_major("22.1.2-rust-1.95.0-stable"), Some(22));
        assert_eq!(llvm_major("none"), None);
    }

    #[test]
    fn rust_symbols_are_told_from_cxx_and_c() {
        for rust in [
            "_ZN12rustc_driver6parser6Parser10parse_item17ha2a9c39b77de3a50E",
            "_ZN4core3ptr54drop_in_place$LT$rustc_driver..interface..Compiled$GT$17h7699fbad554d256cE",
            "_ZN3std2rt10lang_start17h0123456789abcdefE.llvm.1234567",
            "_RNvXsZ_NtCslNYArtu3iFV_5alloc6stringNtB5_6StringNtNtCsgEmfK2I1SDS_4core3fmt5Write9write_str",
            "_RINvNtCs1234_4core3ptr13drop_in_placeNtCs5678_5rustc4ItemEB4_",
            "__ZN3foo3bar17h0123456789abcdefE",
        ] {
            assert!(is_rust_symbol(rust), "{rust}");
        }
        for other in [
            "mini_build_cfg",
            "LLVMMiniRunPasses",
            "_ZN4llvm12PassRegistry12registerPassERKNS_8PassInfoEb",
            "_ZN4llvm3foo17h0123456789abcdefEv",
            "_ZNK4llvm5Value7getNameEv",
            "main",
            "_Resize",
            "_R",
            "_init",
        ] {
            assert!(!is_rust_symbol(other), "{other}");
        }
    }

    #[test]
    fn all_functions_listing_gives_names_without_file_prefixes() {
        let listing = "Counters:\n  _ZN3foo3bar17h0123456789abcdefE:\n    Hash: 0x1\n    \
                       Counters: 2\n  mini.c;mini_helper:\n    Hash: 0x2\n    Counters: 1\n  \
                       main:\n    Hash: 0x3\n    Counters: 1\n  main:\n    Hash: 0x3\n\
                       Instrumentation level: IR  entry_first = 0\nFunctions shown: 4\nTotal \
                       functions: 4\nMaximum function count: 77\n";
        let summary = parse_all_functions(listing);
        assert_eq!(summary.functions, ["_ZN3foo3bar17h0123456789abcdefE", "main", "mini_helper"]);
        assert_eq!(summary.max_count, 77);
    }

    #[test]
    fn fdata_functions_are_both_ends_of_branch_records() {
        let fdata = "1 _ZN3foo3bar17h0123456789abcdefE 97c 0 [unknown] 0 0 108\n\
                     1 put_byte/1 b2 1 mini_emit 2b5 0 4083\n\
                     1 mini_emit 20 1 malloc@PLT 0 0 9\n\
                     0 [unknown] 0 1 main 12 0 5\n\
                     garbage line\n";
        let summary = read_fdata(fdata.as_bytes(), Path::new("x.fdata")).unwrap();
        assert_eq!(
            summary.functions,
            ["_ZN3foo3bar17h0123456789abcdefE", "main", "mini_emit", "put_byte"]
        );
        assert_eq!(summary.max_count, 4083);
        let err =
            read_fdata(&b"1 a 0 1 b 0 0 1\n\xff\xfe\n"[..], Path::new("x.fdata")).unwrap_err();
        assert!(format!("{err:#}").contains("line 2 of x.fdata is not text"));
    }

    /// An indexed profile made by the real llvm-profdata from LLVM's text format, with a Rust
    /// function and a C file's local function.
    #[test]
    fn profile_summary_reads_what_llvm_profdata_lists() {
        let profdata = Path::new("/usr/lib/llvm-22/bin/llvm-profdata");
        if !profdata.is_file() {
            eprintln!("skipped: no {} (ci/setup-debian.sh installs it)", profdata.display());
            return;
        }
        let dir = std::env::temp_dir().join(format!("xtask-validate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("p.proftext");
        std::fs::write(
            &text,
            ":ir\n_ZN3foo3bar17h0123456789abcdefE\n0x10\n1\n42\n\n\
             mini.c;mini_helper\n0x20\n1\n7\n",
        )
        .unwrap();
        let indexed = dir.join("p.profdata");
        let merged = std::process::Command::new(profdata)
            .arg("merge")
            .arg("-o")
            .arg(&indexed)
            .arg(&text)
            .status()
            .unwrap();
        assert!(merged.success());
        let expected = ["_ZN3foo3bar17h0123456789abcdefE", "mini_helper"];
        let mut stream = std::fs::File::open(&indexed).unwrap();
        let summary = profile_summary_from(profdata, &mut stream, &indexed).unwrap();
        assert_eq!(summary.functions, expected);
        assert_eq!(summary.max_count, 42);
        let err = profile_summary_from(profdata, &mut &b"garbage"[..], &text).unwrap_err();
        assert!(format!("{err:#}").contains("cannot read"), "{err:#}");

        let fdata = dir.join("p.fdata");
        std::fs::write(&fdata, "1 main 0 1 helper/2 4 0 9\n").unwrap();
        let file = std::io::BufReader::new(std::fs::File::open(&fdata).unwrap());
        assert_eq!(read_fdata(file, &fdata).unwrap().functions, ["helper", "main"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn first_bytes_tell_indexed_raw_and_text_profiles_apart() {
        assert_eq!(Contents::of(b"\xfflprofi\x81"), Contents::IndexedProfile);
        // A 64-bit little-endian raw profile, as clang's and rustc's runtimes write it.
        assert_eq!(Contents::of(&0xff6c70726f667281u64.to_le_bytes()), Contents::RawProfile);
        // 32- and 64-bit, as little- and big-endian machines write them.
        for raw in [b"\x81rforpl\xff", b"\x81Rforpl\xff", b"\xfflprofr\x81", b"\xfflprofR\x81"] {
            assert_eq!(Contents::of(raw), Contents::RawProfile);
        }
        assert_eq!(Contents::of(b"1 _ZN12r"), Contents::Text);
        assert_eq!(Contents::of(b"\x7fELF\x02\x01\x01\x00"), Contents::Binary);
        assert_eq!(Contents::of(&[7u8; 8]), Contents::Binary);
        assert_eq!(Contents::of(b""), Contents::Empty);
    }
}
