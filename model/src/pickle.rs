//! A pickle reader that only reads: the opcodes `torch.save` writes (protocols 2 to 5) become
//! plain values, and no callable is ever called. A global is kept as a name; what calling it
//! would have built is an inert [`Value::Object`], except for the handful whose meaning is data
//! (`OrderedDict`, torch's tensor and parameter rebuilders, `_codecs.encode`). Globals outside
//! an allow-list are refused by name, so a pickle that would run code (`os.system` through
//! `__reduce__`) is an error here, never a call; unknown opcodes are refused by name too.

use std::collections::HashMap;

/// A value of the pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Insertion-ordered pairs.
    Dict(Vec<(Value, Value)>),
    /// `module.name`.
    Global(String),
    /// What calling an allowed class would have built: its name, arguments and state.
    Object {
        class: String,
        args: Vec<Value>,
        state: Option<Box<Value>>,
    },
    /// A storage named by a persistent id: ('storage', torch.<Type>Storage, key, location, numel).
    Storage {
        dtype: String,
        key: String,
        numel: i64,
    },
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`.
    Tensor(TensorRef),
}

/// Where a tensor's elements are: a storage file of the archive, an offset and strides in
/// elements.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// The storage class (`FloatStorage`, `BFloat16Storage`...).
    pub dtype: String,
    pub key: String,
    pub storage_numel: i64,
    pub offset: i64,
    pub shape: Vec<i64>,
    pub stride: Vec<i64>,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a dict (or a dict-like object's state).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            Value::Object { state: Some(s), .. } => s.get(key),
            _ => None,
        }
    }
}

/// Globals whose instances are data (never called): torch's rebuilders and storages,
/// containers, numpy arrays, Lightning's hyper-parameter dicts, and the classes of YourMT3's
/// hyper-parameters (its task manager and tokenizer).
pub const ALLOWED_GLOBALS: &[&str] = &[
    "collections.OrderedDict",
    "builtins.set",
    "builtins.frozenset",
    "builtins.bytearray",
    "builtins.complex",
    "_codecs.encode",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.Size",
    "torch.device",
    "torch.float32",
    "torch.float16",
    "torch.bfloat16",
    "torch.int64",
    "torch.FloatStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.DoubleStorage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "argparse.Namespace",
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "lightning.fabric.utilities.data.AttributeDict",
    "utils.task_manager.TaskManager",
    "utils.tokenizer.NoteEventTokenizer",
    "utils.event_codec.FastCodec",
    "utils.event_codec.Codec",
    "utils.note_event_dataclasses.Event",
    "utils.note_event_dataclasses.EventRange",
    "utils.note_event_dataclasses.Note",
    "utils.note_event_dataclasses.NoteEvent",
];

/// Classes that are dicts (their items are set with SETITEM).
const DICT_CLASSES: &[&str] = &[
    "collections.OrderedDict",
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "lightning.fabric.utilities.data.AttributeDict",
];

/// Stack entries: values, or the MARK opcode's marker.
enum Slot {
    Mark,
    V(Value),
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    allowed: &'a [String],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if n > self.data.len() - self.pos {
            return Err(format!(
                "the pickle ends inside an opcode's argument at byte {} (truncated file?)",
                self.pos
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a text argument without its newline (truncated pickle?)")?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }

    fn utf8(&mut self, n: usize) -> Result<String, String> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| "a string that is not UTF-8".to_string())
    }

    fn global(&self, module: &str, name: &str) -> Result<Value, String> {
        let full = format!("{module}.{name}");
        if ALLOWED_GLOBALS.contains(&full.as_str()) || self.allowed.contains(&full) {
            Ok(Value::Global(full))
        } else {
            Err(format!(
                "refusing global `{full}`: amt reads checkpoints as data and only knows torch's tensors, containers, numpy arrays and YourMT3's own classes; `{full}` could run code when Python loads this file, so do not load it there. If you trust the file and `{full}` is a harmless class of your own code, --allow-global {full} accepts it as inert data (amt never calls it)"
            ))
        }
    }
}

fn pop(stack: &mut Vec<Slot>) -> Result<Value, String> {
    match stack.pop() {
        Some(Slot::V(v)) => Ok(v),
        Some(Slot::Mark) => Err("a MARK where a value was expected".into()),
        None => Err("the pickle pops an empty stack".into()),
    }
}

fn pop_mark(stack: &mut Vec<Slot>) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    loop {
        match stack.pop() {
            Some(Slot::Mark) => break,
            Some(Slot::V(v)) => out.push(v),
            None => return Err("a MARK-delimited opcode without its MARK".into()),
        }
    }
    out.reverse();
    Ok(out)
}

fn top(stack: &mut [Slot]) -> Result<&mut Value, String> {
    match stack.last_mut() {
        Some(Slot::V(v)) => Ok(v),
        _ => Err("no value on the stack to add items to".into()),
    }
}

fn int_of(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(i64::from(*b)),
        other => Err(format!("expected an integer, found {other:?}")),
    }
}

fn ints_of(v: &Value) -> Result<Vec<i64>, String> {
    match v {
        Value::Tuple(items) | Value::List(items) => items.iter().map(int_of).collect(),
        Value::Object { class, args, .. } if class == "torch.Size" => {
            args.first().map_or(Ok(Vec::new()), ints_of)
        }
        other => Err(format!("expected a tuple of integers, found {other:?}")),
    }
}

/// What calling `class` with `args` means as data.
fn call(class: String, args: Vec<Value>) -> Result<Value, String> {
    Ok(match class.as_str() {
        c if DICT_CLASSES.contains(&c) => match args.into_iter().next() {
            Some(Value::List(items)) => Value::Dict(
                items
                    .into_iter()
                    .filter_map(|p| match p {
                        Value::Tuple(mut kv) | Value::List(mut kv) if kv.len() == 2 => {
                            let v = kv.pop().expect("2");
                            Some((kv.pop().expect("1"), v))
                        }
                        _ => None,
                    })
                    .collect(),
            ),
            Some(Value::Dict(d)) => Value::Dict(d),
            _ => Value::Dict(Vec::new()),
        },
        "torch._utils._rebuild_tensor_v2" => {
            let storage = args.first().ok_or("_rebuild_tensor_v2 without arguments")?;
            let Value::Storage { dtype, key, numel } = storage else {
                return Err(format!("_rebuild_tensor_v2 of {storage:?}, not a storage"));
            };
            let get = |i: usize| args.get(i).ok_or("_rebuild_tensor_v2: too few arguments");
            Value::Tensor(TensorRef {
                dtype: dtype.clone(),
                key: key.clone(),
                storage_numel: *numel,
                offset: int_of(get(1)?)?,
                shape: ints_of(get(2)?)?,
                stride: ints_of(get(3)?)?,
            })
        }
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => args
            .into_iter()
            .next()
            .ok_or("_rebuild_parameter without arguments")?,
        "_codecs.encode" => match args.first() {
            // Protocol 2's bytes: the latin-1 code points of a str.
            Some(Value::Str(s)) => Value::Bytes(s.chars().map(|c| c as u32 as u8).collect()),
            _ => Value::Bytes(Vec::new()),
        },
        "builtins.set" | "builtins.frozenset" => match args.into_iter().next() {
            Some(Value::List(items)) | Some(Value::Tuple(items)) => Value::List(items),
            _ => Value::List(Vec::new()),
        },
        _ => Value::Object {
            class,
            args,
            state: None,
        },
    })
}

/// Reads a whole pickle. `allowed` adds globals to [`ALLOWED_GLOBALS`].
pub fn read(data: &[u8], allowed: &[String]) -> Result<Value, String> {
    let mut r = Reader {
        data,
        pos: 0,
        allowed,
    };
    let mut stack: Vec<Slot> = Vec::new();
    let mut memo: HashMap<u64, Value> = HashMap::new();
    loop {
        let at = r.pos;
        let op = r.u8()?;
        match op {
            0x80 => {
                r.u8()?; // PROTO
            }
            0x95 => {
                r.u64()?; // FRAME: a length hint
            }
            b'.' => return pop(&mut stack), // STOP
            b'(' => stack.push(Slot::Mark),
            b'N' => stack.push(Slot::V(Value::None)),
            0x88 => stack.push(Slot::V(Value::Bool(true))),
            0x89 => stack.push(Slot::V(Value::Bool(false))),
            b'J' => {
                let v = r.u32()? as i32;
                stack.push(Slot::V(Value::Int(i64::from(v))));
            }
            b'K' => {
                let v = r.u8()?;
                stack.push(Slot::V(Value::Int(i64::from(v))));
            }
            b'M' => {
                let v = r.u16()?;
                stack.push(Slot::V(Value::Int(i64::from(v))));
            }
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = r.u8()? as usize;
                let b = r.take(n)?;
                if n > 8 {
                    return Err(format!("an integer of {n} bytes at byte {at}"));
                }
                let mut v: i64 = 0;
                for (i, &x) in b.iter().enumerate() {
                    v |= i64::from(x) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Slot::V(Value::Int(v)));
            }
            b'I' => {
                let l = r.line()?;
                let v = match l.as_str() {
                    "01" => Value::Bool(true),
                    "00" => Value::Bool(false),
                    s => Value::Int(s.parse().map_err(|_| format!("INT `{s}` at byte {at}"))?),
                };
                stack.push(Slot::V(v));
            }
            b'G' => {
                let v = f64::from_be_bytes(r.take(8)?.try_into().expect("8 bytes"));
                stack.push(Slot::V(Value::Float(v)));
            }
            b'X' => {
                let n = r.u32()? as usize;
                let s = r.utf8(n)?;
                stack.push(Slot::V(Value::Str(s)));
            }
            0x8c => {
                let n = r.u8()? as usize;
                let s = r.utf8(n)?;
                stack.push(Slot::V(Value::Str(s)));
            }
            0x8d => {
                let n = r.u64()? as usize;
                let s = r.utf8(n)?;
                stack.push(Slot::V(Value::Str(s)));
            }
            b'C' => {
                let n = r.u8()? as usize;
                stack.push(Slot::V(Value::Bytes(r.take(n)?.to_vec())));
            }
            b'B' => {
                let n = r.u32()? as usize;
                stack.push(Slot::V(Value::Bytes(r.take(n)?.to_vec())));
            }
            0x8e => {
                let n = r.u64()? as usize;
                stack.push(Slot::V(Value::Bytes(r.take(n)?.to_vec())));
            }
            b'}' => stack.push(Slot::V(Value::Dict(Vec::new()))),
            b']' => stack.push(Slot::V(Value::List(Vec::new()))),
            b')' => stack.push(Slot::V(Value::Tuple(Vec::new()))),
            0x8f => stack.push(Slot::V(Value::List(Vec::new()))), // EMPTY_SET
            b'd' => {
                let items = pop_mark(&mut stack)?;
                let mut d = Vec::new();
                for kv in items.chunks(2) {
                    if let [k, v] = kv {
                        d.push((k.clone(), v.clone()));
                    }
                }
                stack.push(Slot::V(Value::Dict(d)));
            }
            b'l' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Slot::V(Value::List(items)));
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Slot::V(Value::Tuple(items)));
            }
            0x91 => {
                // FROZENSET
                let items = pop_mark(&mut stack)?;
                stack.push(Slot::V(Value::List(items)));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(pop(&mut stack)?);
                }
                items.reverse();
                stack.push(Slot::V(Value::Tuple(items)));
            }
            b'q' => {
                let i = u64::from(r.u8()?);
                memo.insert(i, top(&mut stack)?.clone());
            }
            b'r' => {
                let i = u64::from(r.u32()?);
                memo.insert(i, top(&mut stack)?.clone());
            }
            0x94 => {
                let i = memo.len() as u64;
                memo.insert(i, top(&mut stack)?.clone());
            }
            b'p' => {
                let i: u64 = r.line()?.parse().map_err(|_| format!("PUT at byte {at}"))?;
                memo.insert(i, top(&mut stack)?.clone());
            }
            b'h' | b'j' | b'g' => {
                let i = match op {
                    b'h' => u64::from(r.u8()?),
                    b'j' => u64::from(r.u32()?),
                    _ => r.line()?.parse().map_err(|_| format!("GET at byte {at}"))?,
                };
                let v = memo
                    .get(&i)
                    .ok_or_else(|| format!("memo entry {i} read before it was written"))?;
                stack.push(Slot::V(v.clone()));
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Slot::V(r.global(&module, &name)?));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => stack.push(Slot::V(r.global(&m, &n)?)),
                    _ => return Err(format!("STACK_GLOBAL of non-strings at byte {at}")),
                }
            }
            b'Q' => {
                // BINPERSID: torch's ('storage', type, key, location, numel).
                let pid = pop(&mut stack)?;
                let Value::Tuple(items) = pid else {
                    return Err(format!("a persistent id that is not a tuple at byte {at}"));
                };
                match items.as_slice() {
                    [Value::Str(tag), Value::Global(ty), Value::Str(key), _, n]
                        if tag == "storage" =>
                    {
                        stack.push(Slot::V(Value::Storage {
                            dtype: ty.rsplit('.').next().unwrap_or(ty).to_string(),
                            key: key.clone(),
                            numel: int_of(n)?,
                        }));
                    }
                    other => {
                        return Err(format!("unknown persistent id {other:?} at byte {at}"));
                    }
                }
            }
            b'R' | 0x81 => {
                // REDUCE (callable, args) and NEWOBJ (class, args): nothing is called.
                let args = pop(&mut stack)?;
                let f = pop(&mut stack)?;
                let Value::Global(class) = f else {
                    return Err(format!(
                        "the pickle calls a value that is not an allowed global at byte {at}"
                    ));
                };
                let args = match args {
                    Value::Tuple(a) => a,
                    other => vec![other],
                };
                stack.push(Slot::V(call(class, args)?));
            }
            b'b' => {
                // BUILD: an object's state.
                let state = pop(&mut stack)?;
                match top(&mut stack)? {
                    Value::Object { state: s, .. } => *s = Some(Box::new(state)),
                    Value::Dict(_) => {} // e.g. a state dict's `_metadata` attribute
                    _ => {}
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                if let Value::Dict(d) = top(&mut stack)? {
                    d.push((k, v));
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                if let Value::Dict(d) = top(&mut stack)? {
                    for kv in items.chunks(2) {
                        if let [k, v] = kv {
                            d.push((k.clone(), v.clone()));
                        }
                    }
                }
            }
            b'a' => {
                let v = pop(&mut stack)?;
                if let Value::List(l) = top(&mut stack)? {
                    l.push(v);
                }
            }
            b'e' | 0x90 => {
                // APPENDS, ADDITEMS
                let items = pop_mark(&mut stack)?;
                if let Value::List(l) = top(&mut stack)? {
                    l.extend(items);
                }
            }
            b'0' => {
                pop(&mut stack)?;
            }
            b'1' => {
                pop_mark(&mut stack)?;
            }
            b'2' => {
                let v = pop(&mut stack)?;
                stack.push(Slot::V(v.clone()));
                stack.push(Slot::V(v));
            }
            other => {
                return Err(format!(
                    "unsupported pickle opcode 0x{other:02x} at byte {at} (amt reads the opcodes torch.save writes; nothing else)"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// {'a': [1, -2, 3.5, True, None], 'b': (b'xy', 'é')} written by Python's pickle,
    /// protocol 2 (bytes through _codecs.encode).
    #[test]
    fn reads_protocol_2_containers_and_scalars() {
        let p: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00\x88NeX\x01\x00\x00\x00bq\x03c_codecs\nencode\nq\x04X\x02\x00\x00\x00xyq\x05X\x06\x00\x00\x00latin1q\x06\x86q\x07Rq\x08X\x02\x00\x00\x00\xc3\xa9q\t\x86q\nu.";
        let v = read(p, &[]).unwrap();
        assert_eq!(
            v.get("a"),
            Some(&Value::List(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Float(3.5),
                Value::Bool(true),
                Value::None
            ]))
        );
        assert_eq!(
            v.get("b"),
            Some(&Value::Tuple(vec![
                Value::Bytes(b"xy".to_vec()),
                Value::Str("é".into())
            ]))
        );
    }

    #[test]
    fn long1_is_twos_complement() {
        // Python's pickle of (-(2**40) - 5, 2**40).
        let p =
            b"\x80\x02\x8a\x06\xfb\xff\xff\xff\xff\xfe\x8a\x06\x00\x00\x00\x00\x00\x01\x86q\x00.";
        let v = read(p, &[]).unwrap();
        assert_eq!(
            v,
            Value::Tuple(vec![Value::Int(-(1 << 40) - 5), Value::Int(1 << 40)])
        );
    }

    /// A `__reduce__` to os.system is refused by name, before anything else happens; an
    /// opcode outside what torch.save writes is refused by number; a cut pickle is an error.
    #[test]
    fn refuses_globals_opcodes_and_truncation() {
        let evil = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00echoq\x01\x85q\x02Rq\x03.";
        let e = read(evil, &[]).unwrap_err();
        assert!(e.contains("refusing global `posix.system`"), "{e}");
        // Allowed by the caller: inert data, still never called.
        let v = read(evil, &["posix.system".to_string()]).unwrap();
        assert!(matches!(v, Value::Object { ref class, .. } if class == "posix.system"));
        let e = read(b"\x80\x02S'x'\n.", &[]).unwrap_err();
        assert!(e.contains("unsupported pickle opcode 0x53"), "{e}");
        let e = read(b"\x80\x02X\x10\x00\x00\x00abc", &[]).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
    }
}
