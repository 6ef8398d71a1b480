//! Profiles that travel: `export` copies finished stages' profiles and manifests out of the
//! build dir, in the layout of `<build-dir>/opt-dist/<stage>/` (so copying a stage directory by
//! hand works as well); `import` brings them, or a single profile made elsewhere, into another
//! build (a packager's builder starts each in a new root), which then starts from them instead
//! of training again.
//!
//! What `import` is given is hostile input ([`super::untrusted`] opens and reads it), all of it
//! checked before anything is written (not even the lock is taken), so a refused import leaves
//! the build dir as it was: a manifest lists exactly the profiles its stage makes for this tree
//! and these options, each by a plain file name; each profile is the file listed (size and
//! SHA-256), in the format of its kind, with counts, of the binary it is for (told by its
//! functions' names); the tree it was made for is this one, which only `--allow-stale` waives
//! (the manifest records what differed). Then, holding the lock, each profile is copied in once
//! more, hashed on the way, and all are renamed into place only when every copy matched.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::untrusted::{not_a_plain_name, Dir, Source, MAX_MANIFEST_BYTES};
use crate::engine::context::Ctx;
use crate::engine::lock;
use crate::engine::manifest::{
    FileRecord, ImportRecord, Manifest, DIST_FILE_KIND, FAILED_FILE, JOURNAL_FILE, MANIFEST_FILE,
};
use crate::engine::plan::StagePlan;
use crate::engine::state::{self, State};
use crate::stages::{test, StageId};
use crate::tools::llvm::{self, Contents};
use crate::tools::profiles::{Format, Language, Profile, Row};
use crate::util::fs::{self as fsutil, file_name, human_bytes};

/// What to do about a stage directory that is not what `export` writes.
const EXPORT_AGAIN: &str = "export the stage again from the build that made it";
const COPY_AGAIN: &str =
    "copy the stage directory again, or export the stage again from the build that made it";
const IMPORT_AGAIN: &str = "import again once nothing writes to it";

/// The stages whose outputs are profiles: the ones worth carrying to another build.
fn profile_stages() -> impl Iterator<Item = StageId> {
    let makes_profiles = |id: &StageId| Profile::ALL.iter().any(|p| p.row().stage == id.name());
    StageId::ALL.iter().copied().filter(makes_profiles)
}

fn profile_stage_names() -> String {
    profile_stages().map(StageId::name).collect::<Vec<_>>().join(", ")
}

/// `export <DIR>`: every finished stage (or the ones named) to `<DIR>/<stage>/`. It takes no
/// lock of the build dir (it writes nothing there), so what it copies is checked against the
/// manifest it read: a run rewriting the stage meanwhile makes it fail, never export a mix.
/// Exports into one `<DIR>` take turns.
pub fn export(ctx: &Ctx, into: &Path, stages: &[StageId]) -> Result<()> {
    let (every, mut exported) = (stages.is_empty(), 0);
    let holder = lock::holder(&ctx.tree.artifacts_root());
    let mut turn = None;
    for stage in if every { profile_stages().collect() } else { stages.to_vec() } {
        let name = stage.name();
        if !profile_stages().any(|s| s == stage) {
            bail!("the {name} stage makes no profiles; export carries {}", profile_stage_names());
        }
        let plan = stage.plan(ctx)?;
        let (state, manifest) = state::assess(ctx, &plan, holder.as_ref());
        let is = match &state {
            State::Running(holder) => format!("running (in {})", holder.describe()),
            state => state.word().to_string(),
        };
        let manifest = match (state, manifest) {
            (State::Done, Some(manifest)) => manifest,
            (State::Skipped(_), _) if every => continue,
            _ if every => {
                eprintln!("opt-dist: {name} is {is}, not exported");
                continue;
            }
            _ => bail!(
                "the {name} stage is {is}: only a finished stage can be exported (`status` says why)"
            ),
        };
        if turn.is_none() {
            fsutil::create_dir(into)?;
            let store = std::fs::File::open(into)
                .with_context(|| format!("cannot open {}", into.display()))?;
            lock::store(&store, into, true)?;
            turn = Some(store);
        }
        let dir = into.join(name);
        fsutil::create_dir(&dir)?;
        if std::fs::canonicalize(&dir).ok() == std::fs::canonicalize(&plan.dir).ok() {
            bail!("{} is the {name} stage's own directory: export to another", dir.display());
        }
        // An earlier export's manifest goes first, and this one comes last: a directory with a
        // manifest has every file it names.
        fsutil::remove(&dir.join(MANIFEST_FILE))?;
        for output in &manifest.outputs {
            export_output(&plan.dir.join(&output.name), &dir.join(&output.name), output)?;
            let size = human_bytes(output.size);
            eprintln!("opt-dist: exported {name}/{} ({size})", output.name);
        }
        manifest.write(&dir)?;
        exported += 1;
    }
    if exported == 0 {
        bail!("no stage is finished here: nothing to export (`status` shows why)");
    }
    let into = into.display();
    eprintln!(
        "opt-dist: {exported} stage(s) exported to {into}; `cargo xtask opt-dist import {into}` \
         in another build brings them in"
    );
    Ok(())
}

/// Copies a finished stage's output through `<to>.partial`, hashed on the way: `to` appears
/// only when it is the file its manifest lists.
fn export_output(from: &Path, to: &Path, listed: &FileRecord) -> Result<()> {
    let partial = fsutil::partial(to);
    let copied = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))
        .and_then(|mut out| {
            let copied = fsutil::copy_hashed(from, &mut out);
            let (from, to) = (from.display(), partial.display());
            copied.with_context(|| format!("cannot copy {from} to {to}"))
        })
        .and_then(|(size, sha256)| {
            if (size, sha256.as_str()) != (listed.size, listed.sha256.as_str()) {
                bail!(
                    "{} changed since its stage finished ({size} bytes, sha256 {sha256} now; \
                     {} bytes, sha256 {} in its manifest): a run is making it again, or it was \
                     replaced; {} has no manifest, so no import takes it: export the stage again \
                     once it is finished",
                    from.display(),
                    listed.size,
                    listed.sha256,
                    to.parent().unwrap_or(to).display()
                );
            }
            fsutil::rename(&partial, to)
        });
    if copied.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    copied
}

/// A stage ready to go in, nothing of it written yet: `names[i]` in `dir` is
/// `manifest.outputs[i]`, which says, once checked, where it goes.
struct Incoming {
    stage: StageId,
    dir: Dir,
    names: Vec<PathBuf>,
    manifest: Manifest,
    origin: Origin,
}

/// Where a stage's profiles come from.
enum Origin {
    /// An exported stage directory, whose manifest (at this path) lists them.
    Exported(PathBuf),
    /// One profile named on the command line (`--as`), of a stage that makes these kinds here:
    /// the stage's other imported profiles stay, and the ones still missing are named.
    Named(Vec<&'static str>),
}

/// `import <DIR>` (stages in the layout of `<build-dir>/opt-dist`), or `import <FILE> --as
/// <profile>` (one profile made elsewhere): everything is checked before the build dir is
/// touched, then installed holding the lock.
pub fn import(ctx: &Ctx, from: &Path, single: Option<Profile>) -> Result<()> {
    let (incoming, mut store) = match single {
        Some(profile) => (vec![check_single(ctx, from, profile)?], None),
        None => check_directory(ctx, from).map(|(incoming, root)| (incoming, Some(root)))?,
    };
    if incoming.is_empty() {
        return Ok(());
    }
    // With --wait, a run may hold the build dir for hours: exports into the store are not kept
    // waiting meanwhile, as the copy checks each profile again.
    if ctx.wait_for_lock {
        drop(store.take());
    }
    let _lock = ctx.lock()?;
    install(ctx, incoming)
}

/// The stages in `from`, and `from` itself, held (shared) so that no export writes into it.
fn check_directory(ctx: &Ctx, from: &Path) -> Result<(Vec<Incoming>, Dir)> {
    if !from.is_dir() {
        bail!(
            "{} is not a directory of exported stages; a single profile needs --as <{}>",
            from.display(),
            Profile::ALL.map(|p| p.row().stem).join("|")
        );
    }
    let root = Dir::open(from)?;
    lock::store(root.handle(), from, false)?;
    let (mut incoming, mut found) = (Vec::new(), 0);
    for stage in profile_stages() {
        let Some(dir) = root.dir(stage.name(), EXPORT_AGAIN)? else {
            continue;
        };
        let Some(manifest) = dir.file(MANIFEST_FILE, EXPORT_AGAIN)? else {
            eprintln!(
                "opt-dist: {} has no {MANIFEST_FILE} (an export that did not finish?): not \
                 imported; {EXPORT_AGAIN}",
                dir.shown.display()
            );
            continue;
        };
        found += 1;
        incoming.extend(check_stage(ctx, stage, dir, manifest)?);
    }
    if found == 0 {
        bail!(
            "{} holds no exported stage (a <stage>/manifest.json for one of {})",
            from.display(),
            profile_stage_names()
        );
    }
    Ok((incoming, root))
}

/// One exported stage directory: its manifest, then every profile it lists.
fn check_stage(ctx: &Ctx, stage: StageId, dir: Dir, manifest: Source) -> Result<Option<Incoming>> {
    let (name, path) = (stage.name(), manifest.shown.clone());
    let (shown, source) = (path.display(), dir.shown.display());
    let bytes = manifest.read_all(MAX_MANIFEST_BYTES, "a stage manifest")?;
    let manifest: Manifest = serde_json::from_slice(&bytes).with_context(|| {
        format!("{shown} is not a stage manifest this xtask reads; {EXPORT_AGAIN}")
    })?;
    if manifest.stage != name {
        bail!(
            "{shown} is the manifest of the {} stage, not of {name}, whose directory it is in; \
             {EXPORT_AGAIN}",
            manifest.stage
        );
    }
    let plan = stage.plan(ctx)?;
    let why_not = match (manifest.status.as_str(), &plan.skipped) {
        ("done", None) => None,
        ("done", Some(reason)) => {
            Some(format!("is not imported: these options skip the stage ({reason})"))
        }
        (status, _) => Some(format!("is {status}: nothing to import")),
    };
    if let Some(why_not) = why_not {
        eprintln!("opt-dist: {name} in {source} {why_not}");
        return Ok(None);
    }
    check_outputs(ctx, &path, &manifest, &plan)?;
    let differences = manifest
        .tree_differences(&ctx.tree, ctx.interface, ctx.host_llvm.expected_major)
        .into_iter()
        .map(|(what, there, here)| differs(what, there, here))
        .collect();
    let names = manifest.outputs.iter().map(|o| PathBuf::from(&o.name)).collect();
    let incoming = Incoming { stage, dir, names, manifest, origin: Origin::Exported(path) };
    admit(ctx, incoming, differences).map(Some)
}

/// A stage manifest lists exactly what the stage makes for this tree and these options, each by
/// a plain file name in the stage's directory: with a profile missing the stage would be done
/// while the stages after it lack their input, with another stage's kind a profile would be
/// taken for what it is not, and a name that is a path would be read outside the directory.
fn check_outputs(ctx: &Ctx, shown: &Path, manifest: &Manifest, plan: &StagePlan) -> Result<()> {
    let (stage, expected) = (plan.stage.name, plan.outputs.iter().map(|a| a.kind));
    let (mut problems, mut kinds, mut names) = (Vec::new(), BTreeSet::new(), BTreeSet::new());
    if manifest.outputs.is_empty() {
        problems.push("lists nothing".to_string());
    }
    for FileRecord { kind, name, .. } in &manifest.outputs {
        if let Some(why) = not_a_plain_name(name.as_bytes()) {
            bail!(
                "{}: the file of {kind} in `outputs` is named {name:?}, and {why}: a manifest \
                 names each output by a plain file name in its stage's directory, and import \
                 reads nothing outside it; {EXPORT_AGAIN}",
                shown.display()
            );
        }
        let maker = match kind.as_str() {
            DIST_FILE_KIND => Some(StageId::Dist.name()),
            test::CONFIG_KIND => Some(StageId::Test.name()),
            kind => Profile::from_kind(kind).map(|p| p.row().stage),
        };
        if !kinds.insert(kind.as_str()) {
            problems.push(format!("lists {kind} twice"));
        } else if expected.clone().all(|k| k != kind) {
            problems.push(match maker {
                None => format!("lists `{kind}`, which is no kind of output opt-dist makes"),
                Some(maker) if maker != stage => {
                    format!("lists {kind}, which the {maker} stage makes")
                }
                Some(_) => format!(
                    "lists {kind}, which the {stage} stage does not make for this tree with these \
                     options"
                ),
            });
        }
        if !names.insert(name) {
            problems.push(format!("names the file {name} twice"));
        }
    }
    let lacking: Vec<&str> = expected.clone().filter(|k| !kinds.contains(k)).collect();
    if !lacking.is_empty() {
        problems.push(format!("lacks {}", list(lacking, "and")));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let (interface, there) = (ctx.interface.name(), &manifest.interface);
    let what_to_do = match *there == interface {
        true => EXPORT_AGAIN.to_string(),
        false => format!(
            "it was made with bootstrap's {there} interface, this tree has the {interface} one: \
             import the profiles it has one at a time with `import <FILE> --as <profile>`, or \
             {EXPORT_AGAIN}"
        ),
    };
    bail!(
        "{}: its `outputs` {}; the {stage} stage makes exactly {} for this tree (bootstrap's \
         {interface} interface) with these options; {what_to_do}",
        shown.display(),
        problems.join("; it "),
        list(expected, "and")
    )
}

/// `import <FILE> --as <profile>`: the file is checked as a stage's profile is; its only
/// provenance is its name, when it is one of ours.
fn check_single(ctx: &Ctx, file: &Path, profile: Profile) -> Result<Incoming> {
    let (def, tree, shown) = (profile.row(), &ctx.tree, file.display());
    let stage = StageId::from_name(def.stage).expect("a profile names its stage");
    let plan = stage.plan(ctx)?;
    let expected: Vec<&'static str> = plan.outputs.iter().map(|a| a.kind).collect();
    let makes = match &plan.skipped {
        Some(reason) => format!("nothing ({reason})"),
        None => expected.join(" and "),
    };
    if plan.skipped.is_some() || !expected.contains(&def.kind) {
        bail!(
            "the {} stage makes {makes} for this tree (bootstrap's {} interface) with these \
             options, not {}: nothing would use {shown}; nothing was imported: give import the \
             options of the run that is to use it",
            def.stage,
            ctx.interface.name(),
            def.kind
        );
    }
    let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else {
        bail!("{shown} names a directory; import the profile itself, a regular file");
    };
    let extension = def.format.extension();
    let named = name.to_str().and_then(|name| {
        let rest = name.strip_prefix(def.stem)?.strip_prefix('-')?;
        rest.strip_suffix(extension)?.strip_suffix('.')?.split_once('-')
    });
    let differences = match named {
        Some((version, host)) => [("version", version, &tree.version), ("host", host, &tree.host)]
            .into_iter()
            .filter(|(_, there, here)| there != here)
            .map(|(what, there, here)| differs(what, there, here))
            .collect(),
        None => vec![format!(
            "provenance: unknown ({} is not named <{}>-<version>-<host>.{extension}), this tree \
             is {} for {}",
            name.to_string_lossy(),
            def.stem,
            tree.version,
            tree.host
        )],
    };
    // The rest is what the check fills in.
    let output = FileRecord { kind: def.kind.to_string(), ..FileRecord::default() };
    let manifest = Manifest {
        options: ctx.options_record(),
        outputs: vec![output],
        ..Manifest::new(def.stage, stage.def().title, tree, ctx.interface)
    };
    let incoming = Incoming {
        stage,
        dir: Dir::open(parent)?,
        names: vec![name.into()],
        manifest,
        origin: Origin::Named(expected),
    };
    admit(ctx, incoming, differences)
}

fn differs(what: &str, there: impl Display, here: impl Display) -> String {
    format!("{what}: {there} there, {here} here")
}

/// Checks every profile of `incoming`, then the tree it was made for: one that differs from
/// this one in `differences` is refused unless `--allow-stale`. Then its manifest says where
/// each profile goes, and that it was imported.
fn admit(ctx: &Ctx, mut incoming: Incoming, differences: Vec<String>) -> Result<Incoming> {
    let from = match &incoming.origin {
        Origin::Exported(_) => incoming.dir.shown.clone(),
        Origin::Named(_) => incoming.dir.shown.join(&incoming.names[0]),
    };
    for (name, output) in incoming.names.iter().zip(&mut incoming.manifest.outputs) {
        // A kind its stage makes (as checked before) is a profile's.
        let profile = Profile::from_kind(&output.kind).expect("a profile stage makes profiles");
        let listed = match &incoming.origin {
            Origin::Exported(manifest) => Some((manifest.as_path(), output.size, &*output.sha256)),
            Origin::Named(_) => None,
        };
        (output.size, output.sha256) = check_profile(ctx, &incoming.dir, name, profile, listed)?;
        output.path = ctx.profile(profile).path;
        output.name = file_name(&output.path);
    }
    let (stage, shown) = (incoming.stage.name(), from.display());
    let facts = differences.join("\n  ");
    if !differences.is_empty() && !ctx.options.allow_stale {
        bail!(
            "the {stage} profile in {shown} was made for another tree:\n  {facts}\nrustc and \
             clang use a foreign profile where its functions still match and ignore the rest; to \
             take it anyway, pass --allow-stale"
        );
    }
    if !differences.is_empty() {
        eprintln!(
            "opt-dist: importing {stage} from {shown} although it was made for another tree \
             (--allow-stale):\n  {facts}"
        );
    }
    incoming.manifest.imported = Some(ImportRecord { from, at: fsutil::now(), differences });
    Ok(incoming)
}

/// The one check of a profile, for both kinds of import: opened as a regular file, its size
/// compared with the one listed before a byte is read, its content checked to fit `profile`,
/// and its SHA-256 compared with the one listed. Gives its size and SHA-256.
fn check_profile(
    ctx: &Ctx,
    dir: &Dir,
    name: &Path,
    profile: Profile,
    listed: Option<(&Path, u64, &str)>,
) -> Result<(u64, String)> {
    let (def, shown) = (profile.row(), dir.shown.join(name));
    let source = match listed {
        Some((manifest, ..)) => dir.file(name, EXPORT_AGAIN)?.with_context(|| {
            let (shown, manifest) = (shown.display(), manifest.display());
            format!("{shown} is not there, though {manifest} lists it; {COPY_AGAIN}")
        })?,
        None => dir
            .file(name, "import the profile itself, a regular file")?
            .with_context(|| format!("{} does not exist", shown.display()))?,
    };
    // What to do about a profile that does not fit: where the right one is, and what this one
    // may be instead.
    let (binary, stage) = (def.binary, def.stage);
    let fix = match listed {
        Some(_) => {
            format!("its manifest lists it as the {binary} profile ({}); {EXPORT_AGAIN}", def.kind)
        }
        None => format!(
            "the {binary} profile is {} in the {stage} stage's directory of the build that made it",
            profile.file_name(&ctx.tree.version, &ctx.tree.host)
        ),
    };
    let check = |source: &mut Source| {
        let mut may_be = Vec::new();
        let Err(err) = fits(ctx, def, source, &mut may_be) else {
            return Ok(());
        };
        let instead = match may_be.is_empty() {
            true => String::new(),
            false => format!(
                "; if it is the profile of {}, import it with {}",
                list(may_be.iter().map(|p| p.binary), "or"),
                list(may_be.iter().map(|p| format!("`--as {}`", p.stem)), "or")
            ),
        };
        let shown = shown.display();
        Err(anyhow!("{err:#}; {fix}{instead}"))
            .context(format!("{shown} is not a usable {} profile; nothing was imported", def.stem))
    };
    verify(source, listed.map(|(_, size, sha256)| (size, sha256)), false, check)
}

/// Reads `source` through `use_bytes` and checks that it is the file listed (size and SHA-256),
/// when something lists it: its manifest, or when `installing`, the check before. A file that
/// is not the one listed is reported as that, whatever `use_bytes` found in it; one of another
/// size is not read at all. Gives its size and SHA-256.
fn verify(
    mut source: Source,
    listed: Option<(u64, &str)>,
    installing: bool,
    use_bytes: impl FnOnce(&mut Source) -> Result<()>,
) -> Result<(u64, String)> {
    let (shown, size) = (source.shown.display().to_string(), source.size);
    let not_listed = |found: String, listed: String| match installing {
        true => anyhow!(
            "{shown} changed since it was checked: {found} now, {listed} then; {IMPORT_AGAIN}"
        ),
        false => anyhow!(
            "{shown} is not the file its manifest lists: {found} found, {listed} listed; \
             {COPY_AGAIN}"
        ),
    };
    let in_bytes = |n: u64| format!("{n} bytes ({})", human_bytes(n));
    if let Some((listed, _)) = listed.filter(|(listed, _)| *listed != size) {
        return Err(not_listed(in_bytes(size), in_bytes(listed)));
    }
    let used = use_bytes(&mut source);
    let sha256 = source.finish()?;
    if let Some((_, listed)) = listed.filter(|(_, listed)| *listed != sha256) {
        return Err(not_listed(format!("sha256 {sha256}"), listed.to_string()));
    }
    used.map(|()| (size, sha256))
}

/// Whether the profile read from `source` fits `def`: the format of its kind (a raw profile is
/// not merged yet), counts in it, and functions of the binary it is for, told by the language
/// of their names. When it does not, `may_be` gets the profiles it may be instead.
fn fits(ctx: &Ctx, def: &Row, source: &mut Source, may_be: &mut Vec<&'static Row>) -> Result<()> {
    let shown = source.shown.clone();
    let head = llvm::read_head(source, &shown)?;
    let found = Contents::of(&head);
    let mut whole = std::io::Cursor::new(head).chain(source);
    let rows = |format: Format, language: Option<Language>| {
        let fits = move |p: &&Row| p.format == format && language.is_none_or(|l| p.language == l);
        Profile::ALL.iter().map(|p| p.row()).filter(fits)
    };
    let format = match found {
        Contents::IndexedProfile => Some(Format::Profdata),
        Contents::Text => Some(Format::Fdata),
        _ => None,
    };
    let summary = match format {
        _ if found == Contents::RawProfile => bail!(
            "it is {}: merge the raw profiles into one indexed profile with `llvm-profdata merge \
             -o <profile>.profdata <raw profiles>` (what the {} stage does after training) and \
             import that",
            found.describe(),
            def.stage
        ),
        Some(Format::Profdata) if def.format == Format::Profdata => {
            let profdata = ctx.host_llvm.tool("llvm-profdata");
            llvm::profile_summary_from(&profdata, &mut whole, &shown)?
        }
        Some(Format::Fdata) if def.format == Format::Fdata => {
            llvm::read_fdata(std::io::BufReader::new(whole), &shown)?
        }
        _ => {
            may_be.extend(format.into_iter().flat_map(|format| rows(format, None)));
            let it_is = match found {
                Contents::Text => "text (as a BOLT profile is)",
                _ => found.describe(),
            };
            let wanted = match def.format {
                Format::Profdata => {
                    "an indexed LLVM profile (which starts with the bytes ff 6c 70 72 6f 66 69 \
                     81)"
                }
                Format::Fdata => "a BOLT profile (text branch records, as merge-fdata writes them)",
            };
            bail!("it is {it_is}, not {wanted}")
        }
    };
    let (total, binary) = (summary.functions.len(), def.binary);
    if total == 0 || summary.max_count == 0 {
        bail!(
            "it holds no counts ({total} functions, maximum count {}): the training that made it \
             did not exercise {binary}",
            summary.max_count
        );
    }
    let is_rust = |f: &&String| llvm::is_rust_symbol(f);
    let rust = summary.functions.iter().filter(is_rust).count();
    let (language, only, kind) = match rust * 2 > total {
        true => (Language::Rust, "", "Rust"),
        false => (Language::Cxx, "only ", "C/C++"),
    };
    if language == def.language {
        return Ok(());
    }
    may_be.extend(rows(def.format, Some(language)));
    bail!(
        "{only}{rust} of {total} functions it profiles are Rust symbols: this is a profile of a \
         {kind} binary ({}), not of {binary}",
        list(may_be.iter().map(|p| p.binary), "or")
    )
}

/// `a`, `a <conjunction> b`, `a, b <conjunction> c`.
fn list<T: Display>(words: impl IntoIterator<Item = T>, conjunction: &str) -> String {
    let mut words: Vec<String> = words.into_iter().map(|w| w.to_string()).collect();
    let last = words.pop().unwrap_or_default();
    match words.is_empty() {
        true => last,
        false => format!("{} {conjunction} {last}", words.join(", ")),
    }
}

/// Copies every checked profile in under a `.partial` name, checking it again on the way (the
/// source may have changed since it was checked), then renames them all into place and writes
/// the manifests: a stage directory with a manifest has every file it names. On a failure
/// before the manifests, the partials and the stage directories made here (when empty) go.
fn install(ctx: &Ctx, incoming: Vec<Incoming>) -> Result<()> {
    let partials = || {
        let outputs = incoming.iter().flat_map(|stage| &stage.manifest.outputs);
        outputs.map(|output| (fsutil::partial(&output.path), &output.path))
    };
    let mut created = Vec::new();
    let copied = copy_in(ctx, &incoming, &mut created).context("nothing was imported");
    let renamed = copied.and_then(|()| {
        partials().try_for_each(|(partial, target)| fsutil::rename(&partial, target))
    });
    if renamed.is_err() {
        partials().for_each(|(partial, _)| drop(std::fs::remove_file(partial)));
        created.iter().rev().for_each(|dir| drop(std::fs::remove_dir(dir)));
    }
    renamed?;
    for Incoming { stage, dir, names, mut manifest, origin } in incoming {
        let (name, stage_dir) = (stage.name(), ctx.tree.stage_dir(stage.name()));
        for (from, output) in names.iter().zip(&manifest.outputs) {
            let (from, to) = (dir.shown.join(from), output.path.display());
            eprintln!("opt-dist: imported {} as {to}", from.display());
        }
        let mut missing = Vec::new();
        if let Origin::Named(kinds) = origin {
            let before = Manifest::read(&stage_dir).filter(|m| m.imported.is_some());
            let mut outputs = before.map(|m| m.outputs).unwrap_or_default();
            outputs.retain(|o| manifest.outputs.iter().all(|new| new.kind != o.kind));
            outputs.append(&mut manifest.outputs);
            manifest.outputs = outputs;
            missing = kinds;
            missing.retain(|kind| manifest.outputs.iter().all(|o| o.kind != *kind));
        }
        manifest.write(&stage_dir)?;
        // What an earlier run of the stage left is history now.
        for stale in [JOURNAL_FILE, FAILED_FILE] {
            let _ = std::fs::remove_file(stage_dir.join(stale));
        }
        match manifest.imported.map_or(0, |i| i.differences.len()) {
            0 => eprintln!("opt-dist: {name} is done (imported)"),
            n => eprintln!(
                "opt-dist: {name} is done (imported, {n} fact(s) differ from this tree, accepted \
                 with --allow-stale)"
            ),
        }
        if !missing.is_empty() {
            eprintln!(
                "opt-dist: {name} still lacks {}: import it with `import <FILE> --as <profile>`; \
                 a stage that needs it stops until then",
                missing.join(" and ")
            );
        }
    }
    Ok(())
}

/// The copies of [`install`], which removes what this made (recorded in `created`) when one
/// fails.
fn copy_in(ctx: &Ctx, incoming: &[Incoming], created: &mut Vec<PathBuf>) -> Result<()> {
    for stage in incoming {
        let dir = ctx.tree.stage_dir(stage.stage.name());
        if !dir.is_dir() {
            fsutil::create_dir(&dir)?;
            created.push(dir);
        }
        for (name, output) in stage.names.iter().zip(&stage.manifest.outputs) {
            let (partial, shown) = (fsutil::partial(&output.path), stage.dir.shown.join(name));
            // One a killed import left behind is ours to replace.
            fsutil::remove(&partial)?;
            let mut out = std::fs::File::create_new(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let source = stage.dir.file(name, IMPORT_AGAIN)?;
            let source = source.with_context(|| {
                format!("{} is gone since it was checked; {IMPORT_AGAIN}", shown.display())
            })?;
            let checked = Some((output.size, output.sha256.as_str()));
            verify(source, checked, true, |source| {
                let (from, to) = (shown.display(), partial.display());
                let copied = std::io::copy(source, &mut out).map(drop);
                copied.with_context(|| format!("cannot copy {from} to {to}"))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_is_exported_only_as_its_manifest_lists_it() {
        let dir = std::env::temp_dir().join(format!("opt-dist-export-{}", std::process::id()));
        fsutil::create_dir(&dir).unwrap();
        let (from, to) = (dir.join("rustc-pgo.profdata"), dir.join("exported.profdata"));
        std::fs::write(&from, b"the profile the stage made").unwrap();
        let listed = FileRecord::of("rustc-pgo-profile", &from).unwrap();
        std::fs::write(&from, b"the profile a new run made").unwrap();

        let err = export_output(&from, &to, &listed).unwrap_err();
        assert!(format!("{err:#}").contains("changed since its stage finished"), "{err:#}");
        assert!(!to.exists() && !fsutil::partial(&to).exists());

        let listed = FileRecord::of("rustc-pgo-profile", &from).unwrap();
        export_output(&from, &to, &listed).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"the profile a new run made");
        assert!(!fsutil::partial(&to).exists());
        fsutil::remove(&dir).unwrap();
    }
}
