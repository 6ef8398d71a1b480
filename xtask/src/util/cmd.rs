//! An external command as data: program, arguments, the environment it adds, and where it runs.
//!
//! Stages build these instead of running processes directly, so one value serves three uses:
//! running it (through xshell), rendering it for `plan` (text, a replayable POSIX shell line, or
//! JSON), and recording it in the stage's manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Cmd {
    pub argv: Vec<String>,
    /// Only the variables this command sets; everything else is inherited.
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

impl Cmd {
    pub fn new(program: impl Into<String>, cwd: &Path) -> Cmd {
        Cmd {
            argv: vec![program.into()],
            env: BTreeMap::new(),
            cwd: cwd.to_path_buf(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Cmd {
        self.argv.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Cmd {
        self.env.insert(key.to_string(), value.into());
        self
    }

    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// `KEY=value program args...`, quoted for a POSIX shell.
    pub fn shell_line(&self) -> String {
        let env = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)));
        let argv = self.argv.iter().map(|a| shell_quote(a));
        env.chain(argv).collect::<Vec<_>>().join(" ")
    }

    /// The command for xshell. The caller holds `sh.push_dir(&self.cwd)` while it runs: the
    /// shell's directory is scoped to one command, so no later command (or relative path)
    /// depends on where the previous one ran.
    fn to_xshell<'a>(&self, sh: &'a xshell::Shell) -> xshell::Cmd<'a> {
        sh.cmd(self.program())
            .args(&self.argv[1..])
            .envs(&self.env)
            .quiet()
    }

    /// Runs with the terminal attached, so bootstrap's and the collector's progress is visible,
    /// in a process group of its own that a signal to the xtask reaches too
    /// ([`super::process::wait_for`]).
    pub fn run(&self, sh: &xshell::Shell) -> Result<()> {
        let child = self.spawn(sh, std::process::Stdio::inherit())?;
        let status = super::process::wait_for(child, self.program())
            .with_context(|| self.failure_context())?;
        if !status.success() {
            anyhow::bail!("{}: {status}", self.failure_context());
        }
        Ok(())
    }

    /// Runs like [`Cmd::run`], with stderr read line by line into `on_line` (which passes it
    /// on): for commands whose progress the xtask reports.
    pub fn run_watching_stderr(
        &self,
        sh: &xshell::Shell,
        mut on_line: impl FnMut(&str),
    ) -> Result<()> {
        use std::io::BufRead;
        let mut child = self.spawn(sh, std::process::Stdio::piped())?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = std::sync::mpsc::channel();
        // The lines are read beside the wait, which must notice a signal while the command
        // prints nothing.
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).split(b'\n') {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let program = self.program().to_string();
        let waiter = std::thread::spawn(move || super::process::wait_for(child, &program));
        for line in lines {
            on_line(String::from_utf8_lossy(&line).trim_end_matches('\r'));
        }
        let _ = reader.join();
        let status = waiter
            .join()
            .map_err(|_| anyhow::anyhow!("waiting for {} failed", self.program()))?
            .with_context(|| self.failure_context())?;
        if !status.success() {
            anyhow::bail!("{}: {status}", self.failure_context());
        }
        Ok(())
    }

    /// Starts the command as the leader of a new process group, stdin closed (a process group
    /// that is not the terminal's foreground must not read it).
    fn spawn(
        &self,
        sh: &xshell::Shell,
        stderr: std::process::Stdio,
    ) -> Result<std::process::Child> {
        use std::os::unix::process::CommandExt;
        let _cwd = sh.push_dir(&self.cwd);
        let mut command: std::process::Command = self.to_xshell(sh).into();
        command
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("could not start `{}`", self.program()))
            .with_context(|| self.failure_context())
    }

    /// Runs and returns stdout; stderr still goes to the terminal.
    pub fn read(&self, sh: &xshell::Shell) -> Result<String> {
        let _cwd = sh.push_dir(&self.cwd);
        self.to_xshell(sh)
            .read()
            .with_context(|| self.failure_context())
    }

    /// Runs quietly and returns (success, stdout, stderr): for probes whose failure is an answer.
    pub fn probe(&self, sh: &xshell::Shell) -> Result<(bool, String, String)> {
        let _cwd = sh.push_dir(&self.cwd);
        let output = self
            .to_xshell(sh)
            .ignore_status()
            .output()
            .with_context(|| format!("could not start `{}`", self.program()))?;
        Ok((
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }

    fn failure_context(&self) -> String {
        format!(
            "command failed: {} (in {})",
            self.shell_line(),
            self.cwd.display()
        )
    }
}

/// A path as one shell word.
pub fn shell_quote_path(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

/// Quotes a word for a POSIX shell only when it needs it, so plans stay readable.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_line_quotes_only_what_needs_it() {
        let cmd = Cmd::new("python3", Path::new("/t"))
            .args([
                "x.py",
                "build",
                "--set",
                r#"pgo.rustc.use="/a b/p""#,
                "it's",
            ])
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
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd.shell_line())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), tricky);
    }
}
