//! `amt demo`: `synth-demo` built, a small model trained, scored and used ([`train_demo`]);
//! `amt demo --tour`: the stages on two tiny example datasets ([`run`]).
//!
//! It writes two tiny datasets in real layouts under `<dir>/data`:
//! - `demo_slakh`: Slakh2100 layout (`train/TrackNNNNN/` with `metadata.yaml`, stem MIDI and
//!   16 kHz WAV stems, `mix.wav`): piano, bass (annotated an octave high, as Slakh's bass is)
//!   and drums;
//! - `demo_maestro`: MAESTRO v2 layout (`maestro-v2.0.0.json`, `2018/*.midi`, `*.wav`).
//!
//! It runs every built stage on them, queries the tables with SQL, prints the tokens of one
//! segment, and scores a perturbed "transcription" of the MAESTRO pieces with `amt eval`.
//! Running it again rebuilds nothing.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use amt_symbolic::{Note, notes_to_midi};

use crate::cli::{DatasetsArg, EvalArgs, RunArgs, SqlArgs, SqlFormat, TokenizeArgs};
use crate::config::Config;
use crate::context::{Context, default_store};
use crate::graph::Graph;

const SAMPLE_RATE: u32 = 16_000;

fn note(program: u8, onset: f64, offset: f64, pitch: u8) -> Note {
    Note {
        is_drum: program == 128,
        program,
        onset,
        offset,
        pitch,
        velocity: 1,
    }
}

/// A short piece: an arpeggio on `root`, a bass line, a kick/snare pattern (`beats` quarter
/// notes at 120 bpm).
fn piece(root: u8, beats: usize) -> [Vec<Note>; 3] {
    let mut piano = Vec::new();
    let mut bass = Vec::new();
    let mut drums = Vec::new();
    for b in 0..beats {
        let t = b as f64 * 0.5;
        let step = [0u8, 4, 7, 12][b % 4];
        piano.push(note(0, t, t + 0.45, root + step));
        if b % 2 == 0 {
            // Slakh annotates bass one octave high; the notes stage lowers it (bass octave fix).
            bass.push(note(33, t, t + 0.9, root - 12 + step.min(7)));
        }
        drums.push(note(128, t, t + 0.01, if b % 2 == 0 { 36 } else { 38 }));
    }
    [piano, bass, drums]
}

/// 16-bit mono PCM WAV of the notes as decaying sines (drums as short noise bursts).
fn wav_bytes(notes: &[Note], seconds: f64) -> Vec<u8> {
    let n = (seconds * SAMPLE_RATE as f64) as usize;
    let mut mix = vec![0f64; n];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for nt in notes {
        let start = (nt.onset * SAMPLE_RATE as f64) as usize;
        let len = if nt.is_drum {
            1600
        } else {
            ((nt.offset - nt.onset) * SAMPLE_RATE as f64) as usize
        };
        let hz = 440.0 * 2f64.powf((nt.pitch as f64 - 69.0) / 12.0);
        for i in 0..len.min(n.saturating_sub(start)) {
            let env = 1.0 - i as f64 / len as f64;
            let s = if nt.is_drum {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            } else {
                (2.0 * std::f64::consts::PI * hz * i as f64 / SAMPLE_RATE as f64).sin()
            };
            mix[start + i] += s * env * 0.25;
        }
    }
    let data_len = (n * 2) as u32;
    let mut out = Vec::with_capacity(44 + n * 2);
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
    for s in mix {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    out
}

const STEMS: [(&str, &str, u8, bool, &str); 3] = [
    ("S00", "Piano", 0, false, "grand_piano.nkm"),
    ("S01", "Bass", 33, false, "fingered_bass.nkm"),
    ("S02", "Drums", 128, true, "session_kit_full.nkm"),
];

fn slakh_metadata() -> String {
    let mut s = String::from("audio_dir: stems\nmidi_dir: MIDI\nstems:\n");
    for (id, class, program, drum, plugin) in STEMS {
        s.push_str(&format!(
            "  {id}:\n    audio_rendered: true\n    inst_class: {class}\n    is_drum: {drum}\n    \
             midi_saved: true\n    plugin_name: {plugin}\n    program_num: {program}\n"
        ));
    }
    s
}

/// Writes the example datasets (and the demo's "transcriptions"); files that already hold the
/// same bytes are left alone so that a second demo is a no-op for the pipeline.
pub fn write_examples(data_home: &Path, transcribed: &Path) -> anyhow::Result<Vec<String>> {
    for (t, root) in [(1, 48u8), (2, 53)] {
        let track = data_home.join(format!("demo_slakh/train/Track{t:05}"));
        let stems = piece(root, 8);
        let mut all = Vec::new();
        for ((id, ..), notes) in STEMS.iter().zip(&stems) {
            write_if_changed(
                &track.join(format!("MIDI/{id}.mid")),
                &notes_to_midi(notes)?,
            )?;
            write_if_changed(
                &track.join(format!("stems/{id}.wav")),
                &wav_bytes(notes, 4.5),
            )?;
            all.extend_from_slice(notes);
        }
        write_if_changed(&track.join("all_src.mid"), &notes_to_midi(&all)?)?;
        write_if_changed(&track.join("mix.wav"), &wav_bytes(&all, 4.5))?;
        write_if_changed(&track.join("metadata.yaml"), slakh_metadata().as_bytes())?;
    }
    let mut records = Vec::new();
    for (i, root) in [60u8, 62].into_iter().enumerate() {
        let name = format!("2018/demo_performance_{}", i + 1);
        let [piano, ..] = piece(root, 12);
        let dir = data_home.join("demo_maestro");
        write_if_changed(&dir.join(format!("{name}.midi")), &notes_to_midi(&piano)?)?;
        write_if_changed(&dir.join(format!("{name}.wav")), &wav_bytes(&piano, 6.5))?;
        records.push(serde_json::json!({
            "canonical_composer": "amt demo", "canonical_title": format!("Arpeggio {}", i + 1),
            "split": if i == 0 { "train" } else { "test" }, "year": 2018,
            "midi_filename": format!("{name}.midi"), "audio_filename": format!("{name}.wav"),
            "duration": 6.5,
        }));
        // A "transcription": every third onset 80 ms late (outside the 50 ms tolerance).
        let est: Vec<Note> = piano
            .iter()
            .enumerate()
            .map(|(k, n)| {
                let shift = if k % 3 == 2 { 0.08 } else { 0.0 };
                Note {
                    onset: n.onset + shift,
                    ..*n
                }
            })
            .collect();
        write_if_changed(
            &transcribed.join(format!("demo_performance_{}.mid", i + 1)),
            &notes_to_midi(&est)?,
        )?;
    }
    write_if_changed(
        &data_home.join("demo_maestro/maestro-v2.0.0.json"),
        serde_json::to_string_pretty(&records)?.as_bytes(),
    )?;
    Ok(vec!["demo_slakh".into(), "demo_maestro".into()])
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        amt_cache::atomic::write_file(path, bytes)?;
    }
    Ok(())
}

fn sql(ctx: &Context, query: &str) -> anyhow::Result<()> {
    println!("\n$ amt sql \"{query}\"");
    crate::commands::sql(
        ctx,
        &SqlArgs {
            query: Some(query.into()),
            format: SqlFormat::Table,
        },
    )?;
    Ok(())
}

/// The demo's own data home and store, with the default configuration.
fn demo_context(data_home: &Path, quiet: bool, cancel: Arc<AtomicBool>) -> Context {
    Context {
        store_root: default_store(data_home),
        data_home: data_home.to_path_buf(),
        config: Config::default(),
        config_file: None,
        graph: Graph::product(),
        quiet,
        cancel,
    }
}

pub fn run(dir: &Path, quiet: bool, cancel: Arc<AtomicBool>) -> anyhow::Result<ExitCode> {
    let dir = std::path::absolute(dir)?;
    let data_home = dir.join("data");
    let transcribed = dir.join("transcribed");
    let datasets = write_examples(&data_home, &transcribed)?;
    let ctx = demo_context(&data_home, quiet, cancel);
    println!(
        "amt demo: {} example datasets in {}",
        datasets.len(),
        data_home.display()
    );
    println!("stages built so far: {}", ctx.graph.names().join(" -> "));
    let code = crate::commands::run(
        &ctx,
        &RunArgs {
            until: None,
            datasets: DatasetsArg {
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
    sql(
        &ctx,
        "SELECT dataset, count(*) AS files, sum(size) AS bytes FROM files GROUP BY dataset ORDER BY dataset",
    )?;
    sql(
        &ctx,
        "SELECT dataset, program, is_drum, count(*) AS notes, min(pitch) AS lowest, max(pitch) AS highest \
         FROM notes GROUP BY dataset, program, is_drum ORDER BY dataset, program",
    )?;
    println!("\n$ amt tokenize --dataset demo_slakh --track Track00001 --task mt3_full_plus");
    crate::commands::tokenize(
        &ctx,
        &TokenizeArgs {
            dataset: "demo_slakh".into(),
            track: "Track00001".into(),
            task: "mt3_full_plus".into(),
            segments: 1,
            json: false,
            events: false,
        },
    )?;
    println!(
        "\n$ amt eval --ref {} --est {}",
        data_home.join("demo_maestro/2018").display(),
        transcribed.display()
    );
    crate::commands::eval(
        &ctx,
        &EvalArgs {
            reference: Some(data_home.join("demo_maestro/2018")),
            estimate: Some(transcribed.clone()),
            predictions: None,
            eval_vocab: None,
            drum_vocab: None,
            onset_tolerance: 0.05,
            frame: true,
            pitch_class: Vec::new(),
            sustain_pedal: false,
            skip_unreadable: false,
            dataset: Some("demo_maestro".into()),
            name: Some("demo_transcription".into()),
            json: false,
        },
    )?;
    println!(
        "\nTry: amt --data-home {} status | tables | sql \"SELECT * FROM notes LIMIT 5\"",
        data_home.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `amt demo`: `synth-demo` through every stage, a small T5 trained on it (run `demo` of the
/// demo's store; a second demo finds it trained), the test split scored, and one held-out
/// file transcribed to MIDI and a piano roll beside its reference.
pub fn train_demo(
    args: &crate::cli::DemoArgs,
    quiet: bool,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<ExitCode> {
    use crate::train::flags::{ModelFlags, TrainFlags};
    use crate::train::infer::{Decoding, score_sets};
    use crate::train::trainer::TrainOptions;

    let dir = std::path::absolute(&args.dir)?;
    let data_home = dir.join("data");
    let out_dir = dir.join("output");
    let ctx = demo_context(&data_home, quiet, cancel);
    let say = |s: String| {
        if !args.json {
            println!("{s}");
        }
    };
    let model = ModelFlags {
        model: Some("demo".into()),
        ..Default::default()
    };
    let train = TrainFlags {
        data_preset: Some(amt_stages::synth::NAME.into()),
        max_steps: args.steps,
        precision: Some("32".into()),
        ..Default::default()
    };
    let plan = crate::train::resolve::resolve(&model, &train, None).map_err(anyhow::Error::msg)?;
    say(format!(
        "amt demo: `{}` (generated in {}) -> {} -> train a small T5 (d_model {}) for {} steps on the CPU",
        amt_stages::synth::NAME,
        data_home.display(),
        ctx.graph.names().join(" -> "),
        plan.model.encoder.d_model,
        plan.max_steps
    ));
    let opts = TrainOptions {
        seed: 1234,
        checkpoint_every: plan.val_interval,
        top_k: 2,
        device: tch::Device::Cpu,
        threads: args.threads.unwrap_or_else(tch::get_num_threads),
        workers: 1,
        quiet: quiet || args.json,
        stop_after: None,
        bucket_bytes: amt_dist::DEFAULT_BUCKET_BYTES,
        ddp_overlap: true,
        // A newer amt may build the demo's data anew: the demo trains on.
        repin: true,
        frontend_on_device: false,
    };
    let (outcome, data, run_dir) = crate::train::train_run(&ctx, "demo", &plan, &opts, 20)?;
    if outcome.stopped_early {
        anyhow::bail!("interrupted; `amt demo` again continues the training where it stopped");
    }
    say(format!(
        "trained {} steps ({} this time, {:.0} s); final loss {:.3}; checkpoint {}",
        outcome.steps,
        outcome.steps - outcome.resumed_from,
        outcome.train_seconds,
        outcome.final_loss,
        outcome.checkpoint.display()
    ));
    // Model selection as YourMT3 does it: the checkpoint with the best validation onset F1.
    let (checkpoint, best_val) = crate::train::trainer::best_checkpoint(&run_dir)
        .unwrap_or((outcome.checkpoint.clone(), f64::NAN));
    say(format!(
        "best validation onset F1 {best_val:.3}: {}",
        checkpoint.display()
    ));
    let t = crate::commands::Transcriber::load(&checkpoint, tch::Device::Cpu, 64)?;
    let reader = amt_model::stream::ShardReader::new(16);
    let shape = amt_model::stream::RowShape {
        frames: plan.model.feat_length,
        bins: plan.model.d_feat,
        channels: plan.model.num_channels,
        length: plan.model.event_length,
    };
    let how = Decoding {
        batch: 64,
        ..t.decoding
    };
    let scores = score_sets(&t.model, &data.test, &reader, shape, how, None)?;
    let ds = amt_stages::synth::NAME;
    let get = |k: &str| {
        scores
            .values
            .get(&format!("({ds}){k}"))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let (onset_f, offset_f) = (get("onset_f"), get("offset_f"));
    let n_test = data.test.iter().map(|s| s.tracks.len()).sum::<usize>();
    say(format!(
        "test split ({n_test} files): onset F1 {onset_f:.3}, onset+offset F1 {offset_f:.3} (mean over files)"
    ));
    let track = data
        .test
        .iter()
        .flat_map(|s| s.tracks.iter())
        .next()
        .ok_or_else(|| anyhow::anyhow!("the test split of `{ds}` is empty"))?;
    let (_, _, notes) = scores
        .files
        .iter()
        .find(|(_, id, _)| *id == track.track_id)
        .expect("every test file is scored");
    fs_err::create_dir_all(&out_dir)?;
    let midi = out_dir.join(format!("{}.mid", track.track_id));
    amt_cache::atomic::write_file(&midi, &notes_to_midi(notes)?)?;
    let png = out_dir.join(format!("{}.png", track.track_id));
    crate::pianoroll::write_png(
        &png,
        &[
            (&format!("reference: {}", track.track_id), &track.reference),
            ("transcription", notes),
        ],
    )?;
    say(format!(
        "held-out file `{}`: {} notes transcribed ({} in the reference)\n  MIDI: {}\n  piano roll (reference above, transcription below): {}",
        track.track_id,
        notes.len(),
        track.reference.len(),
        midi.display(),
        png.display()
    ));
    say(format!(
        "\nTry: amt --data-home {} sql \"SELECT step, value FROM train_metrics WHERE metric = 'validation/macro_onset_f' ORDER BY step\"\n     amt --data-home {} transcribe --exp demo -o out --png your_song.wav",
        data_home.display(),
        data_home.display()
    ));
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "onset_f": onset_f,
                "offset_f": offset_f,
                "test_files": n_test,
                "train_seconds": outcome.train_seconds,
                "steps": outcome.steps,
                "final_loss": outcome.final_loss,
                "checkpoint": checkpoint,
                "last_checkpoint": outcome.checkpoint,
                "run_dir": run_dir,
                "midi": midi,
                "png": png,
                "validation": outcome.metrics,
            }))?
        );
    }
    Ok(ExitCode::SUCCESS)
}
