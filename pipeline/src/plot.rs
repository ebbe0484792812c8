//! Pictures a person can read: an RGB canvas with a heat map, axis ticks and labels in a small
//! built-in bitmap font, written as PNG. Used by `amt features --png` (spectrograms) and the
//! piano rolls.

use std::path::Path;

/// An RGB image.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pixels: Vec<[u8; 3]>,
}

pub const WHITE: [u8; 3] = [255, 255, 255];
pub const BLACK: [u8; 3] = [0, 0, 0];
pub const GREY: [u8; 3] = [150, 150, 150];

impl Canvas {
    pub fn new(width: usize, height: usize, background: [u8; 3]) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![background; width * height],
        }
    }

    pub fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            self.pixels[y * self.width + x] = c;
        }
    }

    pub fn fill(&mut self, x0: usize, y0: usize, w: usize, h: usize, c: [u8; 3]) {
        for y in y0..(y0 + h).min(self.height) {
            for x in x0..(x0 + w).min(self.width) {
                self.pixels[y * self.width + x] = c;
            }
        }
    }

    /// Text in the 5x7 font, `scale` pixels per font pixel, top-left at (x, y).
    pub fn text(&mut self, x: usize, y: usize, s: &str, scale: usize, c: [u8; 3]) {
        let mut cx = x;
        for ch in s.chars() {
            let rows = glyph(ch);
            for (ry, bits) in rows.iter().enumerate() {
                for rx in 0..5 {
                    if bits & (0x10 >> rx) != 0 {
                        self.fill(cx + rx * scale, y + ry * scale, scale, scale, c);
                    }
                }
            }
            cx += 6 * scale;
        }
    }

    /// Width in pixels of `s` in the font at `scale`.
    pub fn text_width(s: &str, scale: usize) -> usize {
        s.chars().count() * 6 * scale
    }

    /// Text rotated a quarter turn counter-clockwise (read bottom to top), bottom-left at
    /// (x, y).
    pub fn text_vertical(&mut self, x: usize, y: usize, s: &str, scale: usize, c: [u8; 3]) {
        let mut cy = y;
        for ch in s.chars() {
            let rows = glyph(ch);
            for (ry, bits) in rows.iter().enumerate() {
                for rx in 0..5 {
                    if bits & (0x10 >> rx) != 0 && cy >= rx * scale + scale {
                        self.fill(x + ry * scale, cy - rx * scale - scale, scale, scale, c);
                    }
                }
            }
            cy = cy.saturating_sub(6 * scale);
        }
    }

    pub fn save_png(&self, path: &Path) -> std::io::Result<()> {
        let file = std::io::BufWriter::new(fs_err::File::create(path)?);
        let mut enc = png::Encoder::new(file, self.width as u32, self.height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(std::io::Error::other)?;
        let flat: Vec<u8> = self.pixels.iter().flatten().copied().collect();
        w.write_image_data(&flat).map_err(std::io::Error::other)?;
        Ok(())
    }
}

/// A perceptual colour map (dark blue -> green -> yellow, like viridis) for v in [0, 1].
pub fn colour(v: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let i = (v.floor() as usize).min(3);
    let t = v - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [0, 1, 2].map(|k| (a[k] + (b[k] - a[k]) * t).round() as u8)
}

/// A heat map of `values` (rows x cols, row 0 drawn at the bottom) with a time axis (seconds
/// per column) and labelled rows, framed by margins. `row_ticks` are (row, label).
pub struct HeatMap<'a> {
    pub values: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub seconds_per_col: f64,
    pub row_ticks: Vec<(usize, String)>,
    pub row_label: &'a str,
    pub title: &'a str,
}

const LEFT: usize = 70;
const BOTTOM: usize = 40;
const TOP: usize = 24;
const RIGHT: usize = 10;

impl HeatMap<'_> {
    /// Renders at most `max_width` columns (columns are averaged when there are more).
    pub fn render(&self, max_width: usize) -> Canvas {
        let plot_w = self.cols.clamp(1, max_width.max(1));
        let plot_h = self.rows.max(1);
        let mut c = Canvas::new(LEFT + plot_w + RIGHT, TOP + plot_h + BOTTOM, WHITE);
        let per = self.cols as f64 / plot_w as f64;
        for x in 0..plot_w {
            let (c0, c1) = (
                (x as f64 * per) as usize,
                (((x + 1) as f64 * per) as usize).max((x as f64 * per) as usize + 1),
            );
            for r in 0..self.rows {
                let mut sum = 0.0;
                for col in c0..c1.min(self.cols) {
                    sum += self.values[r * self.cols + col];
                }
                let v = sum / (c1.min(self.cols) - c0).max(1) as f32;
                c.set(LEFT + x, TOP + plot_h - 1 - r, colour(v));
            }
        }
        // Frame.
        for x in LEFT - 1..=LEFT + plot_w {
            c.set(x, TOP - 1, BLACK);
            c.set(x, TOP + plot_h, BLACK);
        }
        for y in TOP - 1..=TOP + plot_h {
            c.set(LEFT - 1, y, BLACK);
            c.set(LEFT + plot_w, y, BLACK);
        }
        // Time ticks: about one per 80 px, at round seconds.
        let total_s = self.cols as f64 * self.seconds_per_col;
        let step = nice_step(total_s / (plot_w as f64 / 80.0).max(1.0));
        let mut t = 0.0;
        while t <= total_s + 1e-9 {
            let x = LEFT + ((t / total_s.max(1e-9)) * plot_w as f64) as usize;
            for dy in 0..5 {
                c.set(x.min(LEFT + plot_w), TOP + plot_h + 1 + dy, BLACK);
            }
            let label = fmt_seconds(t, step);
            let w = Canvas::text_width(&label, 1);
            c.text(x.saturating_sub(w / 2), TOP + plot_h + 8, &label, 1, BLACK);
            t += step;
        }
        let xl = "time (s)";
        c.text(
            LEFT + plot_w / 2 - Canvas::text_width(xl, 1) / 2,
            TOP + plot_h + 24,
            xl,
            1,
            BLACK,
        );
        for (row, label) in &self.row_ticks {
            if *row >= self.rows {
                continue;
            }
            let y = TOP + plot_h - 1 - row;
            for dx in 1..6 {
                c.set(LEFT - 1 - dx, y, BLACK);
            }
            let w = Canvas::text_width(label, 1);
            c.text(
                LEFT.saturating_sub(8 + w),
                y.saturating_sub(3),
                label,
                1,
                BLACK,
            );
        }
        c.text_vertical(
            4,
            TOP + plot_h / 2 + Canvas::text_width(self.row_label, 1) / 2,
            self.row_label,
            1,
            BLACK,
        );
        c.text(LEFT, 6, self.title, 1, BLACK);
        c
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}

pub fn fmt_seconds(t: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{t:.0}")
    } else if step >= 0.1 {
        format!("{t:.1}")
    } else {
        format!("{t:.2}")
    }
}

/// 5x7 glyphs (each row 5 bits, MSB left) for digits, letters (lower case drawn as upper),
/// and a few signs; anything else is a small box.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        ' ' => [0; 7],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_colours() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(12.0), 20.0);
        assert_eq!(colour(0.0), [68, 1, 84]);
        assert_eq!(colour(1.0), [253, 231, 37]);
    }

    #[test]
    fn a_heat_map_writes_a_png() {
        let values: Vec<f32> = (0..64 * 32).map(|i| (i % 64) as f32 / 64.0).collect();
        let hm = HeatMap {
            values: &values,
            rows: 32,
            cols: 64,
            seconds_per_col: 0.008,
            row_ticks: vec![(0, "0".into()), (31, "8000".into())],
            row_label: "frequency (Hz)",
            title: "test",
        };
        let c = hm.render(1000);
        assert_eq!((c.width, c.height), (LEFT + 64 + RIGHT, TOP + 32 + BOTTOM));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.png");
        c.save_png(&p).unwrap();
        assert_eq!(&std::fs::read(&p).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    }
}
