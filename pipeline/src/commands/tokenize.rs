//! `amt tokenize`: the token ids (and, with `--events`, the event names) of the first segments
//! of one track, from the published `notes` of its dataset. A debugging aid, and the way checks
//! read the tokenizer's output.
//!
//! The track's notes are rebuilt from the `notes` table exactly as training reads them (stems
//! mixed with `mix_notes`), turned into note events, and each segment `[i * 32767 / 16000 s,
//! + 2.048 s)` is encoded with the task's codec. Each channel row is printed up to and including
//! its EOS; the padding after it is left out (`max_len` says how long the row is).

use std::process::ExitCode;

use amt_stages::notes::{self, read};
use amt_symbolic::tokenizer::SEGMENT_SAMPLES;
use amt_symbolic::vocab::{EOS, PAD, TIE};
use amt_symbolic::{
    NoteEventList, Task, Token, segment_start_times, segment_start_times_for_samples, token_name,
};
use serde_json::json;

use crate::cli::{TokenizeArgs, with_hint};
use crate::context::Context;

/// The task names `--task` accepts.
pub const TASKS: &[&str] = &["mt3_full_plus", "mc13_full_plus_256"];

/// How many valid track ids an "unknown track" error lists.
const SHOW_TRACKS: usize = 10;

pub fn tokenize(ctx: &Context, args: &TokenizeArgs) -> anyhow::Result<ExitCode> {
    let task = Task::from_name(&args.task)
        .map_err(|e| with_hint(e, format!("tasks: {}", TASKS.join(", "))))?;
    if args.segments == 0 {
        return Err(with_hint(
            anyhow::anyhow!("--segments 0 asks for nothing"),
            "give at least 1 (the default)",
        ));
    }
    let store = ctx.open_store()?;
    let ds = &args.dataset;
    let slot = amt_cache::Slot::dataset(ds);
    let artifact = if slot.check().is_ok() {
        store.current_pinned(notes::NAME, &slot)?
    } else {
        None
    };
    let build = format!("build them with `amt run --until notes --datasets {ds}`");
    let Some((artifact, _pin)) = artifact else {
        let refs = store.refs()?;
        let with_notes: Vec<String> = refs
            .iter()
            .filter(|r| r.stage == notes::NAME && r.slot.is_dataset())
            .map(|r| r.slot.to_string())
            .collect();
        let known = refs.iter().any(|r| r.slot == slot) || ctx.config.file.dataset.contains_key(ds);
        let listed = if with_notes.is_empty() {
            "no dataset has notes yet".to_string()
        } else {
            format!("datasets with notes: {}", with_notes.join(", "))
        };
        let error = if known {
            anyhow::anyhow!("the notes of dataset `{ds}` are not built")
        } else {
            anyhow::anyhow!("unknown dataset `{ds}`")
        };
        return Err(with_hint(error, format!("{listed}; {build}")));
    };

    let tracks = read::tracks(&artifact)?;
    let Some(track) = tracks.iter().find(|t| t.track_id == args.track) else {
        let mut ids: Vec<&str> = tracks.iter().map(|t| t.track_id.as_str()).collect();
        let more = ids.len().saturating_sub(SHOW_TRACKS);
        ids.truncate(SHOW_TRACKS);
        let list = if ids.is_empty() {
            "it has no tracks (see `amt sql \"SELECT * FROM problems\"`)".to_string()
        } else if more > 0 {
            format!("tracks: {} and {more} more", ids.join(", "))
        } else {
            format!("tracks: {}", ids.join(", "))
        };
        return Err(with_hint(
            anyhow::anyhow!("dataset `{ds}` has no track `{}` in its notes", args.track),
            format!(
                "{list}; all of them: `amt sql \"SELECT track_id FROM tracks WHERE dataset = '{ds}'\"`"
            ),
        ));
    };

    let notes = notes::track_notes(read::track_notes(&artifact, &track.track_id)?);
    let list = NoteEventList::from_notes(&notes)?;
    let available = segment_start_times(track.duration_s).len();
    let n = args.segments.min(available);
    let starts = segment_start_times_for_samples(n * SEGMENT_SAMPLES);

    let mut segments = Vec::with_capacity(n);
    for (index, &start) in starts.iter().enumerate() {
        let enc = task.encode_segment(&list, start)?;
        let channels: Vec<Vec<Token>> = (0..enc.num_channels)
            .map(|c| through_eos(enc.channel(c)).to_vec())
            .collect();
        segments.push((index, start, enc, channels));
    }

    if args.json {
        let segs: Vec<serde_json::Value> = segments
            .iter()
            .map(|(index, start, enc, channels)| {
                let mut v = json!({
                    "index": index,
                    "start_s": start,
                    "max_len": enc.max_len,
                    "truncated": enc.truncated,
                    "dropped_events": enc.dropped_events,
                    "tokens": channels,
                });
                if args.events {
                    v["events"] = json!(
                        channels
                            .iter()
                            .map(|row| row.iter().map(|&t| token_name(t)).collect::<Vec<_>>())
                            .collect::<Vec<_>>()
                    );
                }
                v
            })
            .collect();
        let out = json!({
            "dataset": ds,
            "track": track.track_id,
            "task": args.task,
            "duration_s": track.duration_s,
            "segments_in_track": available,
            "notes": notes.len(),
            "segments": segs,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }

    println!(
        "{ds} / {}: {} notes, {:.3} s, {available} segment(s); task {} ({} x {} tokens)",
        track.track_id,
        notes.len(),
        track.duration_s,
        args.task,
        task.num_channels,
        task.max_len
    );
    if args.segments > available {
        println!("(the track has only {available} segment(s))");
    }
    for (index, start, enc, channels) in &segments {
        println!("segment {index} at {start:.6} s");
        if enc.truncated > 0 || enc.dropped_events > 0 {
            println!(
                "  warning: {} token(s) truncated, {} event(s) without a channel",
                enc.truncated, enc.dropped_events
            );
        }
        let mut empty = Vec::new();
        for (c, row) in channels.iter().enumerate() {
            // Multi-channel rows with nothing but the tie marker and EOS: listed once below.
            if task.num_channels > 1 && row.as_slice() == [TIE, EOS] {
                empty.push(c.to_string());
                continue;
            }
            let ids: Vec<String> = row.iter().map(Token::to_string).collect();
            println!("  ch{c}: {}", ids.join(" "));
            if args.events {
                let names: Vec<String> = row.iter().map(|&t| token_name(t)).collect();
                println!("  ch{c} events: {}", names.join(" "));
            }
        }
        if !empty.is_empty() {
            println!("  empty ({TIE} {EOS}): ch{}", empty.join(", ch"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A row up to and including its EOS (the whole row if it has none); the rest is padding.
fn through_eos(row: &[Token]) -> &[Token] {
    match row.iter().position(|&t| t == EOS) {
        Some(i) => &row[..=i],
        None => {
            let end = row.iter().rposition(|&t| t != PAD).map_or(0, |i| i + 1);
            &row[..end]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_end_at_eos() {
        assert_eq!(through_eos(&[340, 209, EOS, PAD, PAD]), &[340, 209, EOS]);
        assert_eq!(through_eos(&[EOS, PAD]), &[EOS]);
        assert_eq!(through_eos(&[5, 6, PAD]), &[5, 6]);
        assert_eq!(through_eos(&[PAD, PAD]), &[] as &[Token]);
    }

    #[test]
    fn every_listed_task_exists() {
        for t in TASKS {
            assert!(Task::from_name(t).is_ok(), "{t}");
        }
    }
}
