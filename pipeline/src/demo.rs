//! `amt demo`: the whole pipeline, as far as stages exist, on a small generated example.
//!
//! It writes two tiny datasets (16 kHz WAV tones and their note lists as CSV) under
//! `<dir>/data`, runs every built stage on them, then queries the result with SQL. Running it
//! again shows that nothing is rebuilt.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::cli::{RunArgs, SqlArgs, SqlFormat};
use crate::config::Config;
use crate::context::{Context, default_store};
use crate::graph::Graph;

/// (track folder, MIDI pitches of a one-second arpeggio).
type Track = (&'static str, &'static [u8]);

/// (dataset, its tracks).
const EXAMPLES: &[(&str, &[Track])] = &[
    (
        "demo_piano",
        &[
            ("c_major", &[60, 64, 67, 72]),
            ("a_minor", &[57, 60, 64, 69]),
        ],
    ),
    (
        "demo_band",
        &[
            ("bass_line", &[36, 43, 41, 38]),
            ("melody", &[72, 74, 76, 79]),
            ("chords", &[60, 65, 69, 72]),
        ],
    ),
];

const SAMPLE_RATE: u32 = 16_000;

/// 16-bit mono PCM WAV of a sequence of sine tones, a quarter second each.
fn wav_bytes(pitches: &[u8]) -> Vec<u8> {
    let per_note = SAMPLE_RATE as usize / 4;
    let mut samples = Vec::with_capacity(per_note * pitches.len());
    for &p in pitches {
        let hz = 440.0 * 2f64.powf((p as f64 - 69.0) / 12.0);
        for i in 0..per_note {
            let t = i as f64 / SAMPLE_RATE as f64;
            let env = 1.0 - i as f64 / per_note as f64;
            samples.push(((2.0 * std::f64::consts::PI * hz * t).sin() * env * 12_000.0) as i16);
        }
    }
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

fn notes_csv(pitches: &[u8]) -> String {
    let mut s = String::from("onset,offset,pitch\n");
    for (i, p) in pitches.iter().enumerate() {
        s.push_str(&format!(
            "{:.2},{:.2},{p}\n",
            i as f64 * 0.25,
            (i + 1) as f64 * 0.25
        ));
    }
    s
}

/// Writes the example datasets; files that already hold the same bytes are left alone so
/// that a second demo is a no-op for the pipeline.
pub fn write_examples(data_home: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for (dataset, tracks) in EXAMPLES {
        let dir = data_home.join(dataset);
        for (stem, pitches) in *tracks {
            let track = dir.join(stem);
            fs_err::create_dir_all(&track)?;
            write_if_changed(&track.join("mix.wav"), &wav_bytes(pitches))?;
            write_if_changed(&track.join("notes.csv"), notes_csv(pitches).as_bytes())?;
        }
        names.push(dataset.to_string());
    }
    Ok(names)
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        amt_cache::atomic::write_file(path, bytes)?;
    }
    Ok(())
}

pub fn run(dir: &Path, quiet: bool, cancel: Arc<AtomicBool>) -> anyhow::Result<ExitCode> {
    let data_home = std::path::absolute(dir.join("data"))?;
    let datasets = write_examples(&data_home)?;
    let ctx = Context {
        store_root: default_store(&data_home),
        data_home: data_home.clone(),
        config: Config::default(),
        graph: Graph::product(),
        quiet,
        cancel,
    };
    if !quiet {
        println!(
            "amt demo: {} example datasets in {}",
            datasets.len(),
            data_home.display()
        );
        println!("stages built so far: {}", ctx.graph.names().join(" -> "));
    }
    let code = crate::commands::run(
        &ctx,
        &RunArgs {
            until: None,
            datasets: crate::cli::DatasetsArg {
                datasets: datasets.clone(),
            },
            force: false,
            json: false,
            no_wait: false,
        },
    )?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    let query = "SELECT dataset, count(*) AS files, sum(size) AS bytes, \
                 sum(CASE WHEN path LIKE '%.wav' THEN 1 ELSE 0 END) AS wav_files \
                 FROM files GROUP BY dataset ORDER BY dataset";
    println!("\n$ amt sql \"{query}\"");
    crate::commands::sql(
        &ctx,
        &SqlArgs {
            query: Some(query.into()),
            format: SqlFormat::Table,
        },
    )?;
    println!(
        "Try: amt --data-home {} status | tables | sql \"SELECT * FROM files LIMIT 5\"",
        data_home.display()
    );
    Ok(ExitCode::SUCCESS)
}
