//! NumPy `.npy` files (format 1.0, little-endian, C order): what `amt features` and `amt model
//! forward` write, and what golden values and `--waveform-npy` inputs are read from.

use std::io::Write;
use std::path::Path;

/// An element type of an `.npy` file.
pub trait Element: Copy {
    const DESCR: &'static str;
    const SIZE: usize;
    fn write_le(self, out: &mut Vec<u8>);
    fn read_le(bytes: &[u8]) -> Self;
}

macro_rules! element {
    ($t:ty, $descr:literal) => {
        impl Element for $t {
            const DESCR: &'static str = $descr;
            const SIZE: usize = std::mem::size_of::<$t>();
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element size"))
            }
        }
    };
}

element!(f32, "<f4");
element!(f64, "<f8");
element!(i64, "<i8");
element!(i32, "<i4");
element!(u16, "<u2");

/// Writes `data` with `shape` to `path`.
pub fn write<T: Element>(path: &Path, shape: &[usize], data: &[T]) -> std::io::Result<()> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(std::io::Error::other(format!(
            "{} values for shape {shape:?}",
            data.len()
        )));
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if shape.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}",
        T::DESCR
    );
    // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + n * T::SIZE);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        v.write_le(&mut out);
    }
    let mut f = std::fs::File::create(path)?;
    f.write_all(&out)?;
    f.sync_all()
}

/// Reads an array of `T` and its shape; the file's dtype must be `T`'s.
pub fn read<T: Element>(path: &Path) -> Result<(Vec<usize>, Vec<T>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let bad = |why: &str| format!("`{}` is not a readable .npy file: {why}", path.display());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        _ => return Err(bad("unknown version")),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + header_len)
            .ok_or_else(|| bad("cut header"))?,
    )
    .map_err(|_| bad("header is not text"))?;
    let field = |name: &str| -> Option<&str> {
        let i = header.find(&format!("'{name}'"))? + name.len() + 3;
        Some(header[i..].trim_start_matches([':', ' ']))
    };
    let descr = field("descr").ok_or_else(|| bad("no descr"))?;
    if !descr.starts_with(&format!("'{}'", T::DESCR)) {
        return Err(bad(&format!(
            "dtype {} but {} was expected",
            descr.split(',').next().unwrap_or(""),
            T::DESCR
        )));
    }
    if field("fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(bad("Fortran order is not supported"));
    }
    let shape_text = field("shape").ok_or_else(|| bad("no shape"))?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("bad shape"))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let data_start = start + header_len;
    let data = bytes
        .get(data_start..data_start + n * T::SIZE)
        .ok_or_else(|| bad("fewer values than its shape says"))?;
    Ok((shape, data.chunks_exact(T::SIZE).map(T::read_le).collect()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        super::write(&p, &[2, 3], &[1f32, 2., 3., 4., 5., 6.]).unwrap();
        let (shape, v) = super::read::<f32>(&p).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(v, vec![1., 2., 3., 4., 5., 6.]);
        assert!(super::read::<i64>(&p).unwrap_err().contains("dtype"));
        super::write(&p, &[4], &[1i64, 2, 3, 4]).unwrap();
        assert_eq!(super::read::<i64>(&p).unwrap().0, vec![4]);
    }
}
