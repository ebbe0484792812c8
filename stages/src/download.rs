//! `download`: fetches a dataset's archive over HTTP(S) into `<data home>/.amt/downloads`,
//! keyed by (URL, md5) so that a finished, verified archive is never fetched again.
//!
//! - A partial file (`<md5>-<name>.partial`) survives a dropped connection or a kill and is
//!   resumed with `Range`; the server must answer 206 with the matching `Content-Range`,
//!   otherwise the download restarts from byte 0.
//! - Connection errors, timeouts and 5xx/429 are retried with exponential backoff; 401, 403
//!   and 404 fail at once with the fix in the message.
//! - md5 (the registry's) and blake3 are computed while streaming; the archive gets its final
//!   name only when the md5 matches, and a mismatch deletes the partial file.
//! - A Zenodo token is sent as an `Authorization: Bearer` header (or, when asked with
//!   [`set_token_in_url`], as YourMT3 does: a `token=` query parameter, for Zenodo share-link
//!   tokens), and is never logged, printed or stored in a key, config or manifest ([`Secret`]):
//!   messages always show the URL without it.
//!
//! Network knobs (not part of the key: they do not change the bytes):
//! `AMT_DOWNLOAD_ATTEMPTS` (default 6), `AMT_DOWNLOAD_BACKOFF_MS` (first wait, doubling; 500),
//! `AMT_DOWNLOAD_CONNECT_TIMEOUT_S` (30), `AMT_DOWNLOAD_READ_TIMEOUT_S` (60).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dataset::ArchiveSource;
use crate::registry::{TOKEN_REQUEST_URL, archive_file_name};
use crate::{DatasetSpec, Error, Job, PlanContext, Progress, Result, Stage, parse_config};

pub const NAME: &str = "download";
/// v1: first version.
pub const VERSION: u32 = 1;
/// The file the artifact records the downloaded archive in.
pub const ARCHIVE_JSON: &str = "archive.json";

/// A secret string (an access token). Its `Debug` shows nothing and it has no `Display`, so
/// it cannot end up in a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `Ok(None)` for an empty (all-whitespace) string. Whitespace around the token is
    /// dropped; a line break or other control character inside it is an error about the token
    /// (an HTTP header cannot carry it, and it is never what the user meant).
    pub fn new(s: &str) -> std::result::Result<Option<Secret>, String> {
        let t = s.trim();
        if t.chars().any(char::is_control) {
            return Err(
                "the Zenodo access token holds a line break or another control character inside it; give only the token, on one line"
                    .into(),
            );
        }
        Ok((!t.is_empty()).then(|| Secret(t.to_string())))
    }

    /// The secret itself: only for the HTTP header and the 0600 cache file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

static TOKEN: Mutex<Option<Secret>> = Mutex::new(None);
static TOKEN_IN_URL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sends the token as a `token=` query parameter instead of an `Authorization` header (Zenodo
/// share-link tokens; YourMT3's way). The URL with the token is never logged or shown.
pub fn set_token_in_url(on: bool) {
    TOKEN_IN_URL.store(on, Ordering::Relaxed);
}

/// `url` with `token=<percent-encoded secret>` appended to its query.
fn url_with_token(url: &str, token: &Secret) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut enc = String::new();
    for b in token.expose().bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}token={enc}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Sets the access token restricted downloads send (process-wide, set by `amt install`).
/// Kept out of the stage config on purpose: it must never reach a key or a manifest.
pub fn set_token(token: Option<Secret>) {
    *TOKEN.lock().unwrap_or_else(|e| e.into_inner()) = token;
}

pub(crate) fn token() -> Option<Secret> {
    TOKEN.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The download stage has no configuration: its key is (URL, md5) and its version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadConfig {}

/// What the artifact records (`archive.json`): never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRecord {
    pub url: String,
    pub md5: String,
    pub blake3: String,
    pub size: u64,
    /// Absolute path of the verified archive.
    pub path: PathBuf,
}

impl ArchiveRecord {
    pub fn read(artifact_dir: &Path) -> Result<ArchiveRecord> {
        let p = artifact_dir.join(ARCHIVE_JSON);
        let bytes = fs_err::read(&p)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Config {
            stage: NAME.into(),
            reason: format!("`{}` is not a valid archive record: {e}", p.display()),
        })
    }
}

/// Download failures. Every message names the dataset and the URL, and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "dataset `{dataset}` is restricted: its download needs a Zenodo access token and none was given; request one at {TOKEN_REQUEST_URL}, then pass it with `amt install --datasets {dataset} --token-file FILE` (or ZENODO_TOKEN)"
    )]
    NoToken { dataset: String },
    #[error(
        "dataset `{dataset}`: {url} answered {status}: needs a Zenodo access token; request one at {TOKEN_REQUEST_URL}, then pass it with --token-file FILE or ZENODO_TOKEN"
    )]
    NeedsToken {
        dataset: String,
        url: String,
        status: u16,
    },
    #[error(
        "dataset `{dataset}`: {url} answered {status} even with the access token: the token is wrong or expired, or access was not granted; request access at {TOKEN_REQUEST_URL}. A token taken from a Zenodo share link (`...?token=...`) must be sent in the URL: add --token-in-url"
    )]
    TokenRefused {
        dataset: String,
        url: String,
        status: u16,
    },
    #[error(
        "dataset `{dataset}`: {url} answered {status} ({reason}); check the URL in the registry (`amt install --list`, `--registry FILE`)"
    )]
    Http {
        dataset: String,
        url: String,
        status: u16,
        reason: String,
    },
    #[error(
        "dataset `{dataset}`: downloading {url} failed after {attempts} attempt(s): {reason}; check the network and run again (the partial download is kept and resumed)"
    )]
    Network {
        dataset: String,
        url: String,
        attempts: u32,
        reason: String,
    },
    #[error(
        "dataset `{dataset}`: the archive from {url} does not match the registry: expected md5 {expected}, got md5 {actual} (blake3 {blake3}, {size} bytes); the partial file was deleted and nothing was published. The file changed upstream or the registry's md5 is wrong: fix it with `--registry FILE`, or run again"
    )]
    ChecksumMismatch {
        dataset: String,
        url: String,
        expected: String,
        actual: String,
        blake3: String,
        size: u64,
    },
}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Error {
        Error::Fetch(Box::new(e))
    }
}

/// Network settings from the environment (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct NetOptions {
    pub attempts: u32,
    pub backoff: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl NetOptions {
    pub fn from_env() -> NetOptions {
        fn num(var: &str, default: u64) -> u64 {
            std::env::var(var)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        }
        NetOptions {
            attempts: num("AMT_DOWNLOAD_ATTEMPTS", 6).max(1) as u32,
            backoff: Duration::from_millis(num("AMT_DOWNLOAD_BACKOFF_MS", 500)),
            connect_timeout: Duration::from_secs(num("AMT_DOWNLOAD_CONNECT_TIMEOUT_S", 30).max(1)),
            read_timeout: Duration::from_secs(num("AMT_DOWNLOAD_READ_TIMEOUT_S", 60).max(1)),
        }
    }
}

pub struct DownloadStage;

fn source(dataset: &DatasetSpec) -> Result<&ArchiveSource> {
    dataset.archive().ok_or_else(|| Error::Config {
        stage: NAME.into(),
        reason: format!(
            "dataset `{}` is a local folder (`{}`): there is nothing to download",
            dataset.name,
            dataset.folder.display()
        ),
    })
}

/// `<downloads dir>/<md5>-<file name>`: the verified archive's path.
pub fn archive_path(src: &ArchiveSource) -> PathBuf {
    src.downloads_dir
        .join(format!("{}-{}", src.md5, archive_file_name(&src.url)))
}

fn partial_path(final_path: &Path) -> PathBuf {
    let mut name = final_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    final_path.with_file_name(name)
}

impl Stage for DownloadStage {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn upstream(&self, _: &DatasetSpec) -> Vec<String> {
        Vec::new()
    }

    fn default_config(&self) -> Value {
        serde_json::to_value(DownloadConfig::default()).expect("config serializes")
    }

    fn check_config(&self, config: &Value) -> Result<()> {
        parse_config::<DownloadConfig>(NAME, config).map(|_| ())
    }

    fn skip_reason(&self, dataset: &DatasetSpec, _config: &Value) -> Option<String> {
        dataset
            .archive()
            .is_none()
            .then(|| "a local folder: nothing to download".to_string())
    }

    fn external_inputs(&self, ctx: &PlanContext<'_>) -> Result<BTreeMap<String, String>> {
        let src = source(ctx.dataset)?;
        Ok(BTreeMap::from([
            ("url".to_string(), src.url.clone()),
            ("md5".to_string(), src.md5.to_ascii_lowercase()),
        ]))
    }

    fn run(&self, job: &mut Job<'_>) -> Result<()> {
        let src = source(job.dataset)?;
        let opts = NetOptions::from_env();
        let token = if src.restricted { token() } else { None };
        let got = fetch_verified(
            &job.dataset.name,
            src,
            token.as_ref(),
            opts,
            job.progress,
            job.cancel,
        )?;
        let record = ArchiveRecord {
            url: src.url.clone(),
            md5: src.md5.to_ascii_lowercase(),
            blake3: got.blake3.clone(),
            size: got.size,
            path: got.path.clone(),
        };
        let json = serde_json::to_vec_pretty(&record).expect("record serializes");
        let mut f = job.out.create(ARCHIVE_JSON)?;
        std::io::Write::write_all(&mut f, &json)?;
        f.finish()?;
        job.out.set_summary("bytes", got.size.into());
        job.out.set_summary("bytes_fetched", got.fetched.into());
        job.out.set_summary("blake3", got.blake3.into());
        job.out.set_summary("resumed_from", got.resumed_from.into());
        Ok(())
    }
}

/// The outcome of [`fetch_verified`].
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub size: u64,
    pub blake3: String,
    /// Bytes that came over the network this time (0: the archive was already there).
    pub fetched: u64,
    /// Where this run's first request started (a resumed partial file's length).
    pub resumed_from: u64,
}

/// Makes sure `archive_path(src)` holds the verified archive, downloading what is missing.
pub fn fetch_verified(
    dataset: &str,
    src: &ArchiveSource,
    token: Option<&Secret>,
    opts: NetOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Fetched> {
    let final_path = archive_path(src);
    let expected = src.md5.to_ascii_lowercase();
    fs_err::create_dir_all(&src.downloads_dir)?;

    // Already downloaded (an earlier run, or another key with the same archive): re-verify.
    if final_path.is_file() {
        progress.begin("verifying", true);
        let (size, md5, blake3) = hash_existing(&final_path, progress, cancel)?;
        if md5 == expected {
            tracing::info!(
                "dataset `{dataset}`: `{}` is already downloaded and verified",
                final_path.display()
            );
            return Ok(Fetched {
                path: final_path,
                size,
                blake3,
                fetched: 0,
                resumed_from: 0,
            });
        }
        tracing::warn!(
            "dataset `{dataset}`: `{}` no longer matches md5 {expected} (found {md5}); downloading it again",
            final_path.display()
        );
        fs_err::remove_file(&final_path)?;
    }

    // A restricted archive without a token stops here, before any request.
    if src.restricted && token.is_none() {
        return Err(Error::Fetch(Box::new(FetchError::NoToken {
            dataset: dataset.to_string(),
        })));
    }
    let partial = partial_path(&final_path);
    let d = Downloader {
        dataset,
        url: &src.url,
        restricted: src.restricted,
        token,
        opts,
        progress,
        cancel,
    };
    let (size, md5, blake3, fetched, resumed_from) = d.download(&partial)?;
    if md5 != expected {
        let _ = fs_err::remove_file(&partial);
        return Err(FetchError::ChecksumMismatch {
            dataset: dataset.to_string(),
            url: src.url.clone(),
            expected,
            actual: md5,
            blake3,
            size,
        }
        .into());
    }
    fs_err::rename(&partial, &final_path)?;
    amt_cache::atomic::sync_dir(&src.downloads_dir)?;
    Ok(Fetched {
        path: final_path,
        size,
        blake3,
        fetched,
        resumed_from,
    })
}

/// (size, md5 hex, blake3 hex) of a file, reporting progress.
fn hash_existing(
    path: &Path,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<(u64, String, String)> {
    let mut h = Hashers::new();
    let total = fs_err::metadata(path)?.len();
    let mut f = fs_err::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        done += n as u64;
        progress.update(done, total);
    }
    let (md5, blake3) = h.finish();
    Ok((done, md5, blake3))
}

struct Hashers {
    md5: Md5,
    blake3: blake3::Hasher,
}

impl Hashers {
    fn new() -> Hashers {
        Hashers {
            md5: Md5::new(),
            blake3: blake3::Hasher::new(),
        }
    }
    fn update(&mut self, b: &[u8]) {
        self.md5.update(b);
        self.blake3.update(b);
    }
    fn finish(self) -> (String, String) {
        let md5 = self.md5.finalize();
        let hex: String = md5.iter().map(|b| format!("{b:02x}")).collect();
        (hex, self.blake3.finalize().to_hex().to_string())
    }
}

struct Downloader<'a> {
    dataset: &'a str,
    url: &'a str,
    restricted: bool,
    token: Option<&'a Secret>,
    opts: NetOptions,
    progress: &'a dyn Progress,
    cancel: &'a AtomicBool,
}

/// Why one attempt ended without the whole file.
enum Attempt {
    /// Worth retrying (after a wait); `progressed`: bytes arrived in this attempt.
    Retry { reason: String, progressed: bool },
    /// The partial file is unusable as a prefix: start again from byte 0 at once.
    Restart(String),
}

impl Downloader<'_> {
    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(self.opts.connect_timeout))
            .timeout_recv_response(Some(self.opts.read_timeout))
            .timeout_per_read(Some(self.opts.read_timeout))
            .max_redirects(10)
            // The token goes to the host it was meant for, not to wherever a redirect points.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .build()
            .new_agent()
    }

    /// Downloads into `partial`, resuming it; returns (size, md5, blake3, fetched, resumed_from).
    fn download(&self, partial: &Path) -> Result<(u64, String, String, u64, u64)> {
        let agent = self.agent();
        let mut failures = 0u32;
        let mut fetched_total = 0u64;
        let mut resumed_from = None;
        let mut restarts = 0u32;
        self.progress.begin("downloading", true);
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            let have = match fs_err::metadata(partial) {
                Ok(m) => m.len(),
                Err(_) => 0,
            };
            resumed_from.get_or_insert(have);
            let mut hashers = Hashers::new();
            match self.attempt(&agent, partial, have, &mut hashers, &mut fetched_total)? {
                Ok(size) => {
                    let (md5, blake3) = hashers.finish();
                    return Ok((size, md5, blake3, fetched_total, resumed_from.unwrap_or(0)));
                }
                Err(Attempt::Restart(why)) => {
                    restarts += 1;
                    tracing::warn!("dataset `{}`: {why}; restarting from byte 0", self.dataset);
                    let _ = fs_err::remove_file(partial);
                    if restarts > self.opts.attempts {
                        return Err(self.network_error(failures + restarts, why));
                    }
                }
                Err(Attempt::Retry { reason, progressed }) => {
                    failures = if progressed { 1 } else { failures + 1 };
                    if failures >= self.opts.attempts {
                        return Err(self.network_error(failures, reason));
                    }
                    let wait = self.opts.backoff * 2u32.saturating_pow(failures - 1);
                    let wait = wait.min(Duration::from_secs(60));
                    tracing::warn!(
                        "dataset `{}`: {reason}; retrying in {:.1} s (attempt {} of {})",
                        self.dataset,
                        wait.as_secs_f64(),
                        failures + 1,
                        self.opts.attempts
                    );
                    self.sleep(wait)?;
                }
            }
        }
    }

    fn network_error(&self, attempts: u32, reason: String) -> Error {
        FetchError::Network {
            dataset: self.dataset.to_string(),
            url: self.url.to_string(),
            attempts,
            reason,
        }
        .into()
    }

    fn sleep(&self, d: Duration) -> Result<()> {
        let end = std::time::Instant::now() + d;
        while std::time::Instant::now() < end {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(50).min(d));
        }
        Ok(())
    }

    /// One request. Outer `Err`: fail now. Inner `Err`: retry or restart.
    fn attempt(
        &self,
        agent: &ureq::Agent,
        partial: &Path,
        have: u64,
        hashers: &mut Hashers,
        fetched_total: &mut u64,
    ) -> Result<std::result::Result<u64, Attempt>> {
        let in_url = TOKEN_IN_URL.load(Ordering::Relaxed);
        let target = match self.token {
            Some(t) if in_url => url_with_token(self.url, t),
            _ => self.url.to_string(),
        };
        let mut req = agent
            .get(&target)
            .header("Accept-Encoding", "identity")
            .header("User-Agent", concat!("amt/", env!("CARGO_PKG_VERSION")));
        if have > 0 {
            req = req.header("Range", &format!("bytes={have}-"));
        }
        if let Some(t) = self.token
            && !in_url
        {
            req = req.header("Authorization", &format!("Bearer {}", t.expose()));
        }
        tracing::debug!(
            "dataset `{}`: GET {} (from byte {have}{})",
            self.dataset,
            self.url,
            if self.token.is_some() {
                ", with the access token"
            } else {
                ""
            }
        );
        let resp = match req.call() {
            Ok(r) => r,
            Err(e) => {
                // The client's message may quote the URL: never with the token in it.
                let mut reason = format!("request failed: {e}");
                if let Some(t) = self.token {
                    reason = reason.replace(&target, self.url).replace(t.expose(), "***");
                }
                return Ok(Err(Attempt::Retry {
                    reason,
                    progressed: false,
                }));
            }
        };
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
        let (start, total) = match status {
            200 => {
                if have > 0 {
                    tracing::warn!(
                        "dataset `{}`: the server ignored the range request (200, not 206); downloading from byte 0",
                        self.dataset
                    );
                }
                (0, content_length)
            }
            206 => {
                let cr = header("content-range").unwrap_or_default();
                match parse_content_range(&cr) {
                    Some((s, t)) if s == have => (have, t),
                    _ => {
                        return Ok(Err(Attempt::Restart(format!(
                            "asked for bytes from {have}, the server answered 206 with Content-Range `{cr}`"
                        ))));
                    }
                }
            }
            416 if have > 0 => {
                return Ok(Err(Attempt::Restart(format!(
                    "the server cannot resume from byte {have} (416)"
                ))));
            }
            401 | 403 => {
                let (dataset, url) = (self.dataset.to_string(), self.url.to_string());
                return Err(if self.token.is_some() {
                    FetchError::TokenRefused {
                        dataset,
                        url,
                        status,
                    }
                } else if status == 401 || self.restricted {
                    FetchError::NeedsToken {
                        dataset,
                        url,
                        status,
                    }
                } else {
                    FetchError::Http {
                        dataset,
                        url,
                        status,
                        reason: "forbidden".into(),
                    }
                }
                .into());
            }
            408 | 429 | 500..=599 => {
                return Ok(Err(Attempt::Retry {
                    reason: format!("the server answered {status}"),
                    progressed: false,
                }));
            }
            _ => {
                return Err(FetchError::Http {
                    dataset: self.dataset.to_string(),
                    url: self.url.to_string(),
                    status,
                    reason: resp
                        .status()
                        .canonical_reason()
                        .unwrap_or("unexpected status")
                        .to_string(),
                }
                .into());
            }
        };

        // Open the partial file: appended to (206) or truncated (200).
        let mut file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(partial)?;
        if start == 0 {
            file.set_len(0)?;
        } else {
            // The prefix goes through the hashers first so that both digests cover the file.
            file.seek(SeekFrom::Start(0))?;
            let mut buf = vec![0u8; 1 << 16];
            let mut left = start;
            while left > 0 {
                let n = file.read(&mut buf[..(left.min(1 << 16) as usize)])?;
                if n == 0 {
                    return Ok(Err(Attempt::Restart(
                        "the partial file shrank while resuming".into(),
                    )));
                }
                hashers.update(&buf[..n]);
                left -= n as u64;
            }
        }
        file.seek(SeekFrom::Start(start))?;
        let total = total.or(content_length.map(|l| l + start));
        let mut reader = resp.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut pos = start;
        let mut progressed = false;
        self.progress.update(pos, total.unwrap_or(0));
        let end = loop {
            if self.cancel.load(Ordering::Relaxed) {
                file.sync_all()?;
                return Err(Error::Interrupted);
            }
            match reader.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    file.write_all(&buf[..n])?;
                    hashers.update(&buf[..n]);
                    pos += n as u64;
                    *fetched_total += n as u64;
                    progressed = true;
                    self.progress.update(pos, total.unwrap_or(pos));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        file.sync_all()?;
        drop(file);
        if let Err(e) = end {
            return Ok(Err(Attempt::Retry {
                reason: format!("the connection broke at byte {pos}: {e}"),
                progressed,
            }));
        }
        if let Some(t) = total
            && pos != t
        {
            return Ok(Err(Attempt::Retry {
                reason: format!("the connection closed at byte {pos} of {t}"),
                progressed,
            }));
        }
        Ok(Ok(pos))
    }
}

/// `bytes START-END/TOTAL` -> (START, Some(TOTAL)) (TOTAL may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    if let Some(t) = total
        && end >= t
    {
        return None;
    }
    Some((start, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range("bytes 100-999/1000"),
            Some((100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes 10-5/100"), None);
        assert_eq!(parse_content_range("bytes 0-100/100"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range(""), None);
    }

    #[test]
    fn token_query_parameter() {
        let t = Secret::new("a.b-c_d~e/f").unwrap().unwrap();
        assert_eq!(
            url_with_token("https://h/x.tgz?download=1", &t),
            "https://h/x.tgz?download=1&token=a.b-c_d~e%2Ff"
        );
        assert_eq!(
            url_with_token("https://h/x#frag", &t),
            "https://h/x?token=a.b-c_d~e%2Ff#frag"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("  abc.def  ").unwrap().unwrap();
        assert_eq!(s.expose(), "abc.def");
        assert!(!format!("{s:?}").contains("abc"));
        assert!(Secret::new(" \n").unwrap().is_none());
        let err = Secret::new("abc\r\ndef").unwrap_err();
        assert!(err.contains("line break") && !err.contains("abc"), "{err}");
    }

    #[test]
    fn archive_paths_are_keyed_by_md5() {
        let src = ArchiveSource {
            url: "https://h/x/maestro.tar.gz?download=1".into(),
            md5: "c17c6a188d936e5ff3870ef27144d397".into(),
            restricted: false,
            downloads_dir: PathBuf::from("/d"),
        };
        let p = archive_path(&src);
        assert_eq!(
            p,
            Path::new("/d/c17c6a188d936e5ff3870ef27144d397-maestro.tar.gz")
        );
        assert_eq!(
            partial_path(&p),
            Path::new("/d/c17c6a188d936e5ff3870ef27144d397-maestro.tar.gz.partial")
        );
    }
}
