//! A small little-endian byte format for state passed between processes (partial results of a
//! computation over partitions), read back with every length checked against the bytes left.

use crate::error::{Error, Result};

/// Appends values to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    pub fn usizes(&mut self, v: &[usize]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.u64(x as u64));
    }
    pub fn f64s(&mut self, v: &[f64]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.f64(x));
    }
}

/// Reads what a [`Writer`] wrote; any inconsistency is an error naming `what` is being read.
pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, at: 0, what }
    }

    pub fn error(&self) -> Error {
        Error::InvalidInput(format!("{} is malformed or truncated", self.what))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or_else(|| self.error())?;
        let out = self.buf.get(self.at..end).ok_or_else(|| self.error())?;
        self.at = end;
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// A count of items of at least `item_bytes` bytes each, no more than the bytes left hold
    /// (so that no allocation exceeds the input's size).
    pub fn len(&mut self, item_bytes: usize) -> Result<usize> {
        let n = self.u64()?;
        let left = (self.buf.len() - self.at) as u64;
        if n.saturating_mul(item_bytes.max(1) as u64) > left {
            return Err(self.error());
        }
        Ok(n as usize)
    }

    /// A value below `bound`, as a usize.
    pub fn index(&mut self, bound: usize) -> Result<usize> {
        let v = self.u64()?;
        if v >= bound as u64 {
            return Err(self.error());
        }
        Ok(v as usize)
    }

    pub fn usizes(&mut self, bound: usize) -> Result<Vec<usize>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.index(bound)).collect()
    }
    pub fn f64s(&mut self) -> Result<Vec<f64>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.f64()).collect()
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<()> {
        if self.at != self.buf.len() {
            return Err(self.error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_and_refuses_truncation() {
        let mut w = Writer::default();
        w.u8(7);
        w.usizes(&[1, 2, 3]);
        w.f64s(&[0.5, f64::NAN]);
        let bytes = w.0;
        let mut r = Reader::new(&bytes, "state");
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.usizes(4).unwrap(), vec![1, 2, 3]);
        let f = r.f64s().unwrap();
        assert!(f[0] == 0.5 && f[1].is_nan());
        r.finish().unwrap();
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut], "state");
            let ok = r.u8().and_then(|_| r.usizes(4)).and_then(|_| r.f64s());
            assert!(ok.is_err() || r.finish().is_err(), "cut {cut}");
        }
        // A count larger than the bytes left is refused before anything is allocated.
        let mut w = Writer::default();
        w.u64(u64::MAX);
        assert!(Reader::new(&w.0, "state").f64s().is_err());
        // An index out of its bound.
        let mut r = Reader::new(&bytes[1..], "state");
        assert!(r.usizes(3).is_err());
    }
}
