//! cognito-s3fs: log in through Amazon Cognito and mount Amazon S3 read-only through FUSE.
//!
//! The crate is split the way the data flows:
//! - [`auth`] turns a Cognito user-pool login into temporary AWS credentials and keeps them
//!   fresh for as long as the mount lives;
//! - [`s3`] is the narrow store trait the filesystem reads through, with the real SDK client,
//!   an in-memory fake that counts requests, and a fault-injecting wrapper;
//! - [`fs`] is the filesystem itself (inodes, directories, reads), plain async Rust that is
//!   tested without a kernel in the loop;
//! - [`fuse`] is the thin adapter between the kernel and [`fs`];
//! - [`cli`] is the command line, [`settings`] turns it (with a profile and the environment)
//!   into one decided value, and [`start`] goes from that value to a running mount in a
//!   straight line; [`daemon`] is the fork and its readiness report;
//!   [`harden`], [`mount`] and [`logging`] keep secrets out of core files and other users
//!   out of the mount and the log.

pub mod auth;
pub mod cli;
pub mod daemon;
pub mod fs;
pub mod fstab;
pub mod fuse;
pub mod harden;
pub mod jitter;
pub mod kernel;
pub mod logging;
pub mod manual;
pub mod mount;
pub mod notify;
pub mod paths;
pub mod s3;
pub mod sdk_error;
pub mod settings;
pub mod start;
pub mod stats;
pub mod status;
