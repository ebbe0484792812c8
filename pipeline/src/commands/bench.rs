//! `amt bench`: measures the store's hot paths on generated data, in the build you run
//! (debug numbers are pessimistic; `cargo build --release` for the real ones).
//!
//! - `noop`: a no-op `amt run` over a dataset of many small tracks (planning = stat every
//!   file against the memo, derive keys, compare refs), after one cold run.
//! - the cold run of a second dataset of large files gives the fingerprint throughput (MB/s;
//!   the files were just written, so they come from the page cache: hashing, not disk).
//! - `publish`: one large file written through the store (hashed while written) against the
//!   same bytes written plainly, and the bytes the process read while publishing.
//! - `sql`: a `notes` table of many rows, queried through the same code as `amt sql`: time to
//!   the first row and to the last.

use std::process::ExitCode;
use std::time::Instant;

use crate::cli::{BenchArgs, BenchWhat, DatasetsArg, RunArgs};
use crate::config::Config;
use crate::context::{Context, default_store};
use crate::graph::Graph;

fn run_once(ctx: &Context, dataset: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    let code = super::run(
        ctx,
        &RunArgs {
            until: None,
            datasets: DatasetsArg {
                datasets: vec![dataset.to_string()],
            },
            force: false,
            json: false,
            no_wait: true,
        },
    )?;
    anyhow::ensure!(code == ExitCode::SUCCESS, "the benchmark run failed");
    Ok(t.elapsed().as_secs_f64())
}

pub fn bench(
    args: &BenchArgs,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<ExitCode> {
    match &args.what {
        Some(BenchWhat::Publish { megabytes }) => return publish(*megabytes, args.json),
        Some(BenchWhat::Sql { rows }) => return sql(*rows, args.json),
        Some(BenchWhat::Audio { input, repeat, npy }) => {
            return audio(input, *repeat, npy.as_deref(), args.json);
        }
        Some(BenchWhat::Frontend { batch, repeat }) => return frontend(*batch, *repeat, args.json),
        Some(BenchWhat::Stream {
            batch,
            batches,
            workers,
            augment: false,
        }) => return stream(*batch, *batches, *workers, args.json),
        Some(BenchWhat::Stream {
            batch,
            batches,
            workers,
            augment: true,
        }) => return augmented_stream(*batch, *batches, *workers, args.json),
        Some(train @ BenchWhat::Train { threads, .. }) => {
            if let Some(n) = threads {
                tch::set_num_threads(*n);
            }
            return train_steps(train, args.json);
        }
        Some(BenchWhat::Allreduce {
            params,
            bucket_mb,
            repeat,
        }) => return allreduce(*params, *bucket_mb, *repeat, args.json),
        Some(BenchWhat::Moe { tokens, repeat }) => return moe(*tokens, *repeat, args.json),
        Some(BenchWhat::PitchShift { segments }) => return pitch_shift(*segments, args.json),
        Some(BenchWhat::Augment { segments, stems }) => {
            return augment(*segments, *stems, args.json);
        }
        Some(BenchWhat::Decode {
            model,
            batch,
            tokens,
        }) => return decode(model, *batch, *tokens, args.json),
        None => {}
    }
    let dir = tempfile::tempdir()?;
    let data_home = dir.path().to_owned();
    // Many small tracks: mix.wav, all_src.mid, metadata.yaml each.
    for t in 0..args.tracks {
        let track = data_home.join("many").join(format!("Track{t:05}"));
        fs_err::create_dir_all(&track)?;
        for (name, size) in [
            ("mix.wav", 2048usize),
            ("all_src.mid", 512),
            ("metadata.yaml", 256),
        ] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 31 + t * 7) as u8).collect();
            fs_err::write(track.join(name), bytes)?;
        }
    }
    // A few large files for throughput.
    let big = data_home.join("big");
    fs_err::create_dir_all(&big)?;
    let per_file = 16usize << 20;
    let n_big = (args.megabytes << 20).div_ceil(per_file).max(1);
    let mut chunk = vec![0u8; per_file];
    for i in 0..n_big {
        for (j, b) in chunk.iter_mut().enumerate() {
            *b = (j as u64)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(i as u64) as u8;
        }
        fs_err::write(big.join(format!("part{i:03}.bin")), &chunk)?;
    }
    let ctx = Context {
        store_root: default_store(&data_home),
        data_home: data_home.clone(),
        config: Config::default(),
        config_file: None,
        graph: Graph::product(),
        quiet: true,
        cancel,
    };
    let files = args.tracks * 3;
    let cold_small = run_once(&ctx, "many")?;
    let mut noop: Vec<f64> = Vec::new();
    for _ in 0..args.repeat {
        noop.push(run_once(&ctx, "many")?);
    }
    noop.sort_by(f64::total_cmp);
    let cold_big = run_once(&ctx, "big")?;
    let mb = (n_big * per_file) as f64 / 1e6;
    let report = serde_json::json!({
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "tracks": args.tracks,
        "files": files,
        "cold_run_s": cold_small,
        "noop_run_s_median": noop[noop.len() / 2],
        "noop_run_s_min": noop[0],
        "fingerprint_mb": mb,
        "fingerprint_cold_s": cold_big,
        "fingerprint_mb_per_s": mb / cold_big,
        "threads": rayon::current_num_threads(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} build, {} rayon threads",
            report["profile"].as_str().unwrap_or(""),
            report["threads"]
        );
        println!(
            "no-op run, {} tracks ({files} files): median {:.3} s, min {:.3} s over {} runs (cold run {:.3} s)",
            args.tracks,
            noop[noop.len() / 2],
            noop[0],
            args.repeat,
            cold_small
        );
        println!(
            "cold fingerprint of {mb:.0} MB in {n_big} files: {cold_big:.3} s = {:.0} MB/s",
            mb / cold_big
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

fn print_report(report: &serde_json::Value, json: bool, lines: &[String]) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(())
}

/// (`rchar`, `read_bytes`) of this process from /proc/self/io: bytes read by syscalls, and
/// bytes fetched from storage.
fn io_read() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("rchar:"), field("read_bytes:"))
}

/// A chunk of pseudo-random bytes (not compressible, not all zeros).
fn chunk(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn publish(megabytes: usize, json: bool) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let dir = tempfile::tempdir()?;
    let block = chunk(8 << 20, 42);
    let blocks = (megabytes << 20).div_ceil(block.len()).max(1);
    let bytes = (blocks * block.len()) as u64;

    // Plain: the same bytes to a file, fsynced.
    let plain = |name: &str| -> anyhow::Result<f64> {
        let t = Instant::now();
        let path = dir.path().join(name);
        let mut f = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(&path)?);
        for _ in 0..blocks {
            f.write_all(&block)?;
        }
        f.flush()?;
        f.get_ref().sync_all()?;
        let s = t.elapsed().as_secs_f64();
        fs_err::remove_file(&path)?;
        Ok(s)
    };
    // Through the store: hashed while written, manifest from the recorded hash.
    let store = amt_cache::Store::open(&dir.path().join("store"))?;
    let published = |n: u32| -> anyhow::Result<(f64, (u64, u64))> {
        let key = amt_cache::KeySpec {
            stage: "bench".into(),
            version: n,
            config: serde_json::json!({}),
            inputs: Default::default(),
        }
        .key();
        let before = io_read();
        let t = Instant::now();
        let w = store.begin("bench", &amt_cache::Slot::dataset("bench"), &key)?;
        let mut f = w.create("big.bin")?;
        for _ in 0..blocks {
            f.write_all(&block)?;
        }
        f.finish()?;
        let a = w.commit(1, Default::default(), serde_json::json!({}), false)?;
        let s = t.elapsed().as_secs_f64();
        let after = io_read();
        store.evict(&a.dir)?;
        Ok((s, (after.0 - before.0, after.1 - before.1)))
    };
    // Alternated, best of two each, so that neither side gets the colder page cache.
    let (mut plain_s, mut store_s, mut read) = (f64::INFINITY, f64::INFINITY, (0, 0));
    for n in 0..2 {
        plain_s = plain_s.min(plain("plain.bin")?);
        let (s, r) = published(n)?;
        store_s = store_s.min(s);
        read = (read.0.max(r.0), read.1.max(r.1));
    }
    let (before, after) = ((0u64, 0u64), read);
    let report = serde_json::json!({
        "profile": profile(),
        "bytes": bytes,
        "plain_write_s": plain_s,
        "store_publish_s": store_s,
        "ratio": store_s / plain_s,
        "read_syscall_bytes_while_publishing": after.0 - before.0,
        "read_storage_bytes_while_publishing": after.1 - before.1,
    });
    let lines = vec![
        format!("{} build", profile()),
        format!(
            "publish {:.2} GB: plain write {plain_s:.2} s, store (hash while writing) {store_s:.2} s = {:.2}x",
            bytes as f64 / 1e9,
            store_s / plain_s
        ),
        format!(
            "read while publishing: {} bytes by syscalls, {} bytes from storage",
            after.0 - before.0,
            after.1 - before.1
        ),
    ];
    print_report(&report, json, &lines)?;
    Ok(ExitCode::SUCCESS)
}

fn sql(rows: usize, json: bool) -> anyhow::Result<ExitCode> {
    use amt_schemas::notes::{self, NoteRow, NotesBuilder};
    let dir = tempfile::tempdir()?;
    let store = amt_cache::Store::open(dir.path())?;
    let key = amt_cache::KeySpec {
        stage: "notes".into(),
        version: 0,
        config: serde_json::json!({"bench_rows": rows}),
        inputs: Default::default(),
    }
    .key();
    let slot = amt_cache::Slot::dataset("bench");
    let t = Instant::now();
    let w = store.begin("notes", &slot, &key)?;
    let mut table = w.table(notes::NAME, notes::schema())?;
    let mut done = 0;
    while done < rows {
        let n = (rows - done).min(65_536);
        let mut b = NotesBuilder::new();
        for i in done..done + n {
            let track = format!("Track{:05}", i / 5000);
            b.push(&NoteRow {
                dataset: "bench",
                track_id: &track,
                stem_id: None,
                program: (i % 128) as u8,
                is_drum: i % 10 == 0,
                onset: i as f64 * 0.01,
                offset: i as f64 * 0.01 + 0.25,
                pitch: (21 + i % 88) as u8,
                velocity: 1,
            });
        }
        table.write(&b.finish())?;
        done += n;
    }
    table.finish()?;
    let a = w.commit(0, Default::default(), serde_json::json!({}), false)?;
    store.write_ref("notes", &slot, &key)?;
    let write_s = t.elapsed().as_secs_f64();
    let sources: Vec<amt_sql::TableSource> = amt_schemas::TABLES
        .iter()
        .map(|d| amt_sql::TableSource {
            name: d.name.to_string(),
            schema: (d.schema)(),
            files: if d.name == notes::NAME {
                a.table_files().map(|(_, p)| p).collect()
            } else {
                Vec::new()
            },
        })
        .collect();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let t = Instant::now();
    let mut first = None;
    let mut seen = 0u64;
    amt_sql::query_stream(&sources, "SELECT * FROM notes", &cancel, &mut |b| {
        first.get_or_insert_with(|| t.elapsed().as_secs_f64());
        seen += b.num_rows() as u64;
        Ok(true)
    })?;
    let all_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut first_limited = None;
    amt_sql::query_stream(
        &sources,
        "SELECT * FROM notes LIMIT 10",
        &cancel,
        &mut |_| {
            first_limited.get_or_insert_with(|| t.elapsed().as_secs_f64());
            Ok(true)
        },
    )?;
    let report = serde_json::json!({
        "profile": profile(),
        "rows": rows,
        "write_s": write_s,
        "first_row_s": first,
        "all_rows_s": all_s,
        "rows_streamed": seen,
        "limit_10_first_row_s": first_limited,
    });
    let lines = vec![
        format!("{} build", profile()),
        format!("wrote {rows} rows of `notes` in {write_s:.2} s"),
        format!(
            "SELECT * FROM notes: first row after {:.3} s, all {seen} rows after {all_s:.2} s",
            first.unwrap_or(f64::NAN)
        ),
        format!(
            "SELECT * FROM notes LIMIT 10: first row after {:.3} s",
            first_limited.unwrap_or(f64::NAN)
        ),
    ];
    print_report(&report, json, &lines)?;
    Ok(ExitCode::SUCCESS)
}

fn audio(
    input: &std::path::Path,
    repeat: usize,
    npy: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use amt_stages::audio::{self, Channels, SAMPLE_RATE};
    let mut best = f64::INFINITY;
    let mut out = Vec::new();
    let mut info = None;
    for _ in 0..repeat.max(1) {
        out.clear();
        let t = Instant::now();
        let i = audio::decode_file(input, Channels::Downmix, SAMPLE_RATE, &mut |s| {
            out.extend_from_slice(s)
        })?;
        best = best.min(t.elapsed().as_secs_f64());
        info = Some(i);
    }
    let info = info.expect("at least one run");
    let seconds = info.source_frames as f64 / f64::from(info.source_rate);
    if let Some(p) = npy {
        amt_model::npy::write(p, &[out.len()], &out)?;
    }
    let report = serde_json::json!({
        "profile": profile(),
        "input": input.display().to_string(),
        "source_rate": info.source_rate,
        "source_channels": info.source_channels,
        "audio_seconds": seconds,
        "best_s": best,
        "x_realtime": seconds / best,
        "threads": 1,
    });
    let lines = vec![format!(
        "{} build: decode + resample {} ({} Hz, {} ch, {seconds:.1} s) to 16 kHz mono: best {best:.3} s = {:.0}x real time, one thread",
        profile(),
        input.display(),
        info.source_rate,
        info.source_channels,
        seconds / best
    )];
    print_report(&report, json, &lines)?;
    Ok(ExitCode::SUCCESS)
}

fn frontend(batch: usize, repeat: usize, json: bool) -> anyhow::Result<ExitCode> {
    use amt_model::frontend::{Codec, FrontEnd};
    let samples = amt_symbolic::tokenizer::SEGMENT_SAMPLES as i64;
    let wave = tch::Tensor::randn(
        [batch as i64, samples],
        (tch::Kind::Float, tch::Device::Cpu),
    ) * 0.1;
    let mut report = serde_json::json!({"profile": profile(), "batch": batch, "threads": tch::get_num_threads()});
    let mut lines = vec![format!(
        "{} build, {} libtorch threads",
        profile(),
        tch::get_num_threads()
    )];
    for codec in [Codec::Melspec, Codec::Spec] {
        let fe = FrontEnd::new(codec, codec.default_hop(), tch::Device::Cpu);
        let _ = fe.forward(&wave);
        let mut best = f64::INFINITY;
        for _ in 0..repeat.max(1) {
            let t = Instant::now();
            let y = fe.forward(&wave);
            let _ = y.sum(tch::Kind::Float).double_value(&[]);
            best = best.min(t.elapsed().as_secs_f64());
        }
        let frames = batch as f64 * fe.frames(samples) as f64;
        report[codec.name()] = serde_json::json!({"best_s": best, "frames_per_s": frames / best});
        lines.push(format!(
            "{}: {batch} segments ({frames:.0} frames) in {best:.3} s = {:.0} frames/s",
            codec.name(),
            frames / best
        ));
    }
    print_report(&report, json, &lines)?;
    Ok(ExitCode::SUCCESS)
}

fn stream(batch: usize, batches: usize, workers: usize, json: bool) -> anyhow::Result<ExitCode> {
    use amt_model::stream::{DatasetSegments, Sampler, SegmentInfo, Stream, StreamConfig};
    use arrow::array::{FixedSizeListArray, Float32Array, UInt16Array, UInt64Array};
    use std::sync::Arc;
    // Synthetic shards of the melspec codec: 8 files of 64 segments.
    let dir = tempfile::tempdir()?;
    let (frames, bins, len) = (256usize, 512usize, 1024usize);
    let schema = amt_stages::shards::shard_schema((frames * bins) as i32, len as i32);
    let item = |t| Arc::new(arrow::datatypes::Field::new("item", t, false));
    let mut segments = Vec::new();
    for f in 0..8 {
        let path = dir.path().join(format!("shard-{f}.arrow"));
        let mut w = arrow::ipc::writer::FileWriter::try_new(fs_err::File::create(&path)?, &schema)?;
        for b in 0..4 {
            let n = 16;
            let spec: Vec<f32> = (0..n * frames * bins)
                .map(|i| ((i + f + b) % 97) as f32 / 97.0)
                .collect();
            let tokens: Vec<u16> = (0..n * len).map(|i| (i % 596) as u16).collect();
            let batch_ = arrow::record_batch::RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(UInt64Array::from_iter_values(
                        (0..n as u64).map(|k| k * 32767),
                    )),
                    Arc::new(FixedSizeListArray::try_new(
                        item(arrow::datatypes::DataType::Float32),
                        (frames * bins) as i32,
                        Arc::new(Float32Array::from(spec)),
                        None,
                    )?),
                    Arc::new(FixedSizeListArray::try_new(
                        item(arrow::datatypes::DataType::UInt16),
                        len as i32,
                        Arc::new(UInt16Array::from(tokens)),
                        None,
                    )?),
                ],
            )?;
            w.write(&batch_)?;
            for k in 0..n {
                segments.push(SegmentInfo {
                    track_id: format!("t{f}"),
                    mix: "mix".into(),
                    split: "train".into(),
                    shard: path.clone(),
                    row: (b * n + k) as u32,
                    start_sample: 0,
                });
            }
        }
        w.finish()?;
    }
    let ds = vec![DatasetSegments {
        dataset: "bench".into(),
        weight: 1.0,
        segments,
    }];
    let cfg = StreamConfig {
        seed: 1,
        batch_size: batch,
        rank: 0,
        world: 1,
        prefetch: 2 * workers,
        workers,
        frames: frames as i64,
        bins: bins as i64,
        channels: 1,
        length: len as i64,
        open_files: 16,
    };
    let mut s = Stream::open(
        Sampler::new(&ds, None, 1).map_err(anyhow::Error::msg)?,
        cfg,
        0,
    );
    s.next_batch().map_err(anyhow::Error::msg)?;
    let t = Instant::now();
    for _ in 0..batches {
        s.next_batch().map_err(anyhow::Error::msg)?;
    }
    let secs = t.elapsed().as_secs_f64();
    let per_s = (batches * batch) as f64 / secs;
    let report = serde_json::json!({
        "profile": profile(), "batch": batch, "batches": batches, "workers": workers,
        "seconds": secs, "segments_per_s": per_s,
    });
    let lines = vec![format!(
        "{} build: {batches} batches of {batch} melspec segments with {workers} workers in {secs:.2} s = {per_s:.0} segments/s",
        profile()
    )];
    print_report(&report, json, &lines)?;
    Ok(ExitCode::SUCCESS)
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn bench_model_config(name: &str) -> anyhow::Result<amt_model::config::ModelConfig> {
    use crate::train::flags::{ModelFlags, TrainFlags};
    let s = |v: &str| Some(v.to_string());
    let ptf = ModelFlags {
        encoder_type: s("perceiver-tf"),
        audio_codec: s("spec"),
        hop_length: Some(300),
        attention_to_channel: s("1"),
        ..Default::default()
    };
    let multi = ModelFlags {
        task: s("mc13_full_plus_256"),
        decoder_type: s("multi-t5"),
        num_latents: Some(26),
        ..ptf.clone()
    };
    let flags = match name {
        "demo" => return Ok(amt_model::config::ModelConfig::demo().with_positions()),
        "ymt3+" => ModelFlags::default(),
        "yptf-single" => ptf,
        "yptf-multi" => multi,
        "yptf-moe-multi" => ModelFlags {
            sca_use_query_residual: s("1"),
            ff_layer_type: s("moe"),
            ff_widening_factor: Some(4),
            moe_num_experts: Some(8),
            moe_topk: Some(2),
            hidden_act: s("silu"),
            encoder_position_encoding_type: s("rope"),
            rope_partial_pe: s("1"),
            ..multi
        },
        other => anyhow::bail!(
            "--model {other}: expected demo, ymt3+, yptf-single, yptf-multi or yptf-moe-multi"
        ),
    };
    let plan = crate::train::resolve::resolve(&flags, &TrainFlags::default(), None)
        .map_err(anyhow::Error::msg)?;
    Ok(plan.model)
}

/// Forward + backward of YPTF.MoE+Multi's feed-forward on `tokens` tokens: the sorted
/// dispatch against the per-expert mask loop, interleaved, same weights and input; with the
/// router's random start (balanced) and with a router that sends most tokens to one expert
/// (skewed, as trained routers and correlated latents do).
fn moe(tokens: i64, repeat: usize, json: bool) -> anyhow::Result<ExitCode> {
    use amt_model::config::Activation;
    use amt_model::ffn::Moe;
    use tch::{Device, Kind, Tensor, nn};
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Moe::new(vs.root(), 128, 512, 8, 2, Activation::Silu);
    let balanced = Tensor::randn([tokens, 128], (Kind::Float, Device::Cpu));
    // A shared direction most tokens carry: the router's first choice is then mostly one
    // expert.
    let skewed = &balanced + Tensor::randn([1, 128], (Kind::Float, Device::Cpu)) * 4.0;
    let time = |x: &Tensor, sorted: bool| {
        let x = x.detach().set_requires_grad(true);
        let t = Instant::now();
        let y = if sorted {
            m.forward(&x)
        } else {
            m.forward_looped(&x)
        };
        y.square().sum(Kind::Float).backward();
        t.elapsed().as_secs_f64()
    };
    let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut rows = Vec::new();
    for (name, x) in [("balanced", &balanced), ("skewed", &skewed)] {
        let top = m.route(x).experts.select(1, 0);
        let busiest = top.bincount::<Tensor>(None, 8).max().int64_value(&[]) as f64 / tokens as f64;
        time(x, true);
        time(x, false);
        let (mut s, mut l) = (Vec::new(), Vec::new());
        for _ in 0..repeat.max(1) {
            s.push(time(x, true));
            l.push(time(x, false));
        }
        let (s, l) = (min(&s), min(&l));
        rows.push(serde_json::json!({
            "routing": name,
            "busiest_expert_share": busiest,
            "sorted_seconds": s,
            "looped_seconds": l,
            "speedup": l / s,
        }));
    }
    let out = serde_json::json!({
        "tokens": tokens,
        "experts": 8,
        "topk": 2,
        "threads": tch::get_num_threads(),
        "cases": rows,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for r in &rows {
            println!(
                "MoE forward+backward, {tokens} tokens, 8 experts top 2, {} threads, {} routing (busiest expert {:.0} % of first choices): sorted dispatch {:.4} s, per-expert masks {:.4} s ({:.2}x)",
                tch::get_num_threads(),
                r["routing"].as_str().unwrap_or(""),
                r["busiest_expert_share"].as_f64().unwrap_or(0.0) * 100.0,
                r["sorted_seconds"].as_f64().unwrap_or(0.0),
                r["looped_seconds"].as_f64().unwrap_or(0.0),
                r["speedup"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Pitch shift of `segments` 2.048 s segments per amount (-2, -1, +1, +2 semitones) on one
/// thread: segments per second.
fn pitch_shift(segments: usize, json: bool) -> anyhow::Result<ExitCode> {
    use amt_stages::audio::pitch_shift::pitch_shift;
    tch::set_num_threads(1);
    let n = amt_symbolic::tokenizer::SEGMENT_SAMPLES;
    // A chord of three partials with a little noise: a plausible segment.
    let seg: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            let s: f32 = [220.0f32, 277.2, 329.6]
                .iter()
                .map(|f| (2.0 * std::f32::consts::PI * f * t).sin() * 0.2)
                .sum();
            s + ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.01
        })
        .collect();
    pitch_shift(&seg, 2).map_err(anyhow::Error::msg)?;
    let start = Instant::now();
    let mut done = 0usize;
    for s in [-2, -1, 1, 2] {
        for _ in 0..segments.max(1) {
            let y = pitch_shift(&seg, s).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(y.len() == n, "pitch shift changed the length");
            done += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = done as f64 / secs;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "segments": done,
                "seconds": secs,
                "segments_per_second_per_thread": rate,
            }))?
        );
    } else {
        println!(
            "pitch shift: {done} segments of 2.048 s in {secs:.2} s on one thread: {rate:.1} segments/s ({:.0}x real time)",
            rate * 2.048
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A synthetic stem for the augmentation benchmarks: `len` samples of a tone at `pitch`, and
/// `count` notes every 0.25 s (rising a semitone each with `rising`; drums 10 ms long).
fn tone_stem(
    program: u8,
    is_drum: bool,
    pitch: u8,
    len: usize,
    count: usize,
    rising: bool,
) -> (Vec<f32>, Vec<amt_symbolic::Note>) {
    let f = 440.0 * 2f64.powf((f64::from(pitch) - 69.0) / 12.0);
    let samples = (0..len)
        .map(|t| (0.2 * (std::f64::consts::TAU * f * t as f64 / 16_000.0).sin()) as f32)
        .collect();
    let notes = (0..count)
        .map(|k| {
            let onset = k as f64 * 0.25;
            amt_symbolic::Note {
                is_drum,
                program: if is_drum { 128 } else { program },
                onset,
                offset: onset + if is_drum { 0.01 } else { 0.2 },
                pitch: pitch + if rising { k as u8 } else { 0 },
                velocity: 1,
            }
        })
        .collect();
    (samples, notes)
}

/// The augmented stream end to end: 8 generated tracks of 4 stems x 20 s (tones, a note every
/// 0.25 s per stem) in stem-audio files as the `stem` stage writes them, YourMT3's default
/// augmentation, `workers` threads; ready batches per second, with the melspec front-end in
/// the workers and with the audio handed over instead (the device's front-end).
fn augmented_stream(
    batch: usize,
    batches: usize,
    workers: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use crate::train::augment::AugmentPolicy;
    use crate::train::augmented::{AugmentedSource, DatasetAudio};
    use amt_model::stream::{
        DatasetSegments, Sampler, SegmentInfo, ShardReader, Stream, StreamConfig,
    };
    use amt_stages::audio::pcm::{PcmWriter, to_i16};
    use amt_stages::shards::{MixRef, StemRef, TrackAudioRefs};
    use std::collections::BTreeMap;
    use std::sync::Arc;
    let dir = tempfile::tempdir()?;
    let len = 20 * 16_000usize;
    let programs: [(u8, bool); 4] = [(0, false), (33, false), (128, true), (40, false)];
    let mut refs = BTreeMap::new();
    let mut notes = BTreeMap::new();
    let mut segments = Vec::new();
    for t in 0..8 {
        let track = format!("T{t}");
        let file = format!("{track}.arrow");
        let mut w = PcmWriter::new(fs_err::File::create(dir.path().join(&file))?)?;
        let mut stems = Vec::new();
        let mut groups = Vec::new();
        for (s, &(program, is_drum)) in programs.iter().enumerate() {
            let pitch = 40 + (t * 5 + s * 7) as u8 % 40;
            let (tone, stem_notes) = tone_stem(program, is_drum, pitch, len, 80, false);
            let b = w.push(tone.into_iter().map(to_i16).collect())?;
            let id = format!("S{s}");
            stems.push(StemRef {
                stem_id: id.clone(),
                program,
                is_drum,
                file: file.clone(),
                batch: b as u32,
                n_samples: len as u64,
            });
            groups.push((Some(id), stem_notes));
        }
        w.finish()?;
        refs.insert(
            track.clone(),
            TrackAudioRefs {
                stems,
                mixes: vec![MixRef {
                    name: "mix".into(),
                    file: file.clone(),
                    batch: 0,
                    n_samples: len as u64,
                }],
            },
        );
        notes.insert(track.clone(), groups);
        segments.push(SegmentInfo {
            track_id: track,
            mix: "mix".into(),
            split: "train".into(),
            shard: dir.path().join(&file),
            row: 0,
            start_sample: 0,
        });
    }
    let audio = Arc::new(DatasetAudio::new(dir.path().to_owned(), refs, &notes));
    let ds = [DatasetSegments {
        dataset: "bench".into(),
        weight: 1.0,
        segments,
    }];
    let task = amt_symbolic::tokenizer::Task::mt3_full_plus();
    let mut report = serde_json::json!({"batch": batch, "batches": batches, "workers": workers});
    let mut lines = vec![format!(
        "augmented stream, {workers} workers, batches of {batch}, YourMT3's default augmentation:"
    )];
    for in_stream in [true, false] {
        let cfg = StreamConfig {
            seed: 1,
            batch_size: batch,
            rank: 0,
            world: 1,
            prefetch: 2 * workers.max(1),
            workers: workers.max(1),
            frames: 256,
            bins: 512,
            channels: 1,
            length: 1024,
            open_files: 64,
        };
        let source = AugmentedSource {
            sampler: Arc::new(Sampler::new(&ds, None, 1).map_err(anyhow::Error::msg)?),
            audio: BTreeMap::from([("bench".to_string(), audio.clone())]),
            policy: AugmentPolicy::yourmt3(),
            task: task.clone(),
            codec: amt_model::frontend::Codec::Melspec,
            hop: 128,
            n_mels: 512,
            files: ShardReader::new(64),
            cfg: cfg.clone(),
            spectrogram_in_stream: in_stream,
        };
        let mut s = Stream::from_source(Arc::new(source), cfg.workers, cfg.prefetch, 0);
        s.next_batch().map_err(anyhow::Error::msg)?;
        let t = Instant::now();
        for _ in 0..batches.max(1) {
            s.next_batch().map_err(anyhow::Error::msg)?;
        }
        let rate = (batches.max(1) * batch) as f64 / t.elapsed().as_secs_f64();
        let key = if in_stream {
            "frontend_in_stream"
        } else {
            "frontend_on_device"
        };
        report[key] = serde_json::json!({"segments_per_s": rate});
        lines.push(format!(
            "  front-end {}: {rate:.1} segments/s",
            if in_stream {
                "in the workers"
            } else {
                "left to the device"
            }
        ));
    }
    print_report(&report, json, &lines)?;
    Ok(ExitCode::SUCCESS)
}

/// One training item's CPU work in the augmented stream, per phase, on one thread: YourMT3's
/// default augmentation (intra-stem, up to 3 externals, gains, pitch shift in -2..2) over
/// synthetic multi-stem segments held in memory, then the tokenizer and the front-end.
fn augment(segments: usize, stems: usize, json: bool) -> anyhow::Result<ExitCode> {
    use crate::train::augment::{AugmentPolicy, Rng, Source, StemAudio, augment, instrument};
    use crate::train::augmented::encode;
    use amt_symbolic::tokenizer::{SEGMENT_SAMPLES, Task};
    tch::set_num_threads(1);
    let task = Task::mt3_full_plus();
    let programs: [(u8, bool); 8] = [
        (0, false),
        (33, false),
        (0, true),
        (40, false),
        (24, false),
        (56, false),
        (73, false),
        (80, false),
    ];
    // Segment `i`: `stems` stems, each a tone with 8 notes over the 2.048 s.
    let source = |i: usize| -> Source {
        let mut notes = Vec::new();
        let mut audio = Vec::new();
        for (s, &(program, is_drum)) in programs.iter().cycle().skip(i % 8).take(stems).enumerate()
        {
            let pitch = 40 + ((i * 7 + s * 5) % 40) as u8;
            let (samples, stem_notes) =
                tone_stem(program, is_drum, pitch, SEGMENT_SAMPLES, 8, true);
            audio.push(StemAudio {
                instrument: Some(instrument(program, is_drum)),
                samples,
            });
            notes.extend(stem_notes);
        }
        amt_symbolic::sort_notes(&mut notes);
        Source {
            stems: audio,
            has_stems: true,
            unannotated: false,
            notes,
            window_start: 0.0,
            label: format!("bench{i}"),
        }
    };
    let pool: Vec<Source> = (0..32).map(source).collect();
    let n = segments.max(1);
    let run =
        |policy: &AugmentPolicy| -> anyhow::Result<(f64, Vec<crate::train::augment::Augmented>)> {
            let start = Instant::now();
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let mut rng = Rng::new(1, 1, i as u64);
                let mut j = 0;
                let item = augment(
                    pool[i % pool.len()].clone(),
                    policy,
                    &mut rng,
                    || {
                        j += 1;
                        Ok(pool[(i * 13 + j * 5) % pool.len()].clone())
                    },
                    |notes| encode(&task, notes, 0.0).is_ok_and(|e| e.truncated == 0),
                )
                .map_err(anyhow::Error::msg)?;
                out.push(item);
            }
            Ok((start.elapsed().as_secs_f64(), out))
        };
    let full = AugmentPolicy::yourmt3();
    let no_shift = AugmentPolicy {
        pitch_shift: (0, 0),
        ..full.clone()
    };
    let (mix_s, _) = run(&no_shift)?;
    let (aug_s, items) = run(&full)?;
    let t = Instant::now();
    for it in &items {
        encode(&task, &it.notes, it.window_start).map_err(anyhow::Error::msg)?;
    }
    let tok_s = t.elapsed().as_secs_f64();
    let fe = amt_model::frontend::FrontEnd::new(
        amt_model::frontend::Codec::Melspec,
        128,
        tch::Device::Cpu,
    );
    let t = Instant::now();
    for chunk in items.chunks(12) {
        let mut wave = Vec::with_capacity(chunk.len() * SEGMENT_SAMPLES);
        for it in chunk {
            wave.extend_from_slice(&it.audio);
        }
        let x = tch::Tensor::from_slice(&wave).view([chunk.len() as i64, SEGMENT_SAMPLES as i64]);
        let _ = fe.forward(&x);
    }
    let fe_s = t.elapsed().as_secs_f64();
    let externals: usize = items.iter().map(|i| i.externals).sum();
    let rate = |s: f64| n as f64 / s;
    let total = aug_s + tok_s + fe_s;
    let report = serde_json::json!({
        "segments": n,
        "stems_per_segment": stems,
        "mean_externals": externals as f64 / n as f64,
        "per_thread_segments_per_second": {
            "mix_without_pitch_shift": rate(mix_s),
            "augment_with_pitch_shift": rate(aug_s),
            "tokenize": rate(tok_s),
            "frontend_melspec": rate(fe_s),
            "all": rate(total),
            "all_but_frontend": rate(aug_s + tok_s),
        },
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "augment: {n} segments of {stems} stems (mean {:.2} externals), one thread, segments/s: \
             mixing {:.1}, + pitch shift {:.1}, tokenize {:.0}, melspec front-end {:.1}; all {:.1} \
             ({:.1} with the front-end on the GPU)",
            externals as f64 / n as f64,
            rate(mix_s),
            rate(aug_s),
            rate(tok_s),
            rate(fe_s),
            rate(total),
            rate(aug_s + tok_s),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `amt bench train`.
fn train_steps(what: &BenchWhat, json: bool) -> anyhow::Result<ExitCode> {
    use amt_model::optim::{Adam, AdamConfig, OptimizerKind, clip_grad_norm};
    let BenchWhat::Train {
        model,
        batch,
        steps,
        optimizer,
        device,
        bf16,
        ddp_overlap,
        ..
    } = what
    else {
        unreachable!("called for `bench train`")
    };
    let (batch, steps, bf16) = (*batch, *steps, *bf16);
    use tch::{Kind, Tensor, nn};
    let cfg = bench_model_config(model)?;
    let device = crate::train::parse_device(Some(device))?;
    let overlap = crate::train::overlap_on(ddp_overlap, device);
    let kind = OptimizerKind::parse(optimizer)
        .ok_or_else(|| anyhow::anyhow!("--optimizer {optimizer}: expected adamw or adamwscale"))?;
    // Under `amt launch`: every rank steps its own batch and gradients are all-reduced.
    let dist = join_bench_job()?;
    tch::manual_seed(0);
    let vs = nn::VarStore::new(device);
    let m = amt_model::ymt3::Ymt3::new(&vs.root(), &cfg).map_err(anyhow::Error::msg)?;
    let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let mut opt = Adam::new(AdamConfig::yourmt3(kind));
    let mut sync_times = Vec::new();
    let mut overlapped: Option<amt_dist::OverlappedGrads> = None;
    let mut sent_early = 0usize;
    let spec = Tensor::randn([batch, cfg.feat_length, cfg.d_feat], (Kind::Float, device));
    // Half-padded targets: the first half random tokens, then EOS, then PAD.
    // (B, C, L) for multi-channel decoders: every channel half-padded.
    let half = cfg.event_length / 2;
    let rows = batch * cfg.num_channels;
    let labels = Tensor::zeros([rows, cfg.event_length], (Kind::Int64, device));
    labels.narrow(1, 0, half).copy_(&Tensor::randint_low(
        2,
        cfg.vocab_size,
        [rows, half],
        (Kind::Int64, device),
    ));
    let _ = labels.narrow(1, half, 1).fill_(1);
    let labels = if cfg.num_channels > 1 {
        labels.view([batch, cfg.num_channels, cfg.event_length])
    } else {
        labels
    };
    let mut times = Vec::new();
    for i in 0..=steps {
        let t = Instant::now();
        for (_, p) in &params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let f = amt_model::amp::bf16_autocast(bf16, || m.forward(&spec, &labels, true));
        // As the trainer does: the warm-up step watches the gradients' order, the timed
        // steps all-reduce buckets during the pass.
        let watch = match (&dist, &overlapped) {
            (Some(_), None) if overlap => {
                Some(amt_dist::GradOrderWatch::new(&params).map_err(anyhow::Error::msg)?)
            }
            _ => None,
        };
        f.loss.backward();
        if let Some(d) = &dist {
            let s = match &overlapped {
                Some(o) => d.finish_grads(o)?,
                None => d.all_reduce_grads(&params, amt_dist::DEFAULT_BUCKET_BYTES)?,
            };
            if i > 0 {
                sync_times.push(s.seconds);
                sent_early += s.sent_during_backward;
            }
            if let Some(w) = watch {
                overlapped = Some(d.overlap_grads(&params, w, amt_dist::DEFAULT_BUCKET_BYTES)?);
            }
        }
        clip_grad_norm(&params, 1.0);
        opt.step(&params, 1e-3);
        let _ = f.loss.double_value(&[]);
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let rss = peak_rss().unwrap_or(0);
    let out = serde_json::json!({
        "model": model,
        "params": amt_model::ymt3::trainable_params(&vs),
        "batch": batch,
        "event_length": cfg.event_length,
        "channels": cfg.num_channels,
        "optimizer": optimizer,
        "device": format!("{device:?}"),
        "threads": tch::get_num_threads(),
        "seconds_per_step": mean,
        "steps": times.len(),
        "peak_rss_bytes": rss,
        "world_size": dist.as_ref().map_or(1, |d| d.world),
        "allreduce_seconds_per_step": (!sync_times.is_empty())
            .then(|| sync_times.iter().sum::<f64>() / sync_times.len() as f64),
        "ddp_overlap": dist.is_some() && overlap,
        "buckets_sent_during_backward_per_step": (!sync_times.is_empty())
            .then(|| sent_early as f64 / sync_times.len() as f64),
    });
    if dist.as_ref().is_some_and(|d| d.rank > 0) {
        return Ok(ExitCode::SUCCESS);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "train {model} ({} params), batch {batch}, {} threads, {optimizer}: {mean:.3} s/step (mean of {}), peak RSS {:.2} GB{}",
            out["params"],
            tch::get_num_threads(),
            times.len(),
            rss as f64 / 1e9,
            match out["allreduce_seconds_per_step"].as_f64() {
                Some(s) => format!(
                    "; {} ranks, waiting for the gradient all-reduce {s:.3} s/step ({})",
                    out["world_size"],
                    if overlap {
                        "overlapped with the backward pass"
                    } else {
                        "after the backward pass"
                    }
                ),
                None => String::new(),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The data-parallel job this bench runs in (`amt launch`), if any.
fn join_bench_job() -> anyhow::Result<Option<amt_dist::Dist>> {
    match amt_dist::Launch::from_env().map_err(anyhow::Error::msg)? {
        Some(l) if l.world > 1 => Ok(Some(amt_dist::Dist::init(
            &l,
            amt_dist::Dist::timeout_from_env().map_err(anyhow::Error::msg)?,
        )?)),
        _ => Ok(None),
    }
}

/// Times the gradient all-reduce of `params` float32 values (as one model's gradients, in
/// buckets) across the ranks of the job; rank 0 reports.
fn allreduce(params: i64, bucket_mb: f64, repeat: usize, json: bool) -> anyhow::Result<ExitCode> {
    use tch::{Kind, Tensor};
    let Some(d) = join_bench_job()? else {
        anyhow::bail!(
            "`amt bench allreduce` needs ranks to talk to: run it as `amt launch --nproc 2 -- bench allreduce`"
        );
    };
    // Gradients of one flat "parameter" per 4 MiB, so that buckets hold several.
    let chunk = 1 << 20;
    let mut grads = Vec::new();
    let mut left = params;
    let mut i = 0;
    while left > 0 {
        let n = left.min(chunk);
        let p = Tensor::zeros([n], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        (&p * (d.rank as f64 + 1.0)).sum(Kind::Float).backward();
        grads.push((format!("p{i:05}"), p));
        left -= n;
        i += 1;
    }
    let bucket = (bucket_mb * (1 << 20) as f64).max(1.0) as usize;
    let mut times = Vec::new();
    let mut bytes = 0;
    for r in 0..=repeat {
        let s = d.all_reduce_grads(&grads, bucket)?;
        bytes = s.bytes;
        if r > 0 {
            times.push(s.seconds);
        }
    }
    // Each rank's gradient was rank + 1: the mean is (world + 1) / 2 everywhere.
    let want = (d.world as f64 + 1.0) / 2.0;
    let got = grads[0].1.grad().mean(Kind::Float).double_value(&[]);
    anyhow::ensure!(
        (got - want).abs() < 1e-6,
        "all-reduce gave {got}, expected {want}"
    );
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    // Ring all-reduce moves 2 (n - 1) / n of the data through each rank.
    let algo_gbps = bytes as f64 / median / 1e9;
    let bus_gbps = algo_gbps * 2.0 * (d.world as f64 - 1.0) / d.world as f64;
    if d.rank == 0 {
        let out = serde_json::json!({
            "world_size": d.world,
            "bytes": bytes,
            "bucket_bytes": bucket,
            "seconds_median": median,
            "algorithm_gb_per_s": algo_gbps,
            "bus_gb_per_s": bus_gbps,
        });
        if json {
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            println!(
                "all-reduce of {:.1} MB over {} ranks ({} MiB buckets): {median:.3} s (median of {}), {algo_gbps:.2} GB/s algorithm, {bus_gbps:.2} GB/s bus",
                bytes as f64 / 1e6,
                d.world,
                bucket_mb,
                times.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn decode(model: &str, batch: i64, tokens: i64, json: bool) -> anyhow::Result<ExitCode> {
    use tch::{Kind, Tensor, nn};
    let mut cfg = bench_model_config(model)?;
    cfg.event_length = cfg.event_length.max(tokens);
    let cfg = cfg.with_positions();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let m = amt_model::ymt3::Ymt3::new(&vs.root(), &cfg).map_err(anyhow::Error::msg)?;
    // An untrained model rarely emits EOS: every sequence runs the full length.
    let spec = Tensor::randn(
        [batch, cfg.feat_length, cfg.d_feat],
        (Kind::Float, tch::Device::Cpu),
    );
    let t = Instant::now();
    let cached = m.generate(&spec, tokens);
    let cached_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let uncached = m.generate_uncached(&spec, tokens);
    let uncached_s = t.elapsed().as_secs_f64();
    let generated = (batch * tokens) as f64;
    let out = serde_json::json!({
        "model": model,
        "batch": batch,
        "tokens": tokens,
        "cached_tokens_per_second": generated / cached_s,
        "uncached_tokens_per_second": generated / uncached_s,
        "speedup": uncached_s / cached_s,
        "identical": cached.equal(&uncached),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "decode {model}, batch {batch} x {tokens} tokens: KV cache {:.0} tokens/s, without {:.0} tokens/s ({:.1}x); identical: {}",
            generated / cached_s,
            generated / uncached_s,
            uncached_s / cached_s,
            out["identical"]
        );
    }
    Ok(ExitCode::SUCCESS)
}
