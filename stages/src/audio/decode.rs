//! Decoding any audio file symphonia reads (WAV incl. WAVE_FORMAT_EXTENSIBLE and
//! multichannel, FLAC, MP3, OGG/Vorbis), channel selection or downmix, and resampling to
//! 16 kHz, streamed: the file is never held whole in memory.
//!
//! symphonia reports most damage as errors, but not all (dependencies.md section 4): a cut FLAC
//! or WAV ends with an `UnexpectedEof` from `next_packet`, a cut MP3 ends cleanly. So the
//! decoder compares the frames it got with the frame count the container declares and calls a
//! shortfall truncation; a sample rate or channel count of 0 is refused; and decoding runs
//! under `catch_unwind`, so that a panic inside a codec on hostile bytes becomes an error naming
//! the file.

use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::resample::Resampler;

/// The pipeline's sample rate.
pub const SAMPLE_RATE: u32 = 16_000;

/// Which channels of a file make the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channels {
    /// The mean of all channels (YourMT3: librosa `mono=True` / mean over channels).
    Downmix,
    /// One channel (0-based), e.g. one string of GuitarSet's hexaphonic pickup.
    Select(u16),
}

/// An audio file that cannot be used, and why. Names the file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audio file `{path}`: {reason}")]
pub struct AudioError {
    pub path: PathBuf,
    pub reason: String,
}

impl AudioError {
    fn new(path: &Path, reason: impl Into<String>) -> Self {
        AudioError {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// What a decode found.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub source_rate: u32,
    pub source_channels: u16,
    /// Frames read from the file (at the source rate).
    pub source_frames: u64,
    /// Samples delivered at the output rate.
    pub samples: u64,
}

/// Decodes `path`, selects or downmixes `channels`, resamples to `rate`, and hands the samples
/// to `sink` in chunks (in order). Returns what it decoded.
pub fn decode_file(
    path: &Path,
    channels: Channels,
    rate: u32,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<Decoded, AudioError> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_inner(path, channels, rate, sink)
    }));
    match result {
        Ok(r) => r,
        Err(_) => Err(AudioError::new(
            path,
            "the decoder failed on malformed data (it panicked); the file is damaged",
        )),
    }
}

/// Decodes a whole file into memory (for `amt features` and tests).
pub fn decode_to_vec(path: &Path, channels: Channels, rate: u32) -> Result<Vec<f32>, AudioError> {
    let mut out = Vec::new();
    decode_file(path, channels, rate, &mut |s| out.extend_from_slice(s))?;
    Ok(out)
}

fn decode_inner(
    path: &Path,
    channels: Channels,
    rate: u32,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<Decoded, AudioError> {
    let file = std::fs::File::open(path)
        .map_err(|e| AudioError::new(path, format!("cannot open it: {e}")))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Err(AudioError::new(path, "the file is empty"));
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| {
            AudioError::new(
                path,
                format!("not a readable audio file (WAV, FLAC, MP3, OGG/Vorbis): {e}"),
            )
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::new(path, "it holds no audio track"))?;
    let track_id = track.id;
    let declared_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| AudioError::new(path, "its audio track has no codec parameters"))?
        .clone();
    let source_rate = params.sample_rate.unwrap_or(0);
    if source_rate == 0 {
        return Err(AudioError::new(path, "its header gives a sample rate of 0"));
    }
    let n_channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
    if n_channels == 0 {
        return Err(AudioError::new(path, "its header gives 0 channels"));
    }
    if let Channels::Select(c) = channels
        && usize::from(c) >= n_channels
    {
        return Err(AudioError::new(
            path,
            format!("channel {c} was asked for but the file has {n_channels} channel(s)"),
        ));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| AudioError::new(path, format!("no decoder for its codec: {e}")))?;
    let mut resampler = Resampler::new(source_rate, rate)
        .map_err(|e| AudioError::new(path, format!("cannot resample {source_rate} Hz: {e}")))?;

    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    let mut frames: u64 = 0;
    let mut samples: u64 = 0;
    let mut cut = None;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                cut = Some("the file ends in the middle of the audio data".to_string());
                break;
            }
            Err(e) => return Err(AudioError::new(path, format!("cannot read it: {e}"))),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            Err(SymphoniaError::DecodeError(e)) => {
                return Err(AudioError::new(path, format!("corrupt audio data: {e}")));
            }
            Err(e) => return Err(AudioError::new(path, format!("cannot decode it: {e}"))),
        };
        let n = buf.frames();
        if n == 0 {
            continue;
        }
        let ch = buf.spec().channels().count().max(1);
        interleaved.resize(n * ch, 0.0);
        buf.copy_to_slice_interleaved(&mut interleaved[..]);
        mono.clear();
        match channels {
            Channels::Downmix if ch == 1 => mono.extend_from_slice(&interleaved),
            Channels::Downmix => {
                let scale = 1.0 / ch as f32;
                mono.extend(
                    interleaved
                        .chunks_exact(ch)
                        .map(|f| f.iter().sum::<f32>() * scale),
                );
            }
            Channels::Select(c) => {
                mono.extend(interleaved.chunks_exact(ch).map(|f| f[usize::from(c)]))
            }
        }
        frames += n as u64;
        resampler.push(&mono, &mut |out| {
            samples += out.len() as u64;
            sink(out);
        });
    }
    if let Some(declared) = declared_frames
        && frames < declared
    {
        return Err(AudioError::new(
            path,
            format!(
                "truncated: its header declares {declared} frames but only {frames} could be decoded{}",
                cut.map(|c| format!(" ({c})")).unwrap_or_default()
            ),
        ));
    }
    if let Some(c) = cut {
        return Err(AudioError::new(path, format!("truncated: {c}")));
    }
    if frames == 0 {
        return Err(AudioError::new(path, "it holds no audio frames"));
    }
    resampler.finish(&mut |out| {
        samples += out.len() as u64;
        sink(out);
    });
    Ok(Decoded {
        source_rate,
        source_channels: n_channels as u16,
        source_frames: frames,
        samples,
    })
}
