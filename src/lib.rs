//! changegate: enforces change management on GitHub and GitLab through labels, a commit
//! status and one sticky comment per change.
//!
//! Flow: [`server`] (verify, parse into [`model`], store, acknowledge) → [`worker`] (claim,
//! evaluate with [`policy`], act) → [`store`] (dedup, queue, audit).

pub mod actions;
pub mod clock;
pub mod commands;
pub mod comment;
pub mod diff;
pub mod evidence;
pub mod forge;
pub mod label_sync;
pub mod markdown;
pub mod model;
pub mod pages;
pub mod policy;
pub mod reconcile;
pub mod report;
pub mod rules;
pub mod server;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod worker;
