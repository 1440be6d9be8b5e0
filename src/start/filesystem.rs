//! The filesystem over the clients, and the counters that report on both.

use std::sync::Arc;

use super::clients::Clients;
use crate::fs::Fs;
use crate::settings::MountSettings;
use crate::stats::Stats;

/// The filesystem core and its stats line.
pub struct Filesystem {
    pub fs: Arc<Fs>,
    pub stats: Arc<Stats>,
}

pub fn build(clients: Clients, settings: &MountSettings) -> Filesystem {
    let fs = Arc::new(Fs::new(clients.store, settings.fs.clone()));
    let stats = Arc::new(Stats::new(
        clients.counters,
        fs.clone(),
        settings.process.stats_file.clone(),
    ));
    Filesystem { fs, stats }
}
