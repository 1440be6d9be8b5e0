//! The session: the mount, the FUSE loop over the filesystem, and the way down.

use std::path::Path;
use std::sync::Arc;

use fuser::SessionACL;
use tokio::sync::Notify;

use super::secrets::Login;
use super::{clients, filesystem, signals};
use crate::auth::{CognitoCredentialsProvider, SignedIn};
use crate::daemon::Ready;
use crate::fuse::{FuseAdapter, KernelPages};
use crate::mount::{FuseMount, MountWatch};
use crate::notify::Notifier;
use crate::settings::{KernelSettings, MountSettings};
use crate::stats::Stats;
use crate::status::{MountInfo, StatusSocket};

/// File data comes in parts of megabytes. Without this, glibc raises its mmap threshold
/// after the first such part is freed, later parts come from the heap, and memory freed by
/// eviction stays resident: the process would outgrow `--max-memory` while the cache
/// itself stays under it. The threshold is where the buffer pool starts: a buffer as large
/// as a part is mapped and goes back to the system when freed (or to the pool), and
/// anything smaller stays on the heap, above all the HTTP client's read buffers of up to
/// 400 KiB, which are freed and made again for every few hundred KiB of a body: at 256 KiB
/// each of them was a new mapping whose pages faulted in, 35k page faults per GiB of a
/// sequential read against 12k now, and a fifth more of the daemon's CPU per GiB.
pub fn return_freed_memory_promptly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(
            libc::M_MMAP_THRESHOLD,
            crate::s3::buffers::POOLED_FROM as libc::c_int,
        );
    }
}

/// Builds the clients and the filesystem, mounts, then serves until unmounted.
pub fn serve(
    settings: &MountSettings,
    mountpoint: &Path,
    cognito: Option<(Login, SignedIn)>,
    ready: &mut Ready,
    systemd: Option<Arc<Notifier>>,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cognito-s3fs")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    crate::s3::https::load_roots_in_background();
    let stop = Arc::new(Notify::new());
    let clients = rt.block_on(clients::for_mount(settings, cognito, stop.clone()));
    let session_of = clients.cognito.clone();
    let filesystem::Filesystem { fs, stats } = filesystem::build(clients, settings);
    let (session, watch) = start_session(&rt, &fs, &settings.kernel, mountpoint)?;
    let _status = rt.block_on(async { status_socket(mountpoint, session_of, stats.clone()) });
    rt.spawn(signals::on_signals(
        mountpoint.to_owned(),
        stats.clone(),
        systemd.clone(),
    ));
    announce_mounted(mountpoint, ready, systemd.as_deref());
    let result = session.run();
    if let Some(systemd) = &systemd {
        let _ = systemd.stopping();
    }
    stop.notify_waiters();
    stats.report("unmounted");
    drop(rt);
    // Only now: closing the socket lets fusermount3 go (it unmounts if anything is left).
    drop(watch);
    result.map_err(|e| format!("the FUSE session ended with an error: {e}"))
}

/// Mounts and opens the FUSE session over `fs`, not yet serving: the adapter, the kernel's
/// read-ahead, the page cache thread when pushes are on. The watch must outlive the session.
fn start_session(
    rt: &tokio::runtime::Runtime,
    fs: &Arc<crate::fs::Fs>,
    kernel: &KernelSettings,
    mountpoint: &Path,
) -> Result<(fuser::Session<FuseAdapter>, MountWatch), String> {
    let mut adapter = FuseAdapter::new(fs.clone(), rt.handle().clone(), kernel.look);
    if let Some(kib) = kernel.readahead_kib {
        adapter = adapter.with_read_ahead(mountpoint, kib);
    }
    let FuseMount { device, watch } = crate::mount::mount(mountpoint, kernel.allow_other)
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
    Ok((session, watch))
}

/// The mount is up: the log, whoever waits for the daemon (the parent, in the background),
/// and systemd hear it.
fn announce_mounted(mountpoint: &Path, ready: &mut Ready, systemd: Option<&Notifier>) {
    tracing::info!(mountpoint = %mountpoint.display(), "mounted");
    ready.success();
    if let Some(systemd) = systemd {
        let status = format!("mounted on {}", mountpoint.display());
        if let Err(e) = systemd.ready(&status) {
            tracing::warn!(error = %e, "cannot tell systemd the mount is ready (NOTIFY_SOCKET)");
        }
    }
}

/// Answers `cognito-s3fs status` on this user's socket; `None` (with a line in the log)
/// when there is no place for it. Call inside the runtime.
fn status_socket(
    mountpoint: &Path,
    session: Option<(CognitoCredentialsProvider, (String, String, String))>,
    stats: Arc<Stats>,
) -> Option<StatusSocket> {
    let Some(dir) = crate::status::socket_dir() else {
        tracing::info!("XDG_RUNTIME_DIR is not set: `cognito-s3fs status` cannot reach this mount");
        return None;
    };
    let info = MountInfo {
        mountpoint: mountpoint.to_owned(),
        started: std::time::SystemTime::now(),
        cognito: session.as_ref().map(|(_, who)| who.clone()),
    };
    let provider = session.map(|(p, _)| p);
    let report = Arc::new(move || {
        let view = provider.as_ref().map(|p| p.view());
        crate::status::report_json(&info, view.as_ref(), &stats.line())
    });
    match crate::status::serve(&dir, report) {
        Ok(socket) => Some(socket),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot open the status socket");
            None
        }
    }
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
