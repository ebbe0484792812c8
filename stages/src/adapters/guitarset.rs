//! GuitarSet: one track per `annotation/<id>.jams`, its `note_midi` annotations read with
//! YourMT3's rules (program 24, pitch rounded half to even, velocity 1, sort, validate, trim;
//! see `amt_symbolic::datasets::guitarset_notes_from_jams`); `duration_sec` is the JAMS
//! `file_metadata.duration`. The MIDI options do not apply (JAMS are not MIDI). An invalid
//! JAMS file is a problem.
//!
//! Audio: the six strings of the hexaphonic pickup (`audio_hex-pickup_debleeded/<id>_hex_cln.wav`,
//! else `audio_hex-pickup_original/<id>_hex.wav`, one channel per string) are the stems, and
//! YourMT3's two training entries, the microphone (`audio_mono-mic/<id>_mic.wav`) and the pickup
//! mix (`audio_mono-pickup_mix/<id>_mix.wav`), are the mixes `mic` and `mix`.
//!
//! Pitch-shifted renderings (YourMT3's offline `sox pitch` of -5..+5 semitones): every track
//! `<id>` also yields tracks `<id>_pshift<n>` (n = -5..=5, not 0) whose notes are transposed by
//! n (notes leaving the MIDI range dropped) and whose two mixes the `stem` stage shifts by n
//! semitones with `audio::pitch_shift` (no stems: the hexaphonic strings are not rendered).
//! YourMT3 also detunes each rendering by a random ±10 cents; we do not. They fill the
//! `<list>_pshift` lists: each source entry and its 10 renderings (11 per source, as in
//! YourMT3), for `progression_1..3`, `train`, `all` and the styles.
//!
//! Split: YourMT3 gives each of the 60 (style, progression, tempo, solo/comp) slots 4 train, 1
//! validation and 1 test player by an unseeded `np.random` permutation (not reproducible). Here
//! the permutation is seeded ([`SPLIT_SEED`], recorded in the `split` stage's key), so the split
//! is the same on every machine.

use amt_symbolic::datasets::guitarset_notes_from_jams;

use super::{
    Adapter, DatasetFiles, Listing, MixSource, Problem, ReadOptions, StemNotes, StemSource,
    TrackAudio, TrackNotes, TrackSpec, dedup_ids, file_stem, join, parent,
};
use crate::audio::Channels;
use crate::{Error, Result};

pub const NAME: &str = "guitarset";

/// The semitone shifts of the pitch-shifted renderings (0 is the original).
pub const PSHIFT: std::ops::RangeInclusive<i32> = -5..=5;

/// `track.meta` key of a rendering's source track (its shift is under
/// [`super::META_PITCH_SHIFT`]).
const META_BASE: &str = "base";

/// The lists that get a `_pshift` twin.
fn has_pshift_twin(list: &str) -> bool {
    list.starts_with("progression_")
        || matches!(
            list,
            "train" | "all" | "BN" | "Funk" | "SS" | "Jazz" | "Rock"
        )
}

/// Options (`[dataset.D.adapter]`): `pitch_shift_renderings = false` leaves out the
/// `_pshift` tracks and lists (an 11th of the `stem` and `shards` work).
#[derive(Debug, Clone)]
pub struct GuitarSet {
    pub renderings: bool,
}

impl Default for GuitarSet {
    fn default() -> Self {
        GuitarSet { renderings: true }
    }
}

impl GuitarSet {
    /// The adapter with `options`; unknown keys and bad values are errors naming them.
    pub fn with_options(
        options: &std::collections::BTreeMap<String, String>,
    ) -> std::result::Result<GuitarSet, String> {
        let mut g = GuitarSet::default();
        for (k, v) in options {
            match k.as_str() {
                "pitch_shift_renderings" => {
                    g.renderings = v.parse().map_err(|_| {
                        format!("adapter `{NAME}`: `pitch_shift_renderings = {v}`: expected true or false")
                    })?;
                }
                other => {
                    return Err(format!(
                        "adapter `{NAME}` has no option `{other}`; it takes: pitch_shift_renderings (true or false)"
                    ));
                }
            }
        }
        Ok(g)
    }
}

/// The seed of the train/validation/test permutation of players (see the module doc).
pub const SPLIT_SEED: u64 = 0x67_75_69_74_61_72;

/// YourMT3's GuitarSet split, seeded: ids `<player>_<slot>`; in each slot, the players in a
/// permutation drawn from (seed, slot) go 4 to `train`, 1 to `validation`, 1 to `test` (fewer
/// players: in that order until they run out).
pub fn player_split<'a>(ids: impl Iterator<Item = &'a str>, seed: u64) -> Vec<(String, String)> {
    let mut slots: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for id in ids {
        let slot = id.split_once('_').map(|(_, s)| s).unwrap_or(id);
        slots.entry(slot).or_default().push(id);
    }
    let mut out = Vec::new();
    for (slot, mut players) in slots {
        players.sort();
        // Fisher-Yates with a splitmix64 stream seeded by (seed, slot).
        let mut state = seed
            ^ u64::from_le_bytes(
                blake3::hash(slot.as_bytes()).as_bytes()[..8]
                    .try_into()
                    .expect("8 bytes"),
            );
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        for i in (1..players.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            players.swap(i, j);
        }
        for (k, id) in players.into_iter().enumerate() {
            let split = match k {
                0..=3 => "train",
                4 => "validation",
                _ => "test",
            };
            out.push((id.to_string(), split.to_string()));
        }
    }
    out.sort();
    out
}

/// YourMT3's named GuitarSet lists of each id (`00_BN1-129-Eb_comp`): `progression_<n>` (the
/// digit after the style), `player_<n>` (the leading number), the style (`BN`, `Funk`, `SS`,
/// `Jazz`, `Rock`) and `all`. Ids that do not follow the pattern are only in `all`. The
/// `_pshift` lists come from [`pshift_lists`].
pub fn named_lists<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for id in ids {
        out.push((id.to_string(), "all".to_string()));
        let Some((player, rest)) = id.split_once('_') else {
            continue;
        };
        let head = rest.split('-').next().unwrap_or(rest);
        if let Ok(n) = player.parse::<u32>() {
            out.push((id.to_string(), format!("player_{n}")));
        }
        if let Some(digit) = head.chars().last().filter(char::is_ascii_digit) {
            out.push((id.to_string(), format!("progression_{digit}")));
            let style = &head[..head.len() - 1];
            if ["BN", "Funk", "SS", "Jazz", "Rock"].contains(&style) {
                out.push((id.to_string(), style.to_string()));
            }
        }
    }
    out
}

/// The `<list>_pshift` rows: for every (source id, list) row of a list with a twin, the source
/// and each of its renderings in `<list>_pshift`.
pub fn pshift_lists(rows: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (id, list) in rows.iter().filter(|(_, l)| has_pshift_twin(l)) {
        let twin = format!("{list}_pshift");
        out.push((id.clone(), twin.clone()));
        for n in PSHIFT.filter(|&n| n != 0) {
            out.push((format!("{id}_pshift{n}"), twin.clone()));
        }
    }
    out
}

/// `.../annotation/<id>.jams`.
fn is_annotation(rel: &str) -> bool {
    rel.ends_with(".jams") && parent(rel).rsplit('/').next() == Some("annotation")
}

impl Adapter for GuitarSet {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let tracks: Vec<TrackSpec> = files
            .paths()
            .filter(|p| is_annotation(p))
            .map(|p| TrackSpec {
                id: file_stem(p).to_string(),
                source: p.to_string(),
                ..TrackSpec::default()
            })
            .collect();
        if tracks.is_empty() {
            return Err(Error::Layout {
                dataset: files.dataset.clone(),
                adapter: NAME.into(),
                reason: format!(
                    "no `annotation/*.jams` file under `{}`; point the dataset at the GuitarSet \
                     folder that holds `annotation/`",
                    files.folder.display()
                ),
            });
        }
        let mut problems = Vec::new();
        let mut tracks = dedup_ids(tracks, &mut problems);
        let renderings: Vec<TrackSpec> = tracks
            .iter()
            .filter(|_| self.renderings)
            .flat_map(|t| {
                PSHIFT.filter(|&n| n != 0).map(move |n| TrackSpec {
                    id: format!("{}_pshift{n}", t.id),
                    source: t.source.clone(),
                    meta: [
                        (super::META_PITCH_SHIFT.to_string(), n.to_string()),
                        (META_BASE.to_string(), t.id.clone()),
                    ]
                    .into_iter()
                    .collect(),
                })
            })
            .collect();
        tracks.extend(renderings);
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        _: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>> {
        let text = match files.read_text(&track.source)? {
            Ok(t) => t,
            Err(p) => return Ok(Err(p)),
        };
        Ok(
            match guitarset_notes_from_jams(&text, &files.abs(&track.source)) {
                Ok(g) => Ok(TrackNotes {
                    duration_s: g.duration_sec,
                    stems: vec![StemNotes {
                        stem_id: None,
                        // A rendering's notes move with its audio.
                        notes: amt_symbolic::transpose_notes(&g.notes, track.pitch_shift()).0,
                    }],
                }),
                Err(e) => Err(Problem::new(&track.source, e)),
            },
        )
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        let root = parent(parent(&track.source));
        let id = track.meta.get(META_BASE).unwrap_or(&track.id);
        let at = |sub: &str, suffix: &str| join(root, &format!("{sub}/{id}{suffix}"));
        let mut deps = vec![track.source.clone()];
        let mut stems = Vec::new();
        let rendering = track.pitch_shift() != 0;
        let hex = [
            at("audio_hex-pickup_debleeded", "_hex_cln.wav"),
            at("audio_hex-pickup_original", "_hex.wav"),
        ]
        .into_iter()
        .find(|p| files.contains(p) && !rendering);
        if let Some(hex) = hex {
            deps.push(hex.clone());
            for string in 0..6u16 {
                stems.push(StemSource {
                    stem_id: format!("string{string}"),
                    path: hex.clone(),
                    channels: Channels::Select(string),
                    program: 24,
                    is_drum: false,
                });
            }
        }
        let mut mixes = Vec::new();
        for (name, path) in [
            ("mic", at("audio_mono-mic", "_mic.wav")),
            ("mix", at("audio_mono-pickup_mix", "_mix.wav")),
        ] {
            if files.contains(&path) {
                deps.push(path.clone());
                mixes.push(MixSource::file(name, path));
            }
        }
        if mixes.is_empty() {
            return Ok(Err(Problem::new(
                &track.source,
                format!(
                    "no audio: neither `{}` nor `{}` is in the dataset folder",
                    at("audio_mono-mic", "_mic.wav"),
                    at("audio_mono-pickup_mix", "_mix.wav")
                ),
            )));
        }
        deps.sort();
        Ok(Ok(TrackAudio { stems, mixes, deps }))
    }

    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        seed: u64,
    ) -> Result<Vec<(String, String)>> {
        // Renderings are only in the `_pshift` lists, never in the official split.
        let ids = || {
            tracks
                .iter()
                .filter(|t| t.pitch_shift() == 0)
                .map(|t| t.id.as_str())
        };
        let mut rows = player_split(ids(), seed);
        rows.extend(named_lists(ids()));
        if self.renderings {
            let twins = pshift_lists(&rows);
            rows.extend(twins);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_lists_follow_the_id() {
        let rows = named_lists(["00_BN1-129-Eb_comp", "05_Jazz3-150-C_solo", "odd"].into_iter());
        let of = |id: &str| -> Vec<&str> {
            rows.iter()
                .filter(|(t, _)| t == id)
                .map(|(_, l)| l.as_str())
                .collect()
        };
        assert_eq!(
            of("00_BN1-129-Eb_comp"),
            ["all", "player_0", "progression_1", "BN"]
        );
        assert_eq!(
            of("05_Jazz3-150-C_solo"),
            ["all", "player_5", "progression_3", "Jazz"]
        );
        assert_eq!(of("odd"), ["all"]);
    }

    /// Each source entry of a list with a twin is in `<list>_pshift` with its 10 renderings.
    #[test]
    fn pshift_lists_hold_eleven_entries_per_source() {
        let rows = named_lists(["00_BN1-129-Eb_comp"].into_iter());
        let twins = pshift_lists(&rows);
        let of = |list: &str| twins.iter().filter(|(_, l)| l == list).count();
        assert_eq!(of("progression_1_pshift"), 11);
        assert_eq!(of("all_pshift"), 11);
        assert_eq!(of("BN_pshift"), 11);
        assert_eq!(of("player_0_pshift"), 0);
        assert!(twins.contains(&(
            "00_BN1-129-Eb_comp_pshift-5".to_string(),
            "progression_1_pshift".to_string()
        )));
        assert!(!twins.iter().any(|(id, _)| id.ends_with("_pshift0")));
    }

    #[test]
    fn options_are_checked_by_name() {
        let opts = |k: &str, v: &str| [(k.to_string(), v.to_string())].into_iter().collect();
        assert!(
            !GuitarSet::with_options(&opts("pitch_shift_renderings", "false"))
                .unwrap()
                .renderings
        );
        let e = GuitarSet::with_options(&opts("pitchshift", "false")).unwrap_err();
        assert!(
            e.contains("no option `pitchshift`") && e.contains("pitch_shift_renderings"),
            "{e}"
        );
        let e = GuitarSet::with_options(&opts("pitch_shift_renderings", "maybe")).unwrap_err();
        assert!(e.contains("expected true or false"), "{e}");
        let e = super::super::configured("maestro", &opts("x", "1"))
            .err()
            .unwrap();
        assert!(e.contains("takes no options"), "{e}");
    }

    #[test]
    fn annotation_files() {
        assert!(is_annotation("annotation/03_BN3-119-G_solo.jams"));
        assert!(is_annotation("guitarset/annotation/x.jams"));
        assert!(!is_annotation("x.jams"));
        assert!(!is_annotation("annotation/x.json"));
        assert!(!is_annotation("other/x.jams"));
    }
}
