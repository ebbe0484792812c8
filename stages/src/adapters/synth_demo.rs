//! `synth-demo`: the built-in generated dataset ([`crate::synth`]). A track is a
//! `<split>/<piece>/piece.json`; its stems are `<stem>.mid` (notes, drums on channel 10) and
//! `<stem>.wav`; its mix is `mix.wav`; its split is its folder.

use amt_symbolic::{MidiToNotesConfig, midi_to_notes};

use super::{
    Adapter, DatasetFiles, Listing, MixSource, Problem, ReadOptions, StemNotes, StemSource,
    TrackAudio, TrackNotes, TrackSpec, dedup_ids, join, parent,
};
use crate::audio::Channels;
use crate::synth::PieceInfo;
use crate::{Error, Result};

pub const NAME: &str = "synth-demo";

pub struct SynthDemo;

fn piece(
    files: &DatasetFiles,
    track: &TrackSpec,
) -> Result<std::result::Result<PieceInfo, Problem>> {
    let text = match files.read_text(&track.source)? {
        Ok(t) => t,
        Err(p) => return Ok(Err(p)),
    };
    Ok(serde_json::from_str(&text)
        .map_err(|e| Problem::new(&track.source, format!("not a piece description: {e}"))))
}

impl Adapter for SynthDemo {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let tracks: Vec<TrackSpec> = files
            .paths()
            .filter(|p| p.ends_with("/piece.json"))
            .map(|p| TrackSpec {
                id: parent(p).rsplit('/').next().unwrap_or(p).to_string(),
                source: p.to_string(),
                ..TrackSpec::default()
            })
            .collect();
        if tracks.is_empty() {
            return Err(Error::Layout {
                dataset: files.dataset.clone(),
                adapter: NAME.into(),
                reason: format!(
                    "no `<split>/<piece>/piece.json` under `{}`; remove the folder and run again to regenerate it",
                    files.folder.display()
                ),
            });
        }
        let mut problems = Vec::new();
        let tracks = dedup_ids(tracks, &mut problems);
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        options: &ReadOptions,
    ) -> Result<std::result::Result<TrackNotes, Problem>> {
        let info = match piece(files, track)? {
            Ok(i) => i,
            Err(p) => return Ok(Err(p)),
        };
        let dir = parent(&track.source);
        let cfg = MidiToNotesConfig {
            ch_9_as_drum: true,
            ..options.midi.clone()
        };
        let mut stems = Vec::new();
        let mut duration_s: f64 = 0.0;
        for s in &info.stems {
            let rel = join(dir, &format!("{}.mid", s.id));
            let bytes = files.read(&rel)?;
            match midi_to_notes(&bytes, &cfg) {
                Ok(n) => {
                    duration_s = duration_s.max(n.length_sec);
                    stems.push(StemNotes {
                        stem_id: Some(s.id.clone()),
                        notes: n.notes,
                    });
                }
                Err(e) => return Ok(Err(Problem::new(rel, e))),
            }
        }
        Ok(Ok(TrackNotes { duration_s, stems }))
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<std::result::Result<TrackAudio, Problem>> {
        let info = match piece(files, track)? {
            Ok(i) => i,
            Err(p) => return Ok(Err(p)),
        };
        let dir = parent(&track.source);
        let mut deps = vec![track.source.clone()];
        let mut stems = Vec::new();
        for s in &info.stems {
            let (wav, mid) = (
                join(dir, &format!("{}.wav", s.id)),
                join(dir, &format!("{}.mid", s.id)),
            );
            deps.push(mid);
            deps.push(wav.clone());
            stems.push(StemSource {
                stem_id: s.id.clone(),
                path: wav,
                channels: Channels::Downmix,
                program: s.program,
                is_drum: s.is_drum,
            });
        }
        let mix = join(dir, "mix.wav");
        deps.push(mix.clone());
        deps.sort();
        Ok(Ok(TrackAudio {
            stems,
            mixes: vec![MixSource::file("mix", mix)],
            deps,
        }))
    }

    /// The folder a piece sits in.
    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        Ok(tracks
            .iter()
            .filter_map(|t| Some((t.id.clone(), t.source.split('/').next()?.to_string())))
            .collect())
    }
}
