//! Profiles that travel: `export` copies finished stages' profiles and manifests out of the
//! build dir, `import` brings them (or a single profile made elsewhere) into another, so that a
//! build in a fresh root (a packager's builder starts every build in a new directory) starts
//! from them instead of training again.
//!
//! An exported stage directory has the layout of `<build-dir>/opt-dist/<stage>/`: the manifest
//! names its files by name (absolute paths in it are provenance only), so copying a stage
//! directory by hand works as well.
//!
//! What `import` is given comes from an artifact store and is read as hostile input (see
//! [`super::untrusted`] for how files are opened and read). Everything is checked before
//! anything is written, so a refused import leaves the build dir as it was:
//!
//! - a stage's manifest lists exactly the profiles the stage makes for this tree and these
//!   options, each by a plain file name in the stage's directory;
//! - each profile is a regular file there, the file its manifest lists (size and SHA-256), in
//!   the format of its kind (LLVM's indexed profile, or BOLT's text records; a raw `.profraw`
//!   is not merged yet), with counts, and a profile of the binary it is for: its functions'
//!   names are mostly Rust symbols for rustc's profiles and librustc_driver's, not for LLVM's;
//! - the tree it was made for is this one (rust version, commit, host, bootstrap interface, the
//!   LLVM major it was made with). Only this is a matter of degree: a mismatch is refused with
//!   both values, `--allow-stale` takes it, and the manifest says that it was imported, from
//!   where, and which facts differed.
//!
//! Then, holding the build dir's lock, each profile is copied in once more under a `.partial`
//! name, hashed on the way, and renamed into place only when every copy matched: the source
//! may have changed since it was checked. An imported stage is done.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{bail, Context, Result};

use super::untrusted::{not_a_plain_name, SourceDir, SourceFile, Verified, MAX_MANIFEST_BYTES};
use crate::engine::context::Ctx;
use crate::engine::manifest::{
    FileRecord, ImportRecord, Manifest, FAILED_FILE, JOURNAL_FILE, MANIFEST_FILE,
};
use crate::engine::plan::StagePlan;
use crate::engine::state::{self, State};
use crate::stages::StageId;
use crate::tools::llvm::{self as validate, Contents};
use crate::tools::profiles::{Format as ProfileFormat, Language, Profile, Row as ProfileDef};
use crate::util::fs::{self as fsutil, file_name, human_bytes, Hashes};

/// The stages whose outputs are profiles: the ones worth carrying to another build.
fn profile_stages() -> impl Iterator<Item = StageId> {
    StageId::ALL
        .iter()
        .copied()
        .filter(|id| Profile::ALL.iter().any(|p| p.row().stage == id.name()))
}

/// `export <DIR>`: every finished stage (or the ones named) to `<DIR>/<stage>/`.
pub fn export(ctx: &Ctx, into: &Path, stages: &[StageId]) -> Result<()> {
    let chosen: Vec<StageId> = match stages.is_empty() {
        true => profile_stages().collect(),
        false => stages.to_vec(),
    };
    let mut hashes = Hashes::default();
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
        let plan = stage.plan(ctx)?;
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
        fsutil::create_dir(&dir)?;
        for output in &manifest.outputs {
            fsutil::copy_atomically(&plan.dir.join(&output.name), &dir.join(&output.name))?;
            eprintln!(
                "opt-dist: exported {}/{} ({})",
                stage.name(),
                output.name,
                human_bytes(output.size)
            );
        }
        // Last, so a directory with a manifest has every file it names.
        fsutil::copy_atomically(&plan.dir.join(MANIFEST_FILE), &dir.join(MANIFEST_FILE))?;
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

/// What to do about a stage directory that is not what `export` writes.
const EXPORT_AGAIN: &str = "export the stage again from the build that made it";

/// A stage checked and ready to go in: nothing of it is written yet.
struct Incoming {
    stage: StageId,
    files: Vec<IncomingFile>,
    manifest: Manifest,
    /// One profile (`--as`): the stage's other imported profiles stay (rustc's and rustdoc's).
    single: bool,
    /// The kinds the stage makes for this tree and these options.
    expected: Vec<&'static str>,
}

/// A profile checked: the first `size` bytes at `origin` had `sha256`; it goes to `target`.
struct IncomingFile {
    origin: Origin,
    target: PathBuf,
    size: u64,
    sha256: String,
}

/// Where a profile is read from. It is opened (and checked) again to be copied in, through
/// the stage directory opened when it was checked.
enum Origin {
    InDir(Rc<SourceDir>, String),
    File(PathBuf),
}

impl Origin {
    fn shown(&self) -> PathBuf {
        match self {
            Origin::InDir(dir, name) => dir.shown().join(name),
            Origin::File(path) => path.clone(),
        }
    }

    fn open(&self) -> Result<SourceFile> {
        match self {
            Origin::InDir(dir, name) => dir
                .file(name, "import again once nothing writes to it")?
                .with_context(|| {
                    format!("{} is gone since it was checked", self.shown().display())
                }),
            Origin::File(path) => SourceFile::open(path, "import again once nothing writes to it"),
        }
    }
}

/// `import <DIR>` (stages in the layout of `<build-dir>/opt-dist`), or `import <FILE> --as
/// <profile>` (one profile made elsewhere): everything is checked before the build dir is
/// touched (not even its lock is taken), then installed holding the lock.
pub fn import(ctx: &Ctx, from: &Path, single: Option<Profile>, allow_stale: bool) -> Result<()> {
    let incoming = match single {
        Some(profile) => vec![check_file(ctx, from, profile, allow_stale)?],
        None => check_directory(ctx, from, allow_stale)?,
    };
    if incoming.is_empty() {
        return Ok(());
    }
    let _lock = ctx.lock()?;
    install(ctx, incoming)
}

fn check_directory(ctx: &Ctx, from: &Path, allow_stale: bool) -> Result<Vec<Incoming>> {
    if !from.is_dir() {
        bail!(
            "{} is not a directory of exported stages; a single profile needs --as <{}>",
            from.display(),
            Profile::ALL
                .iter()
                .map(|p| p.row().stem)
                .collect::<Vec<_>>()
                .join("|")
        );
    }
    let root = SourceDir::open(from)?;
    let mut incoming = Vec::new();
    let mut found = 0;
    for stage in profile_stages() {
        let Some(dir) = root.subdir(stage.name(), EXPORT_AGAIN)? else {
            continue;
        };
        if !dir.has(MANIFEST_FILE) {
            continue;
        }
        found += 1;
        incoming.extend(check_stage(ctx, Rc::new(dir), stage, allow_stale)?);
    }
    if found == 0 {
        bail!(
            "{} holds no exported stage (a <stage>/manifest.json for one of {})",
            from.display(),
            profile_stages()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(incoming)
}

/// One exported stage directory: its manifest, then every profile it lists.
fn check_stage(
    ctx: &Ctx,
    dir: Rc<SourceDir>,
    stage: StageId,
    allow_stale: bool,
) -> Result<Option<Incoming>> {
    let source = dir.shown().to_path_buf();
    let manifest_path = source.join(MANIFEST_FILE);
    let bytes = dir
        .file(MANIFEST_FILE, EXPORT_AGAIN)?
        .with_context(|| format!("{} is gone", manifest_path.display()))?
        .read_all(MAX_MANIFEST_BYTES, "a stage manifest")?;
    let manifest: Manifest = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a stage manifest this xtask reads; {EXPORT_AGAIN}",
            manifest_path.display()
        )
    })?;
    if manifest.stage != stage.name() {
        bail!(
            "{} is the manifest of the {} stage, not of {}, whose directory it is in; \
             {EXPORT_AGAIN}",
            manifest_path.display(),
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
        return Ok(None);
    }
    let plan = stage.plan(ctx)?;
    if let Some(reason) = &plan.skipped {
        eprintln!(
            "opt-dist: {} in {} is not imported: these options skip the stage ({reason})",
            stage.name(),
            source.display()
        );
        return Ok(None);
    }
    check_outputs(ctx, &manifest_path, &manifest, &plan)?;
    let mut outputs = Vec::new();
    let mut files = Vec::new();
    for output in &manifest.outputs {
        let Some(profile) = Profile::from_kind(&output.kind) else {
            bail!(
                "{}: the {} stage makes {}, which is not a profile: it cannot be imported",
                manifest_path.display(),
                stage.name(),
                output.kind
            );
        };
        let origin = Origin::InDir(dir.clone(), output.name.clone());
        let shown = origin.shown();
        let Some(file) = dir.file(&output.name, EXPORT_AGAIN)? else {
            bail!(
                "{} lists {} ({}), which is not in {}; copy the stage directory again, or \
                 {EXPORT_AGAIN}",
                manifest_path.display(),
                output.name,
                output.kind,
                source.display()
            );
        };
        if file.size != output.size {
            bail!(
                "{} is not the file its manifest lists: {} found, {} listed (sha256 {}); copy \
                 the stage directory again, or {EXPORT_AGAIN}",
                shown.display(),
                size_in_bytes(file.size),
                size_in_bytes(output.size),
                output.sha256
            );
        }
        let sha256 = check_content(
            ctx,
            profile,
            file.read_exactly(output.size),
            &shown,
            Some(&output.sha256),
            &|_| {
                format!(
                    "its manifest lists it as the {} profile ({}); {EXPORT_AGAIN}",
                    profile.row().binary,
                    output.kind
                )
            },
        )?;
        let target = ctx.profile(profile).path;
        outputs.push(FileRecord {
            path: target.clone(),
            name: file_name(&target),
            ..output.clone()
        });
        files.push(IncomingFile {
            origin,
            target,
            size: output.size,
            sha256,
        });
    }
    let differences = differences(ctx, &manifest);
    refuse_unless_allowed(stage, &source, &differences, allow_stale)?;
    let expected = plan.outputs.iter().map(|a| a.kind).collect();
    Ok(Some(Incoming {
        stage,
        files,
        manifest: Manifest {
            outputs,
            imported: Some(ImportRecord {
                from: source,
                at: fsutil::now(),
                differences,
            }),
            ..manifest
        },
        single: false,
        expected,
    }))
}

/// A stage manifest lists exactly what the stage makes for this tree and these options, each by
/// a plain file name in the stage's directory: with a profile missing the stage would be done
/// while the stages after it lack their input, and with another stage's kind a profile would
/// be taken for what it is not; a name that is a path would be read outside the directory.
fn check_outputs(
    ctx: &Ctx,
    manifest_path: &Path,
    manifest: &Manifest,
    plan: &StagePlan,
) -> Result<()> {
    for output in &manifest.outputs {
        if let Some(why) = not_a_plain_name(&output.name) {
            bail!(
                "{}: the file of {} in `outputs` is named {:?}, and {why}: a manifest names each \
                 output by a plain file name in its stage's directory, and import reads nothing \
                 outside it; {EXPORT_AGAIN}",
                manifest_path.display(),
                output.kind,
                output.name
            );
        }
    }
    let stage = plan.stage.name;
    let expected: Vec<&str> = plan.outputs.iter().map(|a| a.kind).collect();
    let mut problems = Vec::new();
    if manifest.outputs.is_empty() {
        problems.push("lists nothing".to_string());
    }
    let mut kinds = BTreeSet::new();
    let mut names = BTreeSet::new();
    for output in &manifest.outputs {
        let kind = output.kind.as_str();
        if !kinds.insert(kind) {
            problems.push(format!("lists {kind} twice"));
        } else if !expected.contains(&kind) {
            problems.push(match maker_of(kind) {
                Some(maker) if maker != stage => {
                    format!("lists {kind}, which the {maker} stage makes")
                }
                Some(_) => format!(
                    "lists {kind}, which the {stage} stage does not make for this tree with these \
                     options"
                ),
                None => format!("lists `{kind}`, which is no kind of output opt-dist makes"),
            });
        }
        if !names.insert(output.name.as_str()) {
            problems.push(format!("names the file {} twice", output.name));
        }
    }
    let lacking: Vec<String> = expected
        .iter()
        .filter(|kind| !kinds.contains(*kind))
        .map(|kind| kind.to_string())
        .collect();
    if !lacking.is_empty() {
        problems.push(format!("lacks {}", all_of(&lacking)));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let what_to_do = match manifest.interface == ctx.interface.name() {
        true => EXPORT_AGAIN.to_string(),
        false => format!(
            "it was made with bootstrap's {} interface, this tree has the {} one: import the \
             profiles it has one at a time with `import <FILE> --as <profile>`, or {EXPORT_AGAIN}",
            manifest.interface,
            ctx.interface.name()
        ),
    };
    bail!(
        "{}: its `outputs` {}; the {} stage makes exactly {} for this tree (bootstrap's {} \
         interface) with these options; {what_to_do}",
        manifest_path.display(),
        problems.join("; it "),
        stage,
        all_of(&expected.iter().map(|k| k.to_string()).collect::<Vec<_>>()),
        ctx.interface.name()
    )
}

/// The stage that makes outputs of `kind`.
fn maker_of(kind: &str) -> Option<&'static str> {
    match kind {
        "dist-file" => Some(StageId::Dist.name()),
        "test-bootstrap-config" => Some(StageId::Test.name()),
        _ => Profile::from_kind(kind).map(|p| p.row().stage),
    }
}

fn size_in_bytes(bytes: u64) -> String {
    format!("{bytes} bytes ({})", human_bytes(bytes))
}

fn check_file(ctx: &Ctx, file: &Path, profile: Profile, allow_stale: bool) -> Result<Incoming> {
    let def = profile.row();
    let stage = StageId::from_name(def.stage).expect("a profile names its stage");
    let plan = stage.plan(ctx)?;
    if let Some(reason) = &plan.skipped {
        bail!(
            "these options skip the {} stage ({reason}), so nothing would use {} as its {} \
             profile; nothing was imported: give import the options of the run that is to use \
             it",
            stage.name(),
            file.display(),
            def.stem
        );
    }
    let expected: Vec<&'static str> = plan.outputs.iter().map(|a| a.kind).collect();
    if !expected.contains(&def.kind) {
        bail!(
            "the {} stage makes {} for this tree (bootstrap's {} interface) with these options, \
             not {}: nothing would use {}; nothing was imported",
            stage.name(),
            expected.join(" and "),
            ctx.interface.name(),
            def.kind,
            file.display()
        );
    }
    let source = SourceFile::open(file, "import the profile itself, a regular file")?;
    let size = source.size;
    let sha256 = check_content(
        ctx,
        profile,
        source.read_exactly(size),
        file,
        None,
        &|may_be| {
            let instead = match may_be {
                [] => String::new(),
                may_be => format!(
                    "if it is the profile of {}, import it with {}; ",
                    one_of(may_be.iter().map(|p| p.binary)),
                    one_of(may_be.iter().map(|p| format!("`--as {}`", p.stem)))
                ),
            };
            format!(
                "{instead}the {} profile is {} in the {} stage's directory of the build that \
                 made it",
                def.binary,
                profile.file_name(&ctx.tree.version, &ctx.tree.host),
                stage.name()
            )
        },
    )?;
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
    let manifest = Manifest {
        options: ctx.options_record(),
        imported: Some(ImportRecord {
            from: file.to_path_buf(),
            at: fsutil::now(),
            differences,
        }),
        outputs: vec![FileRecord {
            kind: def.kind.to_string(),
            name: file_name(&target),
            path: target.clone(),
            size,
            sha256: sha256.clone(),
        }],
        ..Manifest::new(stage.name(), stage.def().title, &ctx.tree, ctx.interface)
    };
    Ok(Incoming {
        stage,
        files: vec![IncomingFile {
            origin: Origin::File(file.to_path_buf()),
            target,
            size,
            sha256,
        }],
        manifest,
        single: true,
        expected,
    })
}

/// Reads a profile through `reader` (which hashes what it reads) and checks that it fits
/// `profile`: the format of its kind (LLVM's indexed profile, or BOLT's text records; a raw
/// profile is not merged yet), counts in it, and functions of the binary it is for, told by
/// the language of their names. Gives its SHA-256, checked against `listed` first: a file that
/// is not the one its manifest lists is reported as that, whatever it holds. `fix` says what to
/// do about a profile that does not fit, given the profiles it may be instead.
fn check_content(
    ctx: &Ctx,
    profile: Profile,
    mut reader: Verified,
    shown: &Path,
    listed: Option<&str>,
    fix: &dyn Fn(&[&ProfileDef]) -> String,
) -> Result<String> {
    let def = profile.row();
    let mut may_be = Vec::new();
    let fits = fits_profile(ctx, def, &mut reader, shown, &mut may_be);
    let sha256 = reader.finish()?;
    if let Some(listed) = listed.filter(|listed| *listed != sha256) {
        bail!(
            "{} is not the file its manifest lists: sha256 {sha256} found, {listed} listed; copy \
             the stage directory again, or {EXPORT_AGAIN}",
            shown.display()
        );
    }
    fits.map_err(|err| anyhow::anyhow!("{err:#}; {}", fix(&may_be)))
        .with_context(|| {
            format!(
                "{} is not a usable {} profile; nothing was imported",
                shown.display(),
                def.stem
            )
        })?;
    Ok(sha256)
}

/// See [`check_content`]; when the profile is not one of `def`'s kind, `may_be` gets the kinds
/// it may be.
fn fits_profile(
    ctx: &Ctx,
    def: &ProfileDef,
    reader: &mut Verified,
    shown: &Path,
    may_be: &mut Vec<&'static ProfileDef>,
) -> Result<()> {
    let head = validate::read_head(reader, shown)?;
    let found = Contents::of(&head);
    let mut whole = std::io::Cursor::new(head).chain(reader);
    let of_format = |format: ProfileFormat| {
        Profile::ALL
            .iter()
            .map(|p| p.row())
            .filter(move |p| p.format == format)
    };
    let summary = match (def.format, &found) {
        (ProfileFormat::Profdata, Contents::IndexedProfile) => {
            validate::profile_summary_from(&ctx.host_llvm.tool("llvm-profdata"), &mut whole, shown)?
        }
        (ProfileFormat::Fdata, Contents::Text) => {
            validate::read_fdata(std::io::BufReader::new(whole), shown)?
        }
        (_, Contents::RawProfile) => bail!(
            "it is {}: merge the raw profiles into one indexed profile with `llvm-profdata merge \
             -o <profile>.profdata <raw profiles>` (what the {} stage does after training) and \
             import that",
            found.describe(),
            def.stage
        ),
        (ProfileFormat::Profdata, Contents::Text) => {
            may_be.extend(of_format(ProfileFormat::Fdata));
            bail!(
                "it is text (as a BOLT profile is), not an indexed LLVM profile (which starts \
                 with the bytes ff 6c 70 72 6f 66 69 81)"
            )
        }
        (ProfileFormat::Profdata, _) => bail!(
            "it is {}, not an indexed LLVM profile (which starts with the bytes ff 6c 70 72 6f \
             66 69 81)",
            found.describe()
        ),
        (ProfileFormat::Fdata, _) => {
            if found == Contents::IndexedProfile {
                may_be.extend(of_format(ProfileFormat::Profdata));
            }
            bail!(
                "it is {}, not a BOLT profile (text branch records, as merge-fdata writes them)",
                found.describe()
            )
        }
    };
    if summary.functions.is_empty() || summary.max_count == 0 {
        bail!(
            "it holds no counts ({} functions, maximum count {}): the training that made it did \
             not exercise {}",
            summary.functions.len(),
            summary.max_count,
            def.binary
        );
    }
    let total = summary.functions.len();
    let rust = summary
        .functions
        .iter()
        .filter(|f| validate::is_rust_symbol(f))
        .count();
    let language = match rust * 2 > total {
        true => Language::Rust,
        false => Language::Cxx,
    };
    if language == def.language {
        return Ok(());
    }
    may_be.extend(of_format(def.format).filter(|p| p.language == language));
    let binaries = one_of(may_be.iter().map(|p| p.binary));
    match language {
        Language::Rust => bail!(
            "{rust} of {total} functions it profiles are Rust symbols: this is a profile of a \
             Rust binary ({binaries}), not of {}",
            def.binary
        ),
        Language::Cxx => bail!(
            "only {rust} of {total} functions it profiles are Rust symbols: this is a profile of \
             a C/C++ binary ({binaries}), not of {}",
            def.binary
        ),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn all_of(words: &[String]) -> String {
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => words.concat(),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(words: impl Iterator<Item = impl std::fmt::Display>) -> String {
    let words: Vec<String> = words.map(|w| w.to_string()).collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => words.concat(),
    }
}

/// Copies every checked profile in under a `.partial` name, checking its hash again on the
/// way (the source may have changed since it was checked), then renames them into place and
/// writes the manifests: a stage directory with a manifest has every file it names. On a
/// failure before the renames, the partials (and stage directories made here) are removed.
fn install(ctx: &Ctx, incoming: Vec<Incoming>) -> Result<()> {
    let mut created = Vec::new();
    let mut partials = Vec::new();
    if let Err(err) = copy_in(ctx, &incoming, &mut created, &mut partials) {
        for (partial, _) in &partials {
            let _ = std::fs::remove_file(partial);
        }
        for dir in created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        return Err(err.context("nothing was imported"));
    }
    for (i, (partial, target)) in partials.iter().enumerate() {
        if let Err(err) = std::fs::rename(partial, target) {
            for (left, _) in &partials[i..] {
                let _ = std::fs::remove_file(left);
            }
            return Err(err).with_context(|| {
                format!("cannot move {} to {}", partial.display(), target.display())
            });
        }
    }
    for Incoming {
        stage,
        files,
        mut manifest,
        single,
        expected,
    } in incoming
    {
        let dir = ctx.tree.stage_dir(stage.name());
        for file in &files {
            eprintln!(
                "opt-dist: imported {} as {}",
                file.origin.shown().display(),
                file.target.display()
            );
        }
        if single {
            let mut outputs: Vec<FileRecord> = Manifest::read(&dir)
                .filter(|m| m.imported.is_some())
                .map(|m| m.outputs)
                .unwrap_or_default();
            outputs.retain(|o| manifest.outputs.iter().all(|new| new.kind != o.kind));
            outputs.append(&mut manifest.outputs);
            manifest.outputs = outputs;
        }
        manifest.write(&dir)?;
        // What an earlier run of the stage left is history now.
        for stale in [JOURNAL_FILE, FAILED_FILE] {
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
        let missing: Vec<&str> = expected
            .iter()
            .filter(|kind| manifest.outputs.iter().all(|o| o.kind != **kind))
            .copied()
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "opt-dist: {} still lacks {}: import it with `import <FILE> --as <profile>`; a \
                 stage that needs it stops until then",
                stage.name(),
                missing.join(" and ")
            );
        }
    }
    Ok(())
}

fn copy_in(
    ctx: &Ctx,
    incoming: &[Incoming],
    created: &mut Vec<PathBuf>,
    partials: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<()> {
    for stage in incoming {
        let dir = ctx.tree.stage_dir(stage.stage.name());
        if !dir.is_dir() {
            std::fs::create_dir(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            created.push(dir);
        }
        for file in &stage.files {
            let partial = file
                .target
                .with_file_name(format!("{}.partial", file_name(&file.target)));
            // One a killed import left behind is ours to replace.
            match std::fs::remove_file(&partial) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(err)
                        .with_context(|| format!("cannot remove {}", partial.display()));
                }
                _ => {}
            }
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            partials.push((partial.clone(), file.target.clone()));
            let source = file.origin.open()?;
            let shown = source.shown.clone();
            if source.size != file.size {
                bail!(
                    "{} changed since it was checked: {} now, {} then; import again once \
                     nothing writes to it",
                    shown.display(),
                    size_in_bytes(source.size),
                    size_in_bytes(file.size)
                );
            }
            let mut reader = source.read_exactly(file.size);
            std::io::copy(&mut reader, &mut out).with_context(|| {
                format!("cannot copy {} to {}", shown.display(), partial.display())
            })?;
            let sha256 = reader.finish()?;
            if sha256 != file.sha256 {
                bail!(
                    "{} changed since it was checked: sha256 {sha256} now, {} then; import again \
                     once nothing writes to it",
                    shown.display(),
                    file.sha256
                );
            }
        }
    }
    Ok(())
}

/// The facts of the tree a stage was made for that differ from this tree's.
fn differences(ctx: &Ctx, manifest: &Manifest) -> Vec<String> {
    manifest
        .tree_differences(&ctx.tree, ctx.interface, ctx.host_llvm.expected_major)
        .into_iter()
        .map(|(what, there, here)| format!("{what}: {there} there, {here} here"))
        .collect()
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
