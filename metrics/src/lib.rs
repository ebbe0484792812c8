//! Transcription metrics for amt, the Rust re-implementation of the
//! YourMT3+ training pipeline.
//!
//! - [`transcription`] and [`velocity`]: note matching and scores equal to
//!   `mir_eval.transcription` / `mir_eval.transcription_velocity`, including
//!   which maximum matching is chosen ([`matching`] reproduces mir_eval's
//!   tie-breaking, so the overlap ratio and velocity scores agree too).
//! - [`frame`]: piano-roll frame F1 with `mir_eval.multipitch` semantics.
//! - [`track`]: YourMT3's per-track metrics with its key names and empty-list
//!   NaN rules; [`aggregate`]: dataset means (macro, NaN ignored) and micro F.
//! - [`vocab`]: YourMT3's instrument-class and drum vocabularies by name.
//!
//! ```
//! use amt_metrics::{MetricAggregator, Note, TrackMetricsConfig, compute_track_metrics, vocab};
//!
//! let piano = |onset: f64, pitch: u8| Note {
//!     is_drum: false, program: 0, onset, offset: onset + 0.5, pitch, velocity: 80,
//! };
//! let reference = [piano(0.0, 60), piano(1.0, 62)];
//! let pred = [piano(0.01, 60), piano(1.0, 63)];
//! let cfg = TrackMetricsConfig {
//!     eval_vocab: Some(vocab::eval_vocab("GM_INSTR_CLASS")?),
//!     add_micro_metric: true,
//!     add_multi_f_metric: true,
//!     ..TrackMetricsConfig::default()
//! };
//! let track = compute_track_metrics(&pred, &reference, &cfg)?;
//! assert_eq!(track.values["onset_f"], 0.5);
//! let mut dataset = MetricAggregator::new();
//! dataset.add_track(&track);
//! assert_eq!(dataset.compute()["micro_onset_f_Piano"], 0.5);
//! # Ok::<(), amt_metrics::Error>(())
//! ```

pub mod aggregate;
pub mod error;
pub mod frame;
mod matching;
pub mod track;
pub mod transcription;
pub mod util;
pub mod velocity;
pub mod vocab;

pub use aggregate::MetricAggregator;
pub use error::{Error, Result, Side};
pub use track::{Note, TrackMetrics, TrackMetricsConfig, Weighted, compute_track_metrics};
pub use transcription::{
    Interval, NoteMatchParams, Prf, PrfOverlap, offset_precision_recall_f1,
    onset_precision_recall_f1, precision_recall_f1_overlap,
};
pub use util::{f_measure, f1_measure, midi_to_hz};
