//! The pack a server runs: when it was loaded, and the
//! problems of the last reload that failed. Reloading checks the whole pack
//! first; a broken pack never replaces a working one.

use std::path::{Path, PathBuf};

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use layan_core::store::unix_ms;
use layan_core::{Engine, Error, Pack};
use tokio::sync::watch;

/// How often the pack folder is looked at for changes.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What the running pack does not say about itself (its id, version,
/// intents and folder are on [`Pack`], `Engine::pack()`).
#[derive(Debug, Clone, Default)]
pub struct PackStatus {
    /// When the running pack was loaded, Unix milliseconds.
    pub loaded_ms: u64,
    /// The last reload that failed: when, and every problem (file:line: message, hint).
    pub failed: Option<(u64, Vec<String>)>,
}

/// The running pack's status, and reloading it.
#[derive(Debug)]
pub struct PackState {
    status: Mutex<PackStatus>,
    reloads: Mutex<()>,
}

impl Default for PackState {
    fn default() -> Self {
        Self {
            status: Mutex::new(PackStatus {
                loaded_ms: unix_ms(SystemTime::now()),
                failed: None,
            }),
            reloads: Mutex::new(()),
        }
    }
}

impl PackState {
    /// A copy of the status.
    #[must_use]
    pub fn status(&self) -> PackStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads `engine`'s pack folder again and, if it is valid, puts it in
    /// the running pack's place.
    ///
    /// # Errors
    /// Every problem of the new pack (file, line, hint), or why it could not
    /// be read; the running pack stays.
    pub fn reload(&self, engine: &Engine) -> Result<(), Vec<String>> {
        let _one_at_a_time = self.reloads.lock().unwrap_or_else(|p| p.into_inner());
        let Some(dir) = engine.pack().root.clone() else {
            return Err(vec![
                "Paket bawaan tertanam di program dan tidak dapat dimuat ulang; atur [pack] path di layan.toml untuk memakai folder paket sendiri.".to_owned(),
            ]);
        };
        let loaded = Pack::load(&dir).and_then(|pack| engine.reload(pack));
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok(()) => {
                let pack = engine.pack();
                tracing::info!(target: "layan::serve", pack = %pack.meta.id, version = %pack.meta.version, "pack reloaded");
                *status = PackStatus {
                    loaded_ms: unix_ms(SystemTime::now()),
                    failed: None,
                };
                Ok(())
            }
            Err(e) => {
                let problems = match e {
                    Error::Pack(problems) => problems.iter().map(ToString::to_string).collect(),
                    other => vec![other.to_string()],
                };
                tracing::warn!(target: "layan::serve", problems = problems.len(), "pack not reloaded: it has problems");
                status.failed = Some((unix_ms(SystemTime::now()), problems.clone()));
                Err(problems)
            }
        }
    }
}

/// Names, sizes and modification times of every file under `dir`: what
/// changes when anyone edits, adds or removes a pack file.
#[must_use]
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    out.sort();
    out
}

/// Reloads the pack whenever its files change, until `stop` turns true.
/// Changes are picked up once they have been still for one interval, so a
/// half-saved edit is not loaded.
pub async fn watch(
    state: std::sync::Arc<PackState>,
    engine: Engine,
    mut stop: watch::Receiver<bool>,
) {
    let Some(dir) = engine.pack().root.clone() else {
        return;
    };
    let read = |dir: PathBuf| async move {
        tokio::task::spawn_blocking(move || fingerprint(&dir))
            .await
            .unwrap_or_default()
    };
    let mut loaded = read(dir.clone()).await;
    let mut pending: Option<Vec<_>> = None;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(WATCH_EVERY) => {}
        }
        let now = read(dir.clone()).await;
        if now == loaded {
            pending = None;
            continue;
        }
        if pending.as_ref() != Some(&now) {
            pending = Some(now);
            continue;
        }
        loaded = now;
        pending = None;
        let state = state.clone();
        let engine = engine.clone();
        let _ = tokio::task::spawn_blocking(move || state.reload(&engine)).await;
    }
}
