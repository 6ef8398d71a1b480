//! An external command as data: program, arguments, the environment it adds, and where it runs.
//! One value serves three uses: running it (through xshell), rendering it for `plan` (text, a
//! replayable POSIX shell line, or JSON), and recording it in the stage's manifest.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Cmd {
    pub argv: Vec<String>,
    /// Only the variables this command sets; everything else is inherited.
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

/// An argument as the command gets it: text, or a path (text is a path to `AsRef<Path>`, and
/// shows as itself).
fn text(arg: impl AsRef<Path>) -> String {
    arg.as_ref().display().to_string()
}

impl Cmd {
    pub fn new(program: impl AsRef<Path>, cwd: &Path) -> Cmd {
        Cmd { argv: vec![text(program)], env: BTreeMap::new(), cwd: cwd.to_path_buf() }
    }

    pub fn arg(mut self, arg: impl AsRef<Path>) -> Cmd {
        self.argv.push(text(arg));
        self
    }

    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<Path>>) -> Cmd {
        self.argv.extend(args.into_iter().map(text));
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<Path>) -> Cmd {
        self.env.insert(key.to_string(), text(value));
        self
    }

    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// `KEY=value program args...`, quoted for a POSIX shell.
    pub fn shell_line(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={}", shell_quote(v)));
        let argv = self.argv.iter().map(|a| shell_quote(a));
        env.chain(argv).collect::<Vec<_>>().join(" ")
    }

    /// The command for xshell; the caller holds `sh.push_dir(&self.cwd)` while it runs, so no
    /// later command depends on where this one ran.
    fn to_xshell<'a>(&self, sh: &'a xshell::Shell) -> xshell::Cmd<'a> {
        sh.cmd(self.program()).args(&self.argv[1..]).envs(&self.env).quiet()
    }

    /// Runs with the terminal attached, so bootstrap's and the collector's progress is visible;
    /// with `on_line`, its stdout and stderr are read line by line, merged, into it (which passes
    /// them on), for commands whose output the xtask reads. The command runs in a process group
    /// of its own that a signal to the xtask reaches too ([`super::process::wait_for`]).
    pub fn run(&self, sh: &xshell::Shell, on_line: Option<&mut dyn FnMut(&str)>) -> Result<()> {
        let failed =
            || format!("command failed: {} (in {})", self.shell_line(), self.cwd.display());
        if let Some(why) = super::process::stop_reason() {
            bail!("not started: {why}");
        }
        let mut command: std::process::Command = {
            let _cwd = sh.push_dir(&self.cwd);
            self.to_xshell(sh).into()
        };
        use std::os::unix::process::CommandExt;
        // A process group that is not the terminal's foreground must not read the terminal.
        command.process_group(0).stdin(Stdio::null());
        let mut output = None;
        if on_line.is_some() {
            let (reader, writer) = std::io::pipe().context("cannot make a pipe")?;
            command.stdout(writer.try_clone().context("cannot make a pipe")?).stderr(writer);
            output = Some(reader);
        }
        let child = command
            .spawn()
            .with_context(|| format!("could not start `{}`", self.program()))
            .with_context(failed)?;
        // Its copies of the pipe's writing end go, so that reading ends when the command does.
        drop(command);
        let line = self.shell_line();
        // The wait goes beside the reading: it must notice a signal while nothing is printed.
        let waiter = std::thread::spawn(move || super::process::wait_for(child, &line));
        if let (Some(output), Some(on_line)) = (output, on_line) {
            for line in std::io::BufReader::new(output).split(b'\n').map_while(|l| l.ok()) {
                on_line(String::from_utf8_lossy(&line).trim_end_matches('\r'));
            }
        }
        let status = waiter
            .join()
            .map_err(|_| anyhow::anyhow!("waiting for {} failed", self.program()))?
            .with_context(failed)?;
        if !status.success() {
            bail!("{}: {status}", failed());
        }
        Ok(())
    }

    /// Runs and returns stdout; stderr still goes to the terminal.
    pub fn read(&self, sh: &xshell::Shell) -> Result<String> {
        let _cwd = sh.push_dir(&self.cwd);
        self.to_xshell(sh).read().with_context(|| format!("command failed: {}", self.shell_line()))
    }

    /// Runs quietly and returns (success, stdout, stderr): for probes whose failure is an answer.
    pub fn probe(&self, sh: &xshell::Shell) -> Result<(bool, String, String)> {
        let _cwd = sh.push_dir(&self.cwd);
        let output = self
            .to_xshell(sh)
            .ignore_status()
            .output()
            .with_context(|| format!("could not start `{}`", self.program()))?;
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        Ok((output.status.success(), text(&output.stdout), text(&output.stderr)))
    }

    /// [`Cmd::probe`], asked once per process while the program is unchanged: for questions
    /// whose answer only the program's version decides (`rustc -vV`, `llvm-nm --version`).
    pub fn remembered_probe(&self, sh: &xshell::Shell) -> Result<(bool, String, String)> {
        let program = Path::new(self.program());
        super::fs::remembered(&[program], &format!("{:?}", self.argv), || self.probe(sh))
    }
}

/// A path as one shell word.
pub fn shell_quote_path(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

/// Quotes a word for a POSIX shell only when it needs it, so plans stay readable.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    match plain {
        true => word.to_string(),
        false => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_line_quotes_only_what_needs_it() {
        let cmd = Cmd::new("python3", Path::new("/t"))
            .args(["x.py", "build", "--set", r#"pgo.rustc.use="/a b/p""#, "it's"])
            .env("LLVM_PROFILE_FILE", "/raw/default_%m_%p.profraw");
        assert_eq!(
            cmd.shell_line(),
            r#"LLVM_PROFILE_FILE=/raw/default_%m_%p.profraw python3 x.py build --set 'pgo.rustc.use="/a b/p"' 'it'\''s'"#
        );
    }

    #[test]
    fn shell_line_round_trips_through_sh() {
        let tricky = r#"a 'b' "c" $d `e` \f"#;
        let cmd = Cmd::new("printf", Path::new("/")).args(["%s", tricky]);
        let out =
            std::process::Command::new("sh").arg("-c").arg(cmd.shell_line()).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), tricky);
    }
}
