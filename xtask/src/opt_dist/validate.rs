//! The checks that keep a bad profile from being used: rustc and BOLT take an unreadable or
//! empty profile without complaint and build an unoptimized toolchain, so every merged profile
//! is read back before it is published, and llvm-profdata must match the compiler's LLVM.

use std::collections::BTreeSet;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::cmd::{shell_quote_path, Cmd};
use super::fsutil::file_name;
use super::llvm_tools::{llvm_major, profdata_llvm_version};
use super::manifest::ValidationRecord;
use super::pipeline::StageWork;
use super::runner::Record;
use super::runner::StepRun;
use super::tree::llvm_version_of_rustc;

/// llvm-profdata must be of the compiler's LLVM major version, or it cannot read (or mis-reads)
/// the compiler's raw profiles.
#[derive(Debug, Serialize)]
pub struct ProfdataMatchesCompiler {
    pub profdata: PathBuf,
    pub compiler: PathBuf,
}

impl StageWork for ProfdataMatchesCompiler {
    fn kind(&self) -> &'static str {
        "check-profdata-matches-compiler"
    }

    fn run(&self, run: &mut StepRun) -> Result<()> {
        check_profdata_matches(&self.profdata, &self.compiler, run.record, run.sh)
    }

    fn shell(&self, _host: &str) -> String {
        format!(
            "test \"$({} merge --version | sed -n 's/.*LLVM version \\([0-9]*\\).*/\\1/p')\" = \
             \"$({} -vV | sed -n 's/^LLVM version: \\([0-9]*\\).*/\\1/p')\"",
            shell_quote_path(&self.profdata),
            shell_quote_path(&self.compiler)
        )
    }
}

fn check_profdata_matches(
    profdata: &Path,
    compiler: &Path,
    record: &mut Record,
    sh: &xshell::Shell,
) -> Result<()> {
    if !profdata.is_file() {
        bail!("llvm-profdata not found at {}", profdata.display());
    }
    let tool_version = profdata_llvm_version(profdata, sh)?;
    let compiler_version = llvm_version_of_rustc(compiler, sh)
        .with_context(|| format!("cannot ask {} for its LLVM version", compiler.display()))?;
    eprintln!(
        "    {} is LLVM {tool_version}; {} uses LLVM {compiler_version}",
        profdata.display(),
        compiler.display()
    );
    let (tool_major, compiler_major) = (llvm_major(&tool_version), llvm_major(&compiler_version));
    if tool_major.is_none() || tool_major != compiler_major {
        bail!(
            "{} is LLVM {tool_version}, but the compiler {} uses LLVM {compiler_version}: \
             llvm-profdata cannot read raw profiles of another LLVM major version",
            profdata.display(),
            compiler.display()
        );
    }
    record.tool("llvm-profdata", profdata, tool_version);
    record.tool("instrumented rustc", compiler, compiler_version);
    Ok(())
}

/// `llvm-profdata show --topn`: the profile must parse and carry counts.
pub fn validate_profile(
    profdata: &Path,
    profile: &Path,
    sh: &xshell::Shell,
) -> Result<ValidationRecord> {
    let show = Cmd::new(profdata.display().to_string(), Path::new("."))
        .args(["show", "--topn=10"])
        .arg(profile.display().to_string());
    let (ok, stdout, stderr) = show.probe(sh)?;
    if !ok {
        bail!(
            "`{}` cannot read the merged profile: {}",
            show.shell_line(),
            stderr.trim()
        );
    }
    let number = |label: &str| -> u64 {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let hottest_functions = stdout
        .lines()
        .filter_map(|l| l.trim().rsplit_once(", max count = "))
        .filter(|(_, count)| count.trim().parse::<u64>().is_ok_and(|c| c > 0))
        .map(|(name, _)| name.rsplit(';').next().unwrap_or(name).to_string())
        .collect();
    let validation = ValidationRecord {
        profile: file_name(profile),
        functions: number("Total functions:"),
        total_count: number("Total count:"),
        max_function_count: number("Maximum function count:"),
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

/// A merged `.fdata` is lines of `<branch record> <count>`: it must hold some, with counts.
pub fn validate_fdata(profile: &Path) -> Result<ValidationRecord> {
    let text = std::fs::read_to_string(profile)
        .with_context(|| format!("cannot read the merged BOLT profile {}", profile.display()))?;
    let mut records = 0u64;
    let mut max_count = 0u64;
    let mut total = 0u64;
    let mut functions = std::collections::BTreeSet::new();
    for record in text.lines().filter_map(BranchRecord::parse) {
        if let Some(from) = record.from {
            records += 1;
            functions.insert(from.to_string());
            max_count = max_count.max(record.count);
            total += record.count;
        }
    }
    if records == 0 || max_count == 0 {
        bail!(
            "the merged BOLT profile {} holds no branch records with counts: the instrumented \
             library was not exercised",
            profile.display()
        );
    }
    Ok(ValidationRecord {
        profile: file_name(profile),
        functions: functions.len() as u64,
        total_count: total,
        max_function_count: max_count,
        hottest_functions: Vec::new(),
    })
}

/// One line of a BOLT profile: `<is symbol> <from> <offset> <is symbol> <to> <offset>
/// <mispredicts> <count>`, where an end that is no symbol is `0 [unknown] <address>`.
struct BranchRecord<'a> {
    from: Option<&'a str>,
    to: Option<&'a str>,
    count: u64,
}

impl<'a> BranchRecord<'a> {
    fn parse(line: &'a str) -> Option<BranchRecord<'a>> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 8 {
            return None;
        }
        let symbol = |is: &str, name: &'a str| (is == "1" && name != "[unknown]").then_some(name);
        Some(BranchRecord {
            from: symbol(fields[0], fields[1]),
            to: symbol(fields[3], fields[4]),
            count: fields[7].parse().unwrap_or(0),
        })
    }
}

/// What a profile holds, as far as telling what it profiles goes.
#[derive(Debug, Default)]
pub struct ProfileSummary {
    /// The functions it has records for, by symbol name, sorted, each once.
    pub functions: Vec<String>,
    pub max_count: u64,
}

/// The functions an indexed LLVM profile has records for, as `llvm-profdata show
/// --all-functions` lists them (a local function's `<file>;` prefix removed), sorted, each
/// once: the names to look for in a binary's symbol table.
// Import reads profiles as a stream (`profile_summary_from`); this is for profiles the build
// dir holds, for the check of how many of a profile's functions a built binary has.
#[allow(dead_code)]
pub fn profile_functions(
    profdata: &Path,
    profile: &Path,
    sh: &xshell::Shell,
) -> Result<Vec<String>> {
    let show = Cmd::new(profdata.display().to_string(), Path::new("."))
        .args(["show", "--all-functions"])
        .arg(profile.display().to_string());
    let (ok, stdout, stderr) = show.probe(sh)?;
    if !ok {
        bail!(
            "`{}` cannot read {}: {}",
            show.shell_line(),
            profile.display(),
            stderr.trim()
        );
    }
    Ok(parse_all_functions(&stdout).functions)
}

/// [`profile_functions`] and the largest count of an indexed profile read from `source`, which
/// llvm-profdata gets on its standard input: it reads exactly the bytes the caller reads (and
/// hashes), not a path that could change in between. `shown` names the profile in errors.
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
    match fed {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            return Err(err).with_context(|| format!("cannot read {}", shown.display()));
        }
        Err(_) => bail!("reading {} failed", shown.display()),
    }
    Ok(parse_all_functions(&String::from_utf8_lossy(
        &output.stdout,
    )))
}

/// `llvm-profdata show --all-functions`: each function is a line indented by two spaces and
/// ending in `:`, its details are indented further, the summary is not indented.
fn parse_all_functions(listing: &str) -> ProfileSummary {
    let functions: BTreeSet<String> = listing
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l[2..].strip_suffix(':'))
        .map(|name| name.rsplit(';').next().unwrap_or(name).to_string())
        .collect();
    let max_count = listing
        .lines()
        .find_map(|l| l.strip_prefix("Maximum function count:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    ProfileSummary {
        functions: functions.into_iter().collect(),
        max_count,
    }
}

/// The functions a BOLT profile has branch records for (at either end), by symbol name (the
/// `/<n>` BOLT adds to a local symbol removed), sorted, each once: the names to look for in a
/// binary's symbol table.
// See `profile_functions`: for the symbol-table check, on the build dir's profiles.
#[allow(dead_code)]
pub fn fdata_functions(profile: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(profile)
        .with_context(|| format!("cannot open {}", profile.display()))?;
    Ok(read_fdata(std::io::BufReader::new(file), profile)?.functions)
}

/// Longer than any symbol name; a line beyond it is no branch record, and is not read whole.
const MAX_FDATA_LINE: u64 = 1 << 20;

/// Reads a BOLT profile from `source`: its functions and largest count. `shown` names it in
/// errors.
pub fn read_fdata(mut source: impl BufRead, shown: &Path) -> Result<ProfileSummary> {
    let mut functions = BTreeSet::new();
    let mut max_count = 0;
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
                super::fsutil::human_bytes(MAX_FDATA_LINE)
            );
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            bail!(
                "line {number} of {} is not text: this is not a BOLT profile (text branch \
                 records)",
                shown.display()
            );
        };
        if let Some(record) = BranchRecord::parse(text) {
            for name in [record.from, record.to].into_iter().flatten() {
                functions.insert(strip_local_suffix(name).to_string());
            }
            max_count = max_count.max(record.count);
        }
    }
    Ok(ProfileSummary {
        functions: functions.into_iter().collect(),
        max_count,
    })
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

/// What a profile's first bytes say it is.
#[derive(Debug, PartialEq, Eq)]
pub enum Contents {
    /// LLVM's indexed profile (`llvm-profdata merge` output), what `-Cprofile-use` reads.
    IndexedProfile,
    /// A raw profile as an instrumented program writes it (`.profraw`), not merged.
    RawProfile,
    /// Text: a BOLT profile is (branch records, one per line).
    Text,
    /// Anything else.
    Binary,
    Empty,
}

/// LLVM's `IndexedInstrProf::Magic`, as the (little-endian) file holds it.
const INDEXED_MAGIC: &[u8; 8] = b"\xfflprofi\x81";
/// `__llvm_profile_raw_magic`, 64- and 32-bit, as a little- and a big-endian machine write it.
const RAW_MAGICS: [&[u8; 8]; 4] = [
    b"\x81rforpl\xff",
    b"\x81Rforpl\xff",
    b"\xfflprofr\x81",
    b"\xfflprofR\x81",
];

impl Contents {
    /// From the first 8 bytes of a file (fewer when it is shorter).
    pub fn of(head: &[u8]) -> Contents {
        let text = |b: &u8| b.is_ascii_graphic() || b.is_ascii_whitespace() || *b >= 0x80;
        if head.is_empty() {
            Contents::Empty
        } else if head == INDEXED_MAGIC {
            Contents::IndexedProfile
        } else if RAW_MAGICS.iter().any(|m| head == *m) {
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

/// Up to the first 8 bytes of `source`.
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
        assert_eq!(
            summary.functions,
            ["_ZN3foo3bar17h0123456789abcdefE", "main", "mini_helper"]
        );
        assert_eq!(summary.max_count, 77);
    }

    #[test]
    fn fdata_functions_are_both_ends_of_branch_records() {
        let fdata = "1 _ZN3foo3bar17h0123456789abcdefE 97c 0 [unknown] 0 0 108\n\
                     1 put_byte/1 b2 1 mini_emit 2b5 0 4083\n\
                     0 [unknown] 0 1 main 12 0 5\n\
                     garbage line\n";
        let summary = read_fdata(fdata.as_bytes(), Path::new("x.fdata")).unwrap();
        assert_eq!(
            summary.functions,
            [
                "_ZN3foo3bar17h0123456789abcdefE",
                "main",
                "mini_emit",
                "put_byte"
            ]
        );
        assert_eq!(summary.max_count, 4083);
        let err =
            read_fdata(&b"1 a 0 1 b 0 0 1\n\xff\xfe\n"[..], Path::new("x.fdata")).unwrap_err();
        assert!(format!("{err:#}").contains("line 2 of x.fdata is not text"));
    }

    /// An indexed profile made by the real llvm-profdata from LLVM's text format, with a Rust
    /// function and a C file's local function.
    #[test]
    fn profile_functions_reads_what_llvm_profdata_lists() {
        let profdata = Path::new("/usr/lib/llvm-22/bin/llvm-profdata");
        if !profdata.is_file() {
            eprintln!(
                "skipped: no {} (ci/setup-debian.sh installs it)",
                profdata.display()
            );
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
        let sh = xshell::Shell::new().unwrap();
        let expected = ["_ZN3foo3bar17h0123456789abcdefE", "mini_helper"];
        assert_eq!(
            profile_functions(profdata, &indexed, &sh).unwrap(),
            expected
        );
        let mut stream = std::fs::File::open(&indexed).unwrap();
        let summary = profile_summary_from(profdata, &mut stream, &indexed).unwrap();
        assert_eq!(summary.functions, expected);
        assert_eq!(summary.max_count, 42);
        let err = profile_functions(profdata, &text.with_extension("missing"), &sh).unwrap_err();
        assert!(format!("{err:#}").contains("cannot read"), "{err:#}");

        let fdata = dir.join("p.fdata");
        std::fs::write(&fdata, "1 main 0 1 helper/2 4 0 9\n").unwrap();
        assert_eq!(fdata_functions(&fdata).unwrap(), ["helper", "main"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn first_bytes_tell_indexed_raw_and_text_profiles_apart() {
        assert_eq!(Contents::of(b"\xfflprofi\x81"), Contents::IndexedProfile);
        // A 64-bit little-endian raw profile, as clang's and rustc's runtimes write it.
        assert_eq!(
            Contents::of(&0xff6c70726f667281u64.to_le_bytes()),
            Contents::RawProfile
        );
        assert_eq!(Contents::of(b"1 _ZN12r"), Contents::Text);
        assert_eq!(Contents::of(b"\x7fELF\x02\x01\x01\x00"), Contents::Binary);
        assert_eq!(Contents::of(&[7u8; 8]), Contents::Binary);
        assert_eq!(Contents::of(b""), Contents::Empty);
    }
}
