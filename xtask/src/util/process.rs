//! Signals and the processes the xtask starts.
//!
//! Ctrl-C, SIGTERM and SIGHUP are noted instead of killing the xtask on the spot, so the step
//! under way fails normally and the cleanup that follows a failure runs (a BOLT-instrumented
//! library is put back); the xtask then exits as a signalled process would (128 + the signal's
//! number), with a message that names the interruption.
//!
//! Every command runs in a process group of its own, so a signal sent to the xtask alone (a CI
//! runner's cancel, `kill PID`) reaches its children too: the xtask passes the signal on to the
//! group, and kills what is left of it after [`GRACE`]. The groups running now (two, while two
//! steps run at once) are recorded in a file (the build dir's `children.json`); should the
//! xtask be killed outright (SIGKILL), the next run that takes the build dir's lock stops those
//! groups before it uses any directory they could still be writing into.
//!
//! The run itself can ask for its commands to end ([`stop_commands`]: a step running at the
//! same time failed, or preflight did): they are stopped as on a signal, but the xtask goes on
//! to report why.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The signal that came, 0 while none did.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Why the run stopped its commands, once it did ([`stop_commands`]).
static STOP: Mutex<Option<String>> = Mutex::new(None);

/// How long a command has to end after the signal is passed on, before it is killed.
const GRACE: Duration = Duration::from_secs(5);

extern "C" fn on_signal(signum: libc::c_int) {
    // Only an atomic store: all a signal handler may safely do.
    SIGNAL.store(signum, Ordering::SeqCst);
}

/// From now on a signal is noted, not fatal; [`signal`] tells whether one came.
pub fn install() {
    for signum in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` is async-signal-safe (one atomic store) and lives forever.
        unsafe {
            libc::signal(signum, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
    }
}

/// The signal that interrupted the run, if one did.
pub fn signal() -> Option<i32> {
    Some(SIGNAL.load(Ordering::SeqCst)).filter(|&signum| signum != 0)
}

/// Stops every command running now or started later in this run (SIGTERM to its group, then
/// SIGKILL after [`GRACE`]), its error saying `why`; the first reason given stays.
pub fn stop_commands(why: &str) {
    STOP.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| why.to_string());
}

/// Pauses (SIGSTOP) or resumes (SIGCONT) the running `command` (its shell line), with every
/// process of its group: training waits while its raw profiles are merged.
pub fn pause_command(command: &str, paused: bool) {
    let signum = if paused { libc::SIGSTOP } else { libc::SIGCONT };
    let record = RECORD.lock().unwrap_or_else(|e| e.into_inner());
    for children in record.1.iter().filter(|c| c.command == command) {
        signal_group(children.group, signum);
    }
}

/// Gives the calling thread, and the processes it starts, the lowest CPU priority (nice 19;
/// on Linux a thread has its own, and a child starts with its thread's): work beside a
/// command that should take only what the command leaves idle.
pub fn lower_this_threads_priority() {
    // SAFETY: gettid and setpriority touch no memory of ours.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, 19);
    }
}

/// Makes `command` start with the lowest CPU priority (nice 19), for work beside a command
/// that should take only what the command leaves idle.
pub fn at_lowest_priority(command: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: in the child between fork and exec, setpriority touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            Ok(())
        })
    }
}

/// Why the run stopped its commands, once it did.
pub fn stop_reason() -> Option<String> {
    STOP.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The signal in words, for messages.
pub fn describe(signum: i32) -> String {
    match signum {
        libc::SIGINT => "SIGINT (Ctrl-C)".to_string(),
        libc::SIGTERM => "SIGTERM".to_string(),
        libc::SIGHUP => "SIGHUP (the terminal went away)".to_string(),
        other => format!("signal {other}"),
    }
}

/// `kill(-group, signum)`: true when the group had a process to signal.
fn signal_group(group: u32, signum: i32) -> bool {
    // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
    unsafe { libc::kill(-(group as libc::pid_t), signum) == 0 }
}

/// Field 22 of `/proc/<pid>/stat`, the process's start time in clock ticks since boot; `None`
/// where there is no such process (a zombie, killed but not yet reaped, counts as ended).
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if matches!(fields.next(), Some("Z" | "X")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// The process group of a running command, as recorded for the next run.
#[derive(Clone, Serialize, Deserialize)]
struct Children {
    group: u32,
    /// The group leader's start time: a recycled pid is not mistaken for it.
    leader_start: Option<u64>,
    command: String,
}

/// Where the running groups are recorded (set by the build dir's lock), and which they are.
static RECORD: Mutex<(Option<PathBuf>, Vec<Children>)> = Mutex::new((None, Vec::new()));

/// Stops the processes a run killed outright left running, as `record` names them, and records
/// this run's commands there from now on.
pub fn stop_leftover_children(record: &Path) -> Result<()> {
    RECORD.lock().unwrap_or_else(|e| e.into_inner()).0 = Some(record.to_path_buf());
    // A list; one object from an xtask that ran one command at a time.
    let groups = match super::fs::read_json::<serde_json::Value>(record) {
        Ok(Some(serde_json::Value::Array(list))) => list,
        Ok(Some(one)) => vec![one],
        _ => return Ok(()),
    };
    for children in groups.into_iter().filter_map(|v| serde_json::from_value::<Children>(v).ok()) {
        // A group id cannot be reused while a process of the group lives, so with the leader
        // gone any member left is ours; a live process with the leader's pid is ours only if
        // it started when the leader did.
        let ours = match process_start(children.group) {
            Some(start) => children.leader_start.is_none_or(|recorded| recorded == start),
            None => signal_group(children.group, 0),
        };
        if ours {
            eprintln!(
                "opt-dist: stopping the processes of a run that was killed (process group {}: \
                 `{}`), so that they write nothing into this run's directories",
                children.group, children.command
            );
            kill_group_and_wait(children.group)?;
        }
    }
    super::fs::remove(record)
}

/// Kills every process of `group` and waits until none is left.
fn kill_group_and_wait(group: u32) -> Result<()> {
    let deadline = Instant::now() + GRACE;
    while signal_group(group, libc::SIGKILL) {
        if Instant::now() > deadline {
            bail!(
                "the processes of process group {group} do not end: stop them (`kill -KILL -- \
                 -{group}`) before running again"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Notes a group that started (`Ok`) or ended (`Err`: its id), for the next run should this
/// one be killed.
fn note(change: Result<Children, u32>) {
    let mut record = RECORD.lock().unwrap_or_else(|e| e.into_inner());
    let (path, running) = &mut *record;
    match change {
        Ok(children) => running.push(children),
        Err(group) => running.retain(|c| c.group != group),
    }
    let Some(path) = path else {
        return;
    };
    // Only for the case that this run is killed: no reason to stop it.
    let _ = match running.is_empty() {
        false => super::fs::write_json(path, running),
        true => super::fs::remove(path),
    };
}

/// Waits for `child`, started as the leader of its own process group. A signal that comes
/// meanwhile (or a request to stop the run's commands) is passed on to the whole group, which
/// is killed after [`GRACE`]; the result is then an error that names the signal (or the
/// reason).
pub fn wait_for(mut child: Child, command: &str) -> Result<ExitStatus> {
    let group = child.id();
    note(Ok(Children { group, leader_start: process_start(group), command: command.to_string() }));
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait()));
    let mut passed_on: Option<(i32, Instant)> = None;
    let status = loop {
        match receiver.recv_timeout(Duration::from_millis(50)) {
            Ok(status) => break status,
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("lost track of `{command}`"),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let stop = || stop_reason().map(|_| libc::SIGTERM);
        match (passed_on, signal().or_else(stop)) {
            (None, Some(signum)) => {
                match signal() {
                    Some(_) => eprintln!(
                        "opt-dist: {} came: passing it on to `{command}` and its processes",
                        describe(signum)
                    ),
                    None => eprintln!(
                        "opt-dist: stopping `{command}` and its processes: {}",
                        stop_reason().unwrap_or_default()
                    ),
                }
                signal_group(group, signum);
                // A paused group ([`pause_commands`]) must run to take the signal.
                signal_group(group, libc::SIGCONT);
                passed_on = Some((signum, Instant::now()));
            }
            (Some((_, at)), _) if at.elapsed() > GRACE => {
                signal_group(group, libc::SIGKILL);
            }
            _ => {}
        }
    };
    if passed_on.is_some() {
        // Whatever of the group outlived its leader goes too.
        let _ = kill_group_and_wait(group);
    }
    note(Err(group));
    match (passed_on, signal(), stop_reason()) {
        (Some(_), None, Some(why)) => bail!("stopped: {why}"),
        (Some((signum, _)), ..) => bail!("interrupted by {}", describe(signum)),
        (None, ..) => Ok(status?),
    }
}
