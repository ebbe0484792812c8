//! Instrument-class and drum vocabularies of YourMT3's
//! `config/vocabulary.py`, looked up by name.
//!
//! An eval vocabulary groups MIDI programs into named classes (a note
//! belongs to a class when its program is listed); a drum vocabulary groups
//! drum pitches (a drum note is re-pitched to its class's first pitch).
//! Group order is the Python dict order, which fixes metric key order and
//! which class a drum note is copied into first.

use crate::error::{Error, Result};

/// One named class and its members (programs or drum pitches). The first
/// member is the class's canonical value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub members: Vec<u8>,
}

/// An ordered list of classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    pub name: String,
    pub groups: Vec<Group>,
}

impl Vocab {
    /// Builds a custom vocabulary (e.g. from a config file).
    pub fn new(name: impl Into<String>, groups: Vec<(String, Vec<u8>)>) -> Self {
        Self {
            name: name.into(),
            groups: groups
                .into_iter()
                .map(|(name, members)| Group { name, members })
                .collect(),
        }
    }

    /// The group with this name, if any.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }
}

type Spec = &'static [(&'static str, &'static [u8])];

const fn range<const N: usize>(start: u8) -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = start + i as u8;
        i += 1;
    }
    out
}

const PIANO: [u8; 8] = range::<8>(0);
const CHROMATIC: [u8; 8] = range::<8>(8);
const ORGAN: [u8; 8] = range::<8>(16);
const GUITAR: [u8; 8] = range::<8>(24);
const BASS: [u8; 8] = range::<8>(32);
const STRINGS_GM: [u8; 16] = range::<16>(40);
const STRINGS_MUSICNET: [u8; 12] = range::<12>(40);
const BRASS: [u8; 8] = range::<8>(56);
const REED: [u8; 8] = range::<8>(64);
const WINDS: [u8; 16] = range::<16>(64);
const PIPE: [u8; 8] = range::<8>(72);
const SYNTH_LEAD: [u8; 8] = range::<8>(80);
const SYNTH_PAD: [u8; 8] = range::<8>(88);
const SINGING: [u8; 2] = [100, 101];

const GM_INSTR_CLASS: Spec = &[
    ("Piano", &PIANO),
    ("Chromatic Percussion", &CHROMATIC),
    ("Organ", &ORGAN),
    ("Guitar", &GUITAR),
    ("Bass", &BASS),
    ("Strings", &STRINGS_GM),
    ("Brass", &BRASS),
    ("Reed", &REED),
    ("Pipe", &PIPE),
    ("Synth Lead", &SYNTH_LEAD),
    ("Synth Pad", &SYNTH_PAD),
];

const GM_INSTR_CLASS_PLUS: Spec = &[
    ("Piano", &PIANO),
    ("Chromatic Percussion", &CHROMATIC),
    ("Organ", &ORGAN),
    ("Guitar", &GUITAR),
    ("Bass", &BASS),
    ("Strings", &STRINGS_GM),
    ("Brass", &BRASS),
    ("Reed", &REED),
    ("Pipe", &PIPE),
    ("Synth Lead", &SYNTH_LEAD),
    ("Synth Pad", &SYNTH_PAD),
    ("Singing Voice", &SINGING),
];

const MUSICNET_INSTR_CLASS: Spec = &[
    ("Piano", &PIANO),
    ("Strings", &STRINGS_MUSICNET),
    ("Winds", &WINDS),
];

const PIANO_SOLO: Spec = &[("Piano", &PIANO)];
const GUITAR_SOLO: Spec = &[("Guitar", &GUITAR)];
const BASS_SOLO: Spec = &[("Bass", &BASS)];
const SINGING_SOLO: Spec = &[("Singing Voice", &SINGING)];
const SINGING_CHORUS_SEP: Spec = &[
    ("Singing Voice", &[100]),
    ("Singing Voice (chorus)", &[101]),
];

/// MT3's program classes are the tokenizer's (`amt_symbolic::vocab::MT3_FULL_PLUS`): the first
/// 34 classes, without the two singing classes that the `_PLUS` vocabulary adds at its end.
const MT3_FULL: Spec = MT3_FULL_PLUS.split_at(34).0;

const MT3_FULL_PLUS: Spec = amt_symbolic::vocab::MT3_FULL_PLUS;

const GM_INSTR_EXT_CLASS_PLUS: Spec = &[
    ("Acoustic Piano", &[0, 1, 3, 6, 7]),
    ("Electric Piano", &[2, 4, 5]),
    ("Chromatic Percussion", &CHROMATIC),
    ("Organ", &ORGAN),
    ("Guitar (clean)", &[24, 25, 26, 27]),
    ("Guitar (distortion)", &[30, 28, 29, 31]),
    ("Bass", &[33, 32, 34, 35, 36, 37, 38, 39]),
    (
        "Strings",
        &[
            48, 40, 41, 42, 43, 44, 45, 46, 47, 49, 50, 51, 52, 53, 54, 55,
        ],
    ),
    ("Brass", &BRASS),
    ("Reed", &REED),
    ("Pipe", &PIPE),
    ("Synth Lead", &SYNTH_LEAD),
    ("Synth Pad", &SYNTH_PAD),
    ("Singing Voice", &[100]),
    ("Singing Voice (chorus)", &[101]),
];

/// Eval (program) vocabularies by the names YourMT3's presets use.
const EVAL_VOCABS: &[(&str, Spec)] = &[
    ("GM_INSTR_CLASS", GM_INSTR_CLASS),
    ("GM_INSTR_CLASS_PLUS", GM_INSTR_CLASS_PLUS),
    ("MUSICNET_INSTR_CLASS", MUSICNET_INSTR_CLASS),
    ("PIANO_SOLO", PIANO_SOLO),
    ("GUITAR_SOLO", GUITAR_SOLO),
    ("BASS_SOLO", BASS_SOLO),
    ("SINGING_SOLO", SINGING_SOLO),
    ("SINGING_CHORUS_SEP", SINGING_CHORUS_SEP),
    ("MT3_FULL", MT3_FULL),
    ("MT3_FULL_PLUS", MT3_FULL_PLUS),
    ("GM_INSTR_EXT_CLASS_PLUS", GM_INSTR_EXT_CLASS_PLUS),
];

/// The tokenizer's drum classes (`amt_symbolic::vocab::GM_DRUM_NOTES`): one definition.
const GM_DRUM_NOTES: Spec = amt_symbolic::vocab::GM_DRUM_NOTES;

const EGMD_DRUM_NOTES: Spec = &[
    ("Kick Drum", &[36]),
    ("Snare X-stick", &[37]),
    ("Snare Drum", &[38]),
    ("Closed Hi-Hat", &[42, 44, 22]),
    ("Open Hi-Hat", &[46, 26]),
    ("Cowbell", &[56]),
    ("High Floor Tom", &[43]),
    ("Low Floor Tom", &[41]),
    ("Low Tom", &[45]),
    ("Low-Mid Tom", &[47]),
    ("Mid Tom", &[48]),
    ("Low Tom (Rim)", &[50]),
    ("Mid Tom (Rim)", &[58]),
    ("Ride", &[51]),
    ("Ride (Bell)", &[53]),
    ("Ride (Edge)", &[59]),
    ("Chinese Cymbal", &[52]),
    ("Crash Cymbal", &[49, 57]),
    ("Splash Cymbal", &[55]),
];

const ENST_DRUM_NOTES: Spec = &[
    ("bd", &[36]),
    ("sd", &[38]),
    ("sweep", &[0]),
    ("sticks", &[1]),
    ("rs", &[2]),
    ("cs", &[37]),
    ("chh", &[42]),
    ("ohh", &[46]),
    ("cb", &[56]),
    ("c", &[3]),
    ("lmt", &[47]),
    ("mt", &[48]),
    ("mtr", &[58]),
    ("lt", &[45]),
    ("ltr", &[50]),
    ("lft", &[41]),
    ("rc", &[51]),
    ("ch", &[52]),
    ("cr", &[49]),
    ("spl", &[55]),
];

const KSH: Spec = &[
    ("Kick Drum", &[36, 35]),
    ("Snare Drum", &[38, 40]),
    ("Hi-Hat", &[42, 44, 46, 22, 26]),
];

const KSHR: Spec = &[
    ("Kick Drum", &[36, 35]),
    ("Snare Drum", &[38, 40]),
    ("Hi-Hat", &[42, 44, 46, 22, 26, 51, 53, 59]),
];

/// Drum vocabularies by `drum_vocab_presets` key.
const DRUM_VOCABS: &[(&str, Spec)] = &[
    ("gm", GM_DRUM_NOTES),
    ("egmd", EGMD_DRUM_NOTES),
    ("enst", ENST_DRUM_NOTES),
    ("ksh", KSH),
    ("kshr", KSHR),
];

fn lookup(kind: &'static str, table: &[(&'static str, Spec)], name: &str) -> Result<Vocab> {
    let found = table
        .iter()
        .find(|(n, _)| *n == name)
        .or_else(|| table.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)));
    match found {
        Some((n, spec)) => Ok(Vocab {
            name: (*n).to_string(),
            groups: spec
                .iter()
                .map(|(g, m)| Group {
                    name: (*g).to_string(),
                    members: m.to_vec(),
                })
                .collect(),
        }),
        None => Err(Error::UnknownVocab {
            kind,
            name: name.to_string(),
            valid: table.iter().map(|(n, _)| *n).collect(),
        }),
    }
}

/// Eval vocabulary by name (`GM_INSTR_CLASS`, `PIANO_SOLO`, ...; ASCII case
/// ignored). An optional `_CLASS` suffix is accepted (`PIANO_SOLO_CLASS`),
/// since vocabulary.py spells several names that way.
pub fn eval_vocab(name: &str) -> Result<Vocab> {
    let trimmed = name
        .strip_suffix("_CLASS")
        .filter(|t| EVAL_VOCABS.iter().any(|(n, _)| n.eq_ignore_ascii_case(t)));
    lookup("eval", EVAL_VOCABS, trimmed.unwrap_or(name))
}

/// Drum vocabulary by `drum_vocab_presets` key (`gm`, `egmd`, `enst`,
/// `ksh`, `kshr`).
pub fn drum_vocab(name: &str) -> Result<Vocab> {
    lookup("drum", DRUM_VOCABS, name)
}

/// All eval vocabulary names, in table order.
pub fn eval_vocab_names() -> Vec<&'static str> {
    EVAL_VOCABS.iter().map(|(n, _)| *n).collect()
}

/// All drum vocabulary names, in table order.
pub fn drum_vocab_names() -> Vec<&'static str> {
    DRUM_VOCABS.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gm_instr_class_covers_0_to_95_once() {
        let v = eval_vocab("GM_INSTR_CLASS").unwrap();
        assert_eq!(v.groups.len(), 11);
        let mut all: Vec<u8> = v.groups.iter().flat_map(|g| g.members.clone()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..96).collect::<Vec<u8>>());
        assert_eq!(
            v.group("Strings").unwrap().members,
            (40..56).collect::<Vec<u8>>()
        );
    }

    #[test]
    fn plus_adds_singing_and_musicnet_is_narrower() {
        let v = eval_vocab("gm_instr_class_plus").unwrap();
        assert_eq!(v.groups.last().unwrap().members, vec![100, 101]);
        let m = eval_vocab("MUSICNET_INSTR_CLASS").unwrap();
        assert_eq!(
            m.group("Strings").unwrap().members,
            (40..52).collect::<Vec<u8>>()
        );
        assert_eq!(
            m.group("Winds").unwrap().members,
            (64..80).collect::<Vec<u8>>()
        );
        assert_eq!(eval_vocab("PIANO_SOLO_CLASS").unwrap().name, "PIANO_SOLO");
        let full = eval_vocab("MT3_FULL_PLUS").unwrap();
        assert_eq!(full.groups.len(), 36);
        assert_eq!(full.group("Pipe").unwrap().members[0], 73);
    }

    #[test]
    fn drum_vocabs() {
        assert_eq!(drum_vocab("gm").unwrap().groups.len(), 19);
        assert_eq!(drum_vocab("enst").unwrap().groups.len(), 20);
        let ksh = drum_vocab("ksh").unwrap();
        assert_eq!(ksh.groups[2].members, vec![42, 44, 46, 22, 26]);
        let kshr = drum_vocab("kshr").unwrap();
        assert_eq!(kshr.groups[2].members.len(), 8);
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let e = drum_vocab("nope").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`nope`"), "{msg}");
        assert!(msg.contains("gm, egmd, enst, ksh, kshr"), "{msg}");
        let e = eval_vocab("PIANO").unwrap_err().to_string();
        assert!(
            e.contains("GM_INSTR_CLASS") && e.contains("BASS_SOLO"),
            "{e}"
        );
    }
}
