//! The checks that keep a bad profile from being used: rustc and BOLT take an unreadable or
//! empty profile without complaint and build an unoptimized toolchain, so every merged profile
//! is read back before it is published, and llvm-profdata must match the compiler's LLVM.

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
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // `1 <from symbol> <offset> 1 <to symbol> <offset> <mispredicts> <count>`
        if fields.len() == 8 && fields[0] == "1" {
            records += 1;
            functions.insert(fields[1].to_string());
            let count: u64 = fields[7].parse().unwrap_or(0);
            max_count = max_count.max(count);
            total += count;
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
