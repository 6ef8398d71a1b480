//! Ctrl-C and termination: the xtask notes the signal instead of dying on the spot, so the step
//! under way fails normally and the cleanup that follows a failure runs (a BOLT-instrumented
//! library is put back).
//!
//! Ctrl-C reaches the whole foreground process group, so x.py or the collector stop by
//! themselves; a signal sent to the xtask alone lets the running command finish first.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
mod sys {
    use std::os::raw::c_int;

    const SIGHUP: c_int = 1;
    const SIGINT: c_int = 2;
    const SIGTERM: c_int = 15;

    extern "C" {
        fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    }

    extern "C" fn note(_: c_int) {
        // Only an atomic store: all a signal handler may safely do.
        super::INTERRUPTED.store(true, super::Ordering::SeqCst);
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
    pub fn install() {}
}

/// From now on a signal is noted, not fatal; [`interrupted`] tells whether one came.
pub fn install() {
    sys::install();
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
