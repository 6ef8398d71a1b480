//! The profiles the pipeline makes, one row each: what a file is called, its format, the binary
//! it profiles and the stage directory it lives in. A profile's file name,
//! `<stem>-<version>-<host>.<extension>`, says what made it, so a later stage (or another
//! machine) finds it without being told.

use std::marker::PhantomData;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    RustcPgo,
    /// Only with bootstrap's `[pgo]` table, which instruments rustdoc too (and clippy, where the
    /// table has the `clippy` key).
    RustdocPgo,
    ClippyPgo,
    LlvmPgo,
    LlvmBolt,
    RustcBolt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// LLVM's indexed instrumentation profile, read by `-Cprofile-use` and clang.
    Profdata,
    /// BOLT's branch profile, as `merge-fdata` writes it.
    Fdata,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Profdata => "profdata",
            Format::Fdata => "fdata",
        }
    }
}

/// The language of the binary a profile was trained on, told by its functions' names (on the
/// miniature tree, a C library stands in for LLVM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    Cxx,
}

pub struct Row {
    /// The start of its file name, and its name on the command line (`--as`).
    pub stem: &'static str,
    /// The kind of output manifests record.
    pub kind: &'static str,
    pub format: Format,
    /// The binary it profiles, as messages name it.
    pub binary: &'static str,
    pub language: Language,
    /// The stage that makes it, whose directory holds it.
    pub stage: &'static str,
    /// A BOLT profile's name in upstream's reproducible-artifacts tarball.
    pub upstream_name: Option<&'static str>,
}

/// A row; its kind is its stem's, as manifests have always named it.
macro_rules! row {
    ($stem:literal, $format:ident, $binary:literal, $language:ident, $stage:literal, $upstream:expr) => {
        Row {
            stem: $stem,
            kind: concat!($stem, "-profile"),
            format: Format::$format,
            binary: $binary,
            language: Language::$language,
            stage: $stage,
            upstream_name: $upstream,
        }
    };
}

#[rustfmt::skip]
const ROWS: [Row; 6] = [
    row!("rustc-pgo", Profdata, "rustc", Rust, "rustc-pgo", None),
    row!("rustdoc-pgo", Profdata, "rustdoc", Rust, "rustc-pgo", None),
    row!("clippy-pgo", Profdata, "clippy", Rust, "rustc-pgo", None),
    row!("llvm-pgo", Profdata, "LLVM", Cxx, "llvm-pgo", None),
    row!("llvm-bolt", Fdata, "libLLVM", Cxx, "llvm-bolt", Some("LLVM-bolt.profdata")),
    row!("rustc-bolt", Fdata, "librustc_driver", Rust, "rustc-bolt", Some("rustc-bolt.profdata")),
];

impl Profile {
    pub const ALL: [Profile; 6] = [
        Profile::RustcPgo,
        Profile::RustdocPgo,
        Profile::ClippyPgo,
        Profile::LlvmPgo,
        Profile::LlvmBolt,
        Profile::RustcBolt,
    ];

    pub fn row(self) -> &'static Row {
        &ROWS[self as usize]
    }

    pub fn from_stem(stem: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.row().stem == stem)
    }

    pub fn from_kind(kind: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.row().kind == kind)
    }

    pub fn file_name(self, version: &str, host: &str) -> String {
        let row = self.row();
        format!("{}-{version}-{host}.{}", row.stem, row.format.extension())
    }
}

/// The kinds of PGO profile as types, so that the code handing profiles to bootstrap cannot pass
/// one kind where another is expected (a rustc profile given as LLVM's builds without complaint and
/// without PGO).
pub mod kind {
    use super::Profile;

    pub trait Kind {
        const PROFILE: Profile;
    }

    macro_rules! kinds {
        ($($kind:ident),*) => {$(
            pub enum $kind {}
            impl Kind for $kind {
                const PROFILE: Profile = Profile::$kind;
            }
        )*};
    }
    kinds!(RustcPgo, RustdocPgo, ClippyPgo, LlvmPgo);
}

#[derive(Debug)]
pub struct ProfileFile<K: kind::Kind> {
    pub path: PathBuf,
    kind: PhantomData<K>,
}

impl<K: kind::Kind> ProfileFile<K> {
    pub fn new(path: PathBuf) -> ProfileFile<K> {
        ProfileFile { path, kind: PhantomData }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_its_own_profiles() {
        for profile in Profile::ALL {
            let stem = serde_json::to_value(profile).unwrap();
            assert_eq!(stem, profile.row().stem, "{profile:?}");
            assert_eq!(profile.row().kind, format!("{}-profile", profile.row().stem));
        }
    }
}
