//! Memory-mapped Arrow IPC shard files: the only `unsafe` of the training stream.
//!
//! A shard is mapped once and its record batches decoded zero-copy (arrow's `FileDecoder`
//! over the mapping), so reading a segment touches only that segment's pages.

#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::ipc::convert::fb_to_schema;
use arrow::ipc::reader::{FileDecoder, read_footer_length};
use arrow::ipc::root_as_footer;

/// The record batches of one shard file, backed by its mapping.
pub struct MappedShard {
    pub path: PathBuf,
    pub batches: Vec<RecordBatch>,
    /// First row of each batch (rows are counted over the whole file).
    pub offsets: Vec<usize>,
}

impl MappedShard {
    /// Maps `path` read-only and decodes its batches without copying.
    pub fn open(path: &Path) -> Result<MappedShard, String> {
        let bad = |why: String| format!("shard `{}`: {why}", path.display());
        let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        // SAFETY: shard files are published artifacts: immutable once their folder is
        // renamed into `artifacts/`, never written again (a rebuild writes a new key's
        // folder), and `gc` never removes what a live process pins (the stream's caller pins
        // them). So the mapped bytes cannot change or vanish while the map is alive. A
        // reader that bypassed the store and truncated the file could make a read fault;
        // that would be outside amt's contract.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| bad(e.to_string()))?;
        let buffer = Buffer::from(bytes::Bytes::from_owner(mmap));
        let len = buffer.len();
        if len < 10 {
            return Err(bad("too short to be an Arrow IPC file".into()));
        }
        let trailer: [u8; 10] = buffer[len - 10..].try_into().expect("10 bytes");
        let footer_len = read_footer_length(trailer).map_err(|e| bad(e.to_string()))?;
        let footer_start = len
            .checked_sub(10 + footer_len)
            .ok_or_else(|| bad("its footer is longer than the file".into()))?;
        let footer =
            root_as_footer(&buffer[footer_start..len - 10]).map_err(|e| bad(e.to_string()))?;
        let schema = fb_to_schema(footer.schema().ok_or_else(|| bad("no schema".into()))?);
        let mut decoder = FileDecoder::new(Arc::new(schema), footer.version());
        for block in footer.dictionaries().iter().flatten() {
            let block_len = block.bodyLength() as usize + block.metaDataLength() as usize;
            let data = buffer.slice_with_length(block.offset() as usize, block_len);
            decoder
                .read_dictionary(block, &data)
                .map_err(|e| bad(e.to_string()))?;
        }
        let mut batches = Vec::new();
        let mut offsets = Vec::new();
        let mut rows = 0;
        for block in footer.recordBatches().iter().flatten() {
            let block_len = block.bodyLength() as usize + block.metaDataLength() as usize;
            if block.offset() as usize + block_len > len {
                return Err(bad("a record batch lies past the end of the file".into()));
            }
            let data = buffer.slice_with_length(block.offset() as usize, block_len);
            let batch = decoder
                .read_record_batch(block, &data)
                .map_err(|e| bad(e.to_string()))?
                .ok_or_else(|| bad("an empty record batch block".into()))?;
            offsets.push(rows);
            rows += batch.num_rows();
            batches.push(batch);
        }
        Ok(MappedShard {
            path: path.to_owned(),
            batches,
            offsets,
        })
    }

    /// (batch, row within it) of file row `row`.
    pub fn locate(&self, row: usize) -> Option<(&RecordBatch, usize)> {
        let i = self.offsets.partition_point(|&o| o <= row).checked_sub(1)?;
        let b = &self.batches[i];
        let r = row - self.offsets[i];
        (r < b.num_rows()).then_some((b, r))
    }
}
