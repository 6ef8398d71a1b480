//! The engine: a stage as data ([`plan`]), the context it is planned in ([`context`]), and
//! everything that runs plans and keeps their state (see docs/contributing.md, "The layers").
//! It knows no stage by name: the stages hand it their plans.

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
