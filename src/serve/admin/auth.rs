//! Who may use the dashboard: argon2 passwords from the config, logins kept
//! in memory behind an HttpOnly SameSite=Strict cookie, a CSRF token per
//! login, wrong passwords limited per account and per address, and the
//! audit log every action is written to.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use layan_core::channel::constant_time_eq;
use layan_core::store::unix_ms;
use serde::{Deserialize, Serialize};

use crate::serve::config::{AdminConfig, AdminUser, Role};

/// The login cookie.
pub const COOKIE: &str = "layan_admin";
/// The cookie that carries the login form's CSRF token before a login exists.
pub const LOGIN_COOKIE: &str = "layan_login";
/// Logins kept at once; the oldest go beyond this.
const MAX_LOGINS: usize = 10_000;

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
    expires: Instant,
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
    logins: Mutex<HashMap<String, Login>>,
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
    /// The users of `config`; cookies `Secure` when `secure`.
    #[must_use]
    pub fn new(config: &AdminConfig, secure: bool) -> Self {
        Self {
            users: config.users.clone(),
            logins: Mutex::new(HashMap::new()),
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
        let login = Login {
            user: user.name.clone(),
            role: user.role,
            csrf: token(),
            expires: Instant::now() + self.session,
        };
        let id = token();
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        if logins.len() >= MAX_LOGINS {
            let now = Instant::now();
            logins.retain(|_, l| l.expires > now);
        }
        logins.insert(id.clone(), login.clone());
        Ok((id, login))
    }

    /// The login of session id `id`, if it is current; its expiry moves on.
    #[must_use]
    pub fn session(&self, id: &str) -> Option<Login> {
        let now = Instant::now();
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        let login = logins.get_mut(id)?;
        if login.expires <= now {
            logins.remove(id);
            return None;
        }
        login.expires = now + self.session;
        Some(login.clone())
    }

    /// Ends the login of session id `id`.
    pub fn logout(&self, id: &str) {
        self.logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
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
        let auth = Auth::new(&config(3), false);
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

    #[test]
    fn cookies_are_http_only_strict_and_secure_on_https() {
        let auth = Auth::new(&config(3), true);
        let c = auth.cookie(COOKIE, "abc", None);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        let plain = Auth::new(&config(3), false).cookie(COOKIE, "abc", Some(0));
        assert!(!plain.contains("Secure") && plain.contains("Max-Age=0"));
    }
}
