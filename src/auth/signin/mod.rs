//! Sign-in flows.
pub mod srp;
