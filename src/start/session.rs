//! The session: the mount, the FUSE loop over the filesystem, and the way down.

use std::path::Path;
use std::sync::Arc;

use fuser::SessionACL;
use tokio::sync::Notify;

use super::secrets::Login;
use super::{clients, filesystem, signals};
use crate::auth::SignedIn;
use crate::daemon::Ready;
use crate::fuse::{FuseAdapter, KernelPages};
use crate::settings::{KernelSettings, MountSettings};

/// File data comes in parts of megabytes. Without this, glibc raises its mmap threshold
/// after the first such part is freed, later parts come from the heap, and memory freed by
/// eviction stays resident: the process would outgrow `--max-memory` while the cache
/// itself stays under it.
pub fn return_freed_memory_promptly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Builds the clients and the filesystem, mounts, then serves until unmounted.
pub fn serve(
    settings: &MountSettings,
    mountpoint: &Path,
    cognito: Option<(Login, SignedIn)>,
    ready: &mut Ready,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cognito-s3fs")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    crate::s3::https::load_roots_in_background();
    let stop = Arc::new(Notify::new());
    let clients = rt.block_on(clients::for_mount(settings, cognito, stop.clone()));
    let filesystem::Filesystem { fs, stats } = filesystem::build(clients, settings);
    let kernel = &settings.kernel;
    let mut adapter = FuseAdapter::new(fs.clone(), rt.handle().clone(), kernel.look);
    if let Some(kib) = kernel.readahead_kib {
        adapter = adapter.with_read_ahead(mountpoint, kib);
    }
    let crate::mount::FuseMount { device, watch } =
        crate::mount::mount(mountpoint, kernel.allow_other)
            .map_err(|e| format!("cannot mount on {}: {e}", mountpoint.display()))?;
    let session = fuser::Session::from_fd(adapter, device, session_acl(kernel), fuse_config())
        .map_err(|e| {
            format!(
                "cannot start the FUSE session on {}: {e}",
                mountpoint.display()
            )
        })?;
    warn_if_shared(kernel);
    if kernel.page_cache_push {
        fs.attach_page_cache(Arc::new(KernelPages(session.notifier())))
            .map_err(|e| format!("cannot start the page cache thread: {e}"))?;
    }
    rt.spawn(signals::on_signals(mountpoint.to_owned(), stats.clone()));
    tracing::info!(mountpoint = %mountpoint.display(), "mounted");
    ready.success();
    let result = session.run();
    stop.notify_waiters();
    stats.report("unmounted");
    drop(rt);
    // Only now: closing the socket lets fusermount3 go (it unmounts if anything is left).
    drop(watch);
    result.map_err(|e| format!("the FUSE session ended with an error: {e}"))
}

fn fuse_config() -> fuser::Config {
    let mut config = fuser::Config::default();
    config.n_threads = Some(2);
    config
}

/// The daemon's own uid filter matches what the kernel was told (see [`crate::mount`]): the
/// kernel already refuses other uids unless `--allow-other`.
fn session_acl(kernel: &KernelSettings) -> SessionACL {
    if kernel.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    }
}

/// With `--allow-other`, says who can read what.
fn warn_if_shared(kernel: &KernelSettings) {
    if !kernel.allow_other {
        return;
    }
    let (file_mode, dir_mode) = (kernel.look.file_mode, kernel.look.dir_mode);
    if file_mode & 0o004 != 0 || dir_mode & 0o001 != 0 {
        tracing::warn!(
            file_mode = format!("{file_mode:04o}"),
            dir_mode = format!("{dir_mode:04o}"),
            "--allow-other: every local user can read every object of this mount; \
             narrow --file-mode/--dir-mode (e.g. 0440/0550 with --gid) to limit it"
        );
    } else {
        tracing::info!(
            file_mode = format!("{file_mode:04o}"),
            dir_mode = format!("{dir_mode:04o}"),
            "--allow-other: other users get what --file-mode/--dir-mode grant them"
        );
    }
}
