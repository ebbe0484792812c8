//! Audio: decoding and resampling to 16 kHz ([`decode`], [`resample`]) and the stored form of
//! a track's audio ([`pcm`]).

pub mod decode;
pub mod pcm;
pub mod pitch_shift;
pub mod resample;

pub use decode::{AudioError, Channels, Decoded, SAMPLE_RATE, decode_file, decode_to_vec};
