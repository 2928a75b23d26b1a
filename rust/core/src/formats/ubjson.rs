//! Universal Binary JSON, the format of XGBoost's `.ubj` models and `save_raw("ubj")`.
//!
//! Iterative (an explicit stack), and every declared length or count is checked against the
//! bytes that remain before anything is allocated from it: a few bytes never claim a huge
//! container. Typed arrays of numbers stay packed in the bytes ([`Value::Packed`]).

use super::value::{intern_after, Key, Packed, Value};
use crate::error::{Error, Result};

fn corrupt(what: &str, pos: usize) -> Error {
    Error::ModelFormat(format!("the UBJSON model is corrupt: {what} at byte {pos}"))
}

/// A byte as Python writes it in a `bytes` literal (for messages).
fn byte_repr(b: u8) -> String {
    match b {
        b'\'' => "b\"'\"".into(),
        b'\\' => "b'\\\\'".into(),
        0x20..=0x7e => format!("b'{}'", b as char),
        b'\n' => "b'\\n'".into(),
        b'\r' => "b'\\r'".into(),
        b'\t' => "b'\\t'".into(),
        _ => format!("b'\\x{b:02x}'"),
    }
}

/// Bytes one number of type `m` takes, for the numeric markers.
fn number_size(m: u8) -> Option<usize> {
    match m {
        b'i' | b'U' => Some(1),
        b'I' => Some(2),
        b'l' | b'd' => Some(4),
        b'L' | b'D' => Some(8),
        _ => None,
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Where the last key was found among XGBoost's usual names (see [`intern_after`]).
    key_hint: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::ModelFormat(format!(
                "the UBJSON model is truncated: {n} bytes needed at byte {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let chunk = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(chunk)
    }

    /// The next marker, skipping no-ops (`N`).
    fn marker(&mut self) -> Result<u8> {
        loop {
            let m = self.take(1)?[0];
            if m != b'N' {
                return Ok(m);
            }
        }
    }

    /// An integer of type `m` (big-endian).
    fn int(&mut self, m: u8) -> Result<i64> {
        let size = number_size(m).unwrap_or(1);
        let b = self.take(size)?;
        Ok(match m {
            b'i' => b[0] as i8 as i64,
            b'U' => b[0] as i64,
            b'I' => i16::from_be_bytes([b[0], b[1]]) as i64,
            b'l' => i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        })
    }

    fn float(&mut self, m: u8) -> Result<f64> {
        let b = self.take(number_size(m).unwrap_or(4))?;
        Ok(if m == b'd' {
            f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64
        } else {
            f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        })
    }

    /// A length whose marker `m` (at byte `at`) was already read.
    fn length_after(&mut self, m: u8, at: usize) -> Result<usize> {
        if !matches!(m, b'i' | b'U' | b'I' | b'l' | b'L') {
            return Err(corrupt(
                &format!("expected an integer length, found {}", byte_repr(m)),
                at,
            ));
        }
        let n = self.int(m)?;
        usize::try_from(n).map_err(|_| corrupt(&format!("negative length {n}"), at))
    }

    fn length(&mut self) -> Result<usize> {
        let at = self.pos;
        let m = self.marker()?;
        self.length_after(m, at)
    }

    /// A string whose length marker `m` (at byte `at`) was already read.
    fn string_after(&mut self, m: u8, at: usize) -> Result<String> {
        let n = self.length_after(m, at)?;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| corrupt("a string is not UTF-8", self.pos - n))
    }

    fn string(&mut self) -> Result<String> {
        let at = self.pos;
        let m = self.marker()?;
        self.string_after(m, at)
    }

    /// An object key whose length marker `m` (at byte `at`) was already read (XGBoost's usual
    /// names are not copied).
    fn key_after(&mut self, m: u8, at: usize) -> Result<Key> {
        let n = self.length_after(m, at)?;
        let raw = self.take(n)?;
        std::str::from_utf8(raw)
            .map(|text| intern_after(text, &mut self.key_hint))
            .map_err(|_| corrupt("a string is not UTF-8", self.pos - n))
    }

    fn key(&mut self) -> Result<Key> {
        let at = self.pos;
        let m = self.marker()?;
        self.key_after(m, at)
    }

    fn scalar(&mut self, m: u8) -> Result<Value> {
        Ok(match m {
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::Int(self.int(m)?),
            b'd' | b'D' => Value::Float(self.float(m)?),
            b'S' => Value::Str(self.string()?),
            b'H' => {
                let at = self.pos;
                let text = self.string()?;
                match text.trim().parse::<f64>() {
                    Ok(v) => Value::Float(v),
                    Err(_) => {
                        let head: String = text.chars().take(40).collect();
                        return Err(corrupt(&format!("bad high-precision number '{head}'"), at));
                    }
                }
            }
            b'C' => Value::Str((self.take(1)?[0] as char).to_string()),
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'Z' => Value::Null,
            other => {
                return Err(corrupt(
                    &format!("unknown marker {}", byte_repr(other)),
                    self.pos - 1,
                ))
            }
        })
    }

    /// The optional `$type` and `#count` after an opening bracket, checked against the bytes
    /// left: `(type, count, first marker of an unsized container)`.
    fn header(&mut self, is_object: bool) -> Result<(Option<u8>, Option<usize>, Option<u8>)> {
        let at = self.pos;
        let mut kind = None;
        let mut m = self.marker()?;
        if m == b'$' {
            let k = self.take(1)?[0];
            if matches!(k, b'Z' | b'T' | b'F' | b'N') {
                return Err(corrupt(
                    &format!("a container typed {} (values without bytes)", byte_repr(k)),
                    at,
                ));
            }
            if number_size(k).is_none() {
                // XGBoost writes (and reads) typed containers of numbers only.
                return Err(corrupt(
                    &format!(
                        "a container typed {} (only numbers are typed)",
                        byte_repr(k)
                    ),
                    at,
                ));
            }
            kind = Some(k);
            m = self.marker()?;
            if m != b'#' {
                return Err(corrupt("a typed container needs a count", at));
            }
        }
        if m != b'#' {
            return Ok((kind, None, Some(m)));
        }
        let count = self.length()?;
        // Untyped elements take at least a marker byte; object keys at least two more.
        let each = kind.and_then(number_size).unwrap_or(1) + if is_object { 2 } else { 0 };
        if (count as u128) * (each as u128) > self.remaining() as u128 {
            return Err(Error::ModelFormat(format!(
                "the UBJSON model is corrupt or truncated: a container at byte {at} declares \
                 {count} elements, but only {} bytes follow",
                self.remaining()
            )));
        }
        Ok((kind, Some(count), None))
    }

    /// A typed array of `count` numbers of type `kind` (its size already checked), left
    /// packed in the bytes.
    fn typed_array(&mut self, kind: u8, count: usize) -> Result<Value> {
        let size = number_size(kind).unwrap_or(1);
        let start = self.pos;
        self.take(count * size)?;
        Ok(Value::Packed(Packed { kind, start, count }))
    }
}

/// The elements of an open container: an object's keys stay beside their values (no second
/// vector to zip at the end).
enum Items {
    Array(Vec<Value>),
    Object(Vec<(Key, Value)>),
}

/// An open container on the decoder's stack.
struct Frame {
    items: Items,
    /// The shared type marker, or None.
    kind: Option<u8>,
    /// Elements still to read, or None until the closing bracket.
    left: Option<usize>,
    key: Option<Key>,
}

impl Frame {
    fn into_value(self) -> Value {
        match self.items {
            Items::Object(items) => Value::Object(items),
            Items::Array(items) => Value::Array(items),
        }
    }

    fn is_object(&self) -> bool {
        matches!(self.items, Items::Object(_))
    }
}

/// Decodes one UBJSON document (bytes after it are ignored).
pub fn parse(data: &[u8]) -> Result<Value> {
    let mut r = Reader {
        data,
        pos: 0,
        key_hint: 0,
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut m = r.marker()?;
    let mut pending: Option<u8> = None;
    loop {
        let mut value = None;
        if m == b'[' || m == b'{' {
            let is_object = m == b'{';
            let (kind, count, first) = r.header(is_object)?;
            pending = first;
            match (is_object, kind, count) {
                (false, Some(k), Some(c)) => value = Some(r.typed_array(k, c)?),
                _ => stack.push(Frame {
                    items: if is_object {
                        Items::Object(Vec::new())
                    } else {
                        Items::Array(Vec::new())
                    },
                    kind,
                    left: count,
                    key: None,
                }),
            }
        } else {
            value = Some(r.scalar(m)?);
        }
        // Hand finished values to their containers, closing those that are complete, until
        // one needs another element.
        loop {
            if let Some(v) = value.take() {
                let Some(top) = stack.last_mut() else {
                    return Ok(v);
                };
                match &mut top.items {
                    Items::Object(items) => items.push((top.key.take().unwrap_or_default(), v)),
                    Items::Array(items) => items.push(v),
                }
                if let Some(left) = top.left.as_mut() {
                    *left -= 1;
                }
            }
            let Some(top) = stack.last_mut() else {
                return Err(Error::Internal("UBJSON decoder lost its stack".into()));
            };
            let is_object = top.is_object();
            if let Some(left) = top.left {
                if left == 0 {
                    value = stack.pop().map(Frame::into_value);
                    continue;
                }
                if is_object {
                    top.key = Some(r.key()?);
                }
                m = match top.kind {
                    Some(k) => k,
                    None => r.marker()?,
                };
                break;
            }
            let at = r.pos;
            let first = match pending.take() {
                Some(p) => p,
                None => r.marker()?,
            };
            if first == if is_object { b'}' } else { b']' } {
                value = stack.pop().map(Frame::into_value);
                continue;
            }
            if is_object {
                // Keys carry no 'S' marker: `first` is already the marker of the key's length.
                top.key = Some(r.key_after(first, at)?);
                m = r.marker()?;
            } else {
                m = first;
            }
            break;
        }
    }
}
