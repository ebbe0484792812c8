//! `amt eval`: score estimated MIDI against reference MIDI, print a per-file table and the
//! dataset means, and publish both as `eval_results` / `eval_means` so that `amt sql` can
//! compare runs.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use amt_cache::KeySpec;
use amt_cache::fingerprint::{self, Options};
use amt_schemas::eval::means::{MeanRow, MeansBuilder};
use amt_schemas::eval::results::{ResultRow, ResultsBuilder};
use amt_schemas::eval::{MEANS, RESULTS, finite};
use amt_stages::dataset::validate_name;

use crate::cli::{EvalArgs, with_hint};
use crate::context::Context;
use crate::evaluate::{EvalOptions, EvalOutcome, evaluate_dirs, evaluate_predictions};

enum Source<'a> {
    Dirs(&'a std::path::Path, &'a std::path::Path),
    Predictions(&'a std::path::Path),
}

/// The current `notes` artifact of a dataset, or an error saying how to build it.
/// Pinned while the guard lives, so that a `gc` meanwhile keeps it.
fn current_notes(
    ctx: &Context,
    dataset: &str,
) -> anyhow::Result<(amt_cache::Artifact, amt_cache::PinGuard)> {
    let store = ctx.open_store()?;
    let artifact = store.current_pinned("notes", &amt_cache::Slot::dataset(dataset))?;
    artifact.ok_or_else(|| {
        with_hint(
            anyhow::anyhow!("dataset `{dataset}` has no published notes"),
            format!("build them with `amt run --until notes --datasets {dataset}`"),
        )
    })
}

/// Eval runs are published as the pseudo-stage `eval` in the cross-dataset slot `+eval:<run>`
/// (`artifacts/eval/+eval:<run>/<key>`): never mistaken for a dataset.
const STAGE: &str = "eval";

fn run_slot(run: &str) -> amt_cache::Slot {
    amt_cache::Slot::cross("eval", run)
}
/// Bumped when the scores for the same inputs change.
const VERSION: u32 = 1;

/// Metrics shown as table columns when present, in this order.
const COLUMNS: &[&str] = &[
    "onset_f",
    "offset_f",
    "onset_f_drum",
    "multi_f",
    "frame_f",
    "frame_f_pc",
];

fn name_of(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "eval".into())
}

pub fn eval(ctx: &Context, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let opts = EvalOptions {
        eval_vocab: args.eval_vocab.clone(),
        drum_vocab: args.drum_vocab.clone(),
        onset_tolerance: args.onset_tolerance,
        frame: args.frame,
        pitch_class: args.pitch_class.clone(),
        sustain_pedal: args.sustain_pedal,
        skip_unreadable: args.skip_unreadable,
    };
    let (source, est_path) = match (&args.reference, &args.estimate, &args.predictions) {
        (Some(r), Some(e), None) => (Source::Dirs(r, e), e),
        (None, None, Some(p)) => (Source::Predictions(p), p),
        _ => {
            return Err(with_hint(
                anyhow::anyhow!(
                    "give either `--ref DIR --est DIR` or `--predictions FILE --dataset D`"
                ),
                "see `amt eval --help`",
            ));
        }
    };
    let dataset = match (&args.dataset, &source) {
        (Some(d), _) => d.clone(),
        (None, Source::Dirs(r, _)) => name_of(r),
        (None, Source::Predictions(_)) => unreachable!("clap requires --dataset"),
    };
    let run = args.name.clone().unwrap_or_else(|| {
        let n = name_of(est_path);
        n.strip_suffix(".parquet").map(str::to_string).unwrap_or(n)
    });
    for n in [&dataset, &run] {
        validate_name(n)
            .map_err(|e| with_hint(anyhow::anyhow!(e), "name it with --dataset / --name"))?;
    }
    let (outcome, inputs) = match source {
        Source::Dirs(r, e) => (evaluate_dirs(r, e, &opts), None),
        Source::Predictions(p) => {
            let (notes, _pin) = current_notes(ctx, &dataset)?;
            let inputs = BTreeMap::from([
                ("stage:notes".to_string(), notes.manifest.key.to_string()),
                (
                    "external:predictions".to_string(),
                    amt_cache::store::hash_file(p)?.1,
                ),
            ]);
            (evaluate_predictions(p, &notes, &opts), Some(inputs))
        }
    };
    let outcome = outcome.map_err(|e| {
        let hint = match &e {
            crate::evaluate::EvalError::Vocab(_) => format!(
                "eval vocabularies: {}; drum vocabularies: {}",
                amt_metrics::vocab::eval_vocab_names().join(", "),
                amt_metrics::vocab::drum_vocab_names().join(", ")
            ),
            crate::evaluate::EvalError::NoEstimates(_) => {
                "write the transcriptions into it first (one `.mid` per reference file, same \
                 relative name), or point `--est` at the folder that holds them"
                    .to_string()
            }
            _ => "pass the folders of reference and estimated MIDI files".to_string(),
        };
        with_hint(e, hint)
    })?;
    publish(ctx, args, inputs, &opts, &dataset, &run, &outcome)?;

    if args.json {
        let files: BTreeMap<&str, &BTreeMap<String, f64>> = outcome
            .files
            .iter()
            .map(|f| (f.name.as_str(), &f.metrics))
            .collect();
        let mean: BTreeMap<&str, f64> = outcome
            .means
            .iter()
            .map(|(k, (v, _))| (k.as_str(), *v))
            .collect();
        // serde_json writes NaN as null.
        let v = serde_json::json!({
            "files": files, "mean": mean, "problems": outcome.problems,
            "unmatched_estimates": outcome.unmatched_estimates,
            "dataset": dataset, "run": run,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_table(&outcome);
    }
    #[allow(clippy::print_stderr)]
    {
        use crate::evaluate::Side;
        for p in &outcome.problems {
            let what = match (p.side, p.scored) {
                (Side::Estimate, true) => "unreadable estimate, scored as empty",
                (Side::Estimate, false) => "unreadable estimate, left out (--skip-unreadable)",
                (Side::Reference, _) => "unreadable reference, left out",
            };
            eprintln!("problem: {} ({what}): {}", p.path, p.error);
        }
        for n in &outcome.unmatched_estimates {
            eprintln!("warning: estimate `{n}` has no reference; skipped");
        }
        for f in outcome.files.iter().filter(|f| f.missing_estimate) {
            eprintln!(
                "warning: reference `{}` has no estimate; scored as empty",
                f.name
            );
        }
        if !ctx.quiet || !outcome.problems.is_empty() {
            eprintln!("{}", summary_line(&outcome));
        }
    }
    Ok(if outcome.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `scored 4 file(s); 1 unreadable estimate(s) scored as empty; ...`
fn summary_line(o: &EvalOutcome) -> String {
    use crate::evaluate::Side;
    let count = |side: Side, scored: bool| {
        o.problems
            .iter()
            .filter(|p| p.side == side && p.scored == scored)
            .count()
    };
    let mut parts = vec![format!("scored {} file(s)", o.files.len())];
    let missing = o.files.iter().filter(|f| f.missing_estimate).count();
    for (n, what) in [
        (missing, "reference(s) without an estimate scored as empty"),
        (
            count(Side::Estimate, true),
            "unreadable estimate(s) scored as empty",
        ),
        (
            count(Side::Estimate, false),
            "unreadable estimate(s) left out",
        ),
        (
            count(Side::Reference, false),
            "unreadable reference(s) left out",
        ),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join("; ")
}

fn fmt(v: Option<&f64>) -> String {
    match v {
        Some(v) if v.is_nan() => "nan".into(),
        Some(v) => format!("{v:.4}"),
        None => "".into(),
    }
}

fn print_table(o: &EvalOutcome) {
    let cols: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .filter(|c| o.means.contains_key(*c) || o.files.iter().any(|f| f.metrics.contains_key(*c)))
        .collect();
    let width = o
        .files
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(4)
        .max(6);
    let mut header = format!("{:width$}", "file");
    for c in &cols {
        header.push_str(&format!(" {c:>12}"));
    }
    println!("{header}");
    for f in &o.files {
        let mut line = format!("{:width$}", f.name);
        for c in &cols {
            line.push_str(&format!(" {:>12}", fmt(f.metrics.get(*c))));
        }
        println!("{line}");
    }
    let mut line = format!("{:width$}", "(mean)");
    for c in &cols {
        line.push_str(&format!(" {:>12}", fmt(o.means.get(*c).map(|(v, _)| v))));
    }
    println!("{line}");
    let others: Vec<String> = o
        .means
        .iter()
        .filter(|(k, _)| !cols.contains(&k.as_str()))
        .map(|(k, (v, _))| format!("{k}={}", fmt(Some(v))))
        .collect();
    if !others.is_empty() {
        println!("other means: {}", others.join(" "));
    }
}

/// Publishes the scores as one artifact keyed by the inputs' content and the options.
fn publish(
    ctx: &Context,
    args: &EvalArgs,
    inputs: Option<BTreeMap<String, String>>,
    opts: &EvalOptions,
    dataset: &str,
    run: &str,
    o: &EvalOutcome,
) -> anyhow::Result<()> {
    let store = ctx.open_store()?;
    let slot = run_slot(run);
    let _lock = store.lock_slot(STAGE, &slot, true)?;
    let cancel = AtomicBool::new(false);
    let digest = |dir: &std::path::Path| {
        fingerprint::fingerprint_dir(
            dir,
            &store.memo_dir(),
            Options::default(),
            &|_, _| {},
            &cancel,
        )
        .map(|f| f.digest)
    };
    let mut config = serde_json::to_value(opts)?;
    config["dataset"] = dataset.into();
    let spec = KeySpec {
        stage: STAGE.into(),
        version: VERSION,
        config,
        inputs: match (inputs, &args.reference, &args.estimate) {
            (Some(i), _, _) => i,
            (None, Some(r), Some(e)) => BTreeMap::from([
                ("external:reference".to_string(), digest(r)?),
                ("external:estimate".to_string(), digest(e)?),
            ]),
            _ => unreachable!("checked in `eval`"),
        },
    };
    let key = spec.key();
    if store.get(STAGE, &slot, &key)?.is_none() {
        let mut results = ResultsBuilder::default();
        for f in &o.files {
            for (m, v) in &f.metrics {
                results.push(&ResultRow {
                    dataset,
                    run,
                    file: &f.name,
                    metric: m,
                    value: finite(*v),
                });
            }
        }
        let mut means = MeansBuilder::default();
        for (m, (v, n)) in &o.means {
            means.push(&MeanRow {
                dataset,
                run,
                metric: m,
                value: finite(*v),
                n_files: *n,
            });
        }
        let w = store.begin(STAGE, &slot, &key)?;
        w.write_table(RESULTS, &[results.finish()])?;
        w.write_table(MEANS, &[means.finish()])?;
        w.set_summary("files", o.files.len().into());
        w.set_summary("problems", o.problems.len().into());
        w.commit(VERSION, spec.inputs.clone(), spec.config.clone(), false)?;
    }
    store.write_ref(STAGE, &slot, &key)?;
    Ok(())
}
