//! A parsed JSON / UBJSON document: the values both formats share.

/// One value of a document. Typed UBJSON arrays of numbers stay packed (`Ints`, `Floats`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A typed array of integers (UBJSON `[$i#`, `[$U#`, `[$l#`...).
    Ints(Vec<i64>),
    /// A typed array of floats (UBJSON `[$d#`, `[$D#`), widened to f64.
    Floats(Vec<f64>),
    Array(Vec<Value>),
    /// Keys in document order; a repeated key's last value wins (as in Python's dict).
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The value of `key` in an object (`None` for a missing key or a non-object).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(items) => items.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
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
            Value::Ints(v) => Some(v.len()),
            Value::Floats(v) => Some(v.len()),
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
            Value::Ints(v) => !v.is_empty(),
            Value::Floats(v) => !v.is_empty(),
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
            Value::Float(f) => format!("{f:?}"),
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

fn is_container(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty()) || matches!(v, Value::Object(o) if !o.is_empty())
}
