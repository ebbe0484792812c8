//! Slakh2100: the YourMT3 16 kHz layout (`slakh2100_yourmt3_16k/{split}/TrackNNNNN`), the
//! original `slakh2100_flac_redux/{split}/TrackNNNNN` and `babyslakh_16k/TrackNNNNN`.
//!
//! A track is a `TrackNNNNN` folder with a `metadata.yaml`; its stems are the metadata's
//! `stems` (program, is_drum, plugin), each with `MIDI/Sxx.mid` and `stems/Sxx.{wav,flac}`. A
//! stem is read when YourMT3's rule includes it (`audio_rendered && midi_saved`, both files
//! present; for `babyslakh`, whose flags are all false, when both files are present). Notes
//! follow YourMT3: drums from `is_drum` (program 128), the bass octave fix (unless the plugin is
//! the exception), and the track's duration is its longest stem MIDI. The release of each track
//! is read from its files ([`SlakhLayout::detect`]), never from folder names.
//!
//! A `TrackNNNNN` folder without `metadata.yaml` (programs unknown), a track with no usable
//! stem, and a stem MIDI that does not parse are problems; a duplicate track id (the same track in two layouts of one folder)
//! keeps the first path in sorted order.

use std::collections::BTreeSet;

use amt_symbolic::datasets::{
    SlakhLayout, SlakhMetadata, parse_slakh_metadata, slakh_stem_notes_with,
};

use super::{
    Adapter, DatasetFiles, Listing, MixSource, Problem, ReadOptions, StemNotes, StemSource,
    TrackAudio, TrackNotes, TrackSpec, dedup_ids, join, parent,
};
use crate::audio::Channels;
use crate::{Error, Result};

pub const NAME: &str = "slakh";
const METADATA: &str = "metadata.yaml";

pub struct Slakh;

/// `TrackNNNNN` (at least one digit after `Track`).
fn is_track_dir(name: &str) -> bool {
    name.strip_prefix("Track")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The track folder a file belongs to: its path up to the first `TrackNNNNN` component.
fn track_dir(rel: &str) -> Option<&str> {
    let mut end = 0;
    for comp in rel.split('/') {
        end += comp.len();
        if is_track_dir(comp) {
            return (end < rel.len()).then(|| &rel[..end]);
        }
        end += 1;
    }
    None
}

/// The release a track folder comes from, from its files.
fn layout(files: &DatasetFiles, dir: &str, metadata: &SlakhMetadata) -> SlakhLayout {
    SlakhLayout::detect(metadata, |rel| files.contains(&join(dir, rel)))
}

impl Adapter for Slakh {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let dirs: BTreeSet<&str> = files.paths().filter_map(track_dir).collect();
        if dirs.is_empty() {
            return Err(Error::Layout {
                dataset: files.dataset.clone(),
                adapter: NAME.into(),
                reason: format!(
                    "no `TrackNNNNN/{METADATA}` folder under `{}`; point the dataset at a Slakh \
                     folder (slakh2100_yourmt3_16k, slakh2100_flac_redux or babyslakh_16k) or set \
                     its `adapter`",
                    files.folder.display()
                ),
            });
        }
        let mut problems = Vec::new();
        let mut tracks = Vec::new();
        for dir in dirs {
            let source = join(dir, METADATA);
            if !files.contains(&source) {
                problems.push(Problem::new(
                    &source,
                    format!(
                        "track folder `{dir}` has no {METADATA}: its stems' programs and drum \
                         flags are unknown; restore the file from the Slakh release"
                    ),
                ));
                continue;
            }
            let id = dir.rsplit('/').next().unwrap_or(dir).to_string();
            tracks.push(TrackSpec {
                id,
                source,
                ..TrackSpec::default()
            });
        }
        let tracks = dedup_ids(tracks, &mut problems);
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        options: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>> {
        let text = match files.read_text(&track.source)? {
            Ok(t) => t,
            Err(p) => return Ok(Err(p)),
        };
        let metadata = match parse_slakh_metadata(&text, &files.abs(&track.source)) {
            Ok(m) => m,
            Err(e) => return Ok(Err(Problem::new(&track.source, e))),
        };
        let dir = parent(&track.source);
        let layout = layout(files, dir, &metadata);
        let ext = match layout {
            SlakhLayout::FlacRedux => "flac",
            _ => "wav",
        };
        let mut stems = Vec::new();
        let mut duration_s: f64 = 0.0;
        for (id, stem) in &metadata.stems {
            let midi = join(dir, &format!("MIDI/{id}.mid"));
            let audio = join(dir, &format!("stems/{id}.{ext}"));
            let flags = layout == SlakhLayout::Baby || (stem.audio_rendered && stem.midi_saved);
            if !(flags && files.contains(&midi) && files.contains(&audio)) {
                continue;
            }
            let bytes = files.read(&midi)?;
            match slakh_stem_notes_with(&bytes, stem, options.slakh_fix_bass_octave, &options.midi)
            {
                Ok(n) => {
                    duration_s = duration_s.max(n.length_sec);
                    stems.push(StemNotes {
                        stem_id: Some(id.clone()),
                        notes: n.notes,
                    });
                }
                Err(e) => return Ok(Err(Problem::new(midi, e))),
            }
        }
        if stems.is_empty() {
            return Ok(Err(Problem::new(
                &track.source,
                format!(
                    "no usable stem: none of the {} stems of `{dir}` has both `MIDI/Sxx.mid` and \
                     `stems/Sxx.{ext}`{}",
                    metadata.stems.len(),
                    if layout == SlakhLayout::YourMt3_16k {
                        " with `audio_rendered` and `midi_saved` true in its metadata"
                    } else {
                        ""
                    }
                ),
            )));
        }
        Ok(Ok(TrackNotes { duration_s, stems }))
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        let text = match files.read_text(&track.source)? {
            Ok(t) => t,
            Err(p) => return Ok(Err(p)),
        };
        let metadata = match parse_slakh_metadata(&text, &files.abs(&track.source)) {
            Ok(m) => m,
            Err(e) => return Ok(Err(Problem::new(&track.source, e))),
        };
        let dir = parent(&track.source);
        let layout = layout(files, dir, &metadata);
        let ext = match layout {
            SlakhLayout::FlacRedux => "flac",
            _ => "wav",
        };
        let mut deps = vec![track.source.clone()];
        let mut stems = Vec::new();
        for (id, stem) in &metadata.stems {
            let midi = join(dir, &format!("MIDI/{id}.mid"));
            let audio = join(dir, &format!("stems/{id}.{ext}"));
            let flags = layout == SlakhLayout::Baby || (stem.audio_rendered && stem.midi_saved);
            if !(flags && files.contains(&midi) && files.contains(&audio)) {
                continue;
            }
            deps.push(midi);
            deps.push(audio.clone());
            stems.push(StemSource {
                stem_id: id.clone(),
                path: audio,
                channels: Channels::Downmix,
                program: if stem.is_drum {
                    128
                } else {
                    u8::try_from(stem.program_num).unwrap_or(128)
                },
                is_drum: stem.is_drum,
            });
        }
        let mix = join(dir, &format!("mix.{ext}"));
        if !files.contains(&mix) {
            return Ok(Err(Problem::new(
                &mix,
                format!("no mix: `{mix}` is missing; restore it from the Slakh release"),
            )));
        }
        deps.push(mix.clone());
        deps.sort();
        Ok(Ok(TrackAudio {
            stems,
            mixes: vec![MixSource::file("mix", mix)],
            deps,
        }))
    }

    /// The Slakh split is the folder a track sits in (`train/`, `validation/`, `test/`);
    /// babyslakh has none, and its tracks count as `train`.
    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        Ok(tracks
            .iter()
            .map(|t| {
                let split = t
                    .source
                    .split('/')
                    .find(|c| matches!(*c, "train" | "validation" | "test"))
                    .unwrap_or("train");
                (t.id.clone(), split.to_string())
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::testing::{copy, fixtures, scan};

    /// The YourMT3 16 kHz layout trusts the metadata flags: a stem marked not rendered is
    /// left out even though its files exist.
    #[test]
    fn yourmt3_layout_follows_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let src = fixtures().join("slakh/babyslakh_16k/Track00001");
        let track = dir.path().join("train/Track00001");
        for sub in ["MIDI", "stems"] {
            for e in std::fs::read_dir(src.join(sub)).unwrap() {
                let p = e.unwrap().path();
                copy(&p, &track.join(sub).join(p.file_name().unwrap()));
            }
        }
        // Every stem rendered and saved, except S00 (its flag is the first in the file).
        let text = std::fs::read_to_string(src.join("metadata.yaml"))
            .unwrap()
            .replacen("audio_rendered: false", "audio_rendered: FALSE", 1)
            .replace("audio_rendered: false", "audio_rendered: true")
            .replace("audio_rendered: FALSE", "audio_rendered: false")
            .replace("midi_saved: false", "midi_saved: true");
        let s00_flag = text.find("audio_rendered: false").unwrap();
        assert!(s00_flag < text.find("  S01:").unwrap());
        std::fs::write(track.join(METADATA), text).unwrap();
        let files = scan("slakh2100_yourmt3_16k", dir.path());
        let meta = parse_slakh_metadata(
            &std::fs::read_to_string(track.join(METADATA)).unwrap(),
            &track.join(METADATA),
        )
        .unwrap();
        assert_eq!(
            layout(&files, "train/Track00001", &meta),
            SlakhLayout::YourMt3_16k
        );
        let listing = Slakh.tracks(&files).unwrap();
        assert_eq!(listing.tracks.len(), 1);
        assert!(listing.problems.is_empty());
        let opts = ReadOptions {
            slakh_fix_bass_octave: true,
            ..ReadOptions::default()
        };
        let read = Slakh
            .read_track(&files, &listing.tracks[0], &opts)
            .unwrap()
            .unwrap();
        let ids: Vec<&str> = read
            .stems
            .iter()
            .map(|s| s.stem_id.as_deref().unwrap())
            .collect();
        assert_eq!(ids.len(), 9, "{ids:?}");
        assert!(!ids.contains(&"S00") && !ids.contains(&"S06"), "{ids:?}");
        // The drum stem is drums by its metadata flag.
        let s01 = read
            .stems
            .iter()
            .find(|s| s.stem_id.as_deref() == Some("S01"))
            .unwrap();
        assert!(s01.notes.iter().all(|n| n.is_drum && n.program == 128));
    }

    /// The redux layout (FLAC stems, trusted flags) read through the adapter gives the stems
    /// `amt_symbolic`'s `SlakhTrack` reads from the same folder.
    #[test]
    fn flac_redux_layout_matches_the_library_reader() {
        let root = fixtures().join("slakh/slakh2100_flac_redux");
        let files = scan("slakh2100_flac_redux", &root);
        let meta_path = root.join("train/Track00001").join(METADATA);
        let meta = parse_slakh_metadata(&std::fs::read_to_string(&meta_path).unwrap(), &meta_path)
            .unwrap();
        assert_eq!(
            layout(&files, "train/Track00001", &meta),
            SlakhLayout::FlacRedux
        );
        let listing = Slakh.tracks(&files).unwrap();
        assert_eq!(listing.tracks.len(), 1);
        let opts = ReadOptions {
            slakh_fix_bass_octave: true,
            ..ReadOptions::default()
        };
        let read = Slakh
            .read_track(&files, &listing.tracks[0], &opts)
            .unwrap()
            .unwrap();
        let lib = amt_symbolic::datasets::SlakhTrack::open(root.join("train/Track00001"))
            .unwrap()
            .notes(true)
            .unwrap();
        assert_eq!(read.stems.len(), lib.stems.len());
        for (a, b) in read.stems.iter().zip(&lib.stems) {
            assert_eq!(a.stem_id.as_deref(), Some(b.id.as_str()));
            assert_eq!(a.notes, b.notes, "{}", b.id);
        }
        assert_eq!(read.duration_s, lib.duration_sec);
    }

    #[test]
    fn no_track_folder_is_a_layout_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("readme.txt"), b"x").unwrap();
        let err = Slakh.tracks(&scan("slakh", dir.path())).unwrap_err();
        assert!(err.to_string().contains("TrackNNNNN"), "{err}");
    }

    #[test]
    fn track_dirs() {
        assert_eq!(
            track_dir("train/Track00001/MIDI/S00.mid"),
            Some("train/Track00001")
        );
        assert_eq!(track_dir("Track00001/metadata.yaml"), Some("Track00001"));
        assert_eq!(track_dir("Track00001"), None, "a file, not a folder");
        assert_eq!(track_dir("TrackX/metadata.yaml"), None);
        assert_eq!(track_dir("Track/metadata.yaml"), None);
        assert_eq!(track_dir("README.md"), None);
    }
}
