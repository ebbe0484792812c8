//! Piano-roll pictures of notes: time in seconds across, MIDI pitch up, one colour per
//! instrument (GM family; drums grey), with a legend. Several panels share the time axis
//! (a transcription under its reference).

use std::collections::BTreeSet;
use std::path::Path;

use amt_symbolic::Note;

use crate::plot::{BLACK, Canvas, GREY, WHITE, fmt_seconds, nice_step};

const PX_PER_SECOND: f64 = 60.0;
const ROW: usize = 3;
const LEFT: usize = 44;
const TOP: usize = 24;
const LEGEND: usize = 150;

/// GM family names (program / 8), for the legend.
const FAMILIES: [&str; 16] = [
    "piano",
    "chrom perc",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth lead",
    "synth pad",
    "synth fx",
    "ethnic",
    "percussive",
    "sound fx",
];

fn family_colour(program: u8, is_drum: bool) -> [u8; 3] {
    if is_drum {
        return [90, 90, 90];
    }
    const PALETTE: [[u8; 3]; 16] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [188, 189, 34],
        [23, 190, 207],
        [174, 199, 232],
        [255, 187, 120],
        [152, 223, 138],
        [255, 152, 150],
        [197, 176, 213],
        [196, 156, 148],
        [247, 182, 210],
    ];
    PALETTE[(program as usize / 8) % 16]
}

fn family_name(program: u8, is_drum: bool) -> &'static str {
    if is_drum {
        "drums"
    } else {
        FAMILIES[(program as usize / 8) % 16]
    }
}

/// Draws `panels` (title, notes) stacked, on one time axis, and writes the PNG.
pub fn write_png(path: &Path, panels: &[(&str, &[Note])]) -> anyhow::Result<()> {
    let all: Vec<&Note> = panels.iter().flat_map(|(_, n)| n.iter()).collect();
    let end = all
        .iter()
        .map(|n| if n.is_drum { n.onset + 0.1 } else { n.offset })
        .fold(1.0f64, f64::max);
    let (lo, hi) = all.iter().fold((127u8, 0u8), |(lo, hi), n| {
        (lo.min(n.pitch), hi.max(n.pitch))
    });
    let (lo, hi) = if lo > hi {
        (48, 72)
    } else {
        (lo.saturating_sub(2), (hi + 2).min(127))
    };
    let rows = (hi - lo) as usize + 1;
    let plot_w = (end * PX_PER_SECOND).ceil() as usize + 1;
    let panel_h = rows * ROW + TOP + 20;
    let width = LEFT + plot_w + 20 + LEGEND;
    let height = panel_h * panels.len().max(1) + 10;
    let mut c = Canvas::new(width, height, WHITE);
    let step = nice_step(end / 10.0);
    for (i, (title, notes)) in panels.iter().enumerate() {
        let y0 = i * panel_h + TOP;
        c.text(LEFT, y0 - 16, title, 1, BLACK);
        // Frame, octave lines and labels.
        c.fill(LEFT - 1, y0, 1, rows * ROW, GREY);
        c.fill(LEFT - 1, y0 + rows * ROW, plot_w + 1, 1, GREY);
        for p in lo..=hi {
            if p % 12 == 0 {
                let y = y0 + (hi - p) as usize * ROW + ROW / 2;
                c.fill(LEFT, y, plot_w, 1, [225, 225, 225]);
                c.text(
                    4,
                    y.saturating_sub(3),
                    &format!("C{}", p as i32 / 12 - 1),
                    1,
                    BLACK,
                );
            }
        }
        let mut t = 0.0;
        while t <= end + 1e-9 {
            let x = LEFT + (t * PX_PER_SECOND) as usize;
            c.fill(x, y0 + rows * ROW, 1, 4, GREY);
            c.text(
                x.saturating_sub(6),
                y0 + rows * ROW + 6,
                &fmt_seconds(t, step),
                1,
                BLACK,
            );
            t += step;
        }
        for n in notes.iter() {
            let x = LEFT + (n.onset * PX_PER_SECOND) as usize;
            let w = if n.is_drum {
                3
            } else {
                (((n.offset - n.onset) * PX_PER_SECOND) as usize).max(2)
            };
            if n.pitch < lo || n.pitch > hi {
                continue;
            }
            let y = y0 + (hi - n.pitch) as usize * ROW;
            c.fill(x, y, w, ROW, family_colour(n.program, n.is_drum));
        }
    }
    // Legend: the families present.
    let present: BTreeSet<(bool, u8)> = all
        .iter()
        .map(|n| (n.is_drum, if n.is_drum { 0 } else { n.program / 8 }))
        .collect();
    let lx = LEFT + plot_w + 20;
    for (k, (drum, fam)) in present.iter().enumerate() {
        let y = TOP + k * 14;
        c.fill(lx, y, 10, 8, family_colour(fam * 8, *drum));
        c.text(lx + 14, y, family_name(fam * 8, *drum), 1, BLACK);
    }
    c.text(LEFT + plot_w + 20, height - 14, "time (s)", 1, BLACK);
    c.save_png(path)?;
    Ok(())
}
