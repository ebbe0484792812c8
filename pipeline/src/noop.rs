//! Writes the no-op record of a run that built nothing (see `amt_cache::noop`), when the front
//! binary asked for one: the next identical command is then answered without planning.

use std::sync::atomic::{AtomicUsize, Ordering};

use amt_cache::noop::{self, NoopRecord, Watched};

use crate::context::Context;
use crate::runner::{Outcome, RunReport};

/// Records `report` (with what it printed) at the path the front named in
/// `AMT_NOOP_RECORD`, when every stage was fresh. Best effort: a record that cannot be written
/// only costs the next run its speed.
pub fn record_if_noop(ctx: &Context, report: &RunReport, stdout: String, stderr: String) {
    let Some(path) = std::env::var_os(noop::RECORD_ENV) else {
        return;
    };
    let all_fresh =
        !report.entries.is_empty() && report.entries.iter().all(|e| e.outcome == Outcome::Fresh);
    // A log line was printed (a warning, or anything under `-v`): a replay would not print it.
    let logged = PRINTED_LOG_LINES.load(Ordering::Relaxed) > 0;
    if !all_fresh || logged || ctx.cancel.load(Ordering::Relaxed) {
        return;
    }
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    let Ok(store) = ctx.open_store() else {
        return;
    };
    // What the plan read besides the fingerprinted folders: the config, the data home (its
    // entries name the datasets), the folders given as paths, and each ref and manifest.
    let mut files = vec![
        Watched::now(&ctx.data_home.join("amt.toml")),
        Watched::now(&ctx.data_home),
        Watched::now(&store.root().join("datasets")),
    ];
    if let Some(c) = &ctx.config_file {
        files.push(Watched::now(c));
    }
    if let Ok(rd) = std::fs::read_dir(store.root().join("datasets")) {
        files.extend(rd.filter_map(|e| e.ok()).map(|e| Watched::now(&e.path())));
    }
    for e in &report.entries {
        files.push(Watched::now(&store.ref_path(&e.stage, &e.slot)));
        let Some(key) = e.key.clone().and_then(|k| amt_cache::Key::try_from(k).ok()) else {
            return;
        };
        files.push(Watched::now(&store.manifest_path(&e.stage, &e.slot, &key)));
    }
    let record = NoopRecord {
        format: noop::FORMAT,
        program: Watched::now(&program),
        files,
        folders: noop::noted_folders(),
        stdout,
        stderr,
        exit_code: 0,
    };
    if !record.settled() {
        return;
    }
    if let Err(e) = record.save(std::path::Path::new(&path)) {
        tracing::debug!("no-op record not written: {e}");
    }
}

/// Log lines printed in this process.
static PRINTED_LOG_LINES: AtomicUsize = AtomicUsize::new(0);

/// A log layer that counts the events that pass the log filter (those that are printed).
pub struct LogLineCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogLineCounter {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        PRINTED_LOG_LINES.fetch_add(1, Ordering::Relaxed);
    }
}
