//! Writing a 10-million-row table keeps peak memory bounded: the writer holds one row group,
//! never the table. Alone in its test binary, so that the process's peak RSS is this test's.

use std::collections::BTreeMap;
use std::sync::Arc;

use amt_cache::{KeySpec, Slot, Store};
use arrow::array::{Float64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

/// Peak resident set size of this process so far (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn ten_million_rows_in_bounded_memory() {
    const ROWS: u64 = 10_000_000;
    const BATCH: u64 = 65_536;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = KeySpec {
        stage: "big".into(),
        version: 1,
        config: serde_json::json!({}),
        inputs: BTreeMap::new(),
    }
    .key();
    let schema = Arc::new(Schema::new(vec![
        Field::new("dataset", DataType::Utf8, false),
        Field::new("id", DataType::UInt64, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let w = store.begin("big", &Slot::dataset("d"), &key).unwrap();
    let mut t = w.table("big", schema.clone()).unwrap();
    let mut start = 0;
    while start < ROWS {
        let n = BATCH.min(ROWS - start);
        let ids: Vec<u64> = (start..start + n).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["d"; n as usize])),
                Arc::new(UInt64Array::from(ids.clone())),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|&i| i as f64 * 0.5),
                )),
            ],
        )
        .unwrap();
        t.write(&batch).unwrap();
        start += n;
    }
    let entry = t.finish().unwrap();
    assert_eq!(entry.rows, Some(ROWS));
    let a = w
        .commit(1, BTreeMap::new(), serde_json::json!({}), false)
        .unwrap();
    assert_eq!(a.manifest.table_rows()["big"], ROWS);
    let peak = peak_rss();
    assert!(peak < 300 << 20, "peak RSS {} MB", peak >> 20);
    // The hash recorded while writing is the file's.
    assert!(store.verify(&a).is_empty());
}
