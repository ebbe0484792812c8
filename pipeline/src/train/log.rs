//! Where a training run's numbers go: the `train_metrics` table (Parquet parts under
//! `runs/<id>/metrics/`, queryable with `amt sql` while the run trains) and TensorBoard event
//! files under `runs/<id>/tensorboard/`.
//!
//! Parts are named `part-<first step>-<last step>.parquet` and published atomically. A resumed
//! run first drops what the killed process logged after the checkpoint it resumes from, so each
//! (step, metric) appears once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use amt_schemas::train_metrics::{TrainMetricRow, TrainMetricsBuilder};
use anyhow::Context as _;

const METRICS_DIR: &str = "metrics";
const TENSORBOARD_DIR: &str = "tensorboard";

/// How `-wb` (YourMT3's wandb mode) maps onto what amt writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogMode {
    /// `online` and `offline`: the table and TensorBoard event files (amt never uploads).
    TableAndTensorboard,
    /// `disabled`: the table only.
    TableOnly,
}

impl LogMode {
    pub fn parse(s: &str) -> Option<LogMode> {
        match s {
            "online" | "offline" => Some(LogMode::TableAndTensorboard),
            "disabled" => Some(LogMode::TableOnly),
            _ => None,
        }
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The metric parts of a run folder with their row counts, by first step.
pub fn metric_parts(run_dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out: Vec<(i64, PathBuf, u64)> = Vec::new();
    let Ok(rd) = std::fs::read_dir(run_dir.join(METRICS_DIR)) else {
        return Vec::new();
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((first, _)) = part_range(&name) else {
            continue;
        };
        let rows = std::fs::File::open(e.path())
            .ok()
            .and_then(|f| {
                parquet::file::reader::SerializedFileReader::new(f)
                    .ok()
                    .map(|r| {
                        use parquet::file::reader::FileReader;
                        r.metadata().file_metadata().num_rows() as u64
                    })
            })
            .unwrap_or(0);
        out.push((first, e.path(), rows));
    }
    out.sort();
    out.into_iter().map(|(_, p, r)| (p, r)).collect()
}

fn part_range(name: &str) -> Option<(i64, i64)> {
    let (a, b) = name
        .strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// One logged value.
#[derive(Debug, Clone)]
struct Row {
    step: i64,
    metric: String,
    value: f64,
    time_us: i64,
}

/// The run's metric log: rows buffered, written as a part on [`MetricsLog::flush`].
pub struct MetricsLog {
    run: String,
    dir: PathBuf,
    rows: Vec<Row>,
    tensorboard: Option<EventWriter>,
    /// Logs nothing (the ranks other than 0 of a data-parallel run).
    off: bool,
}

impl MetricsLog {
    /// A log that writes nothing: only rank 0 of a data-parallel run logs.
    pub fn off() -> MetricsLog {
        MetricsLog {
            run: String::new(),
            dir: PathBuf::new(),
            rows: Vec::new(),
            tensorboard: None,
            off: true,
        }
    }

    /// Opens the log of run folder `run_dir`, dropping what was logged after `resume_step`.
    pub fn open(
        run: &str,
        run_dir: &Path,
        mode: LogMode,
        resume_step: i64,
    ) -> anyhow::Result<MetricsLog> {
        let dir = run_dir.join(METRICS_DIR);
        fs_err::create_dir_all(&dir)?;
        for (path, _) in metric_parts(run_dir) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let (first, last) = part_range(&name).expect("listed parts parse");
            if first > resume_step {
                fs_err::remove_file(&path)?;
            } else if last > resume_step {
                truncate_part(&path, run, resume_step)?;
            }
        }
        let tensorboard = match mode {
            LogMode::TableAndTensorboard => Some(EventWriter::create(
                &run_dir.join(TENSORBOARD_DIR),
                resume_step,
            )?),
            LogMode::TableOnly => None,
        };
        Ok(MetricsLog {
            run: run.to_string(),
            dir,
            rows: Vec::new(),
            tensorboard,
            off: false,
        })
    }

    pub fn log(&mut self, step: i64, metric: &str, value: f64) -> anyhow::Result<()> {
        if self.off {
            return Ok(());
        }
        let time_us = now_us();
        if let Some(tb) = &mut self.tensorboard {
            tb.scalar(step, metric, value, time_us)?;
        }
        self.rows.push(Row {
            step,
            metric: metric.to_string(),
            value,
            time_us,
        });
        Ok(())
    }

    /// Publishes the buffered rows as one part (and flushes the event file).
    pub fn flush(&mut self) -> anyhow::Result<()> {
        if let Some(tb) = &mut self.tensorboard {
            tb.flush()?;
        }
        if self.rows.is_empty() {
            return Ok(());
        }
        let first = self.rows.iter().map(|r| r.step).min().unwrap_or(0);
        let last = self.rows.iter().map(|r| r.step).max().unwrap_or(0);
        let path = self.dir.join(format!("part-{first:09}-{last:09}.parquet"));
        write_part(&path, &self.run, &self.rows)?;
        self.rows.clear();
        Ok(())
    }
}

fn write_part(path: &Path, run: &str, rows: &[Row]) -> anyhow::Result<()> {
    let mut b = TrainMetricsBuilder::new();
    for r in rows {
        b.push(&TrainMetricRow {
            run,
            step: r.step,
            metric: &r.metric,
            value: amt_schemas::eval::finite(r.value),
            time: r.time_us,
        });
    }
    let batch = b.finish();
    let tmp = path.with_extension("parquet.tmp");
    {
        let file = fs_err::File::create(&tmp)?;
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
        w.write(&batch)?;
        let file = w.into_inner()?;
        file.sync_all()?;
    }
    fs_err::rename(&tmp, path)?;
    Ok(())
}

/// Rewrites a part keeping the rows up to `last_step`.
fn truncate_part(path: &Path, run: &str, last_step: i64) -> anyhow::Result<()> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
    let file = fs_err::File::open(path)?.into_parts().0;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .with_context(|| format!("reading metrics part `{}`", path.display()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let b = batch?;
        let step = b.column(1).as_primitive::<Int64Type>();
        let metric = b.column(2).as_string::<i32>();
        let value = b.column(3).as_primitive::<Float64Type>();
        let time = b.column(4).as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            if step.value(i) <= last_step {
                rows.push(Row {
                    step: step.value(i),
                    metric: metric.value(i).to_string(),
                    value: if value.is_valid(i) {
                        value.value(i)
                    } else {
                        f64::NAN
                    },
                    time_us: time.value(i),
                });
            }
        }
    }
    let (first, _) =
        part_range(&path.file_name().unwrap_or_default().to_string_lossy()).expect("a part name");
    fs_err::remove_file(path)?;
    if !rows.is_empty() {
        let last = rows.iter().map(|r| r.step).max().unwrap_or(first);
        let out = path.with_file_name(format!("part-{first:09}-{last:09}.parquet"));
        write_part(&out, run, &rows)?;
    }
    Ok(())
}

/// TensorBoard's event file: TFRecord framing (length, masked CRC-32C of the length, data,
/// masked CRC-32C of the data) around `Event` protocol buffers, encoded by hand (three
/// message types, a handful of fields).
pub struct EventWriter {
    file: std::io::BufWriter<std::fs::File>,
}

impl EventWriter {
    /// A new event file in `dir`; on a resume (`start_step` > 0) it begins with a
    /// `SessionLog START` at that step, which tells TensorBoard to discard the killed
    /// process's values after it.
    pub fn create(dir: &Path, start_step: i64) -> anyhow::Result<EventWriter> {
        fs_err::create_dir_all(dir)?;
        let secs = now_us() as f64 / 1e6;
        let path = dir.join(format!(
            "events.out.tfevents.{}.amt.{}",
            secs as i64,
            std::process::id()
        ));
        let file = fs_err::File::create(&path)?.into_parts().0;
        let mut w = EventWriter {
            file: std::io::BufWriter::new(file),
        };
        // Event { wall_time = 1, file_version = 3 }
        let mut ev = Vec::new();
        proto_double(&mut ev, 1, secs);
        proto_bytes(&mut ev, 3, b"brain.Event:2");
        w.record(&ev)?;
        if start_step > 0 {
            // Event { wall_time, step, session_log = 6 { status = 1 (START) } }
            let mut ev = Vec::new();
            proto_double(&mut ev, 1, secs);
            proto_varint_field(&mut ev, 2, start_step as u64);
            let mut log = Vec::new();
            proto_varint_field(&mut log, 1, 1);
            proto_bytes(&mut ev, 6, &log);
            w.record(&ev)?;
        }
        Ok(w)
    }

    pub fn scalar(&mut self, step: i64, tag: &str, value: f64, time_us: i64) -> anyhow::Result<()> {
        // Summary.Value { tag = 1, simple_value = 2 (float) }
        let mut v = Vec::new();
        proto_bytes(&mut v, 1, tag.as_bytes());
        v.push((2 << 3) | 5);
        v.extend_from_slice(&(value as f32).to_le_bytes());
        // Summary { value = 1 }
        let mut summary = Vec::new();
        proto_bytes(&mut summary, 1, &v);
        // Event { wall_time = 1, step = 2, summary = 5 }
        let mut ev = Vec::new();
        proto_double(&mut ev, 1, time_us as f64 / 1e6);
        proto_varint_field(&mut ev, 2, step as u64);
        proto_bytes(&mut ev, 5, &summary);
        self.record(&ev)
    }

    fn record(&mut self, data: &[u8]) -> anyhow::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.file.write_all(&len)?;
        self.file.write_all(&masked_crc(&len).to_le_bytes())?;
        self.file.write_all(data)?;
        self.file.write_all(&masked_crc(data).to_le_bytes())?;
        Ok(())
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.file.flush()?;
        Ok(())
    }
}

fn proto_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn proto_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    proto_varint(out, field << 3);
    proto_varint(out, v);
}

fn proto_double(out: &mut Vec<u8>, field: u64, v: f64) {
    proto_varint(out, (field << 3) | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn proto_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    proto_varint(out, (field << 3) | 2);
    proto_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// CRC-32C (Castagnoli), bitwise: event records are small and few.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    c.rotate_right(15).wrapping_add(0xA282_EAD8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The CRC-32C check value of "123456789" (RFC 3720 and every CRC catalogue).
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn a_resume_drops_what_was_logged_after_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open("r", dir.path(), LogMode::TableOnly, 0).unwrap();
        for step in 1..=10 {
            log.log(step, "train/loss", step as f64).unwrap();
            if step % 4 == 0 {
                log.flush().unwrap();
            }
        }
        log.flush().unwrap();
        let rows = |d: &Path| -> u64 { metric_parts(d).iter().map(|(_, r)| r).sum() };
        assert_eq!(rows(dir.path()), 10);
        drop(log);
        // Resume from step 6: part 1-4 stays, 5-8 is cut to 5-6, 9-10 goes.
        let _log = MetricsLog::open("r", dir.path(), LogMode::TableOnly, 6).unwrap();
        let parts = metric_parts(dir.path());
        assert_eq!(rows(dir.path()), 6);
        let names: Vec<String> = parts
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "part-000000001-000000004.parquet",
                "part-000000005-000000006.parquet"
            ]
        );
    }
}
