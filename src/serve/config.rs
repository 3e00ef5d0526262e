//! `layan.toml`: what `layan serve` runs.
//!
//! Every string may be `"${ENV_NAME}"` (or contain it) to read a secret from
//! the environment; a variable that is not set is an error naming the key.
//! Relative paths are relative to the folder of the config file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use layan_core::PipelineConfig;
use layan_sms::android::AndroidSmsConfig;
use layan_sms::twilio::TwilioConfig;
use layan_telegram::TelegramConfig;
use layan_whatsapp::WhatsAppConfig;
use serde::Deserialize;

/// The default address: loopback only, until an office decides otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default largest request body (WhatsApp POSTs can reach 3 MB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The whole config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    #[serde(default)]
    pub server: Server,
    /// `[store]`.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[pack]`.
    #[serde(default)]
    pub pack: PackConfig,
    /// `[delivery]`.
    #[serde(default)]
    pub delivery: Delivery,
    /// `[channels.*]`.
    #[serde(default)]
    pub channels: Channels,
    /// `[admin]`: the operators' dashboard at `/admin`.
    #[serde(default)]
    pub admin: AdminConfig,
}

/// `[admin]`: who may use the dashboard.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `[[admin.users]]`; with none, `/admin` only explains how to add one.
    #[serde(default)]
    pub users: Vec<AdminUser>,
    /// How long a login lasts without activity.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u64,
    /// Wrong passwords (per account, and per address) before logins are refused.
    #[serde(default = "default_max_failures")]
    pub max_failed_logins: u32,
    /// How long logins stay refused after that.
    #[serde(default = "default_lockout_minutes")]
    pub lockout_minutes: u64,
    /// Whether `layan serve` reloads the pack when its files change.
    #[serde(default = "default_true")]
    pub watch_pack: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            session_minutes: default_session_minutes(),
            max_failed_logins: default_max_failures(),
            lockout_minutes: default_lockout_minutes(),
            watch_pack: true,
        }
    }
}

fn default_session_minutes() -> u64 {
    8 * 60
}

fn default_max_failures() -> u32 {
    10
}

fn default_lockout_minutes() -> u64 {
    15
}

fn default_true() -> bool {
    true
}

/// One `[[admin.users]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminUser {
    /// The login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// An argon2 PHC string from `layan admin hash-password`.
    pub password_hash: String,
}

/// What a dashboard user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Hand-offs, tickets, statistics.
    Operator,
    /// Also: take over another operator's conversation, reload the pack, read the audit log.
    Admin,
}

impl Role {
    /// The role's name as shown to staff.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The URL the world reaches this server at (providers sign webhooks
    /// against it; a proxy may change what the server sees).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The largest request body; bigger ones get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Addresses of reverse proxies in front of the server (nginx, a load
    /// balancer). Requests from them are taken to come from the address
    /// they put in `X-Forwarded-For`, for the login limit and the audit log.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            max_body_bytes: default_max_body(),
            trusted_proxies: Vec::new(),
        }
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The data folder.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// `redb`, `journal` or `sled` (needs the `sled` feature); by default
    /// the backend the folder already holds, or redb for a new folder.
    #[serde(default)]
    pub backend: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: default_store_path(),
            backend: None,
        }
    }
}

fn default_store_path() -> PathBuf {
    PathBuf::from("data")
}

/// `[pack]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackConfig {
    /// The pack folder; the bundled Perindag pack when not set.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// `[delivery]`: the pipeline's behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// How long one citizen's burst of messages is kept together.
    #[serde(default = "default_burst")]
    pub burst_window_ms: u64,
    /// Failed attempts before a message is dead-lettered.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// The first retry delay (doubled each time, with jitter).
    #[serde(default = "default_backoff")]
    pub backoff_base_ms: u64,
    /// The longest retry delay.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    /// Messages sent at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrent_sends: usize,
    /// How long a provider request may take before it counts as a timeout.
    #[serde(default = "default_timeout")]
    pub send_timeout_ms: u64,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            burst_window_ms: default_burst(),
            max_attempts: default_attempts(),
            backoff_base_ms: default_backoff(),
            backoff_max_ms: default_backoff_max(),
            max_concurrent_sends: default_concurrency(),
            send_timeout_ms: default_timeout(),
        }
    }
}

fn default_burst() -> u64 {
    1_500
}
fn default_attempts() -> u32 {
    8
}
fn default_backoff() -> u64 {
    1_000
}
fn default_backoff_max() -> u64 {
    300_000
}
fn default_concurrency() -> usize {
    64
}
fn default_timeout() -> u64 {
    15_000
}

impl Delivery {
    /// As the pipeline takes it.
    #[must_use]
    pub fn pipeline(&self) -> PipelineConfig {
        PipelineConfig {
            burst_window: Duration::from_millis(self.burst_window_ms),
            max_attempts: self.max_attempts.max(1),
            backoff_base: Duration::from_millis(self.backoff_base_ms.max(1)),
            backoff_max: Duration::from_millis(self.backoff_max_ms.max(1)),
            max_concurrent_sends: self.max_concurrent_sends.max(1),
            ..PipelineConfig::default()
        }
    }
}

/// `[channels.*]`: each present section turns its channel on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    /// `[channels.whatsapp]`.
    pub whatsapp: Option<WhatsAppConfig>,
    /// `[channels.telegram]`.
    pub telegram: Option<TelegramConfig>,
    /// `[channels.twilio]`.
    pub twilio: Option<TwilioConfig>,
    /// `[channels.android_sms]`.
    pub android_sms: Option<AndroidSmsConfig>,
}

impl Config {
    /// Reads `path`, expanding `${ENV}` references and resolving relative
    /// paths against the file's folder.
    ///
    /// # Errors
    /// The file cannot be read, is not valid TOML, has unknown keys, or
    /// names an environment variable that is not set.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config {}", path.display()))?;
        let mut config = Self::parse(&text, &|name| std::env::var(name).ok())
            .with_context(|| format!("in {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if config.store.path.is_relative() {
            config.store.path = base.join(&config.store.path);
        }
        if let Some(p) = config.pack.path.as_mut()
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
        Ok(config)
    }

    /// Parses config text, reading `${NAME}` references with `env`.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut value: toml::Value = toml::from_str(text).context("not valid TOML")?;
        expand(&mut value, "", env)?;
        let config: Self = value.try_into().context("invalid config")?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("[server] public_url must start with http:// or https://, not `{url}`");
        }
        if self.server.max_body_bytes < 1024 {
            bail!("[server] max_body_bytes is too small (at least 1024)");
        }
        let mut names = std::collections::HashSet::new();
        for (i, u) in self.admin.users.iter().enumerate() {
            if u.name.trim().is_empty() {
                bail!("[[admin.users]] #{}: name is empty", i + 1);
            }
            if !names.insert(u.name.as_str()) {
                bail!("[[admin.users]]: `{}` appears twice", u.name);
            }
            if argon2::PasswordHash::new(&u.password_hash).is_err() {
                bail!(
                    "[[admin.users]] `{}`: password_hash is not an argon2 hash; make one with `layan admin hash-password`",
                    u.name
                );
            }
        }
        let c = &self.channels;
        let addresses = [
            (
                "channels.whatsapp",
                "api_base",
                c.whatsapp.as_ref().map(|w| &w.api_base),
            ),
            (
                "channels.telegram",
                "api_url",
                c.telegram.as_ref().map(|t| &t.api_url),
            ),
            (
                "channels.twilio",
                "api_base",
                c.twilio.as_ref().map(|t| &t.api_base),
            ),
            (
                "channels.android_sms",
                "url",
                c.android_sms.as_ref().map(|a| &a.url),
            ),
        ];
        for (section, key, value) in addresses {
            if let Some(url) = value
                && !reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            {
                bail!("[{section}] {key} must be an http:// or https:// URL, not `{url}`");
            }
        }
        if self.channels.twilio.is_some() && self.server.public_url.is_none() {
            bail!(
                "[channels.twilio] needs [server] public_url: Twilio signs the public URL of the webhook"
            );
        }
        Ok(())
    }

    /// The address to listen on.
    ///
    /// # Errors
    /// When `[server] listen` is not `HOST:PORT`.
    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server
            .listen
            .parse()
            .with_context(|| format!("[server] listen `{}` is not HOST:PORT", self.server.listen))
    }

    /// The public URL, or the listen address as `http://…`.
    #[must_use]
    pub fn public_url(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.server.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

/// Replaces `${NAME}` in every string of `value` with the variable's value.
fn expand(
    value: &mut toml::Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    match value {
        toml::Value::String(s) => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let Some(len) = rest[start + 2..].find('}') else {
                    bail!("{path}: unclosed ${{ in `{s}`");
                };
                let name = &rest[start + 2..start + 2 + len];
                let Some(v) = env(name) else {
                    bail!(
                        "{path} reads ${{{name}}}, but the environment variable {name} is not set"
                    );
                };
                out.push_str(&v);
                rest = &rest[start + 3 + len..];
            }
            out.push_str(rest);
            *s = out;
        }
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                expand(v, &p, env)?;
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter_mut().enumerate() {
                expand(v, &format!("{path}[{i}]"), env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "WA_TOKEN" => Some("rahasia".into()),
            "HOST" => Some("layan.example.go.id".into()),
            _ => None,
        }
    }

    #[test]
    fn defaults_without_a_file() {
        let c = Config::parse("", &env).unwrap();
        assert_eq!(c.server.listen, DEFAULT_LISTEN);
        assert_eq!(c.server.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(c.store.path, PathBuf::from("data"));
        assert!(c.channels.whatsapp.is_none());
        assert_eq!(c.public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn secrets_come_from_the_environment() {
        let c = Config::parse(
            r#"
            [server]
            public_url = "https://${HOST}/"
            [channels.whatsapp]
            phone_number_id = "123"
            access_token = "${WA_TOKEN}"
            app_secret = "s"
            verify_token = "v"
            "#,
            &env,
        )
        .unwrap();
        let wa = c.channels.whatsapp.unwrap();
        assert_eq!(wa.access_token, "rahasia");
        assert_eq!(wa.api_base, layan_whatsapp::DEFAULT_API_BASE);
        assert_eq!(
            c.server.public_url.as_deref(),
            Some("https://layan.example.go.id/")
        );
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../layan.example.toml");
        let c = Config::parse(text, &|name| {
            Some(if name.ends_with("_HASH") {
                HASH.to_owned()
            } else {
                format!("nilai-{name}")
            })
        })
        .unwrap();
        assert_eq!(c.admin.users.len(), 2);
        assert_eq!(c.admin.users[1].role, Role::Admin);
        assert_eq!(
            c.channels.whatsapp.unwrap().access_token,
            "nilai-WA_ACCESS_TOKEN"
        );
        assert!(c.channels.telegram.is_some() && c.channels.twilio.is_some());
        assert_eq!(
            c.channels.android_sms.unwrap().username,
            "nilai-SMSGATE_USERNAME"
        );
        assert_eq!(c.delivery.pipeline().max_attempts, 8);
    }

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$Vf8LhrL8qdjR5YyQ9IDdOg$OQX8gys0w0EM3SlCFHAh/IKo+wl9qjSXUFwnw/Ays7c";

    #[test]
    fn dashboard_users_need_argon2_hashes_and_distinct_names() {
        let user = |name: &str, hash: &str| {
            format!(
                "[[admin.users]]\nname = \"{name}\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n"
            )
        };
        let plain = Config::parse(&user("sari", "rahasia"), &env).unwrap_err();
        assert!(format!("{plain:#}").contains("`sari`: password_hash is not an argon2 hash"));
        let twice = format!("{}{}", user("sari", HASH), user("sari", HASH));
        let twice = Config::parse(&twice, &env).unwrap_err();
        assert!(format!("{twice:#}").contains("`sari` appears twice"));
        let role = Config::parse(&user("sari", HASH).replace("operator", "bos"), &env).unwrap_err();
        assert!(format!("{role:#}").contains("bos"), "{role:#}");
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                "[channels.whatsapp]\naccess_token = \"${NOPE}\"",
                "channels.whatsapp.access_token reads ${NOPE}",
            ),
            ("[server]\nlisten = \"nowhere\"", "is not HOST:PORT"),
            ("[server]\nlisten_on = \"x\"", "invalid config"),
            (
                "[channels.twilio]\naccount_sid = \"AC1\"\nauth_token = \"t\"\nfrom = \"+1\"",
                "needs [server] public_url",
            ),
            ("[server\n", "not valid TOML"),
            (
                "[channels.whatsapp]\nphone_number_id = \"1\"\naccess_token = \"t\"\napp_secret = \"s\"\nverify_token = \"v\"\napi_base = \"graph.facebook.com/v23.0\"",
                "[channels.whatsapp] api_base must be an http:// or https:// URL",
            ),
            (
                "[channels.android_sms]\nusername = \"u\"\npassword = \"p\"\nsigning_key = \"k\"\nurl = \"ftp://192.168.1.5:8080\"",
                "[channels.android_sms] url must be an http:// or https:// URL",
            ),
        ];
        for (text, want) in cases {
            let e = format!("{:#}", Config::parse(text, &env).unwrap_err());
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
