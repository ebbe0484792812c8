//! Argument parsing, logging set-up, Ctrl-C handling and error rendering for `amt`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::config::Config;
use crate::context::{self, Context};
use crate::graph::Graph;
use crate::train::flags::{ModelFlags, TrainFlags};

#[derive(Debug, Parser)]
#[command(
    name = "amt",
    version,
    about = "Music-transcription training data, from raw downloads to a trained YourMT3+ model",
    long_about = "amt runs a pipeline of content-hashed stages (extract -> ... -> train) whose \
                  outputs are Parquet tables you can query with `amt sql`. Only what changed is \
                  rebuilt.",
    after_help = "Start with `amt demo`, then `amt status`, `amt tables` and `amt sql`."
)]
pub struct Cli {
    /// Folder holding the datasets (one sub-folder per dataset) and, by default, the store
    #[arg(long, global = true, env = "AMT_DATA_HOME", value_name = "DIR")]
    pub data_home: Option<PathBuf>,

    /// Artifact store folder [default: <data home>/.amt/store]
    #[arg(long, global = true, env = "AMT_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Configuration file [default: <data home>/amt.toml when present]
    #[arg(long, global = true, env = "AMT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print only data and errors: no progress bars, no per-stage lines
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More log output (-v info, -vv debug); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log line format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole pipeline on the built-in synth-demo dataset: build, train a small model on
    /// the CPU, score the test split, transcribe a held-out file to MIDI and a piano roll
    Demo(DemoArgs),
    /// Download, verify and extract YourMT3's datasets (menu, or --datasets), then build them
    Install(InstallArgs),
    /// Build what is stale, in dependency order, datasets in parallel
    Run(RunArgs),
    /// Build one stage (and whatever it needs) for some datasets
    Stage(StageArgs),
    /// Show each stage x dataset as fresh, stale or missing, and why
    Status(StatusArgs),
    /// List the queryable tables, their columns and row counts
    Tables(TablesArgs),
    /// Run SQL over every published table (query from the argument or stdin)
    Sql(SqlArgs),
    /// Inspect and maintain the artifact store
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Show the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the installation: libtorch, CUDA, threads, paths, disk space, store health
    Doctor(DoctorArgs),
    /// Measure hot paths: no-op run, fingerprints, publish, SQL, audio, front-end, stream,
    /// training steps, decoding (see docs/PERFORMANCE.md)
    Bench(BenchArgs),
    /// Print the token ids of a track's first segments, from its published notes
    Tokenize(TokenizeArgs),
    /// Score estimated MIDI files against reference MIDI files (mir_eval / YourMT3 metrics)
    Eval(EvalArgs),
    /// The model's input for audio files: spectrograms of YourMT3's 2.048 s segments, as .npy
    /// and/or a picture
    Features(FeaturesArgs),
    /// Train YourMT3+ on datasets built up to shards (YourMT3's train.py flags and aliases);
    /// the same EXP_ID resumes exactly where it stopped
    Train(Box<TrainArgs>),
    /// The model: its resolved configuration, or a forward pass of given weights
    #[command(subcommand)]
    Model(ModelCommand),
    /// Transcribe audio files to MIDI (and piano-roll PNGs) with a trained checkpoint
    Transcribe(TranscribeArgs),
    /// Start N ranks of a data-parallel job on this machine (`-- train ...`), as torchrun does
    Launch(LaunchArgs),
    /// Convert a YourMT3 checkpoint (PyTorch Lightning .ckpt) to safetensors plus its model
    /// configuration, reading it as data (nothing in it runs)
    Convert(ConvertArgs),
    /// YourMT3's data presets: list them, or show one's members, weights and sampling shares
    Presets(PresetsArgs),
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// A YourMT3 checkpoint (`model.ckpt`, `last.ckpt`: a torch.save zip)
    #[arg(value_name = "CHECKPOINT")]
    pub checkpoint: PathBuf,
    /// The safetensors file to write; its configuration goes beside it as `<OUT>.json`
    #[arg(short, long, value_name = "OUT.safetensors")]
    pub out: PathBuf,
    /// Accept one more pickle global (`module.Name`) as inert data; nothing is ever called
    #[arg(long = "allow-global", value_name = "MODULE.NAME")]
    pub allow_global: Vec<String>,
    /// Print one JSON object: the files written, the flags, what was dropped and assumed
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PresetsArgs {
    #[command(subcommand)]
    pub what: Option<PresetsCommand>,
    /// Print as JSON
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PresetsCommand {
    /// A preset's members: dataset, weight, split lists, eval vocabulary, training tracks (from
    /// the store's `splits`) and each member's share of the draws by YourMT3's sampler
    Show {
        /// Preset name (`amt presets` lists them)
        name: String,
        /// Use N training files for a member preset instead of counting them (repeatable):
        /// `--count slakh_final=1875`
        #[arg(long, value_name = "PRESET=N")]
        count: Vec<String>,
    },
}

#[derive(Debug, Args)]
#[command(
    after_help = "YourMT3's single-dash aliases work too: -tk, -enc, -dec, -it, -vit, \
    -bsz, -pr, -lr, -wb, -d, ... (`amt train -it 3000 -vit 500 -d synth-demo --model demo x`). \
    Flags of parts not built yet (Perceiver-TF, Conformer, multi-T5, MoE, augmentation) \
    fail with \"not built yet\". Data parallel: `amt launch --nproc N -- train ...` (or torchrun)."
)]
pub struct TrainArgs {
    /// Experiment id: the run's folder in the store (`runs/<EXP_ID>/`); the same id resumes
    #[arg(value_name = "EXP_ID")]
    pub exp_id: String,
    #[command(flatten)]
    pub model: ModelFlags,
    #[command(flatten)]
    pub train: TrainFlags,
    /// Seed of the initial weights, the batch draws and dropout
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Save a checkpoint every N steps [default: the validation interval] (and at the end)
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<i64>,
    /// Checkpoints kept by `validation/macro_onset_f`, besides the two newest
    #[arg(long, default_value_t = 4, value_name = "K")]
    pub save_top_k: usize,
    /// Validation files per dataset at most [default: the data preset's, else 20]
    #[arg(long, value_name = "N")]
    pub val_max_num_files: Option<usize>,
    /// Linear warm-up steps of the cosine schedule [default: 1000; demo model: 100]
    #[arg(long, value_name = "N")]
    pub warmup_steps: Option<i64>,
    /// cpu, cuda or cuda:N [default: the first GPU, else the CPU]
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Compute threads of the training step [default: libtorch's, one per core]
    #[arg(long, value_name = "N")]
    pub threads: Option<i32>,
    /// Threads building batches ahead
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
    /// Stop after N steps of this process, with a checkpoint (as Ctrl-C does); resume later
    #[arg(long, value_name = "N")]
    pub stop_after: Option<i64>,
    /// Where augmented segments get their spectrograms: `stream` (the workers, on the CPU),
    /// `device` (the training device, after the copy) or `auto` (device on CUDA)
    #[arg(long, default_value = "auto", value_name = "WHERE")]
    pub frontend_on: String,
    /// Resume a run whose data changed since it was pinned (it then pins the current data);
    /// without it such a resume is refused, naming what changed
    #[arg(long)]
    pub repin: bool,
    /// Data parallel: gradients are all-reduced in flat buckets of this many MiB
    #[arg(long, default_value_t = 25.0, value_name = "MIB")]
    pub bucket_mb: f64,
    /// Data parallel: all-reduce each gradient bucket as soon as the backward pass has filled
    /// it (1), or all of them after the pass (0); `auto`: 1 on CUDA, 0 on the CPU (where the
    /// collectives' threads take cores from the pass). `-sb 1` always waits for the pass
    #[arg(long, default_value = "auto", value_name = "auto|0|1", value_parser = ["auto", "0", "1"])]
    pub ddp_overlap: String,
    /// End with one JSON object on stdout: exp_id, steps, world_size, final_loss, checkpoint
    #[arg(long)]
    pub json: bool,
    /// Train nothing: write the first N segments the training stream gives (the rows of its
    /// first batches, augmented as configured) to --dump, each as WAV, MIDI of its targets and
    /// spectrogram PNG
    #[arg(long, value_name = "N", requires = "dump")]
    pub dry_run_batches: Option<u64>,
    /// Folder (new or empty) for --dry-run-batches; `index.json` lists the segments
    #[arg(long, value_name = "DIR", requires = "dry_run_batches")]
    pub dump: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    amt launch --nproc 2 -- train EXP -d synth-demo --model demo\n  \
    # two machines, two ranks each (run on both, --node-rank 0 on the one named host0):\n  \
    amt launch --nnodes 2 --node-rank 0 --nproc 2 --master-addr host0 --master-port 29500 -- train EXP ...\n\
    Each rank is `amt <args>` with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and \
    MASTER_PORT set, as torchrun sets them. Rank 0 prints; the others print only errors.")]
pub struct LaunchArgs {
    /// Processes (ranks) to start on this machine
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub nproc: usize,
    /// Machines in the job
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub nnodes: usize,
    /// This machine's index (0 hosts the rendezvous)
    #[arg(long, default_value_t = 0, value_name = "I")]
    pub node_rank: usize,
    /// Address of node 0, where rank 0 hosts the rendezvous store
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub master_addr: String,
    /// Port of the rendezvous store [default: a free port on one machine, else 29500]
    #[arg(long, value_name = "PORT")]
    pub master_port: Option<u16>,
    /// Seconds the other ranks get to stop by themselves after one fails, before they are killed
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub grace: f64,
    /// The amt command every rank runs, after `--` (e.g. `-- train EXP -d synth-demo`)
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// The resolved model configuration and parameter count, for train flags (no training)
    Info(Box<ModelInfoArgs>),
    /// Run weights (a safetensors state dict with YourMT3's names) on a waveform: writes
    /// spectrogram.npy, encoder_output.npy, logits.npy (teacher-forced) and greedy_tokens.npy
    Forward(Box<ModelForwardArgs>),
}

#[derive(Debug, Args)]
pub struct ModelInfoArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    #[command(flatten)]
    pub train: TrainFlags,
    /// Print JSON: {"params": N, "model": {...}, "tensors": [...], ...}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModelForwardArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    /// The weights: a safetensors state dict with YourMT3's parameter names
    #[arg(long, value_name = "W.safetensors")]
    pub weights: PathBuf,
    /// A float32 waveform at 16 kHz, shape (samples,) or (1, samples); cut into 32767-sample
    /// segments, the last zero-padded
    #[arg(long, value_name = "X.npy")]
    pub waveform_npy: PathBuf,
    /// Teacher-forcing targets, int64 (segments, length) [default: the greedy tokens]
    #[arg(long, value_name = "T.npy")]
    pub tokens: Option<PathBuf>,
    /// Output folder
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// Audio files (WAV, FLAC, MP3, OGG/Vorbis; any rate and channel count)
    #[arg(value_name = "AUDIO", required = true)]
    pub audio: Vec<PathBuf>,
    /// A training run: its newest checkpoint that loads
    #[arg(
        long,
        value_name = "EXP_ID",
        required_unless_present = "checkpoint",
        conflicts_with = "checkpoint"
    )]
    pub exp: Option<String>,
    /// A checkpoint folder (`runs/<EXP_ID>/checkpoints/ckpt-<step>`), or weights written by
    /// `amt convert` (`OUT.safetensors`, with its `OUT.json` beside it)
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    /// Output folder: `<audio name>.mid` (and `.png`) per file
    #[arg(short, long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write a piano roll per file (time in seconds, pitch, colour per instrument)
    #[arg(long)]
    pub png: bool,
    /// Segments decoded at once
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch_size: usize,
    /// cpu, cuda or cuda:N [default: the first GPU, else the CPU]
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Print one JSON object: the checkpoint, and per file its notes, MIDI and PNG paths
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Audio files (WAV, FLAC, MP3, OGG/Vorbis; any rate and channel count)
    #[arg(value_name = "AUDIO")]
    pub audio: Vec<PathBuf>,
    /// A float32 waveform already at 16 kHz, shape (samples,) or (1, samples), instead of
    /// (or besides) audio files
    #[arg(long, value_name = "IN.npy", required_unless_present = "audio")]
    pub waveform_npy: Option<PathBuf>,
    /// `melspec` (YMT3+: 512 mel bins) or `spec` (Perceiver-TF: 1024 linear bins)
    #[arg(long, default_value = "melspec")]
    pub codec: String,
    /// STFT hop in samples [default: 128 for melspec, 300 for spec]
    #[arg(long, value_name = "N")]
    pub hop: Option<i64>,
    /// Mel bands of `melspec` (YourMT3's -nmel; the demo model uses 128)
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub n_mels: i64,
    /// Write the spectrograms as float32 .npy, shape (segments, frames, bins); with several
    /// inputs, `-<input name>` is added before the extension
    #[arg(long, value_name = "OUT.npy")]
    pub npy: Option<PathBuf>,
    /// Write a picture of the spectrogram (time in seconds, frequency in Hz)
    #[arg(long, value_name = "OUT.png")]
    pub png: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Folder of reference MIDI files
    #[arg(
        long = "ref",
        value_name = "DIR",
        requires = "estimate",
        conflicts_with = "predictions"
    )]
    pub reference: Option<PathBuf>,
    /// Folder of estimated MIDI files, matched to references by relative path and name
    #[arg(long = "est", value_name = "DIR", requires = "reference")]
    pub estimate: Option<PathBuf>,
    /// Predictions table (Parquet: track_id, program, is_drum, onset, offset, pitch
    /// [, velocity]) scored against the published `notes` of `--dataset`
    #[arg(
        long,
        value_name = "FILE",
        requires = "dataset",
        required_unless_present = "reference"
    )]
    pub predictions: Option<PathBuf>,
    /// Instrument classes for per-class metrics and multi_f (e.g. GM_INSTR_CLASS, PIANO_SOLO)
    #[arg(long, value_name = "NAME")]
    pub eval_vocab: Option<String>,
    /// Drum classes both sides are reduced to (e.g. gm, ksh)
    #[arg(long, value_name = "NAME")]
    pub drum_vocab: Option<String>,
    /// Onset tolerance in seconds
    #[arg(long, default_value_t = 0.05)]
    pub onset_tolerance: f64,
    /// Also compute frame F1 (62.5 ms hop)
    #[arg(long)]
    pub frame: bool,
    /// Classes that also get pitch-class metrics (`_pc`), comma-separated
    #[arg(long, value_delimiter = ',', value_name = "CLASSES")]
    pub pitch_class: Vec<String>,
    /// Apply the sustain pedal (CC64) when reading MIDI [default: notes end at their note-off,
    /// as mir_eval users expect]
    #[arg(long)]
    pub sustain_pedal: bool,
    /// Leave estimates that cannot be read out of the scores [default: score them as empty
    /// transcriptions, so that a broken file lowers the mean]
    #[arg(long)]
    pub skip_unreadable: bool,
    /// Dataset: whose `notes` are the reference (with --predictions), and the name stored with
    /// the scores [default: the reference folder's name]
    #[arg(long)]
    pub dataset: Option<String>,
    /// Run name stored with the scores [default: the estimate folder's or predictions file's name]
    #[arg(long)]
    pub name: Option<String>,
    /// Print one JSON object: {"files": {name: {metric: value}}, "mean": {...}} (NaN as null)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// Dataset whose `notes` are built
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// Track id (the `track_id` column of `tracks`)
    #[arg(long, value_name = "ID")]
    pub track: String,
    /// Tokenisation task: mt3_full_plus or mc13_full_plus_256
    #[arg(long, value_name = "TASK")]
    pub task: String,
    /// How many segments (2.048 s each) from the start of the track
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub segments: usize,
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
    /// Also print each token's event name (`shift(12)`, `pitch(60)`, ...)
    #[arg(long)]
    pub events: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure [default: the no-op run and the fingerprint throughput]
    #[command(subcommand)]
    pub what: Option<BenchWhat>,
    /// Tracks (3 small files each) in the no-op benchmark dataset
    #[arg(long, default_value_t = 2000)]
    pub tracks: usize,
    /// Megabytes of large files for the fingerprint throughput
    #[arg(long, default_value_t = 256)]
    pub megabytes: usize,
    /// No-op runs to time
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Publishing a large artifact: hash-while-write against a plain write of the same bytes,
    /// and the bytes read back (from /proc/self/io)
    Publish {
        /// Size of the artifact's file in megabytes
        #[arg(long, default_value_t = 4096)]
        megabytes: usize,
    },
    /// `amt sql` on a table of many rows: time to the first row and to the end
    Sql {
        /// Rows of the generated `notes` table
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
    },
    /// Decoding and resampling one audio file to 16 kHz mono, as the `stem` stage does
    Audio {
        /// The file (WAV, FLAC, MP3, OGG)
        input: PathBuf,
        /// Timed runs (the best is reported)
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Also write the 16 kHz output as float32 .npy (for SNR checks)
        #[arg(long, value_name = "OUT.npy")]
        npy: Option<PathBuf>,
    },
    /// The spectrogram front-end on the CPU: frames per second of both codecs
    Frontend {
        /// Segments per call
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Timed calls per codec
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// The training stream: segments per second delivered as ready batches from shards
    Stream {
        /// Segments per batch (YourMT3: 24 per GPU)
        #[arg(long, default_value_t = 24)]
        batch: usize,
        /// Batches to time
        #[arg(long, default_value_t = 50)]
        batches: usize,
        /// Worker threads
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// The augmented stream instead (YourMT3's default augmentation over generated 4-stem
        /// tracks in stem-audio files): with the front-end in the workers, then handing audio
        /// over for the device's front-end
        #[arg(long)]
        augment: bool,
    },
    /// Training steps on the CPU (or --device): teacher-forced forward, backward, clipping and
    /// an optimiser step on random inputs with half-padded targets; seconds per step and peak
    /// memory (the anchor: YourMT3's PyTorch YMT3+ at batch 2 on 2 threads)
    Train {
        /// `demo` (the demo's small T5), or a released configuration by YourMT3's flags:
        /// `ymt3+`, `yptf-single`, `yptf-multi`, `yptf-moe-multi`
        #[arg(long, default_value = "ymt3+")]
        model: String,
        /// Segments per step
        #[arg(long, default_value_t = 2)]
        batch: i64,
        /// Timed steps (after one warm-up step)
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// adamw (the anchor's) or adamwscale
        #[arg(long, default_value = "adamw")]
        optimizer: String,
        /// cpu, cuda or cuda:N
        #[arg(long, default_value = "cpu")]
        device: String,
        /// bf16 autocast (CUDA only)
        #[arg(long)]
        bf16: bool,
        /// Compute threads [default: libtorch's, one per core]
        #[arg(long)]
        threads: Option<i32>,
        /// Under `amt launch`: all-reduce gradient buckets during the backward pass (1) or
        /// after it (0); `auto`: 1 on CUDA, 0 on the CPU
        #[arg(long, default_value = "auto", value_name = "auto|0|1", value_parser = ["auto", "0", "1"])]
        ddp_overlap: String,
    },
    /// Gradient all-reduce over the ranks of a job (`amt launch --nproc 2 -- bench allreduce`):
    /// seconds and bandwidth for a model's gradient size, in buckets as training sends them
    Allreduce {
        /// Float32 values per all-reduce [default: YMT3+'s trainable parameters]
        #[arg(long, default_value_t = 44_672_000)]
        params: i64,
        /// Bucket size in MiB
        #[arg(long, default_value_t = 25.0)]
        bucket_mb: f64,
        /// Timed all-reduces (after one warm-up)
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// The MoE feed-forward (YPTF.MoE+Multi's layer: 128 wide, 8 experts of 512, top 2):
    /// forward + backward with one sorted dispatch against a mask per expert, for balanced
    /// and skewed routing
    Moe {
        /// Tokens per call (a batch of 2 x 110 frames x 26 latents: 5720)
        #[arg(long, default_value_t = 5720)]
        tokens: i64,
        /// Timed calls per variant (after one warm-up), interleaved
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// Pitch shift of 2.048 s segments (phase vocoder + resampling, the `-ps` building block):
    /// segments per second on one thread
    PitchShift {
        /// Segments per shift amount
        #[arg(long, default_value_t = 16)]
        segments: usize,
    },
    /// The augmented stream's CPU work per training item (YourMT3's default augmentation,
    /// the tokenizer, the melspec front-end): segments per second on one thread, per phase
    Augment {
        /// Segments to augment
        #[arg(long, default_value_t = 48)]
        segments: usize,
        /// Stems per segment (up to 8 instruments)
        #[arg(long, default_value_t = 4)]
        stems: usize,
    },
    /// Greedy decoding with and without the KV cache: tokens per second, and that both give
    /// the same tokens
    Decode {
        /// `demo` or `ymt3+`
        #[arg(long, default_value = "demo")]
        model: String,
        /// Segments decoded at once
        #[arg(long, default_value_t = 8)]
        batch: i64,
        /// Tokens generated per segment
        #[arg(long, default_value_t = 128)]
        tokens: i64,
    },
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The data home to install into (same as --data-home)
    #[arg(value_name = "DATA_HOME")]
    pub data_home: Option<PathBuf>,
    /// Datasets by name or menu number, comma-separated; without it, the interactive menu
    #[arg(long, short = 'd', value_delimiter = ',', value_name = "LIST")]
    pub datasets: Vec<String>,
    /// Skip download and extraction: use the folders already in the data home
    #[arg(long, visible_alias = "nd")]
    pub nodown: bool,
    /// A registry file ([[dataset]] tables) whose entries replace (by name) or add to the built-in ones
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// Read the Zenodo access token (restricted datasets) from this file
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Also cache the token from --token-file or ZENODO_TOKEN (mode 0600, user config folder)
    #[arg(long)]
    pub save_token: bool,
    /// Send the token as a `token=` URL parameter (Zenodo share-link tokens, YourMT3's way)
    /// instead of an Authorization header; it is still never shown or logged
    #[arg(long)]
    pub token_in_url: bool,
    /// Print the registry (numbers, names, URLs, md5, restricted) and exit
    #[arg(long)]
    pub list: bool,
    /// Delete each archive once extracted, as YourMT3 does [default: keep it, so that a
    /// re-install never downloads again]
    #[arg(long)]
    pub delete_archive: bool,
    /// Refuse archives that expand to more than this many times their size (bombs)
    #[arg(long, value_name = "N", default_value_t = 100.0)]
    pub max_ratio: f64,
    /// Refuse archives with more files than this [default: 100 000 + one per KiB of archive]
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_files: u64,
    /// Show what would be installed and how, without doing it
    #[arg(long)]
    pub dry_run: bool,
    /// Print the run report (or, with --list, the registry) as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Fail at once if another amt process holds the store, instead of waiting
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's data home, store and outputs (re-used on later runs)
    #[arg(long, default_value = "amt-demo", value_name = "DIR")]
    pub dir: PathBuf,
    /// Training steps [default: the demo model's 2400]; a later demo with more steps
    /// continues the same run
    #[arg(long, value_name = "N")]
    pub steps: Option<i64>,
    /// Compute threads [default: one per core]
    #[arg(long, value_name = "N")]
    pub threads: Option<i32>,
    /// Instead of training: a quick tour of the stages on two tiny example datasets in Slakh
    /// and MAESTRO layouts (SQL, tokens, `amt eval`)
    #[arg(long)]
    pub tour: bool,
    /// End with one JSON object on stdout: onset_f, offset_f, train_seconds, steps, midi, png
    #[arg(long, conflicts_with = "tour")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DatasetsArg {
    /// Datasets by name or folder path, comma-separated [default: all known]
    #[arg(long, short = 'd', value_delimiter = ',', value_name = "LIST")]
    pub datasets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Stop after this stage
    #[arg(long, value_name = "STAGE")]
    pub until: Option<String>,
    #[command(flatten)]
    pub datasets: DatasetsArg,
    /// Rebuild even what is fresh
    #[arg(long)]
    pub force: bool,
    /// Print the run report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Fail at once if another amt process holds the store, instead of waiting
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct StageArgs {
    /// The stage to build
    pub name: String,
    #[command(flatten)]
    pub datasets: DatasetsArg,
    /// Rebuild this stage even if fresh (its inputs are only built when stale)
    #[arg(long)]
    pub force: bool,
    /// Print the run report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Fail at once if another amt process holds the store, instead of waiting
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub datasets: DatasetsArg,
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The SQL statement; read from stdin when absent
    pub query: Option<String>,
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SqlFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List artifacts (`*` marks the current one of each stage x dataset)
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every artifact file; report and evict corrupt artifacts
    Verify,
    /// Remove artifacts no ref points at, and leftovers of killed runs
    Gc {
        /// Only list what would be removed
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved configuration of every stage (and dataset overrides) as TOML
    Show,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

/// An error with a user-facing suggestion, rendered as `hint: ...` after the error.
#[derive(Debug)]
pub struct Hinted {
    pub error: anyhow::Error,
    pub hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Attaches a hint to an error.
pub fn with_hint(e: impl Into<anyhow::Error>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        error: e.into(),
        hint: hint.into(),
    })
}

/// Exit codes: 0 success, 1 failure (bad input, failed stage), 130 interrupted.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A closed stdout (`amt sql ... | head -1`) ends the command quietly, as in every Unix tool:
/// Rust ignores SIGPIPE, so the next `println!` panics with "Broken pipe"; that panic exits
/// with status 0 instead of printing a backtrace. Every other panic keeps the default report.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

pub fn main() -> ExitCode {
    quiet_on_broken_pipe();
    // YourMT3's single-dash aliases (`-vit 5`) become long flags before clap reads them.
    // Named `amt` in help and errors whichever file runs (`amt-full`, a rank `amt launch`
    // started).
    let matches = <Cli as clap::CommandFactory>::command()
        .bin_name("amt")
        .get_matches_from(crate::train::flags::rewrite(std::env::args_os().collect()));
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging(&cli);
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        // First Ctrl-C: stop cleanly (no partial artifact). Second: leave at once.
        let _ = ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::SeqCst) {
                std::process::exit(EXIT_INTERRUPTED as i32);
            }
            tracing::warn!("interrupted: finishing cleanly (Ctrl-C again to quit at once)");
        });
    }
    match dispatch(cli, cancel) {
        Ok(code) => code,
        Err(e) => {
            render_error(&e);
            ExitCode::from(1)
        }
    }
}

fn dispatch(mut cli: Cli, cancel: Arc<AtomicBool>) -> anyhow::Result<ExitCode> {
    if let Command::Install(a) = &cli.command
        && let Some(home) = &a.data_home
    {
        cli.data_home = Some(home.clone());
    }
    match &cli.command {
        Command::Demo(args) => return commands::demo(args, cli.quiet, cancel),
        Command::Bench(args) => return commands::bench(args, cancel),
        Command::Features(args) => return commands::features(args),
        Command::Model(cmd) => return commands::model(cmd),
        Command::Launch(args) => return commands::launch(&cli, args),
        Command::Convert(args) => return commands::convert(args),
        _ => {}
    }
    let ctx = build_context(&cli, cancel)?;
    match cli.command {
        Command::Demo(_)
        | Command::Bench(_)
        | Command::Features(_)
        | Command::Model(_)
        | Command::Launch(_)
        | Command::Convert(_) => {
            unreachable!("handled above")
        }
        Command::Run(a) => commands::run(&ctx, &a),
        Command::Install(a) => commands::install(&ctx, &a),
        Command::Stage(a) => commands::stage(&ctx, &a),
        Command::Status(a) => commands::status(&ctx, &a),
        Command::Tables(a) => commands::tables(&ctx, &a),
        Command::Sql(a) => commands::sql(&ctx, &a),
        Command::Cache(c) => commands::cache(&ctx, &c),
        Command::Config(ConfigCommand::Show) => commands::config_show(&ctx),
        Command::Doctor(a) => commands::doctor(&ctx, &a),
        Command::Tokenize(a) => commands::tokenize(&ctx, &a),
        Command::Eval(a) => commands::eval(&ctx, &a),
        Command::Train(a) => crate::train::train(&ctx, &a),
        Command::Transcribe(a) => commands::transcribe(&ctx, &a),
        Command::Presets(a) => commands::presets(&ctx, &a),
    }
}

pub fn build_context(cli: &Cli, cancel: Arc<AtomicBool>) -> anyhow::Result<Context> {
    let data_home = cli
        .data_home
        .clone()
        .unwrap_or_else(context::default_data_home);
    let data_home = std::path::absolute(&data_home).unwrap_or(data_home);
    let store_root = cli
        .store
        .clone()
        .unwrap_or_else(|| context::default_store(&data_home));
    let config_path = match &cli.config {
        Some(p) => Some(p.clone()),
        None => Some(data_home.join("amt.toml")).filter(|p| p.is_file()),
    };
    let graph = Graph::product();
    let config = Config::load(config_path.as_deref())?;
    config.validate(&graph)?;
    Ok(Context {
        data_home,
        store_root,
        config,
        config_file: cli.config.clone(),
        graph,
        quiet: cli.quiet,
        cancel,
    })
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // The HTTP client's debug/trace output dumps request bytes, access tokens included: capped
    // whatever RUST_LOG says (amt logs its own requests without the token).
    let filter = ["ureq=info", "ureq_proto=info", "rustls=info"]
        .iter()
        .fold(filter, |f, d| {
            f.add_directive(d.parse().expect("valid directive"))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        );
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    match cli.log_format {
        LogFormat::Text => builder
            .without_time()
            .with_target(false)
            .finish()
            .with(crate::noop::LogLineCounter)
            .init(),
        LogFormat::Json => builder
            .json()
            .finish()
            .with(crate::noop::LogLineCounter)
            .init(),
    }
}

/// `error: ...`, indented `Caused by:` lines, then `hint:` lines.
#[allow(clippy::print_stderr)]
pub fn render_error(e: &anyhow::Error) {
    let hint = e.downcast_ref::<Hinted>().map(|h| h.hint.clone());
    let mut lines: Vec<String> = Vec::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if lines.last().is_some_and(|l| l.contains(&msg)) {
            continue;
        }
        lines.push(msg);
    }
    let mut it = lines.into_iter();
    eprintln!("error: {}", it.next().unwrap_or_default());
    for l in it {
        eprintln!("  Caused by: {l}");
    }
    if let Some(h) = hint {
        eprintln!("hint: {h}");
    }
}
