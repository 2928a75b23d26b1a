//! A parsed JSON / UBJSON document: the values both formats share.

use std::borrow::Cow;

/// An object's key: the names XGBoost writes in every tree are shared constants, so a model of
/// many trees does not allocate a string per key ([`intern_after`]).
pub type Key = Cow<'static, str>;

/// The key `text`, borrowed from a constant when it is one of XGBoost's usual names. The name
/// after the one found last (`hint`, updated) is tried first: XGBoost writes a tree's keys in
/// the order of the list, so each is found at the first try.
pub fn intern_after(text: &str, hint: &mut usize) -> Key {
    const NAMES: [&str; 25] = [
        "base_weights",
        "categories",
        "categories_nodes",
        "categories_segments",
        "categories_sizes",
        "default_left",
        "id",
        "left_children",
        "loss_changes",
        "parents",
        "right_children",
        "split_conditions",
        "split_indices",
        "split_type",
        "sum_hessian",
        "tree_param",
        "num_deleted",
        "num_feature",
        "num_nodes",
        "size_leaf_vector",
        "leaf_weights",
        "tree_info",
        "iteration_indptr",
        "trees",
        "name",
    ];
    let next = (*hint + 1) % NAMES.len();
    if NAMES[next] == text {
        *hint = next;
        return Cow::Borrowed(NAMES[next]);
    }
    match NAMES.iter().position(|&name| name == text) {
        Some(i) => {
            *hint = i;
            Cow::Borrowed(NAMES[i])
        }
        None => Cow::Owned(text.to_owned()),
    }
}

/// A typed UBJSON array of numbers, left undecoded in the document's bytes: `count` big-endian
/// numbers of UBJSON type `kind` from byte `start`. A reader decodes it once, straight into
/// where the numbers go (no intermediate array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packed {
    pub kind: u8,
    pub start: usize,
    pub count: usize,
}

impl Packed {
    /// Bytes one number takes.
    pub fn width(&self) -> usize {
        match self.kind {
            b'i' | b'U' => 1,
            b'I' => 2,
            b'l' | b'd' => 4,
            _ => 8,
        }
    }

    pub fn is_float(&self) -> bool {
        matches!(self.kind, b'd' | b'D')
    }

    /// The raw bytes in `src` (empty if `src` is not the document it was read from: never a
    /// panic).
    fn raw<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        let end = self
            .start
            .saturating_add(self.count.saturating_mul(self.width()));
        src.get(self.start..end).unwrap_or(&[])
    }

    /// Appends the numbers as integers (floats truncated: callers check `is_float` first).
    pub fn ints_into(&self, src: &[u8], out: &mut Vec<i64>) {
        let raw = self.raw(src);
        match self.kind {
            b'i' => out.extend(raw.iter().map(|&b| b as i8 as i64)),
            b'U' => out.extend(raw.iter().map(|&b| b as i64)),
            b'I' => out.extend(
                raw.chunks_exact(2)
                    .map(|b| i16::from_be_bytes([b[0], b[1]]) as i64),
            ),
            b'l' => out.extend(
                raw.chunks_exact(4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64),
            ),
            b'L' => out.extend(
                raw.chunks_exact(8)
                    .map(|b| i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            ),
            _ => out.extend(self.floats(src).map(|f| f as i64)),
        }
    }

    /// The numbers as float64 (integers converted, float32 widened).
    pub fn floats<'a>(&self, src: &'a [u8]) -> Box<dyn Iterator<Item = f64> + 'a> {
        let raw = self.raw(src);
        match self.kind {
            b'd' => Box::new(
                raw.chunks_exact(4)
                    .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64),
            ),
            b'D' => Box::new(
                raw.chunks_exact(8)
                    .map(|b| f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            ),
            _ => {
                let mut ints = Vec::with_capacity(self.count);
                self.ints_into(src, &mut ints);
                Box::new(ints.into_iter().map(|i| i as f64))
            }
        }
    }

    /// Appends the numbers rounded to float32 and widened (integers go to float32 directly).
    pub fn float32s_into(&self, src: &[u8], out: &mut Vec<f64>) {
        let raw = self.raw(src);
        match self.kind {
            b'd' => out.extend(
                raw.chunks_exact(4)
                    .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64),
            ),
            b'D' => out.extend(self.floats(src).map(|x| x as f32 as f64)),
            _ => {
                let mut ints = Vec::with_capacity(self.count);
                self.ints_into(src, &mut ints);
                out.extend(ints.into_iter().map(|i| i as f32 as f64));
            }
        }
    }
}

/// One value of a document. Typed UBJSON arrays of numbers stay packed in the bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A typed array of numbers (UBJSON `[$i#`, `[$l#`, `[$d#`...), undecoded.
    Packed(Packed),
    Array(Vec<Value>),
    /// Keys in document order; a repeated key's last value wins (as in Python's dict).
    Object(Vec<(Key, Value)>),
}

impl Value {
    /// The value of `key` in an object (`None` for a missing key or a non-object).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(items) => items
                .iter()
                .rev()
                .find(|(k, _)| k.as_ref() == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// The number of elements of an array (of any kind), or `None` for anything else.
    pub fn array_len(&self) -> Option<usize> {
        match self {
            Value::Array(v) => Some(v.len()),
            Value::Packed(p) => Some(p.count),
            _ => None,
        }
    }

    /// Python's truthiness (for XGBoost's `value or default`).
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Packed(p) => p.count > 0,
            Value::Array(v) => !v.is_empty(),
            Value::Object(v) => !v.is_empty(),
        }
    }

    /// A short description for an error message (containers by kind and size).
    pub fn brief(&self) -> String {
        match self {
            Value::Null => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => py_repr(*f),
            Value::Str(s) => {
                let text = format!("'{s}'");
                if text.chars().count() <= 60 {
                    text
                } else {
                    text.chars().take(57).collect::<String>() + "..."
                }
            }
            Value::Object(v) => format!("a dict of {}", v.len()),
            other => format!("a list of {}", other.array_len().unwrap_or(0)),
        }
    }
}

impl Drop for Value {
    /// Dropping is iterative too: a document nested 10^6 deep must not overflow the stack.
    fn drop(&mut self) {
        let mut stack: Vec<Value> = Vec::new();
        match self {
            Value::Array(v) if v.iter().any(is_container) => stack.append(v),
            Value::Object(v) if v.iter().any(|(_, x)| is_container(x)) => {
                stack.extend(v.drain(..).map(|(_, x)| x))
            }
            _ => return,
        }
        while let Some(mut value) = stack.pop() {
            match &mut value {
                Value::Array(v) => stack.append(v),
                Value::Object(v) => stack.extend(v.drain(..).map(|(_, x)| x)),
                _ => {}
            }
        }
    }
}

/// A float as Python's `repr` writes it (`1e+39`, `1.5e-05`, `nan`), for messages.
pub fn py_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's Debug switches to an exponent where Python's repr does (below 1e-4, from 1e16).
    let text = format!("{f:?}");
    match text.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

fn is_container(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty()) || matches!(v, Value::Object(o) if !o.is_empty())
}
