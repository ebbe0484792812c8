//! Dataset adapters end to end: a tiny tree in each dataset's real layout (generated audio,
//! real annotation syntax) goes through `amt run` to shards, and its tracks, notes and lists
//! are what the adapter promises.

mod common;

use common::{Home, wav};

/// E-GMD: the CSV's splits plus `test_reduced`, drum notes only, a bad row quarantined.
#[test]
fn egmd_tree_builds_to_shards_with_its_lists() {
    use amt_symbolic::Note;
    let home = Home::new();
    let root = home.path().join("egmd");
    let rows = [
        ("drummer1/session1", "1_funk_80_beat_4-4_1", "train"),
        ("drummer1/session1", "2_funk_80_beat_4-4_2", "validation"),
        ("drummer1/session2", "3_jazz_120_fill_4-4_5", "test"),
        ("drummer1/session2", "4_jazz_120_fill_4-4_7", "test"),
    ];
    let mut csv = String::from(
        "drummer,session,id,style,bpm,beat_type,time_signature,duration,split,midi_filename,audio_filename,kit_name\n",
    );
    let hits: Vec<Note> = (0..8)
        .map(|i| Note {
            is_drum: true,
            program: 128,
            onset: 0.25 * i as f64,
            offset: 0.25 * i as f64 + 0.01,
            pitch: [36, 38, 42, 46][i % 4],
            velocity: 1,
        })
        .collect();
    let midi = amt_symbolic::notes_to_midi(&hits).unwrap();
    // 2.5 s of noise bursts at 44.1 kHz stereo: the stem stage resamples and downmixes.
    let audio: Vec<f32> = (0..2 * 44_100 * 5 / 2)
        .map(|i| (((i * 7919) % 2003) as f32 / 2003.0 - 0.5) * 0.2)
        .collect();
    for (dir, name, split) in rows {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join(format!("{name}.midi")), &midi).unwrap();
        std::fs::write(
            root.join(dir).join(format!("{name}.wav")),
            wav(&audio, 44_100, 2),
        )
        .unwrap();
        csv.push_str(&format!(
            "drummer1,{dir},{dir}/x,funk,80,beat,4-4,2.5,{split},{dir}/{name}.midi,{dir}/{name}.wav,Kit\n"
        ));
    }
    csv.push_str("drummer1,broken row\n");
    std::fs::write(root.join("e-gmd-v1.0.0.csv"), csv).unwrap();

    home.ok(&["run", "-d", "egmd", "--until", "shards"]);
    assert_eq!(
        home.sql_csv("SELECT split, count(*) AS n FROM splits GROUP BY 1 ORDER BY 1"),
        "split,n\ntest,2\ntest_reduced,1\ntrain,1\nvalidation,1\n"
    );
    assert_eq!(
        home.sql_csv("SELECT track_id FROM splits WHERE split = 'test_reduced'"),
        "track_id\ndrummer1-session2-3_jazz_120_fill_4-4_5\n"
    );
    // Every note is a drum (program 128), and each track has its 8 hits.
    assert_eq!(
        home.sql_csv(
            "SELECT count(*) AS n, min(CAST(is_drum AS INT)) AS drums, min(program) AS p \
             FROM notes GROUP BY track_id ORDER BY track_id LIMIT 1"
        ),
        "n,drums,p\n8,1,128\n"
    );
    let problems = home.sql_csv("SELECT path, error FROM problems WHERE dataset = 'egmd'");
    assert!(problems.contains("line 6"), "{problems}");
    assert_eq!(
        home.sql_csv("SELECT count(DISTINCT track_id) AS n FROM segments"),
        "n\n4\n"
    );
}

/// MIR-ST500: the mixture with its two stems and the separated vocals as separate tracks,
/// YourMT3's lists, and singing notes (program 100).
#[test]
fn mir_st500_tree_builds_to_shards_with_its_lists() {
    let home = Home::new();
    let root = home.path().join("mir_st500");
    let ann = serde_json::json!({
        "3": [[0.5, 1.0, 60], [1.2, 1.9, 62.4]],
        "402": [[0.2, 0.8, 57]],
    });
    std::fs::create_dir_all(root.join("MIR-ST500_20210206")).unwrap();
    std::fs::write(
        root.join("MIR-ST500_20210206/MIR-ST500_corrected.json"),
        ann.to_string(),
    )
    .unwrap();
    let tone = |f: f32| -> Vec<f32> {
        (0..16_000 * 3)
            .map(|i| 0.2 * (i as f32 * f * std::f32::consts::TAU / 16_000.0).sin())
            .collect()
    };
    for (split, song) in [("train", 3), ("test", 402)] {
        let d = root.join(format!("{split}/{song}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("converted_Mixture.wav"),
            wav(&tone(330.0), 16_000, 1),
        )
        .unwrap();
        std::fs::write(d.join("vocals.wav"), wav(&tone(262.0), 16_000, 1)).unwrap();
        std::fs::write(d.join("accompaniment.wav"), wav(&tone(110.0), 16_000, 1)).unwrap();
    }
    home.ok(&["run", "-d", "mir_st500", "--until", "shards"]);
    assert_eq!(
        home.sql_csv(
            "SELECT split, string_agg(track_id, ' ' ORDER BY track_id) AS tracks FROM splits \
             GROUP BY 1 ORDER BY 1"
        ),
        "split,tracks\nall,3 402\nall_stem,3 402\nall_vocal,3_vocal 402_vocal\ntest,402\n\
         test_vocal,402_vocal\ntrain,3\ntrain_stem,3\ntrain_vocal,3_vocal\n"
    );
    assert_eq!(
        home.sql_csv(
            "SELECT track_id, count(*) AS n, min(program) AS p FROM notes \
             GROUP BY 1 ORDER BY 1"
        ),
        "track_id,n,p\n3,2,100\n3_vocal,2,100\n402,1,100\n402_vocal,1,100\n"
    );
    assert_eq!(
        home.sql_csv(
            "SELECT stem_id, program FROM stems WHERE track_id = '3' AND stem_id <> 'mix' \
             ORDER BY 1"
        ),
        "stem_id,program\naccompaniment,129\nvocals,100\n"
    );
    assert_eq!(
        home.sql_csv("SELECT count(DISTINCT track_id) AS n FROM segments"),
        "n\n4\n"
    );
}

/// URMP: a piece folder with its mix, one recording and note file per part, and the parts'
/// programs in `notes` and `stems`.
#[test]
fn urmp_tree_builds_to_shards_with_its_parts() {
    let home = Home::new();
    let piece = home.path().join("urmp/02_Sonata_vn_vn");
    std::fs::create_dir_all(&piece).unwrap();
    let tone = |f: f32| -> Vec<f32> {
        (0..48_000 * 3)
            .map(|i| 0.2 * (i as f32 * f * std::f32::consts::TAU / 48_000.0).sin())
            .collect()
    };
    std::fs::write(
        piece.join("AuMix_02_Sonata_vn_vn.wav"),
        wav(&tone(440.0), 48_000, 1),
    )
    .unwrap();
    for (k, f) in [(1, 440.0), (2, 659.26)] {
        std::fs::write(
            piece.join(format!("AuSep_{k}_vn_02_Sonata.wav")),
            wav(&tone(f), 48_000, 1),
        )
        .unwrap();
        std::fs::write(
            piece.join(format!("Notes_{k}_vn_02_Sonata.txt")),
            format!("0.100\t{f:.2}\t1.000\n1.500\t{f:.2}\t0.800\n"),
        )
        .unwrap();
    }
    home.ok(&["run", "-d", "urmp", "--until", "shards"]);
    assert_eq!(
        home.sql_csv("SELECT split FROM splits ORDER BY 1"),
        "split\nall\ntest\n"
    );
    assert_eq!(
        home.sql_csv(
            "SELECT pitch, count(*) AS n, min(program) AS p FROM notes GROUP BY 1 ORDER BY 1"
        ),
        "pitch,n,p\n69,2,40\n76,2,40\n"
    );
    assert_eq!(
        home.sql_csv("SELECT stem_id, program FROM stems WHERE stem_id <> 'mix' ORDER BY 1"),
        "stem_id,program\n1_vn,40\n2_vn,40\n"
    );
}

/// MAPS in YourMT3's layout: `train`/`test` folders of MUS pieces, piano notes (program 0),
/// and a train piece of a test song left out of `train`.
#[test]
fn maps_tree_builds_to_shards_with_its_lists() {
    use amt_symbolic::Note;
    let home = Home::new();
    let root = home.path().join("maps");
    let notes: Vec<Note> = (0..4)
        .map(|i| Note {
            is_drum: false,
            program: 0,
            onset: 0.4 * i as f64,
            offset: 0.4 * i as f64 + 0.3,
            pitch: 60 + 2 * i as u8,
            velocity: 1,
        })
        .collect();
    let midi = amt_symbolic::notes_to_midi(&notes).unwrap();
    let audio: Vec<f32> = (0..16_000 * 2)
        .map(|i| 0.1 * (i as f32 * 0.05).sin())
        .collect();
    for rel in [
        "train/AkPnBcht/MUS/MAPS_MUS-alb_se3_AkPnBcht",
        "train/AkPnBcht/MUS/MAPS_MUS-chpn-p19_AkPnBcht",
        "test/ENSTDkCl/MUS/MAPS_MUS-chpn-p19_ENSTDkCl",
    ] {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p.with_extension("mid"), &midi).unwrap();
        std::fs::write(p.with_extension("wav"), wav(&audio, 16_000, 1)).unwrap();
    }
    home.ok(&["run", "-d", "maps", "--until", "shards"]);
    assert_eq!(
        home.sql_csv(
            "SELECT split, string_agg(track_id, ' ' ORDER BY track_id) AS t FROM splits \
             WHERE split <> 'all' GROUP BY 1 ORDER BY 1"
        ),
        "split,t\ntest,MAPS_MUS-chpn-p19_ENSTDkCl\ntrain,MAPS_MUS-alb_se3_AkPnBcht\n"
    );
    assert_eq!(
        home.sql_csv("SELECT count(*) AS n, max(program) AS p FROM notes"),
        "n,p\n12,0\n"
    );
    assert_eq!(
        home.sql_csv("SELECT count(DISTINCT track_id) AS n FROM segments"),
        "n\n3\n"
    );
}

/// ENST-drums: a minus-one piece becomes its wet-mix track and two accompaniment mixes computed
/// from peak-normalised stems (then peak-normalised themselves), in YourMT3's lists.
#[test]
fn enst_tree_builds_accompaniment_mixes_and_lists() {
    let home = Home::new();
    let root = home.path().join("enstdrums");
    let tone = |f: f32, a: f32| -> Vec<f32> {
        (0..44_100 * 2)
            .map(|i| a * (i as f32 * f * std::f32::consts::TAU / 44_100.0).sin())
            .collect()
    };
    for (name, acc) in [
        ("001_hits_snare-drum_sticks_x6", false),
        ("061_minus-one_rock", true),
    ] {
        let ann = root.join("drummer_2/annotation");
        std::fs::create_dir_all(&ann).unwrap();
        std::fs::write(
            ann.join(format!("{name}.txt")),
            "0.250 bd\n0.750 sd-\n1.250 chh\n",
        )
        .unwrap();
        let wet = root.join("drummer_2/audio/wet_mix");
        std::fs::create_dir_all(&wet).unwrap();
        std::fs::write(
            wet.join(format!("{name}.wav")),
            wav(&tone(100.0, 0.5), 44_100, 1),
        )
        .unwrap();
        if acc {
            let a = root.join("drummer_2/audio/accompaniment");
            std::fs::create_dir_all(&a).unwrap();
            std::fs::write(
                a.join(format!("{name}.wav")),
                wav(&tone(300.0, 0.1), 44_100, 1),
            )
            .unwrap();
        }
    }
    home.ok(&["run", "-d", "enstdrums", "--until", "shards"]);
    assert_eq!(
        home.sql_csv(
            "SELECT split, string_agg(track_id, ' ' ORDER BY track_id) AS t FROM splits \
             GROUP BY 1 ORDER BY 1"
        ),
        "split,t\nall_dtd,2_001\nall_dtm,2_001 2_061_r2\nall_dtp,2_001 2_061\n\
         drummer_2_dtm,2_001 2_061_r2\ndrummer_2_dtp,2_001 2_061\nvalidation_dtm,2_061_r1 2_061_r2\n\
         validation_dtp,2_061\n"
    );
    // The r2 mix: two stems (drums 128, accompaniment 129), the mix peak-normalised to 1.
    let stems = home.sql_csv(
        "SELECT stem_id, kind, program, round(peak, 2) AS peak FROM stems \
         WHERE track_id = '2_061_r2' ORDER BY 2 DESC, 1",
    );
    assert_eq!(
        stems,
        "stem_id,kind,program,peak\naccompaniment,stem,129,0.1\ndrums,stem,128,0.5\n\
         accompaniment_mix_r2,mix,,1.0\n"
    );
    assert_eq!(
        home.sql_csv("SELECT min(program) AS p, count(*) AS n FROM notes WHERE track_id = '2_061'"),
        "p,n\n128,3\n"
    );
}

/// MusicNet in YourMT3's layout: a recording with CSV labels, its synthesised rendering and its
/// EM labels, as three tracks in their lists.
#[test]
fn musicnet_tree_builds_to_shards_with_its_lists() {
    use amt_symbolic::Note;
    let home = Home::new();
    let root = home.path().join("musicnet");
    let put = |rel: &str, bytes: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    let audio: Vec<f32> = (0..44_100 * 2)
        .map(|i| 0.1 * (i as f32 * 0.03).sin())
        .collect();
    let midi = amt_symbolic::notes_to_midi(&[Note {
        is_drum: false,
        program: 41,
        onset: 0.1,
        offset: 0.6,
        pitch: 67,
        velocity: 1,
    }])
    .unwrap();
    put(
        "train_labels/1733.csv",
        b"start_time,end_time,instrument,note,start_beat,end_beat,note_value\n\
          4410,26460,41,67,0.0,1.0,Quarter\n30870,44100,41,69,1.0,1.5,Eighth\n",
    );
    put("train_data/1733.wav", &wav(&audio, 44_100, 1));
    put("train_labels_midi/1733.mid", &midi);
    put("train_synth/1733.wav", &wav(&audio, 44_100, 1));
    put("train_em/1733.mid", &midi);
    home.ok(&["run", "-d", "musicnet", "--until", "shards"]);
    assert_eq!(
        home.sql_csv(
            "SELECT split, string_agg(track_id, ' ' ORDER BY track_id) AS t FROM splits \
             WHERE split LIKE 'validation%' OR split = 'train' GROUP BY 1 ORDER BY 1"
        ),
        "split,t\ntrain,1733\nvalidation_mt3_acoustic,1733\nvalidation_mt3_em,1733_em\n\
         validation_mt3_synth,1733_synth\n"
    );
    assert_eq!(
        home.sql_csv(
            "SELECT track_id, count(*) AS n, min(program) AS p FROM notes GROUP BY 1 ORDER BY 1"
        ),
        "track_id,n,p\n1733,2,41\n1733_em,1,41\n1733_synth,1,41\n"
    );
    assert_eq!(
        home.sql_csv("SELECT count(DISTINCT track_id) AS n FROM segments"),
        "n\n3\n"
    );
}

/// A dataset name that two adapters could claim is an error until the configuration says
/// which adapter reads it.
#[test]
fn an_ambiguous_dataset_name_needs_an_adapter_setting() {
    let home = Home::new();
    std::fs::create_dir_all(home.path().join("maps_and_maestro")).unwrap();
    std::fs::write(home.path().join("maps_and_maestro/x.txt"), "x").unwrap();
    let out = home.run(&["run", "-d", "maps_and_maestro"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("maestro, maps") && err.contains("[dataset.maps_and_maestro] adapter"),
        "{err}"
    );
    std::fs::write(
        home.path().join("amt.toml"),
        "[dataset.maps_and_maestro]\nadapter = \"maps\"\n",
    )
    .unwrap();
    let out = home.run(&["run", "-d", "maps_and_maestro", "--until", "extract"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// IDMT-SMT-Bass: the note comes from the file name (style -> program, string and fret ->
/// pitch) and the audio's amplitude envelope (onset, offset); the JSON gives the lists.
#[test]
fn idmt_smt_bass_notes_from_names_and_envelopes() {
    let home = Home::new();
    let root = home.path().join("idmt_smt_bass");
    // 1.8 s of silence, a 1 s note at 55 Hz, 1.8 s of silence (the 16 kHz release's padding).
    let mut x = vec![0f32; 28_800];
    x.extend((0..16_000).map(|i| 0.6 * (i as f32 * 55.0 * std::f32::consts::TAU / 16_000.0).sin()));
    x.extend(vec![0f32; 28_800]);
    let names = [
        ("PS/FS", "Bass_Ibanez_Power_Sound_FS_NO_1_5", "train"),
        ("PS/SP", "Bass_Ibanez_Power_Sound_SP_NO_3_2", "validation"),
    ];
    let mut lists = serde_json::json!({"train": [], "validation": []});
    for (dir, name, split) in names {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(format!("{dir}/{name}.wav")), wav(&x, 16_000, 1)).unwrap();
        lists[split]
            .as_array_mut()
            .unwrap()
            .push(format!("{dir}/{name}.wav").into());
    }
    std::fs::write(
        root.join("stratified_split_crepe_smt.json"),
        lists.to_string(),
    )
    .unwrap();
    home.ok(&["run", "-d", "idmt_smt_bass", "--until", "shards"]);
    assert_eq!(
        home.sql_csv(
            "SELECT s.split, n.program, n.pitch, n.onset, n.\"offset\" FROM notes n \
             JOIN splits s ON s.track_id = n.track_id ORDER BY 1"
        ),
        // The frame holding the note's start (frame 112, from 1.792 s) and the last one
        // (frame 174, from 2.784 s), rounded to 10 ms.
        "split,program,pitch,onset,offset\ntrain,33,33,1.79,2.78\nvalidation,36,40,1.79,2.78\n"
    );
}

/// RWC-Pop: the mapping CSV names each song's audio; the full MIDI's tracks are classed by
/// YourMT3's name filters (a sound-effect track dropped), the bass MIDI is its own track.
#[test]
fn rwc_pop_full_midi_is_classed_by_track_names() {
    use midly::{
        Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind,
    };
    let home = Home::new();
    let root = home.path().join("rwc_pop");
    let track = |name: &'static [u8], ch: u8, program: u8, pitch: u8| -> Vec<TrackEvent<'static>> {
        let ev = |delta: u32, kind| TrackEvent {
            delta: delta.into(),
            kind,
        };
        let midi = |message| TrackEventKind::Midi {
            channel: ch.into(),
            message,
        };
        vec![
            ev(0, TrackEventKind::Meta(MetaMessage::TrackName(name))),
            ev(
                0,
                midi(MidiMessage::ProgramChange {
                    program: program.into(),
                }),
            ),
            ev(
                240,
                midi(MidiMessage::NoteOn {
                    key: pitch.into(),
                    vel: 90.into(),
                }),
            ),
            ev(
                480,
                midi(MidiMessage::NoteOff {
                    key: pitch.into(),
                    vel: 0.into(),
                }),
            ),
            ev(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)),
        ]
    };
    let write_midi = |path: std::path::PathBuf, tracks: Vec<Vec<TrackEvent<'static>>>| {
        let smf = Smf {
            header: Header::new(Format::Parallel, Timing::Metrical(480.into())),
            tracks,
        };
        let mut bytes = Vec::new();
        smf.write_std(&mut bytes).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let master = vec![TrackEvent {
        delta: 0.into(),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    }];
    write_midi(
        root.join("MIDI/007.mid"),
        vec![
            master.clone(),
            track(b"MELO", 0, 52, 67),
            track(b"Bass", 1, 33, 40),
            track(b"Drums", 9, 0, 36),
            track(b"SE", 2, 120, 80),
        ],
    );
    write_midi(
        root.join("MIDI-Bass-Octave-fixed-v2/007_bass.mid"),
        vec![master, track(b"Bass", 1, 33, 40)],
    );
    std::fs::write(
        root.join("wav_to_midi_filename_mapping.csv"),
        "disc,mix,id\n1,07,007\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("disc1")).unwrap();
    let audio: Vec<f32> = (0..16_000 * 2)
        .map(|i| 0.1 * (i as f32 * 0.02).sin())
        .collect();
    std::fs::write(root.join("disc1/07 mix.wav"), wav(&audio, 16_000, 1)).unwrap();
    home.ok(&["run", "-d", "rwc_pop", "--until", "shards"]);
    assert_eq!(
        home.sql_csv(
            "SELECT track_id, string_agg(CAST(program AS VARCHAR), ' ' ORDER BY program) AS p \
             FROM notes GROUP BY 1 ORDER BY 1"
        ),
        "track_id,p\n007,33 100 128\n007_bass,33\n"
    );
    assert_eq!(
        home.sql_csv("SELECT track_id, split FROM splits ORDER BY 1"),
        "track_id,split\n007,full\n007_bass,bass\n"
    );
}
