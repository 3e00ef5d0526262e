//! Who may use the dashboard: argon2 passwords from the config, logins
//! behind an HttpOnly SameSite=Strict cookie (kept in a file next to the
//! store, so that a restart does not log staff out; session ids only as
//! SHA-256 hashes), a CSRF token per login, wrong passwords limited per
//! account and per address, and the audit log every action is written to.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use layan_core::channel::constant_time_eq;
use layan_core::store::unix_ms;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::serve::config::{AdminConfig, AdminUser, Role};

/// The login cookie.
pub const COOKIE: &str = "layan_admin";
/// The cookie that carries the login form's CSRF token before a login exists.
pub const LOGIN_COOKIE: &str = "layan_login";
/// Logins kept at once; the oldest go beyond this.
const MAX_LOGINS: usize = 10_000;
/// A login's sliding expiry is written to the logins file when it has
/// moved on by this much since it was last written (not on every request).
const SAVE_EXPIRY_EVERY_MS: u64 = 60_000;

/// Hashes `password` for `[[admin.users]] password_hash`.
///
/// # Errors
/// When argon2 refuses the input (it does not for ordinary passwords).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// A random token, hex: session ids and CSRF tokens.
#[must_use]
pub fn token() -> String {
    let mut bytes = [0_u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Login {
    /// The user's name.
    pub user: String,
    /// What they may do.
    pub role: Role,
    /// The token every state-changing request must carry.
    pub csrf: String,
    /// When it ends unless used again (unix ms).
    expires_ms: u64,
}

/// A login as the logins file keeps it: the session id only as its hash,
/// the role not at all (the config's, when the file is read).
#[derive(Debug, Serialize, Deserialize)]
struct SavedLogin {
    id_sha256: String,
    user: String,
    csrf: String,
    expires_ms: u64,
}

/// The logins file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SavedLogins {
    logins: Vec<SavedLogin>,
}

/// A login in memory, with the expiry the file last got for it.
#[derive(Debug)]
struct Current {
    login: Login,
    saved_expires_ms: u64,
}

/// The key a session id is kept under, in memory and in the file.
fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

impl Login {
    /// Whether `token` is this login's CSRF token.
    #[must_use]
    pub fn csrf_ok(&self, token: &str) -> bool {
        constant_time_eq(self.csrf.as_bytes(), token.as_bytes())
    }

    /// Whether the user is an admin.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    first: Option<Instant>,
    locked_until: Option<Instant>,
}

/// Why a login was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Wrong name or password.
    Wrong,
    /// Too many wrong passwords for this account or address; try again later.
    Locked,
}

/// Users, logins and the login rate limit.
pub struct Auth {
    users: Vec<AdminUser>,
    /// By the SHA-256 of the session id.
    logins: Mutex<HashMap<String, Current>>,
    /// Where logins are kept across restarts (none: memory only).
    file: Option<PathBuf>,
    failures: Mutex<HashMap<String, Failures>>,
    session: Duration,
    max_failures: u32,
    lockout: Duration,
    /// Whether cookies get `Secure` (the public URL is https).
    pub secure: bool,
    /// A hash to check unknown names against, made on first need.
    dummy_hash: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// The users of `config`; cookies `Secure` when `secure`; logins kept
    /// in `file` across restarts (read now: logins of users no longer in
    /// the config and expired ones are dropped; a file that cannot be read
    /// is reported and replaced), or in memory only.
    #[must_use]
    pub fn new(config: &AdminConfig, secure: bool, file: Option<PathBuf>) -> Self {
        let logins = file
            .as_deref()
            .map(|f| load_logins(f, &config.users))
            .unwrap_or_default();
        Self {
            users: config.users.clone(),
            logins: Mutex::new(logins),
            file,
            failures: Mutex::new(HashMap::new()),
            session: Duration::from_secs(config.session_minutes.max(1) * 60),
            max_failures: config.max_failed_logins.max(1),
            lockout: Duration::from_secs(config.lockout_minutes.max(1) * 60),
            secure,
            dummy_hash: std::sync::OnceLock::new(),
        }
    }

    /// Whether any user is configured.
    #[must_use]
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    fn locked(&self, keys: &[String], now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter().any(|k| {
            failures
                .get(k)
                .and_then(|f| f.locked_until)
                .is_some_and(|t| t > now)
        })
    }

    fn fail(&self, keys: &[String], now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            let f = failures.entry(k.clone()).or_default();
            if f.first.is_none_or(|t| now.duration_since(t) > self.lockout) {
                *f = Failures {
                    count: 0,
                    first: Some(now),
                    locked_until: None,
                };
            }
            f.count += 1;
            if f.count >= self.max_failures {
                f.locked_until = Some(now + self.lockout);
            }
        }
        if failures.len() > MAX_LOGINS {
            failures.retain(|_, f| f.locked_until.is_some_and(|t| t > now));
        }
    }

    /// Checks `name` and `password` from `address`, and on success starts a
    /// login and returns its session id with the login.
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        address: &str,
    ) -> Result<(String, Login), Refused> {
        let keys = [format!("user:{name}"), format!("addr:{address}")];
        let now = Instant::now();
        if self.locked(&keys, now) {
            return Err(Refused::Locked);
        }
        let user = self.users.iter().find(|u| u.name == name).cloned();
        // Unknown names cost the same as wrong passwords.
        let hash = user.as_ref().map_or_else(
            || {
                self.dummy_hash
                    .get_or_init(|| hash_password("layan-dummy").unwrap_or_default())
                    .clone()
            },
            |u| u.password_hash.clone(),
        );
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        let Some(user) = user.filter(|_| ok) else {
            self.fail(&keys, Instant::now());
            return Err(Refused::Wrong);
        };
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            failures.remove(&keys[0]);
        }
        let expires_ms = now_ms() + self.session_ms();
        let login = Login {
            user: user.name.clone(),
            role: user.role,
            csrf: token(),
            expires_ms,
        };
        let id = token();
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        if logins.len() >= MAX_LOGINS {
            let now = now_ms();
            logins.retain(|_, c| c.login.expires_ms > now);
        }
        logins.insert(
            id_hash(&id),
            Current {
                login: login.clone(),
                saved_expires_ms: expires_ms,
            },
        );
        self.save(&logins);
        Ok((id, login))
    }

    fn session_ms(&self) -> u64 {
        u64::try_from(self.session.as_millis()).unwrap_or(u64::MAX)
    }

    /// The login of session id `id`, if it is current; its expiry moves on.
    #[must_use]
    pub fn session(&self, id: &str) -> Option<Login> {
        let now = now_ms();
        let key = id_hash(id);
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        let current = logins.get_mut(&key)?;
        if current.login.expires_ms <= now {
            logins.remove(&key);
            self.save(&logins);
            return None;
        }
        current.login.expires_ms = now + self.session_ms();
        let login = current.login.clone();
        if login.expires_ms.saturating_sub(current.saved_expires_ms) >= SAVE_EXPIRY_EVERY_MS {
            current.saved_expires_ms = login.expires_ms;
            self.save(&logins);
        }
        Some(login)
    }

    /// Ends the login of session id `id`.
    pub fn logout(&self, id: &str) {
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        if logins.remove(&id_hash(id)).is_some() {
            self.save(&logins);
        }
    }

    /// Writes the logins file (when there is one) whole, through a
    /// temporary file and a rename, readable by its owner only. A login
    /// that cannot be written still works until the server stops.
    fn save(&self, logins: &HashMap<String, Current>) {
        let Some(path) = &self.file else {
            return;
        };
        let saved = SavedLogins {
            logins: logins
                .iter()
                .map(|(key, c)| SavedLogin {
                    id_sha256: key.clone(),
                    user: c.login.user.clone(),
                    csrf: c.login.csrf.clone(),
                    expires_ms: c.login.expires_ms,
                })
                .collect(),
        };
        if let Err(e) = write_private(path, &saved) {
            tracing::warn!(
                target: "layan::admin",
                error = %e,
                file = %path.display(),
                "cannot keep the dashboard's logins; they end when the server stops"
            );
        }
    }

    /// The `Set-Cookie` value for a cookie `name` = `value` under `/admin`.
    #[must_use]
    pub fn cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let mut c = format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            c.push_str("; Secure");
        }
        c
    }
}

/// The logins in `path` that are still current, of users still in `users`
/// (with their role now).
fn load_logins(path: &Path, users: &[AdminUser]) -> HashMap<String, Current> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
        Err(e) => {
            tracing::warn!(target: "layan::admin", error = %e, file = %path.display(), "cannot read the dashboard's logins; staff log in again");
            return HashMap::new();
        }
    };
    let saved: SavedLogins = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(target: "layan::admin", error = %e, file = %path.display(), "the dashboard's logins file is damaged; staff log in again");
            return HashMap::new();
        }
    };
    let now = now_ms();
    saved
        .logins
        .into_iter()
        .filter(|s| s.expires_ms > now)
        .filter_map(|s| {
            let user = users.iter().find(|u| u.name == s.user)?;
            let login = Login {
                user: s.user,
                role: user.role,
                csrf: s.csrf,
                expires_ms: s.expires_ms,
            };
            Some((
                s.id_sha256,
                Current {
                    login,
                    saved_expires_ms: s.expires_ms,
                },
            ))
        })
        .collect()
}

/// Writes `value` as JSON to `path` through a temporary file and a rename;
/// the file is readable by its owner only.
fn write_private(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(&serde_json::to_vec(value)?)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, Unix milliseconds.
    pub time_ms: u64,
    /// Who (a user name, or the name tried for a failed login).
    pub user: String,
    /// From which address.
    pub address: String,
    /// What: `login`, `login_failed`, `take`, `reply`, `close`, `ticket_status`, `pack_reload`, …
    pub action: String,
    /// On what: a conversation, a ticket.
    pub target: String,
    /// The rest: a note, a reply's text, an error.
    pub detail: String,
}

/// The audit log: one JSON line per action, appended and synced to disk.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Audit {
    /// The log at `path` (created on first write).
    #[must_use]
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    /// Appends one entry. A log that cannot be written is reported in the
    /// server log; the action itself has already happened.
    pub fn record(&self, user: &str, address: &str, action: &str, target: &str, detail: &str) {
        let entry = AuditEntry {
            time_ms: unix_ms(SystemTime::now()),
            user: user.to_owned(),
            address: address.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail: detail.to_owned(),
        };
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let written = serde_json::to_string(&entry)
            .map_err(std::io::Error::other)
            .and_then(|line| {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?;
                writeln!(f, "{line}")?;
                f.sync_data()
            });
        if let Err(e) = written {
            tracing::error!(target: "layan::admin", path = %self.path.display(), error = %e, "cannot write the audit log");
        }
    }

    /// The last `n` entries, newest first.
    #[must_use]
    pub fn recent(&self, n: usize) -> Vec<AuditEntry> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str(l).ok())
            .take(n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_failures: u32) -> AdminConfig {
        AdminConfig {
            users: vec![AdminUser {
                name: "sari".into(),
                role: Role::Operator,
                password_hash: hash_password("benar").unwrap(),
            }],
            max_failed_logins: max_failures,
            ..AdminConfig::default()
        }
    }

    #[tokio::test]
    async fn right_password_logs_in_wrong_ones_lock_the_account() {
        let auth = Auth::new(&config(3), false, None);
        let (id, login) = auth.login("sari", "benar", "10.0.0.1").await.unwrap();
        assert_eq!(login.user, "sari");
        assert_eq!(auth.session(&id).unwrap().user, "sari");
        assert_eq!(
            auth.login("tidakada", "benar", "10.0.0.1")
                .await
                .unwrap_err(),
            Refused::Wrong
        );
        for _ in 0..3 {
            assert_eq!(
                auth.login("sari", "salah", "10.0.0.2").await.unwrap_err(),
                Refused::Wrong
            );
        }
        // Locked now, even with the right password, from any address.
        assert_eq!(
            auth.login("sari", "benar", "10.0.0.3").await.unwrap_err(),
            Refused::Locked
        );
        auth.logout(&id);
        assert!(auth.session(&id).is_none());
    }

    #[tokio::test]
    async fn logins_outlive_a_restart_but_not_the_users_removal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin-logins.json");
        let auth = Auth::new(&config(3), false, Some(file.clone()));
        let (id, login) = auth.login("sari", "benar", "10.0.0.1").await.unwrap();
        let (gone, _) = auth.login("sari", "benar", "10.0.0.1").await.unwrap();
        auth.logout(&gone);
        // The file holds session ids only as their hashes, for its owner only.
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(&id) && text.contains(&id_hash(&id)),
            "{text}"
        );
        assert!(!text.contains(&id_hash(&gone)), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // A restart: the same login with its CSRF token; logged out stays out.
        let restarted = Auth::new(&config(3), false, Some(file.clone()));
        let again = restarted.session(&id).unwrap();
        assert_eq!(
            (again.user.as_str(), again.csrf.as_str(), again.is_admin()),
            ("sari", login.csrf.as_str(), false)
        );
        assert!(restarted.session(&gone).is_none());
        // The role is the config's at the restart; a user taken out of the
        // config is logged out by it.
        let mut promoted = config(3);
        promoted.users[0].role = Role::Admin;
        let admin = Auth::new(&promoted, false, Some(file.clone()));
        assert!(admin.session(&id).unwrap().is_admin());
        let nobody = AdminConfig {
            users: Vec::new(),
            ..config(3)
        };
        assert!(
            Auth::new(&nobody, false, Some(file.clone()))
                .session(&id)
                .is_none()
        );

        // An expired login is not brought back.
        let mut saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        saved["logins"][0]["expires_ms"] = 1.into();
        std::fs::write(&file, saved.to_string()).unwrap();
        assert!(
            Auth::new(&config(3), false, Some(file.clone()))
                .session(&id)
                .is_none()
        );
        // A damaged file: staff log in again, and the server still starts.
        std::fs::write(&file, "{rusak").unwrap();
        let fresh = Auth::new(&config(3), false, Some(file.clone()));
        assert!(fresh.session(&id).is_none());
        assert!(fresh.login("sari", "benar", "10.0.0.1").await.is_ok());
        let rewritten: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(rewritten["logins"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_on_https() {
        let auth = Auth::new(&config(3), true, None);
        let c = auth.cookie(COOKIE, "abc", None);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        let plain = Auth::new(&config(3), false, None).cookie(COOKIE, "abc", Some(0));
        assert!(!plain.contains("Secure") && plain.contains("Max-Age=0"));
    }
}
