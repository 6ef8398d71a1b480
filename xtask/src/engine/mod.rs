//! The engine: a stage as data ([`plan`]), the context it is planned in ([`context`]), and
//! everything that runs plans and keeps their state: the runner and the effects it carries out,
//! the stage states and journals, the build dir's state and its repairs, backups, the lock,
//! manifests, disk accounting and reports. It knows no stage by name: the stages hand it
//! their plans.

pub mod backup;
pub mod build_state;
pub mod context;
pub mod disk;
pub mod effects;
pub mod lock;
pub mod manifest;
pub mod package;
pub mod plan;
pub mod report;
pub mod runner;
pub mod state;
