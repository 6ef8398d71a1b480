//! Ctrl-C and termination: the xtask notes the signal instead of dying on the spot, so the step
//! under way fails normally and the cleanup that follows a failure runs (a BOLT-instrumented
//! library is put back), and then exits as a signalled process would: 128 + the signal's
//! number (130 for Ctrl-C, 143 for SIGTERM), with a message that names the interruption.
//!
//! Ctrl-C reaches the whole foreground process group, so x.py or the collector stop by
//! themselves; a signal sent to the xtask alone lets the running command finish first.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that came, 0 while none did.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

#[cfg(unix)]
mod sys {
    use std::os::raw::c_int;

    pub const SIGHUP: c_int = 1;
    pub const SIGINT: c_int = 2;
    pub const SIGTERM: c_int = 15;

    extern "C" {
        fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    }

    extern "C" fn note(signum: c_int) {
        // Only an atomic store: all a signal handler may safely do.
        super::SIGNAL.store(signum, super::Ordering::SeqCst);
    }

    pub fn install() {
        for signum in [SIGHUP, SIGINT, SIGTERM] {
            // SAFETY: `note` is async-signal-safe (one atomic store) and lives forever.
            unsafe {
                signal(signum, note);
            }
        }
    }
}

#[cfg(not(unix))]
mod sys {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
    pub fn install() {}
}

/// From now on a signal is noted, not fatal; [`interrupted`] tells whether one came.
pub fn install() {
    sys::install();
}

pub fn interrupted() -> bool {
    signal().is_some()
}

/// The signal that interrupted the run, if one did.
pub fn signal() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signum => Some(signum),
    }
}

/// The signal in words, for messages.
pub fn describe(signum: i32) -> String {
    match signum {
        sys::SIGINT => "SIGINT (Ctrl-C)".to_string(),
        sys::SIGTERM => "SIGTERM".to_string(),
        sys::SIGHUP => "SIGHUP (the terminal went away)".to_string(),
        other => format!("signal {other}"),
    }
}
