//! `amt install` end to end against a local HTTP server: downloads (normal, resumed, restarted,
//! bad checksum, 403), the token's secrecy, archive safety (`..`, absolute paths, links,
//! bombs), `--nodown`, and the interactive menu.

#[path = "../common/mod.rs"]
mod common;
mod http;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::Home;
use http::{Behavior, Server};
use md5::{Digest, Md5};

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic bytes that do not compress (so that "half way" means half the archive).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A tar.gz of `files` (relative paths, contents).
fn tar_gz(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, &data[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// A tar header written byte by byte, so that it can hold what `tar::Builder` refuses.
fn raw_header(name: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> tar::Header {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    h
}

/// A plain tar: a harmless file first, then `evil` (header, data).
fn tar_with(evil: Vec<(tar::Header, Vec<u8>)>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let ok = b"fine\n";
    let h = raw_header("pkg/ok.txt", tar::EntryType::Regular, ok.len() as u64, None);
    b.append(&h, &ok[..]).unwrap();
    for (h, data) in evil {
        b.append(&h, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// A test's world: a data home, a config folder for the token cache, a registry file and a
/// server, all in temporary folders.
struct World {
    home: Home,
    aside: tempfile::TempDir,
    server: Server,
}

impl World {
    fn new() -> World {
        World {
            home: Home::new(),
            aside: tempfile::tempdir().unwrap(),
            server: Server::start(),
        }
    }

    fn registry_path(&self) -> PathBuf {
        self.aside.path().join("registry.toml")
    }

    fn config_home(&self) -> PathBuf {
        self.aside.path().join("config")
    }

    /// Serves `archive` at `/files/<file>` and registers dataset `name` for it, with `md5`
    /// (the archive's own when `None`).
    fn publish(
        &self,
        name: &str,
        file: &str,
        archive: Vec<u8>,
        md5: Option<&str>,
        restricted: bool,
        behavior: Behavior,
    ) {
        let md5 = md5.map(str::to_string).unwrap_or_else(|| md5_hex(&archive));
        let path = format!("/files/{file}");
        let url = format!("{}?download=1", self.server.url(&path));
        self.server.serve(&path, archive, behavior);
        let mut text = std::fs::read_to_string(self.registry_path()).unwrap_or_default();
        let number = 100 + text.matches("[[dataset]]").count();
        text.push_str(&format!(
            "[[dataset]]\nname = \"{name}\"\nnumber = {number}\nurl = \"{url}\"\nmd5 = \"{md5}\"\nrestricted = {restricted}\nfolder = \"{name}_16k\"\n\n"
        ));
        std::fs::write(self.registry_path(), text).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.home.cmd(args);
        c.env("XDG_CONFIG_HOME", self.config_home())
            .env_remove("ZENODO_TOKEN")
            .env("AMT_DOWNLOAD_BACKOFF_MS", "10")
            .env("AMT_DOWNLOAD_CONNECT_TIMEOUT_S", "5")
            .env("AMT_DOWNLOAD_READ_TIMEOUT_S", "5")
            .stdin(Stdio::null());
        c
    }

    fn install(&self, name: &str, extra_env: &[(&str, &str)]) -> Output {
        let reg = self.registry_path();
        let mut c = self.cmd(&[
            "install",
            "--datasets",
            name,
            "--registry",
            reg.to_str().unwrap(),
        ]);
        for (k, v) in extra_env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn downloads(&self) -> PathBuf {
        self.home.path().join(".amt/downloads")
    }

    /// Serves `big_archive()` as dataset `big`, dropping the connection after `after` bytes
    /// the first `times` requests.
    fn publish_big_dropping(&self, archive: &[u8], after: usize, times: usize) {
        self.publish(
            "big",
            "big.tar.gz",
            archive.to_vec(),
            None,
            false,
            Behavior::DropAfter { after, times },
        );
    }

    /// The verified archive kept in the downloads folder holds exactly `archive`.
    fn assert_big_archive_kept(&self, archive: &[u8]) {
        let kept = self
            .downloads()
            .join(format!("{}-big.tar.gz", md5_hex(archive)));
        assert_eq!(std::fs::read(&kept).unwrap(), archive);
    }

    /// Names in the downloads folder.
    fn download_files(&self) -> Vec<String> {
        let mut v: Vec<String> = match std::fs::read_dir(self.downloads()) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }

    /// Entries of the data home other than `.amt`.
    fn home_entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.home.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".amt")
            .collect();
        v.sort();
        v
    }

    fn count_sql(&self, dataset: &str) -> String {
        self.home
            .sql_csv(&format!(
                "SELECT count(*) AS n FROM files WHERE dataset='{dataset}'"
            ))
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_ok(out: &Output) {
    let (o, e) = text(out);
    assert!(
        out.status.success(),
        "failed ({:?})\nstdout:\n{o}\nstderr:\n{e}",
        out.status
    );
}

fn assert_failed(out: &Output) -> String {
    let (o, e) = text(out);
    assert!(
        !out.status.success(),
        "should have failed\nstdout:\n{o}\nstderr:\n{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    format!("{o}\n{e}")
}

fn tiny_archive() -> (Vec<u8>, Vec<(&'static str, Vec<u8>)>) {
    let files = vec![
        ("tinyset_16k/a.txt", b"alpha\n".to_vec()),
        ("tinyset_16k/sub/b.bin", noise(5000, 1)),
        ("tinyset_16k/sub/c.txt", b"gamma\n".to_vec()),
    ];
    (tar_gz(&files), files)
}

#[test]
fn install_downloads_verifies_extracts_and_lists_files() {
    let w = World::new();
    let (archive, files) = tiny_archive();
    w.publish(
        "tinyset",
        "tinyset.tar.gz",
        archive.clone(),
        None,
        false,
        Behavior::Normal,
    );
    let out = w.install("tinyset", &[]);
    assert_ok(&out);
    assert_eq!(w.count_sql("tinyset"), "3");
    let csv = w
        .home
        .sql_csv("SELECT path, blake3 FROM files WHERE dataset='tinyset' AND path='sub/b.bin'");
    assert_eq!(
        csv,
        format!(
            "path,blake3\nsub/b.bin,{}\n",
            blake3::hash(&files[1].1).to_hex()
        )
    );
    // The archive is kept under its md5, byte-exact; the folder holds the files.
    let kept = w
        .downloads()
        .join(format!("{}-tinyset.tar.gz", md5_hex(&archive)));
    assert_eq!(std::fs::read(&kept).unwrap(), archive);
    assert_eq!(
        std::fs::read(w.home.path().join("tinyset_16k/a.txt")).unwrap(),
        b"alpha\n"
    );
    let reqs = w.server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("accept-encoding"), Some("identity"));
    assert_eq!(reqs[0].header("range"), None);
    assert_eq!(reqs[0].header("authorization"), None, "not restricted");

    // A second install downloads nothing.
    assert_ok(&w.install("tinyset", &[]));
    assert_eq!(w.server.requests().len(), 1);

    // Even with the folder gone, the verified archive is re-used, not fetched again.
    std::fs::remove_dir_all(w.home.path().join("tinyset_16k")).unwrap();
    let out = w.install("tinyset", &[]);
    assert_ok(&out);
    assert_eq!(w.server.requests().len(), 1, "{}", text(&out).1);
    assert_eq!(w.count_sql("tinyset"), "3");

    // Later commands find the installed folder by name, and find it up to date: the keys
    // install built are those of a local folder.
    let later = w.home.run_report(&["--datasets", "tinyset"]);
    assert_eq!(later, vec![common::t("extract", "tinyset", "fresh")]);
    assert_eq!(w.count_sql("tinyset"), "3");
}

/// An archive large enough that "half way" is a real split: one incompressible file.
fn big_archive() -> Vec<u8> {
    tar_gz(&[("big_16k/noise.bin", noise(300_000, 7))])
}

#[test]
fn dropped_connection_resumes_with_range_byte_exact() {
    let w = World::new();
    let archive = big_archive();
    let half = archive.len() / 2;
    w.publish_big_dropping(&archive, half, 1);
    // One attempt only: the run fails and keeps the partial file.
    let out = w.install("big", &[("AMT_DOWNLOAD_ATTEMPTS", "1")]);
    let msg = assert_failed(&out);
    assert!(msg.contains("big"), "{msg}");
    let partial = w
        .downloads()
        .join(format!("{}-big.tar.gz.partial", md5_hex(&archive)));
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), half as u64);
    assert!(!w.home.path().join("big_16k").exists());

    // The next run resumes from there.
    assert_ok(&w.install("big", &[]));
    let reqs = w.server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].header("range"),
        Some(format!("bytes={half}-").as_str())
    );
    w.assert_big_archive_kept(&archive);
    assert!(!partial.exists());
    assert_eq!(
        std::fs::read(w.home.path().join("big_16k/noise.bin")).unwrap(),
        noise(300_000, 7)
    );
}

#[test]
fn killed_download_resumes_from_the_partial_file() {
    let w = World::new();
    let archive = big_archive();
    let part = archive.len() / 3;
    w.publish(
        "big",
        "big.tar.gz",
        archive.clone(),
        None,
        false,
        Behavior::Stall { after: part },
    );
    let reg = w.registry_path();
    let mut child = w
        .cmd(&[
            "install",
            "--datasets",
            "big",
            "--registry",
            reg.to_str().unwrap(),
        ])
        .env("AMT_DOWNLOAD_READ_TIMEOUT_S", "30")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let partial = w
        .downloads()
        .join(format!("{}-big.tar.gz.partial", md5_hex(&archive)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < part as u64 {
        assert!(std::time::Instant::now() < deadline, "no partial file");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), part as u64);

    w.server.set_behavior("/files/big.tar.gz", Behavior::Normal);
    assert_ok(&w.install("big", &[]));
    let reqs = w.server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].header("range"),
        Some(format!("bytes={part}-").as_str())
    );
    w.assert_big_archive_kept(&archive);
    assert_eq!(w.count_sql("big"), "1");
}

#[test]
fn a_206_for_the_wrong_range_restarts_from_zero() {
    let w = World::new();
    let archive = big_archive();
    let half = archive.len() / 2;
    w.publish_big_dropping(&archive, half, 1);
    assert_failed(&w.install("big", &[("AMT_DOWNLOAD_ATTEMPTS", "1")]));
    w.server
        .set_behavior("/files/big.tar.gz", Behavior::WrongRange);
    let out = w.install("big", &[]);
    assert_ok(&out);
    let reqs = w.server.requests();
    let ranges: Vec<Option<&str>> = reqs.iter().map(|r| r.header("range")).collect();
    let asked = format!("bytes={half}-");
    assert_eq!(ranges, vec![None, Some(asked.as_str()), None]);
    assert!(
        text(&out).1.contains("restarting from byte 0"),
        "{}",
        text(&out).1
    );
    w.assert_big_archive_kept(&archive);
}

#[test]
fn retries_within_one_run_resume_too() {
    let w = World::new();
    let archive = big_archive();
    let third = archive.len() / 3;
    w.publish_big_dropping(&archive, third, 2);
    assert_ok(&w.install("big", &[]));
    let reqs = w.server.requests();
    let ranges: Vec<Option<&str>> = reqs.iter().map(|r| r.header("range")).collect();
    let expect_2 = format!("bytes={third}-");
    let expect_3 = format!("bytes={}-", 2 * third);
    assert_eq!(
        ranges,
        vec![None, Some(expect_2.as_str()), Some(expect_3.as_str())]
    );
    w.assert_big_archive_kept(&archive);
}

#[test]
fn server_ignoring_range_restarts_and_is_still_correct() {
    let w = World::new();
    let archive = big_archive();
    let half = archive.len() / 2;
    w.publish_big_dropping(&archive, half, 1);
    assert_failed(&w.install("big", &[("AMT_DOWNLOAD_ATTEMPTS", "1")]));
    w.server
        .set_behavior("/files/big.tar.gz", Behavior::IgnoreRange);
    let out = w.install("big", &[]);
    assert_ok(&out);
    let reqs = w.server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].header("range"),
        Some(format!("bytes={half}-").as_str())
    );
    assert!(
        text(&out).1.contains("ignored the range request"),
        "{}",
        text(&out).1
    );
    w.assert_big_archive_kept(&archive);
    assert_eq!(w.count_sql("big"), "1");
}

#[test]
fn wrong_checksum_publishes_nothing_and_names_both() {
    let w = World::new();
    let (archive, _) = tiny_archive();
    let wrong = "0123456789abcdef0123456789abcdef";
    w.publish(
        "tinyset",
        "tinyset.tar.gz",
        archive.clone(),
        Some(wrong),
        false,
        Behavior::Normal,
    );
    let msg = assert_failed(&w.install("tinyset", &[]));
    assert!(msg.contains("`tinyset`"), "{msg}");
    assert!(msg.contains(wrong), "{msg}");
    assert!(msg.contains(&md5_hex(&archive)), "{msg}");
    assert!(msg.contains("partial file was deleted"), "{msg}");
    assert_eq!(w.download_files(), Vec::<String>::new());
    assert_eq!(w.home_entries(), Vec::<String>::new());
    assert!(!w.home.store().join("artifacts/download").exists());
}

#[test]
fn forbidden_restricted_dataset_without_token_is_explained() {
    let w = World::new();
    let (archive, _) = tiny_archive();
    w.publish(
        "secretset",
        "secretset.tar.gz",
        archive,
        None,
        true,
        Behavior::Status(403),
    );
    let out = w.install("secretset", &[]);
    let msg = assert_failed(&out);
    assert!(msg.contains("needs a Zenodo access token"), "{msg}");
    assert!(msg.contains("https://zenodo.org/records/10016397"), "{msg}");
    assert!(msg.contains("--token-file"), "{msg}");
    // Without a token it stops at once: no request at all (it used to try, and get 403).
    assert_eq!(w.server.requests().len(), 0);
    assert_eq!(w.download_files(), Vec::<String>::new());
    assert_eq!(w.home_entries(), Vec::<String>::new());
    assert!(!w.home.store().join("artifacts/download").exists());
}

#[test]
fn not_found_fails_at_once_with_the_url() {
    let w = World::new();
    let (archive, _) = tiny_archive();
    w.publish(
        "gone",
        "gone.tar.gz",
        archive,
        None,
        false,
        Behavior::Status(404),
    );
    let msg = assert_failed(&w.install("gone", &[]));
    assert!(msg.contains("404"), "{msg}");
    assert!(msg.contains("/files/gone.tar.gz"), "{msg}");
    assert_eq!(w.server.requests().len(), 1);
}

#[test]
fn server_errors_are_retried_then_reported() {
    let w = World::new();
    let (archive, _) = tiny_archive();
    w.publish(
        "flaky",
        "flaky.tar.gz",
        archive,
        None,
        false,
        Behavior::Status(503),
    );
    let msg = assert_failed(&w.install("flaky", &[("AMT_DOWNLOAD_ATTEMPTS", "3")]));
    assert!(msg.contains("after 3 attempt(s)"), "{msg}");
    assert!(msg.contains("503"), "{msg}");
    assert_eq!(w.server.requests().len(), 3);
}

/// Every file under `dir` (following no links), as (path, bytes).
fn all_files(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            all_files(&e.path(), out);
        } else if ft.is_file() {
            out.push((e.path(), std::fs::read(e.path()).unwrap()));
        }
    }
}

#[test]
fn the_token_is_sent_as_a_header_and_never_leaks() {
    let token = "zt-SECRET-8f3a9c2d7e61b4";
    let w = World::new();
    let (archive, _) = tiny_archive();
    w.publish(
        "secretset",
        "secretset.tar.gz",
        archive.clone(),
        None,
        true,
        Behavior::Normal,
    );
    w.publish(
        "refused",
        "refused.tar.gz",
        archive,
        None,
        true,
        Behavior::Status(403),
    );
    let token_file = w.aside.path().join("token.txt");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let reg = w.registry_path();
    let mut outputs = Vec::new();

    // From the environment, at the most verbose logging.
    let out = w
        .cmd(&[
            "-vv",
            "install",
            "--datasets",
            "secretset",
            "--registry",
            reg.to_str().unwrap(),
        ])
        .env("ZENODO_TOKEN", token)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_ok(&out);
    outputs.push(out);
    assert_eq!(w.count_sql("secretset"), "3");

    // From a file, cached on request; and refused (403 with a token).
    let out = w
        .cmd(&[
            "-vv",
            "--log-format",
            "json",
            "install",
            "--datasets",
            "refused",
            "--registry",
            reg.to_str().unwrap(),
            "--token-file",
            token_file.to_str().unwrap(),
            "--save-token",
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let msg = assert_failed(&out);
    assert!(msg.contains("even with the access token"), "{msg}");
    outputs.push(out);

    // The cached token is used when nothing else is given (folder and archive deleted, so
    // the archive is fetched again).
    std::fs::remove_dir_all(w.home.path().join("secretset_16k")).unwrap();
    for f in w.download_files() {
        if f.ends_with("-secretset.tar.gz") {
            std::fs::remove_file(w.downloads().join(f)).unwrap();
        }
    }
    let out = w.install("secretset", &[("RUST_LOG", "trace")]);
    assert_ok(&out);
    outputs.push(out);

    let reqs = w.server.requests();
    assert_eq!(reqs.len(), 3);
    let bearer = format!("Bearer {token}");
    for r in &reqs {
        assert_eq!(
            r.header("authorization"),
            Some(bearer.as_str()),
            "{}",
            r.path
        );
    }
    assert_eq!(reqs[2].path, "/files/secretset.tar.gz?download=1");
    for r in &reqs {
        let request_line = r.raw.lines().next().unwrap_or_default();
        assert!(
            !request_line.contains(token),
            "token in the URL: {request_line}"
        );
    }
    // Any 8 characters of the token count as a leak (a hex dump splits it across lines).
    let windows: Vec<&str> = (0..=token.len() - 8).map(|i| &token[i..i + 8]).collect();
    for o in &outputs {
        let (so, se) = text(o);
        for w in &windows {
            assert!(
                !so.contains(w) && !se.contains(w),
                "`{w}` leaked:\n{so}\n{se}"
            );
        }
    }
    let mut files = Vec::new();
    all_files(w.home.path(), &mut files);
    assert!(files.len() > 5);
    for (p, bytes) in &files {
        assert!(
            !bytes
                .windows(token.len())
                .any(|win| win == token.as_bytes()),
            "token found in {}",
            p.display()
        );
    }
    // The cache lives outside the data home, readable by the user only.
    let cache = w.config_home().join("amt/zenodo_token");
    assert_eq!(std::fs::read_to_string(&cache).unwrap().trim(), token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn the_token_can_go_in_the_url_and_still_never_leaks() {
    let token = "zl-LINKTOKEN-5b7e21c90a";
    let w = World::new();
    let (archive, _) = tiny_archive();
    for (name, behavior) in [
        ("linkset", Behavior::Normal),
        ("nolink", Behavior::Status(403)),
    ] {
        w.publish(
            name,
            &format!("{name}.tar.gz"),
            archive.clone(),
            None,
            true,
            behavior,
        );
    }
    let reg = w.registry_path();
    let run = |name: &str| {
        w.cmd(&[
            "-vv",
            "install",
            "--datasets",
            name,
            "--registry",
            reg.to_str().unwrap(),
            "--token-in-url",
        ])
        .env("ZENODO_TOKEN", token)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap()
    };
    let ok = run("linkset");
    assert_ok(&ok);
    assert_eq!(w.count_sql("linkset"), "3");
    let refused = run("nolink");
    let msg = assert_failed(&refused);
    assert!(msg.contains("/files/nolink.tar.gz?download=1"), "{msg}");

    let reqs = w.server.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert!(
            r.path.ends_with(&format!("?download=1&token={token}")),
            "{}",
            r.path
        );
        assert_eq!(r.header("authorization"), None);
    }
    let windows: Vec<&str> = (0..=token.len() - 8).map(|i| &token[i..i + 8]).collect();
    for o in [&ok, &refused] {
        let (so, se) = text(o);
        for w in &windows {
            assert!(
                !so.contains(w) && !se.contains(w),
                "`{w}` leaked:\n{so}\n{se}"
            );
        }
    }
    let mut files = Vec::new();
    all_files(w.home.path(), &mut files);
    for (p, bytes) in &files {
        assert!(
            !bytes
                .windows(token.len())
                .any(|win| win == token.as_bytes()),
            "token found in {}",
            p.display()
        );
    }
}

/// Installs an archive expected to be rejected; returns the combined output.
fn rejected(w: &World, name: &str, file: &str, archive: Vec<u8>) -> String {
    w.publish(name, file, archive, None, false, Behavior::Normal);
    let msg = assert_failed(&w.install(name, &[]));
    // No dataset folder, no half-extracted temporary folder.
    assert_eq!(w.home_entries(), Vec::<String>::new(), "{msg}");
    msg
}

#[test]
fn archive_escaping_with_dot_dot_is_rejected() {
    let w = World::new();
    let evil = raw_header("pkg/../../evil", tar::EntryType::Regular, 5, None);
    let msg = rejected(
        &w,
        "dots",
        "dots.tar",
        tar_with(vec![(evil, b"evil\n".to_vec())]),
    );
    assert!(msg.contains("pkg/../../evil"), "{msg}");
    assert!(msg.contains("`..`"), "{msg}");
    assert!(!w.home.path().join("evil").exists());
    assert!(!w.home.path().parent().unwrap().join("evil").exists());
}

#[test]
fn archive_with_an_absolute_path_is_rejected() {
    let w = World::new();
    let target = w.aside.path().join("abs_evil");
    let name = target.to_str().unwrap().to_string();
    let evil = raw_header(&name, tar::EntryType::Regular, 5, None);
    let msg = rejected(
        &w,
        "abs",
        "abs.tar",
        tar_with(vec![(evil, b"evil\n".to_vec())]),
    );
    assert!(msg.contains(&name), "{msg}");
    assert!(msg.contains("absolute"), "{msg}");
    assert!(!target.exists());
}

#[test]
fn archive_with_a_symlink_to_etc_is_rejected() {
    let w = World::new();
    let link = raw_header("pkg/etc", tar::EntryType::Symlink, 0, Some("/etc"));
    // Were the link made, this would write into /etc/amt-evil (it must never be attempted).
    let through = raw_header("pkg/etc/amt-evil", tar::EntryType::Regular, 5, None);
    let msg = rejected(
        &w,
        "links",
        "links.tar",
        tar_with(vec![(link, Vec::new()), (through, b"evil\n".to_vec())]),
    );
    assert!(msg.contains("pkg/etc"), "{msg}");
    assert!(msg.contains("/etc"), "{msg}");
    assert!(!Path::new("/etc/amt-evil").exists());

    // A relative link that climbs out, and a hard link to a file outside, are rejected too.
    let w = World::new();
    let up = raw_header("pkg/up", tar::EntryType::Symlink, 0, Some("../../.."));
    let msg = rejected(&w, "uplink", "uplink.tar", tar_with(vec![(up, Vec::new())]));
    assert!(msg.contains("pkg/up"), "{msg}");
    let w = World::new();
    let hard = raw_header("pkg/passwd", tar::EntryType::Link, 0, Some("/etc/passwd"));
    let msg = rejected(&w, "hard", "hard.tar", tar_with(vec![(hard, Vec::new())]));
    assert!(msg.contains("pkg/passwd"), "{msg}");
}

#[test]
fn archive_with_a_device_file_is_rejected() {
    let w = World::new();
    let dev = raw_header("pkg/null", tar::EntryType::Char, 0, None);
    let msg = rejected(&w, "dev", "dev.tar", tar_with(vec![(dev, Vec::new())]));
    assert!(msg.contains("pkg/null"), "{msg}");
    assert!(msg.contains("device"), "{msg}");
}

#[test]
fn decompression_bomb_is_rejected_unless_allowed() {
    let w = World::new();
    let bomb = tar_gz(&[("bomb_16k/zeros.bin", vec![0u8; 8 << 20])]);
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let msg = rejected(&w, "bomb", "bomb.tar.gz", bomb);
    assert!(msg.contains("bomb_16k/zeros.bin"), "{msg}");
    assert!(msg.contains("decompression bomb"), "{msg}");
    assert!(msg.contains("--max-ratio"), "{msg}");
    // The override: a higher ratio lets it through, and only the archive handling changed,
    // so a later `amt run` finds everything fresh.
    let reg = w.registry_path();
    let out = w
        .cmd(&[
            "install",
            "--datasets",
            "bomb",
            "--registry",
            reg.to_str().unwrap(),
            "--max-ratio",
            "100000",
            "--delete-archive",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(w.count_sql("bomb"), "1");
    assert_eq!(
        std::fs::metadata(w.home.path().join("bomb_16k/zeros.bin"))
            .unwrap()
            .len(),
        8 << 20
    );
    assert_eq!(w.download_files(), Vec::<String>::new(), "--delete-archive");
    let after = w.home.run_report(&["--datasets", "bomb"]);
    assert!(after.iter().all(|(_, _, o)| o == "fresh"), "{after:?}");
}

#[test]
fn zip_archives_extract_and_zip_slip_is_rejected() {
    use zip::write::SimpleFileOptions;
    let make = |entries: &[(&str, &[u8])]| {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            z.start_file(*name, SimpleFileOptions::default()).unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap().into_inner()
    };
    let w = World::new();
    w.publish(
        "zipped",
        "zipped.zip",
        make(&[("zipped_16k/x.txt", b"x"), ("zipped_16k/d/y.txt", b"yy")]),
        None,
        false,
        Behavior::Normal,
    );
    assert_ok(&w.install("zipped", &[]));
    assert_eq!(w.count_sql("zipped"), "2");
    assert_eq!(
        std::fs::read(w.home.path().join("zipped_16k/d/y.txt")).unwrap(),
        b"yy"
    );

    let w = World::new();
    let msg = rejected(
        &w,
        "zipslip",
        "zipslip.zip",
        make(&[("ok.txt", b"ok"), ("../zip_evil", b"evil")]),
    );
    assert!(msg.contains("../zip_evil"), "{msg}");
    assert!(!w.home.path().parent().unwrap().join("zip_evil").exists());
}

#[test]
fn nodown_uses_the_folder_already_there() {
    let w = World::new();
    let (archive, _) = tiny_archive();
    w.publish(
        "plainset",
        "plainset.tar.gz",
        archive,
        None,
        false,
        Behavior::Normal,
    );
    // The registry's folder is present: --nodown fingerprints it and never contacts the URL.
    w.home.write("plainset_16k/x/y.txt", b"y");
    w.home.write("plainset_16k/z.txt", b"z");
    let reg = w.registry_path();
    let out = w
        .cmd(&[
            "install",
            "--nodown",
            "--datasets",
            "plainset",
            "--registry",
            reg.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        common::outcomes(&text(&out).0),
        vec![common::t("extract", "plainset", "ran")]
    );
    assert_eq!(w.count_sql("plainset"), "2");
    assert!(w.server.requests().is_empty());
    // --nodown with no folder: a clear error, still no download.
    std::fs::remove_dir_all(w.home.path().join("plainset_16k")).unwrap();
    let out = w
        .cmd(&[
            "install",
            "--nodown",
            "--datasets",
            "plainset",
            "--registry",
            reg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let msg = assert_failed(&out);
    assert!(msg.contains("has no folder"), "{msg}");
    assert!(w.server.requests().is_empty());
    // Without --nodown, a built-in dataset whose folder is missing would be downloaded.
    let out = w
        .cmd(&["install", "--datasets", "slakh", "--dry-run"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(
        text(&out)
            .0
            .contains("slakh: archive https://zenodo.org/record/7717249/")
    );
}

fn menu(w: &World, input: &str) -> Output {
    let mut child = w
        .cmd(&["install", "--dry-run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn menu_selects_by_number() {
    let w = World::new();
    let out = menu(&w, "1, 4\n");
    assert_ok(&out);
    let (o, _) = text(&out);
    assert!(o.contains(" 1. Slakh2100"), "{o}");
    assert!(o.contains("Installing: slakh, maestro"), "{o}");
    assert!(o.contains("\nslakh: archive"), "{o}");
    assert!(o.contains("\nmaestro: archive"), "{o}");
    assert!(!o.contains("musicnet: archive"), "{o}");
}

#[test]
fn menu_rejects_bad_input_politely_and_asks_again() {
    let w = World::new();
    let out = menu(&w, "x,99\n\n18\n");
    assert_ok(&out);
    let (o, e) = text(&out);
    assert!(o.contains("`x` is not a number"), "{o}");
    assert!(o.contains("`99` is not on the list"), "{o}");
    assert!(o.contains("nothing chosen"), "{o}");
    assert!(o.contains("Exiting."), "{o}");
    assert!(!e.contains("panicked"), "{e}");
    assert!(!o.contains("Installing:"), "{o}");
}

#[test]
fn menu_exits_cleanly_on_eof() {
    let w = World::new();
    let out = menu(&w, "");
    assert_ok(&out);
    assert!(text(&out).0.contains("nothing installed"));
    let out = menu(&w, "x\n");
    assert_ok(&out);
    assert!(text(&out).0.contains("nothing installed"));
}

#[test]
fn menu_token_entry_prints_instructions_and_restricted_choice_asks_once() {
    let w = World::new();
    let out = menu(&w, "17\n8, 9\n\n");
    let (o, e) = text(&out);
    assert!(o.contains("https://zenodo.org/records/10016397"), "{o}");
    assert!(o.contains("Installing: mir_st500, cmedia"), "{o}");
    // No terminal to type the token at: one clear error on stderr, nothing asked on stdout.
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    assert_eq!(e.matches("needs a Zenodo access token").count(), 1, "{e}");
    assert!(e.contains("--token-file"), "{e}");
    assert!(!o.contains("Enter it"), "{o}");
}

#[test]
fn list_prints_the_registry() {
    let w = World::new();
    let out = w.cmd(&["install", "--list"]).output().unwrap();
    assert_ok(&out);
    let o = text(&out).0;
    assert_eq!(o.lines().count(), 16, "{o}");
    assert!(o.contains("c17c6a188d936e5ff3870ef27144d397"), "{o}");
    let (archive, _) = tiny_archive();
    w.publish(
        "tinyset",
        "t.tar.gz",
        archive,
        None,
        false,
        Behavior::Normal,
    );
    let reg = w.registry_path();
    let out = w
        .cmd(&[
            "install",
            "--list",
            "--json",
            "--registry",
            reg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 16);
    assert_eq!(v[15]["name"], "tinyset");
}

#[test]
fn test_server_answers_ranges_and_drops() {
    use std::io::Read;
    let s = Server::start();
    s.serve("/f", b"0123456789".to_vec(), Behavior::Normal);
    let get = |range: Option<&str>| {
        let mut c = std::net::TcpStream::connect(s.url("").trim_start_matches("http://")).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let extra = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
        write!(c, "GET /f?x=1 HTTP/1.1\r\nHost: t\r\n{extra}\r\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    };
    let full = get(None);
    assert!(full.starts_with("HTTP/1.1 200"), "{full}");
    assert!(full.ends_with("\r\n\r\n0123456789"), "{full}");
    let part = get(Some("bytes=4-"));
    assert!(part.starts_with("HTTP/1.1 206"), "{part}");
    assert!(part.contains("Content-Range: bytes 4-9/10"), "{part}");
    assert!(part.ends_with("\r\n\r\n456789"), "{part}");
    s.set_behavior("/f", Behavior::DropAfter { after: 3, times: 1 });
    let cut = get(None);
    assert!(cut.ends_with("\r\n\r\n012"), "{cut}");
    assert!(get(None).ends_with("\r\n\r\n0123456789"));
    assert_eq!(s.requests().len(), 4);
    assert_eq!(s.requests()[1].header("range"), Some("bytes=4-"));
}

/// The kept archive of `tinyset` (published with `tiny_archive()`).
fn kept_tiny(w: &World, archive: &[u8]) -> PathBuf {
    w.downloads().join(format!("{}-t.tar.gz", md5_hex(archive)))
}

fn tamper(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x5a;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_tampered_kept_archive_is_verified_again_before_extraction_and_by_cache_verify() {
    let w = World::new();
    let (archive, _) = tiny_archive();
    w.publish(
        "tinyset",
        "t.tar.gz",
        archive.clone(),
        None,
        false,
        Behavior::Normal,
    );
    assert_ok(&w.install("tinyset", &[]));
    let n = w.count_sql("tinyset");
    assert_eq!(w.server.requests().len(), 1);

    // Corrupt the kept archive and remove the dataset folder: the next install checks the
    // archive again, downloads it again, and extracts good data.
    tamper(&kept_tiny(&w, &archive));
    std::fs::remove_dir_all(w.home.path().join("tinyset_16k")).unwrap();
    let out = w.install("tinyset", &[]);
    assert_ok(&out);
    assert_eq!(w.server.requests().len(), 2, "downloaded again");
    assert_eq!(w.count_sql("tinyset"), n);
    assert_eq!(std::fs::read(kept_tiny(&w, &archive)).unwrap(), archive);

    // `cache verify` checks kept downloads too: a changed one is reported and deleted.
    tamper(&kept_tiny(&w, &archive));
    let out = w.cmd(&["cache", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (o, _) = text(&out);
    assert!(o.contains("kept download") && o.contains("t.tar.gz"), "{o}");
    assert!(!kept_tiny(&w, &archive).exists());
}

#[test]
fn a_line_break_inside_the_token_is_an_error_about_the_token() {
    let w = World::new();
    let (archive, _) = tiny_archive();
    w.publish(
        "secretset",
        "s.tar.gz",
        archive,
        None,
        true,
        Behavior::Normal,
    );
    let token_file = w.aside.path().join("token.txt");
    std::fs::write(&token_file, "zt-first-half\r\nsecond-half\n").unwrap();
    let reg = w.registry_path();
    let out = w
        .cmd(&[
            "install",
            "--datasets",
            "secretset",
            "--registry",
            reg.to_str().unwrap(),
            "--token-file",
            token_file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let msg = assert_failed(&out);
    assert!(msg.contains("line break"), "{msg}");
    assert!(
        !msg.contains("first-half") && !msg.contains("second-half"),
        "{msg}"
    );
    assert_eq!(w.server.requests().len(), 0, "no network retries");
}

#[test]
fn the_token_cache_folder_is_private_whatever_the_umask() {
    let w = World::new();
    let (archive, _) = tiny_archive();
    w.publish(
        "secretset",
        "s.tar.gz",
        archive,
        None,
        true,
        Behavior::Normal,
    );
    let token_file = w.aside.path().join("token.txt");
    std::fs::write(&token_file, "zt-umask-check\n").unwrap();
    let reg = w.registry_path();
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(common::amt_bin())
        .args(["--data-home", w.home.path().to_str().unwrap()])
        .args(["install", "--datasets", "secretset", "--registry"])
        .arg(&reg)
        .args(["--token-file", token_file.to_str().unwrap(), "--save-token"])
        .env("XDG_CONFIG_HOME", w.config_home())
        .env_remove("ZENODO_TOKEN")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    assert_ok(&c.output().unwrap());
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(w.config_home().join("amt")), 0o700);
    assert_eq!(mode(w.config_home().join("amt/zenodo_token")), 0o600);
}

/// At a terminal (a pty made by `script`), the prompt goes to the terminal through stderr and
/// what is typed is not echoed.
#[test]
fn the_token_typed_at_a_terminal_is_not_echoed() {
    let w = World::new();
    let (archive, _) = tiny_archive();
    w.publish(
        "secretset",
        "s.tar.gz",
        archive,
        None,
        true,
        Behavior::Normal,
    );
    let token = "zt-TYPED-4c1e9a77";
    let reg = w.registry_path();
    let line = format!(
        "{} --data-home {} install --datasets secretset --registry {}",
        common::amt_bin().display(),
        w.home.path().display(),
        reg.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("XDG_CONFIG_HOME", w.config_home())
        .env_remove("ZENODO_TOKEN")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("Enter it") {
        assert!(
            std::time::Instant::now() < deadline,
            "no prompt: {}",
            String::from_utf8_lossy(&seen)
        );
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{token}\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
    std::io::Read::read_to_end(&mut stdout, &mut seen).unwrap();
    drop(stdin);
    let _ = child.wait();
    let all = String::from_utf8_lossy(&seen);
    assert!(!all.contains(token), "the token was echoed: {all}");
    // It was taken: the server saw it as a bearer token.
    let bearer = format!("Bearer {token}");
    assert!(
        w.server
            .requests()
            .iter()
            .any(|r| r.header("authorization") == Some(bearer.as_str())),
        "{:?}",
        w.server.requests().len()
    );
}
