//! `amt install`: YourMT3's dataset menu. Picks datasets (the interactive menu, or
//! `--datasets` by name or number), gets a Zenodo token when a restricted one is chosen, then
//! runs download -> extract -> every later stage for them through the ordinary runner.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use amt_stages::download::{self, Secret};
use amt_stages::registry::{Entry, Kind, Registry, TOKEN_REQUEST_URL};
use amt_stages::{DatasetSpec, Stage};

use crate::cli::{InstallArgs, with_hint};
use crate::context::Context;
use crate::datasets::{self, Sources};
use crate::runner::{self, Force, Outcome, Reporter, RunReport, RunRequest};

/// Menu entry that prints how to get a token.
const MENU_TOKEN_INFO: u32 = 17;
/// Menu entry that leaves.
const MENU_EXIT: u32 = 18;

pub fn install(ctx: &Context, args: &InstallArgs) -> anyhow::Result<ExitCode> {
    let registry = Registry::with_overrides(args.registry.as_deref()).map_err(|e| {
        with_hint(
            anyhow::anyhow!(e),
            "a registry file holds [[dataset]] tables with name, number, url, md5, restricted, folder (see docs/INSTALL.md)",
        )
    })?;
    if args.list {
        print_list(&registry, args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    amt_stages::archive::set_options(amt_stages::archive::ArchiveOptions {
        keep_archive: !args.delete_archive,
        max_ratio: args.max_ratio,
        max_files: args.max_files,
    });
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let interactive = args.datasets.is_empty();
    let chosen: Vec<Entry> = if interactive {
        match menu(&registry, &mut input)? {
            Some(c) => c,
            None => return Ok(ExitCode::SUCCESS),
        }
    } else {
        pick(&registry, &args.datasets)?
    };

    // What each choice means; some need nothing, some cannot be fetched.
    let mut problems = 0;
    let mut names = Vec::new();
    for e in &chosen {
        let folder = ctx.data_home.join(&e.folder);
        match e.kind {
            Kind::Generated => {
                println!(
                    "{}: generated from other data; nothing to install{}",
                    e.name,
                    e.note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                );
                continue;
            }
            Kind::NotDownloadable if !folder.is_dir() && !ctx.data_home.join(&e.name).is_dir() => {
                eprintln_line(&format!(
                    "error: `{}` cannot be downloaded (private data): put its files at `{}` and run `amt install --nodown --datasets {}`",
                    e.name,
                    folder.display(),
                    e.name
                ));
                problems += 1;
                continue;
            }
            _ => {}
        }
        names.push(e.name.clone());
    }
    if names.is_empty() {
        return Ok(if problems > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }

    let store = ctx.open_store()?;
    let sources = Sources {
        registry: &registry,
        nodown: args.nodown,
    };
    let specs = datasets::resolve_with(&names, &ctx.data_home, &ctx.config, &store, &sources)?;

    // A token only when a chosen dataset is restricted and will be downloaded.
    let needs_token = specs
        .iter()
        .any(|d| d.archive().is_some_and(|a| a.restricted));
    if needs_token {
        // Without a token the download stage stops at once (before any request), naming the
        // dataset and how to give one.
        let token = obtain_token(args)?;
        download::set_token(token);
        download::set_token_in_url(args.token_in_url);
    }

    let graph = ctx.graph.clone();
    let download_only: Vec<String> = chosen
        .iter()
        .filter(|e| e.kind == Kind::DownloadOnly)
        .map(|e| e.name.clone())
        .collect();
    let stages_for = move |ds: &DatasetSpec| -> Vec<std::sync::Arc<dyn Stage>> {
        if download_only.contains(&ds.name) {
            graph.until(Some("extract")).unwrap_or_default()
        } else {
            graph.stages().to_vec()
        }
    };

    if args.dry_run {
        for ds in &specs {
            let stages: Vec<String> =
                crate::plan::applicable(&ctx.graph, &stages_for(ds), &ctx.config, ds)
                    .iter()
                    .map(|s| s.name().to_string())
                    .collect();
            let from = match ds.archive() {
                Some(a) => format!(
                    "archive {}{}",
                    a.url,
                    if a.restricted { " (restricted)" } else { "" }
                ),
                None => "local folder".to_string(),
            };
            println!(
                "{}: {from} -> `{}`; stages: {}",
                ds.name,
                ds.folder.display(),
                stages.join(", ")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }

    let code = super::execute(ctx, &specs, &stages_for, Force::No, args.json, args.no_wait)?;
    // Later commands (`amt run`, `amt status`) find installed folders by name.
    for ds in &specs {
        if ds.folder.is_dir() && ds.folder != ctx.data_home.join(&ds.name) {
            datasets::record_folder(&store, &ds.name, &ds.folder)?;
        }
    }
    download::set_token(None);
    Ok(if problems > 0 && code == ExitCode::SUCCESS {
        ExitCode::from(1)
    } else {
        code
    })
}

#[allow(clippy::print_stderr)]
fn eprintln_line(s: &str) {
    eprintln!("{s}");
}

fn print_list(registry: &Registry, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(registry.entries())?);
        return Ok(());
    }
    let w = registry
        .entries()
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(4);
    println!(
        "{:>3}  {:w$}  {:16}  {:10}  {:28}  {:32}  url",
        "#", "name", "kind", "restricted", "folder", "md5"
    );
    for e in registry.entries() {
        println!(
            "{:>3}  {:w$}  {:16}  {:10}  {:28}  {:32}  {}",
            e.number,
            e.name,
            e.kind.as_str(),
            if e.restricted { "yes" } else { "no" },
            e.folder,
            e.md5.as_deref().unwrap_or("-"),
            e.url.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// Registry entries for `--datasets` items (names or numbers), in registry order.
fn pick(registry: &Registry, items: &[String]) -> anyhow::Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let e = registry.find(item).ok_or_else(|| {
            with_hint(
                anyhow::anyhow!("`{item}` is not a dataset of the registry"),
                "`amt install --list` shows names and numbers; add a dataset with `--registry FILE`",
            )
        })?;
        if !out.iter().any(|o| o.name == e.name) {
            out.push(e.clone());
        }
    }
    if out.is_empty() {
        anyhow::bail!("--datasets is empty; name datasets or numbers (`amt install --list`)");
    }
    out.sort_by_key(|e| e.number);
    Ok(out)
}

/// What one menu line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    Datasets(Vec<u32>),
    TokenInfo(Vec<u32>),
    Exit,
}

/// Parses `1, 4,12`; errors say what is wrong with which item.
fn parse_choice(registry: &Registry, line: &str) -> Result<Choice, String> {
    let mut numbers = Vec::new();
    let mut bad = Vec::new();
    let mut info = false;
    for item in line.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.parse::<u32>() {
            Ok(MENU_EXIT) => return Ok(Choice::Exit),
            Ok(MENU_TOKEN_INFO) => info = true,
            Ok(n) if registry.entries().iter().any(|e| e.number == n) => {
                if !numbers.contains(&n) {
                    numbers.push(n);
                }
            }
            Ok(n) => bad.push(format!("`{n}` is not on the list")),
            Err(_) => bad.push(format!("`{item}` is not a number")),
        }
    }
    if !bad.is_empty() {
        return Err(bad.join("; "));
    }
    numbers.sort_unstable();
    if info {
        return Ok(Choice::TokenInfo(numbers));
    }
    if numbers.is_empty() {
        return Err("nothing chosen".into());
    }
    Ok(Choice::Datasets(numbers))
}

fn print_menu(registry: &Registry) {
    println!("Datasets (YourMT3's menu):");
    for e in registry.entries() {
        let mut flags = Vec::new();
        if e.restricted {
            flags.push("needs a Zenodo token");
        }
        match e.kind {
            Kind::Generated => flags.push("nothing to download"),
            Kind::NotDownloadable => flags.push("private: --nodown"),
            Kind::DownloadOnly => flags.push("download only"),
            Kind::Archive => {}
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", flags.join(", "))
        };
        println!("{:>3}. {} ({}){flags}", e.number, e.title(), e.name);
    }
    println!("{MENU_TOKEN_INFO:>3}. How to request a Zenodo access token");
    println!("{MENU_EXIT:>3}. Exit");
}

fn print_token_info() {
    println!(
        "MIR-ST500, CMedia and RWC-Pop are restricted. Request access at {TOKEN_REQUEST_URL} \
         (\"Request access\"; say what you will use them for). Then give the token with \
         --token-file FILE, the ZENODO_TOKEN variable, or at the prompt (it is then cached, \
         readable only by you, in {}).",
        token_cache_path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "your config folder".into())
    );
}

/// The interactive menu: `None` when the user leaves (exit entry, EOF).
fn menu(registry: &Registry, input: &mut impl BufRead) -> anyhow::Result<Option<Vec<Entry>>> {
    print_menu(registry);
    loop {
        print!("Choose datasets by number, comma-separated (e.g. `1, 4,12`): ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            println!();
            println!("No choice made (end of input); nothing installed.");
            return Ok(None);
        }
        match parse_choice(registry, &line) {
            Ok(Choice::Exit) => {
                println!("Exiting.");
                return Ok(None);
            }
            Ok(Choice::TokenInfo(numbers)) => {
                print_token_info();
                if numbers.is_empty() {
                    continue;
                }
                return Ok(Some(entries_for(registry, &numbers)));
            }
            Ok(Choice::Datasets(numbers)) => return Ok(Some(entries_for(registry, &numbers))),
            Err(why) => {
                println!(
                    "{why}. Enter numbers from the list above, separated by commas ({MENU_EXIT} to exit)."
                );
            }
        }
    }
}

fn entries_for(registry: &Registry, numbers: &[u32]) -> Vec<Entry> {
    let out: Vec<Entry> = registry
        .entries()
        .iter()
        .filter(|e| numbers.contains(&e.number))
        .cloned()
        .collect();
    println!(
        "Installing: {}",
        out.iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}

/// `$XDG_CONFIG_HOME/amt/zenodo_token`, else `~/.config/amt/zenodo_token`.
pub fn token_cache_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("amt").join("zenodo_token"))
}

/// The token: `--token-file`, then `ZENODO_TOKEN`, then the prompt at a terminal (on stderr,
/// without echo), then the cache. Without a terminal and without a cached token, an error says
/// how to give one. Never printed or logged.
fn obtain_token(args: &InstallArgs) -> anyhow::Result<Option<Secret>> {
    let cache = token_cache_path();
    let cached = || cache.as_deref().and_then(read_cached_token);
    let bad_token =
        |e: String, from: &str| with_hint(anyhow::anyhow!("{e}"), format!("check {from}"));
    let mut from_user = None;
    if let Some(f) = &args.token_file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            with_hint(
                anyhow::anyhow!("cannot read the token file `{}`: {e}", f.display()),
                "give a file that holds only the Zenodo access token",
            )
        })?;
        let t = Secret::new(&text)
            .map_err(|e| bad_token(e, &format!("the token file `{}`", f.display())))?
            .ok_or_else(|| anyhow::anyhow!("the token file `{}` is empty", f.display()))?;
        from_user = Some(t);
    } else if let Ok(v) = std::env::var("ZENODO_TOKEN")
        && let Some(t) = Secret::new(&v).map_err(|e| bad_token(e, "ZENODO_TOKEN"))?
    {
        from_user = Some(t);
    } else if std::io::stdin().is_terminal() {
        // At a terminal: asked on stderr (stdout is data), read without echo.
        let has_cache = cached().is_some();
        write!(
            std::io::stderr(),
            "A chosen dataset needs a Zenodo access token (`amt install`, entry {MENU_TOKEN_INFO}, says how to get one). Enter it{} (it is not shown): ",
            if has_cache {
                ", or press Enter to use the cached one"
            } else {
                ""
            }
        )?;
        std::io::stderr().flush()?;
        let line = rpassword::read_password()?;
        match Secret::new(&line).map_err(|e| bad_token(e, "what was typed"))? {
            Some(t) => {
                if let Some(p) = &cache {
                    match save_token(p, &t) {
                        Ok(()) => tracing::info!("token cached in `{}` (mode 0600)", p.display()),
                        Err(e) => tracing::warn!("could not cache the token: {e}"),
                    }
                }
                return Ok(Some(t));
            }
            None => return Ok(cached()),
        }
    } else if cached().is_none() {
        // Not a terminal: a token cannot be typed safely (it would be read from a pipe, and
        // echoed by whatever feeds it); say how to give one.
        return Err(with_hint(
            anyhow::anyhow!(
                "a chosen dataset is restricted and needs a Zenodo access token, and there is no terminal to ask for it"
            ),
            format!(
                "give it with `--token-file FILE` (a file holding only the token) or the ZENODO_TOKEN variable; request one at {}",
                amt_stages::registry::TOKEN_REQUEST_URL
            ),
        ));
    }
    match from_user {
        Some(t) => {
            if args.save_token
                && let Some(p) = &cache
            {
                save_token(p, &t)?;
                tracing::info!("token cached in `{}` (mode 0600)", p.display());
            }
            Ok(Some(t))
        }
        None => Ok(cached()),
    }
}

fn read_cached_token(path: &Path) -> Option<Secret> {
    let text = std::fs::read_to_string(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "the cached token `{}` is readable by others: `chmod 600` it",
                path.display()
            );
        }
    }
    Secret::new(&text).ok().flatten()
}

/// Writes the token cache atomically, created with mode 0600 (never wider, not even briefly).
pub fn save_token(path: &Path, token: &Secret) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // The folder is private whatever the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let tmp = amt_cache::atomic::unique_temp_name(dir, "zenodo_token");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| -> anyhow::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(token.expose().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| anyhow::anyhow!("cannot write the token cache `{}`: {e}", path.display()))
}

/// Runs `req`, first fetching and extracting the datasets that come from an archive.
///
/// Phase 1 runs `download` and `extract` (forced: an archive-sourced dataset has no folder,
/// whatever the store remembers) for those datasets only. Phase 2 runs the requested stages
/// for every dataset, the newly extracted ones now as local folders, so that `extract` and
/// everything after it get the same keys as any later `amt run` (which sees the folder).
pub(super) fn run_fetching_first(req: &RunRequest<'_>, reporter: &dyn Reporter) -> RunReport {
    let archived: Vec<DatasetSpec> = req
        .datasets
        .iter()
        .filter(|d| d.archive().is_some())
        .cloned()
        .collect();
    if archived.is_empty() {
        return runner::run(req, reporter);
    }
    const FETCH: [&str; 2] = [download::NAME, amt_stages::extract::NAME];
    let fetch_stages = |ds: &DatasetSpec| -> Vec<std::sync::Arc<dyn Stage>> {
        (req.stages_for)(ds)
            .into_iter()
            .filter(|s| FETCH.contains(&s.name()))
            .collect()
    };
    let force = match &req.force {
        Force::All => Force::All,
        _ => Force::Stage(amt_stages::extract::NAME.to_string()),
    };
    let first = runner::run(
        &RunRequest {
            graph: req.graph,
            config: req.config,
            store: req.store,
            datasets: &archived,
            stages_for: &fetch_stages,
            force,
            no_wait: req.no_wait,
            cancel: req.cancel,
        },
        reporter,
    );
    let failed = |name: &str| {
        first.entries.iter().any(|e| {
            e.dataset == name && matches!(e.outcome, Outcome::Failed | Outcome::Interrupted)
        })
    };
    let next: Vec<DatasetSpec> = req
        .datasets
        .iter()
        .filter_map(|d| match d.archive() {
            None => Some(d.clone()),
            Some(_) if d.folder.is_dir() && !failed(&d.name) => {
                Some(DatasetSpec::local(d.name.clone(), d.folder.clone()))
            }
            Some(_) => None,
        })
        .collect();
    let mut entries = first.entries;
    if !next.is_empty() && !req.cancel.load(std::sync::atomic::Ordering::Relaxed) {
        let second = runner::run(
            &RunRequest {
                datasets: &next,
                force: req.force.clone(),
                ..*req
            },
            reporter,
        );
        entries.extend(second.entries);
    }
    RunReport { entries }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_lines() {
        let r = Registry::bundled();
        assert_eq!(parse_choice(&r, "1, 4\n"), Ok(Choice::Datasets(vec![1, 4])));
        assert_eq!(
            parse_choice(&r, " 12,1, 4,4"),
            Ok(Choice::Datasets(vec![1, 4, 12]))
        );
        let err = parse_choice(&r, "x,99").unwrap_err();
        assert!(err.contains("`x` is not a number"), "{err}");
        assert!(err.contains("`99` is not on the list"), "{err}");
        assert_eq!(parse_choice(&r, " \n"), Err("nothing chosen".into()));
        assert_eq!(parse_choice(&r, "1,18"), Ok(Choice::Exit));
        assert_eq!(parse_choice(&r, "17"), Ok(Choice::TokenInfo(vec![])));
        assert_eq!(parse_choice(&r, "17, 8"), Ok(Choice::TokenInfo(vec![8])));
    }

    #[test]
    fn picks_names_and_numbers_in_registry_order() {
        let r = Registry::bundled();
        let got = pick(&r, &["maestro".into(), "1".into(), "MAESTRO".into()]).unwrap();
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["slakh", "maestro"]);
        assert!(pick(&r, &["nope".into()]).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn token_cache_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("amt").join("zenodo_token");
        save_token(&p, &Secret::new("s3cr3t").unwrap().unwrap()).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_cached_token(&p).unwrap().expose(), "s3cr3t");
    }
}
