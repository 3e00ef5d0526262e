//! The pack a server runs: where it came from, when it was loaded, and the
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

/// What the dashboard shows about the pack.
#[derive(Debug, Clone, Default)]
pub struct PackStatus {
    /// The pack folder; `None` for the bundled pack.
    pub path: Option<PathBuf>,
    /// The running pack's id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Intents and examples in it.
    pub intents: usize,
    /// Examples in it.
    pub examples: usize,
    /// When it was loaded, Unix milliseconds.
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

fn describe(pack: &Pack, path: Option<PathBuf>) -> PackStatus {
    PackStatus {
        path,
        id: pack.meta.id.clone(),
        version: pack.meta.version.clone(),
        intents: pack.intents.len(),
        examples: pack.intents.iter().map(|i| i.examples.len()).sum(),
        loaded_ms: unix_ms(SystemTime::now()),
        failed: None,
    }
}

impl PackState {
    /// The state of `pack`, loaded from `path` (`None`: bundled).
    #[must_use]
    pub fn new(pack: &Pack, path: Option<PathBuf>) -> Self {
        Self {
            status: Mutex::new(describe(pack, path)),
            reloads: Mutex::new(()),
        }
    }

    /// A copy of the status.
    #[must_use]
    pub fn status(&self) -> PackStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads the pack folder again and, if it is valid, puts it in
    /// `engine`'s place. Returns the problems when it is not.
    ///
    /// # Errors
    /// Every problem of the new pack (file, line, hint), or why it could not
    /// be read; the running pack stays.
    pub fn reload(&self, engine: &Engine) -> Result<PackStatus, Vec<String>> {
        let _one_at_a_time = self.reloads.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.status().path;
        let Some(dir) = path.clone() else {
            return Err(vec![
                "Paket bawaan tertanam di program dan tidak dapat dimuat ulang; atur [pack] path di layan.toml untuk memakai folder paket sendiri.".to_owned(),
            ]);
        };
        let loaded = Pack::load(&dir).and_then(|pack| {
            let status = describe(&pack, path.clone());
            engine.reload(pack).map(|()| status)
        });
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok(new) => {
                tracing::info!(target: "layan::serve", pack = %new.id, version = %new.version, "pack reloaded");
                *status = new.clone();
                Ok(new)
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
    let Some(dir) = state.status().path else {
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
