//! JSON text at any nesting depth (an explicit stack, no recursion), as Python's `json` reads
//! it: integers stay integers, `NaN` / `Infinity` / `-Infinity` are accepted.

use super::value::{Key, Value};
use crate::error::{Error, Result};

fn error(what: &str, pos: usize) -> Error {
    Error::ModelFormat(format!("not valid JSON: {what} at character {pos}"))
}

enum Open {
    Array(Vec<Value>),
    Object(Vec<(Key, Value)>, Option<String>),
}

#[derive(Clone, Copy, PartialEq)]
enum Expect {
    Value,
    ValueOrClose,
    Key,
    KeyOrClose,
    Colon,
    CommaOrClose,
}

struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let end = self.pos + 4;
        let digits = self
            .b
            .get(self.pos..end)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| error("bad \\u escape", self.pos))?;
        self.pos = end;
        Ok(digits)
    }

    /// A string starting at the opening quote.
    fn string(&mut self) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err(error("unterminated string", start));
            };
            match c {
                b'"' => {
                    out.push_str(self.text(run, self.pos));
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(self.text(run, self.pos));
                    let esc = *self
                        .b
                        .get(self.pos + 1)
                        .ok_or_else(|| error("unterminated string", start))?;
                    self.pos += 2;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut code = self.hex4()?;
                            if (0xd800..0xdc00).contains(&code)
                                && self.b.get(self.pos..self.pos + 2) == Some(b"\\u")
                            {
                                self.pos += 2;
                                let low = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&low) {
                                    return Err(error("bad surrogate pair", self.pos));
                                }
                                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                            }
                            out.push(
                                char::from_u32(code)
                                    .ok_or_else(|| error("lone surrogate", self.pos))?,
                            );
                        }
                        _ => return Err(error("bad escape", self.pos - 1)),
                    }
                    run = self.pos;
                }
                0x00..=0x1f => return Err(error("control character in a string", self.pos)),
                _ => self.pos += 1,
            }
        }
    }

    fn text(&self, a: usize, b: usize) -> &str {
        // The input is valid UTF-8 and a, b sit on ASCII bytes: always a char boundary.
        std::str::from_utf8(&self.b[a..b]).unwrap_or("")
    }

    fn number(&mut self) -> Result<Value> {
        let start = self.pos;
        let b = self.b;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        if b[i..].starts_with(b"Infinity") {
            self.pos = i + 8;
            return Ok(Value::Float(if i > start {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }));
        }
        let digits = |i: &mut usize| {
            let s = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            *i - s
        };
        let int_start = i;
        let n = digits(&mut i);
        if n == 0 || (n > 1 && b[int_start] == b'0') {
            return Err(error("bad number", start));
        }
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                return Err(error("bad number", start));
            }
            integer = false;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return Err(error("bad number", start));
            }
            integer = false;
        }
        self.pos = i;
        let text = self.text(start, i);
        if integer {
            if let Ok(v) = text.parse::<i64>() {
                return Ok(Value::Int(v));
            }
        }
        text.parse::<f64>()
            .map(Value::Float)
            .map_err(|_| error("bad number", start))
    }
}

/// Parses JSON `text`.
pub fn parse(text: &str) -> Result<Value> {
    let mut lx = Lexer {
        b: text.as_bytes(),
        pos: 0,
    };
    let mut stack: Vec<Open> = Vec::new();
    let mut expect = Expect::Value;
    loop {
        lx.skip_ws();
        let at = lx.pos;
        let Some(&c) = lx.b.get(at) else {
            return Err(error("unexpected end of the text", at));
        };
        let value = match c {
            b'[' | b'{' if matches!(expect, Expect::Value | Expect::ValueOrClose) => {
                lx.pos += 1;
                if c == b'[' {
                    stack.push(Open::Array(Vec::new()));
                    expect = Expect::ValueOrClose;
                } else {
                    stack.push(Open::Object(Vec::new(), None));
                    expect = Expect::KeyOrClose;
                }
                continue;
            }
            b']' | b'}' => {
                let allowed = match (c, stack.last()) {
                    (b']', Some(Open::Array(_))) => {
                        matches!(expect, Expect::CommaOrClose | Expect::ValueOrClose)
                    }
                    (b'}', Some(Open::Object(..))) => {
                        matches!(expect, Expect::CommaOrClose | Expect::KeyOrClose)
                    }
                    _ => false,
                };
                if !allowed {
                    return Err(error(&format!("unexpected '{}'", c as char), at));
                }
                lx.pos += 1;
                match stack.pop() {
                    Some(Open::Array(items)) => Value::Array(items),
                    Some(Open::Object(items, _)) => Value::Object(items),
                    None => return Err(error("unbalanced brackets", at)),
                }
            }
            b':' if expect == Expect::Colon => {
                lx.pos += 1;
                expect = Expect::Value;
                continue;
            }
            b',' if expect == Expect::CommaOrClose => {
                lx.pos += 1;
                expect = match stack.last() {
                    Some(Open::Array(_)) => Expect::Value,
                    _ => Expect::Key,
                };
                continue;
            }
            b'"' if matches!(expect, Expect::Key | Expect::KeyOrClose) => {
                let key = lx.string()?;
                if let Some(Open::Object(_, k)) = stack.last_mut() {
                    *k = Some(key);
                }
                expect = Expect::Colon;
                continue;
            }
            _ if !matches!(expect, Expect::Value | Expect::ValueOrClose) => {
                return Err(error(&format!("unexpected '{}'", c as char), at));
            }
            b'"' => Value::Str(lx.string()?),
            b'-' | b'0'..=b'9' | b'I' => lx.number()?,
            _ => {
                let rest = &lx.b[at..];
                let (word, v) = if rest.starts_with(b"true") {
                    (4, Value::Bool(true))
                } else if rest.starts_with(b"false") {
                    (5, Value::Bool(false))
                } else if rest.starts_with(b"null") {
                    (4, Value::Null)
                } else if rest.starts_with(b"NaN") {
                    (3, Value::Float(f64::NAN))
                } else {
                    return Err(error("unexpected text", at));
                };
                lx.pos += word;
                v
            }
        };
        // A complete value: it belongs to the innermost container, or it is the document.
        match stack.last_mut() {
            None => {
                lx.skip_ws();
                if lx.pos < lx.b.len() {
                    return Err(error("extra data after the document", lx.pos));
                }
                return Ok(value);
            }
            Some(Open::Array(items)) => items.push(value),
            Some(Open::Object(items, key)) => {
                items.push((Key::Owned(key.take().unwrap_or_default()), value));
            }
        }
        expect = Expect::CommaOrClose;
    }
}
