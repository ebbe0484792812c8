//! IDMT-SMT-Bass: single bass notes, listed in `stratified_split_crepe_smt.json`
//! (`{"train": [wav paths], "validation": [...]}`, paths relative to the dataset folder).
//!
//! There are no annotation files. As YourMT3 does, each file name gives the note: it splits
//! into 8 `_`-separated fields, the 5th being the plucking style (FS and MU 33, PK 34, SP 36,
//! ST 37: the program), the 7th the string (1-5) and the 8th the fret; pitch is
//! `[28, 33, 38, 43, 48][string - 1] + fret`. The audio gives onset and offset: the maximum of
//! each 256-sample frame (of the first 255 samples, and signed, exactly as YourMT3 computes it)
//! at 16 kHz, the onset at the first frame above 0.05 and the offset at the last frame above
//! 0.02, then rounded to 10 ms as YourMT3's MIDI round trip does. YourMT3's 16 kHz release is
//! already padded with 1.8 s of silence on both sides; amt never rewrites the files.
//!
//! Lists: `train` (1872 files) and `validation` (470), as the JSON gives them.

use super::{
    Adapter, DatasetFiles, Listing, Problem, ReadOptions, TrackAudio, TrackNotes, TrackSpec,
    file_mix_audio, file_stem, join, layout_error, metadata_text, parent, single_stem,
};
use crate::Result;
use crate::audio::{Channels, SAMPLE_RATE, decode_to_vec};
use amt_symbolic::Note;

pub const NAME: &str = "idmt_smt_bass";

pub struct IdmtSmtBass;

const SPLIT_FILE: &str = "stratified_split_crepe_smt.json";

/// Program and pitch from a file name, or why not.
fn note_of_name(stem: &str) -> std::result::Result<(u8, u8), String> {
    let fields: Vec<&str> = stem.split('_').collect();
    if fields.len() != 8 {
        return Err(format!(
            "the name has {} `_`-separated fields, not 8 (style, string and fret come from them)",
            fields.len()
        ));
    }
    let program = match fields[4] {
        "FS" | "MU" => 33,
        "PK" => 34,
        "SP" => 36,
        "ST" => 37,
        other => return Err(format!("unknown plucking style `{other}`")),
    };
    let string: usize = fields[6]
        .parse()
        .ok()
        .filter(|s| (1..=5).contains(s))
        .ok_or_else(|| format!("string `{}` is not 1-5", fields[6]))?;
    let fret: u8 = fields[7]
        .parse()
        .map_err(|_| format!("fret `{}` is not a number", fields[7]))?;
    Ok((program, [28u8, 33, 38, 43, 48][string - 1] + fret))
}

/// YourMT3's amplitude-envelope onset and offset (seconds, to the ms) of 16 kHz samples.
fn onset_offset(x: &[f32]) -> Option<(f64, f64)> {
    const FRAME: usize = 256;
    let env: Vec<f32> = (0..x.len() / FRAME)
        .map(|t| {
            x[t * FRAME..(t + 1) * FRAME - 1]
                .iter()
                .copied()
                .fold(f32::MIN, f32::max)
        })
        .collect();
    let on = env.iter().position(|&v| v > 0.05)?;
    let off = env.iter().rposition(|&v| v > 0.02)?;
    let ms =
        |frame: usize| ((frame * FRAME) as f64 / f64::from(SAMPLE_RATE) * 1000.0).round() / 1000.0;
    Some((ms(on), ms(off)))
}

impl Adapter for IdmtSmtBass {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let bad = |reason: String| layout_error(files, NAME, reason);
        let (list, text) = metadata_text(
            files,
            NAME,
            |n| n == SPLIT_FILE,
            &format!("no `{SPLIT_FILE}` (it lists the train and validation files)"),
        )?;
        let list = list.as_str();
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad(format!("`{list}` is not valid JSON: {e}")))?;
        let base = parent(list);
        let mut tracks = Vec::new();
        let mut problems = Vec::new();
        for split in ["train", "validation"] {
            let Some(paths) = json.get(split).and_then(|v| v.as_array()) else {
                return Err(bad(format!("`{list}` has no `{split}` list")));
            };
            for p in paths {
                let Some(rel) = p.as_str() else {
                    problems.push(Problem::new(
                        list,
                        format!("`{split}` holds {p}, not a path"),
                    ));
                    continue;
                };
                let audio = join(base, rel);
                if !files.contains(&audio) {
                    problems.push(Problem::new(
                        &audio,
                        format!("listed in `{list}` but missing"),
                    ));
                    continue;
                }
                tracks.push(TrackSpec {
                    id: file_stem(&audio).to_string(),
                    source: audio.clone(),
                    meta: [
                        ("split".to_string(), split.to_string()),
                        ("list".to_string(), list.to_string()),
                    ]
                    .into_iter()
                    .collect(),
                });
            }
        }
        let tracks = super::dedup_ids(tracks, &mut problems);
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        _: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>> {
        let (program, pitch) = match note_of_name(file_stem(&track.source)) {
            Ok(n) => n,
            Err(e) => return Ok(Err(Problem::new(&track.source, e))),
        };
        // The audio is the annotation: it must be the content `extract` fingerprinted.
        files.read(&track.source)?;
        let x = match decode_to_vec(&files.abs(&track.source), Channels::Downmix, SAMPLE_RATE) {
            Ok(x) => x,
            Err(e) => return Ok(Err(Problem::new(&track.source, e.reason))),
        };
        let Some((onset, offset)) = onset_offset(&x) else {
            return Ok(Err(Problem::new(
                &track.source,
                "no frame louder than 0.05: no note onset to find",
            )));
        };
        // YourMT3's MIDI round trip rounds to 10 ms.
        let q = |t: f64| (t * 100.0).round() / 100.0;
        let note = Note {
            is_drum: false,
            program,
            onset: q(onset),
            offset: q(offset).max(q(onset) + 0.01),
            pitch,
            velocity: 1,
        };
        let duration = x.len() as f64 / f64::from(SAMPLE_RATE);
        Ok(single_stem(&track.source, Ok((vec![note], duration))))
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        let list = track.meta_str("list");
        file_mix_audio(files, track, &track.source, "mix", &[list])
    }

    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        Ok(super::meta_splits(tracks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_program_and_pitch() {
        assert_eq!(note_of_name("A_B_C_D_FS_E_1_5"), Ok((33, 33)));
        assert_eq!(note_of_name("A_B_C_D_ST_E_4_0"), Ok((37, 43)));
        assert!(note_of_name("A_B_FS_1_5").unwrap_err().contains("8"));
        assert!(note_of_name("A_B_C_D_XX_E_1_5").unwrap_err().contains("XX"));
        assert!(
            note_of_name("A_B_C_D_PK_E_7_5")
                .unwrap_err()
                .contains("string")
        );
    }

    #[test]
    fn the_envelope_finds_onset_and_offset() {
        // 1 s of silence, 0.5 s at 0.5, 0.25 s at 0.03, silence.
        let mut x = vec![0f32; 16_000];
        x.extend(std::iter::repeat_n(0.5, 8_000));
        x.extend(std::iter::repeat_n(0.03, 4_000));
        x.extend(std::iter::repeat_n(0.0, 8_000));
        let (on, off) = onset_offset(&x).unwrap();
        assert!((on - 1.0).abs() < 0.017, "{on}");
        assert!((off - 1.75).abs() < 0.017, "{off}");
        assert_eq!(onset_offset(&[0.0; 4096]), None);
    }
}
