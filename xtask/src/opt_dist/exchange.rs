//! Profiles that travel: `export` copies finished stages' profiles and manifests out of the
//! build dir, `import` brings them (or a single profile made elsewhere) into another, so that a
//! build in a fresh root (a packager's builder starts every build in a new directory) starts
//! from them instead of training again.
//!
//! An exported stage directory has the layout of `<build-dir>/opt-dist/<stage>/`: the manifest
//! names its files by name (absolute paths in it are provenance only), so copying a stage
//! directory by hand works as well. Before anything is imported, each profile is checked: it
//! is the file its manifest lists (size and SHA-256), it reads back (llvm-profdata finds counts
//! in it; a BOLT profile parses and is not empty), and the tree it was made for is this one
//! (rust version, commit, host, bootstrap interface, the LLVM major it was made with). A
//! mismatch is refused with both values; `--allow-stale` takes it, and the manifest says that
//! it was imported, from where, and which facts differed. An imported stage is done.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::fsutil::{self, file_name, human_bytes, sha256_file};
use super::llvm_tools::llvm_major;
use super::manifest::{FileRecord, Manifest, TreeRecord, MANIFEST_FILE, SCHEMA_VERSION};
use super::pipeline::{Profile, ProfileFormat, StageId, PROFILES, STAGES};
use super::state::{self, State};
use super::{validate, Ctx};

/// How a stage came to be here, when it was not made here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRecord {
    /// The directory or file it was imported from.
    pub from: PathBuf,
    pub at: String,
    /// The facts that differ from this tree, each as `what: there, here` (accepted with
    /// `--allow-stale`); empty when it matched.
    pub differences: Vec<String>,
}

/// The stages whose outputs are profiles: the ones worth carrying to another build.
fn profile_stages() -> impl Iterator<Item = StageId> {
    STAGES
        .iter()
        .map(|s| s.id)
        .filter(|id| PROFILES.iter().any(|p| p.made_by == *id))
}

/// `export <DIR>`: every finished stage (or the ones named) to `<DIR>/<stage>/`.
pub fn export(ctx: &Ctx, into: &Path, stages: &[StageId]) -> Result<()> {
    let chosen: Vec<StageId> = match stages.is_empty() {
        true => profile_stages().collect(),
        false => stages.to_vec(),
    };
    let mut hashes = state::Hashes::default();
    let mut exported = 0;
    for stage in chosen {
        if !profile_stages().any(|s| s == stage) {
            bail!(
                "the {} stage makes no profiles; export carries {}",
                stage.name(),
                profile_stages()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let plan = (stage.def().plan)(ctx)?;
        let (state, manifest) = state::assess(ctx, &plan, &mut hashes, None);
        let manifest = match (state, manifest) {
            (State::Done, Some(manifest)) => manifest,
            (State::Skipped(_), _) if stages.is_empty() => continue,
            (state, _) if stages.is_empty() => {
                eprintln!(
                    "opt-dist: {} is {}, not exported",
                    stage.name(),
                    state.word()
                );
                continue;
            }
            (state, _) => bail!(
                "the {} stage is {}: only a finished stage can be exported (`status` says why)",
                stage.name(),
                state.word()
            ),
        };
        let dir = into.join(stage.name());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for output in &manifest.outputs {
            copy_atomically(&plan.dir.join(&output.name), &dir.join(&output.name))?;
            eprintln!(
                "opt-dist: exported {}/{} ({})",
                stage.name(),
                output.name,
                human_bytes(output.size)
            );
        }
        // Last, so a directory with a manifest has every file it names.
        copy_atomically(&plan.dir.join(MANIFEST_FILE), &dir.join(MANIFEST_FILE))?;
        exported += 1;
    }
    if exported == 0 {
        bail!("no stage is finished here: nothing to export (`status` shows why)");
    }
    eprintln!(
        "opt-dist: {exported} stage(s) exported to {}; `cargo xtask opt-dist import {}` in \
         another build brings them in",
        into.display(),
        into.display()
    );
    Ok(())
}

/// `import <DIR>` (stages in the layout of `<build-dir>/opt-dist`), or `import <FILE> --as
/// <profile>` (one profile made elsewhere).
pub fn import(ctx: &Ctx, from: &Path, single: Option<Profile>, allow_stale: bool) -> Result<()> {
    let _lock = ctx.lock()?;
    if let Some(profile) = single {
        return import_file(ctx, from, profile, allow_stale);
    }
    if !from.is_dir() {
        bail!(
            "{} is not a directory of exported stages; a single profile needs --as <{}>",
            from.display(),
            PROFILES
                .iter()
                .map(|p| p.stem)
                .collect::<Vec<_>>()
                .join("|")
        );
    }
    let mut imported = 0;
    for stage in profile_stages() {
        let source = from.join(stage.name());
        if !source.join(MANIFEST_FILE).is_file() {
            continue;
        }
        import_stage(ctx, &source, stage, allow_stale)?;
        imported += 1;
    }
    if imported == 0 {
        bail!(
            "{} holds no exported stage (a <stage>/manifest.json for one of {})",
            from.display(),
            profile_stages()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn import_stage(ctx: &Ctx, source: &Path, stage: StageId, allow_stale: bool) -> Result<()> {
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(source.join(MANIFEST_FILE))?)
        .with_context(|| format!("{} is not a stage manifest", source.display()))?;
    if manifest.stage != stage.name() {
        bail!(
            "{} holds the manifest of the {} stage, not of {}",
            source.display(),
            manifest.stage,
            stage.name()
        );
    }
    if manifest.status != "done" {
        eprintln!(
            "opt-dist: {} in {} is {}: nothing to import",
            stage.name(),
            source.display(),
            manifest.status
        );
        return Ok(());
    }
    let differences = differences(ctx, &manifest);
    refuse_unless_allowed(stage, source, &differences, allow_stale)?;
    let mut outputs = Vec::new();
    let mut files = Vec::new();
    for output in &manifest.outputs {
        let file = source.join(&output.name);
        let size = std::fs::metadata(&file)
            .with_context(|| {
                format!(
                    "{} lists {}, which is missing",
                    source.display(),
                    output.name
                )
            })?
            .len();
        let sha256 = sha256_file(&file)?;
        if size != output.size || sha256 != output.sha256 {
            bail!(
                "{} is not the file its manifest lists: sha256 {sha256} ({}) found, {} ({}) \
                 listed; copy the stage directory again",
                file.display(),
                human_bytes(size),
                output.sha256,
                human_bytes(output.size)
            );
        }
        let profile = PROFILES
            .iter()
            .find(|p| p.kind == output.kind)
            .with_context(|| {
                format!(
                    "{}: unknown output kind `{}`",
                    source.display(),
                    output.kind
                )
            })?
            .profile;
        check_readable(ctx, &file, profile)?;
        let target = ctx.profile(profile).path;
        outputs.push(FileRecord {
            path: target.clone(),
            name: file_name(&target),
            ..output.clone()
        });
        files.push((file, target));
    }
    let imported = Manifest {
        outputs,
        imported: Some(ImportRecord {
            from: source.to_path_buf(),
            at: fsutil::utc_timestamp(SystemTime::now()),
            differences,
        }),
        ..manifest
    };
    install(ctx, stage, &files, &imported)
}

fn import_file(ctx: &Ctx, file: &Path, profile: Profile, allow_stale: bool) -> Result<()> {
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    let def = profile.def();
    let stage = def.made_by;
    check_readable(ctx, file, profile)?;
    // A bare file's only provenance is its name, when it is one of ours.
    let mut differences = Vec::new();
    let name = file_name(file);
    let ours = format!("{}-", def.stem);
    match name
        .strip_prefix(&ours)
        .and_then(|rest| rest.strip_suffix(&format!(".{}", def.format.extension())))
        .and_then(|rest| rest.split_once('-'))
    {
        Some((version, host)) => {
            if version != ctx.tree.version {
                differences.push(format!(
                    "version: {version} there, {} here",
                    ctx.tree.version
                ));
            }
            if host != ctx.tree.host {
                differences.push(format!("host: {host} there, {} here", ctx.tree.host));
            }
        }
        None => differences.push(format!(
            "provenance: unknown ({name} is not named <{}>-<version>-<host>.{}), this tree is {} \
             for {}",
            def.stem,
            def.format.extension(),
            ctx.tree.version,
            ctx.tree.host
        )),
    }
    refuse_unless_allowed(stage, file, &differences, allow_stale)?;
    let target = ctx.profile(profile).path;
    let dir = ctx.stage_dir(stage);
    // Another profile of the same stage imported before stays (rustc's and rustdoc's).
    let mut outputs: Vec<FileRecord> = state::read_manifest(&dir)
        .filter(|m| m.imported.is_some())
        .map(|m| m.outputs)
        .unwrap_or_default();
    outputs.retain(|o| o.kind != def.kind);
    outputs.push(FileRecord {
        path: target.clone(),
        ..FileRecord::of(def.kind, file)?
    });
    let now = fsutil::utc_timestamp(SystemTime::now());
    let manifest = Manifest {
        schema: SCHEMA_VERSION,
        stage: stage.name().to_string(),
        title: stage.def().title.to_string(),
        status: "done".to_string(),
        skip_reason: None,
        xtask_version: env!("CARGO_PKG_VERSION").to_string(),
        tree: TreeRecord::of(&ctx.tree),
        interface: ctx.interface.name().to_string(),
        options: ctx.options_record(),
        fingerprint: None,
        imported: Some(ImportRecord {
            from: file.to_path_buf(),
            at: now.clone(),
            differences,
        }),
        started_at: now.clone(),
        finished_at: now,
        duration_secs: 0.0,
        steps: Vec::new(),
        disk: None,
        commands: Vec::new(),
        tools: Vec::new(),
        raw_profiles: Vec::new(),
        validations: Vec::new(),
        inputs: Vec::new(),
        outputs: outputs
            .into_iter()
            .map(|o| FileRecord {
                name: file_name(&o.path),
                ..o
            })
            .collect(),
    };
    install(ctx, stage, &[(file.to_path_buf(), target)], &manifest)
}

/// Copies the files in (each complete before its rename), then the manifest: a stage
/// directory with a manifest has every file it names.
fn install(
    ctx: &Ctx,
    stage: StageId,
    files: &[(PathBuf, PathBuf)],
    manifest: &Manifest,
) -> Result<()> {
    let dir = ctx.stage_dir(stage);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (from, to) in files {
        copy_atomically(from, to)?;
        eprintln!("opt-dist: imported {} as {}", from.display(), to.display());
    }
    manifest.write(&dir)?;
    // What an earlier run of the stage left is history now.
    for stale in [state::JOURNAL_FILE, state::FAILED_FILE] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    let differences = manifest
        .imported
        .as_ref()
        .map(|i| i.differences.len())
        .unwrap_or(0);
    eprintln!(
        "opt-dist: {} is done (imported{})",
        stage.name(),
        match differences {
            0 => String::new(),
            n => format!(", {n} fact(s) differ from this tree, accepted with --allow-stale"),
        }
    );
    Ok(())
}

/// The facts of the tree a stage was made for that differ from this tree's.
fn differences(ctx: &Ctx, manifest: &Manifest) -> Vec<String> {
    let tree = &ctx.tree;
    let mut differences = Vec::new();
    let mut compare = |what: &str, there: Option<&str>, here: Option<&str>| {
        if there != here {
            differences.push(format!(
                "{what}: {} there, {} here",
                there.unwrap_or("unknown"),
                here.unwrap_or("unknown")
            ));
        }
    };
    compare("version", Some(&manifest.tree.version), Some(&tree.version));
    compare(
        "commit",
        manifest.tree.commit.as_deref(),
        tree.commit.as_deref(),
    );
    compare("host", Some(&manifest.tree.host), Some(&tree.host));
    compare(
        "interface",
        Some(&manifest.interface),
        Some(ctx.interface.name()),
    );
    let made_with = manifest
        .tools
        .iter()
        .find(|t| t.name == "llvm-profdata")
        .and_then(|t| llvm_major(&t.llvm_version));
    if let (Some(there), Some(here)) = (made_with, ctx.host_llvm.expected_major) {
        if there != here {
            differences.push(format!("LLVM major: {there} there, {here} here"));
        }
    }
    differences
}

fn refuse_unless_allowed(
    stage: StageId,
    source: &Path,
    differences: &[String],
    allow_stale: bool,
) -> Result<()> {
    if differences.is_empty() {
        return Ok(());
    }
    if allow_stale {
        eprintln!(
            "opt-dist: importing {} from {} although it was made for another tree \
             (--allow-stale):\n  {}",
            stage.name(),
            source.display(),
            differences.join("\n  ")
        );
        return Ok(());
    }
    bail!(
        "the {} profile in {} was made for another tree:\n  {}\nrustc and clang use a foreign \
         profile where its functions still match and ignore the rest; to take it anyway, pass \
         --allow-stale",
        stage.name(),
        source.display(),
        differences.join("\n  ")
    )
}

/// A profile must read back before it is taken: llvm-profdata finds counts in an LLVM
/// profile, a BOLT profile parses with branch records.
fn check_readable(ctx: &Ctx, file: &Path, profile: Profile) -> Result<()> {
    let checked = match profile.def().format {
        ProfileFormat::Profdata => {
            let sh = xshell::Shell::new()?;
            validate::validate_profile(&ctx.host_llvm.tool("llvm-profdata"), file, &sh)
        }
        ProfileFormat::Fdata => validate::validate_fdata(file),
    };
    checked.with_context(|| {
        format!(
            "{} is not a usable {} profile; nothing was imported",
            file.display(),
            profile.def().stem
        )
    })?;
    Ok(())
}

fn copy_atomically(from: &Path, to: &Path) -> Result<()> {
    let partial = to.with_file_name(format!("{}.partial", file_name(to)));
    std::fs::copy(from, &partial)
        .with_context(|| format!("cannot copy {} to {}", from.display(), partial.display()))?;
    std::fs::rename(&partial, to)
        .with_context(|| format!("cannot move {} to {}", partial.display(), to.display()))
}
