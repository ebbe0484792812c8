//! PyTorch (Lightning) checkpoints read as data: the zip that `torch.save` writes
//! (`<name>/data.pkl` plus one file per storage under `<name>/data/`), its pickle read by
//! [`crate::pickle`] (nothing executed), and the model's state dict turned into tensors.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use tch::{Kind, Tensor};

use crate::pickle::{self, TensorRef, Value};

/// A checkpoint's pickle and where its storages are.
pub struct TorchCheckpoint {
    archive: zip::ZipArchive<File>,
    /// The folder inside the zip (`archive/`, `last/`...).
    prefix: String,
    pub root: Value,
}

fn kind_of(storage: &str) -> Result<(Kind, usize), String> {
    Ok(match storage {
        "FloatStorage" => (Kind::Float, 4),
        "HalfStorage" => (Kind::Half, 2),
        "BFloat16Storage" => (Kind::BFloat16, 2),
        "DoubleStorage" => (Kind::Double, 8),
        "LongStorage" => (Kind::Int64, 8),
        "IntStorage" => (Kind::Int, 4),
        "ShortStorage" => (Kind::Int16, 2),
        "CharStorage" => (Kind::Int8, 1),
        "ByteStorage" => (Kind::Uint8, 1),
        "BoolStorage" => (Kind::Bool, 1),
        other => return Err(format!("tensors of `{other}` are not supported")),
    })
}

impl TorchCheckpoint {
    /// Opens `path` and reads its pickle (`allowed`: extra globals to accept as inert data).
    pub fn open(path: &Path, allowed: &[String]) -> Result<TorchCheckpoint, String> {
        let file = File::open(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| {
            format!(
                "`{}` is not a zip-format PyTorch checkpoint ({e}); re-save it with torch.save (PyTorch 1.6 or later writes zip files)",
                path.display()
            )
        })?;
        let pkl = (0..archive.len())
            .filter_map(|i| {
                archive
                    .name_for_index(i)
                    .and_then(|r| r.ok())
                    .map(|n| n.to_string())
            })
            .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
            .ok_or_else(|| {
                format!(
                    "`{}` is a zip without `<name>/data.pkl`: not a PyTorch checkpoint",
                    path.display()
                )
            })?;
        let prefix = pkl.trim_end_matches("data.pkl").to_string();
        let mut bytes = Vec::new();
        archive
            .by_name(&pkl)
            .and_then(|mut f| f.read_to_end(&mut bytes).map_err(Into::into))
            .map_err(|e| format!("`{}`: reading {pkl}: {e}", path.display()))?;
        let root =
            pickle::read(&bytes, allowed).map_err(|e| format!("`{}`: {e}", path.display()))?;
        Ok(TorchCheckpoint {
            archive,
            prefix,
            root,
        })
    }

    /// The model's state dict: Lightning's `state_dict` entry, or the root itself when it is
    /// a dict of tensors.
    pub fn state_dict(&self) -> Result<Vec<(String, TensorRef)>, String> {
        let sd = match self.root.get("state_dict") {
            Some(v) => v,
            None => &self.root,
        };
        let Value::Dict(pairs) = sd else {
            return Err("the checkpoint holds no state dict".into());
        };
        let mut out = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let Some(name) = k.as_str() else {
                return Err(format!("a state-dict key that is not a string: {k:?}"));
            };
            match v {
                Value::Tensor(t) => out.push((name.to_string(), t.clone())),
                other => {
                    return Err(format!(
                        "state-dict entry `{name}` is not a tensor ({})",
                        describe(other)
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The tensor `t`, read from its storage file (a copy, contiguous).
    pub fn tensor(&mut self, t: &TensorRef) -> Result<Tensor, String> {
        let (kind, size) = kind_of(&t.dtype)?;
        let name = format!("{}data/{}", self.prefix, t.key);
        let mut f = self
            .archive
            .by_name(&name)
            .map_err(|e| format!("storage `{name}`: {e}"))?;
        let want = t.storage_numel as u64 * size as u64;
        if f.size() != want {
            return Err(format!(
                "storage `{name}` has {} bytes, its tensors say {want} (truncated or damaged file)",
                f.size()
            ));
        }
        let mut bytes = vec![0u8; want as usize];
        f.read_exact(&mut bytes)
            .map_err(|e| format!("storage `{name}`: {e}"))?;
        let needed = t
            .shape
            .iter()
            .zip(&t.stride)
            .map(|(&n, &s)| (n - 1).max(0) * s)
            .sum::<i64>()
            + t.offset
            + 1;
        if t.shape.contains(&0) {
            return Ok(Tensor::zeros(t.shape.as_slice(), (kind, tch::Device::Cpu)));
        }
        if needed > t.storage_numel || t.stride.iter().any(|&s| s < 0) {
            return Err(format!(
                "tensor over storage `{name}` reaches past its {} elements",
                t.storage_numel
            ));
        }
        let flat = Tensor::from_data_size(&bytes, &[t.storage_numel], kind);
        Ok(flat
            .as_strided(t.shape.as_slice(), t.stride.as_slice(), t.offset)
            .contiguous())
    }
}

/// A short description of a value, for errors.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Object { class, .. } => format!("an object of `{class}`"),
        Value::Dict(d) => format!("a dict of {} entries", d.len()),
        Value::List(l) => format!("a list of {}", l.len()),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}
