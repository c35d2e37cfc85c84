//! The Kafka wire protocol's framing and primitive types, for the requests
//! the adapter speaks itself ([`super::group`], SASL in [`super::transport`]).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::transport::Stream;
use super::CLIENT_ID;

/// The largest answer read (these answers are small).
const MAX_ANSWER: usize = 1 << 20;

/// Writes one request (header v1) and reads its answer (header v0).
pub(super) async fn exchange(
    stream: &mut Stream,
    api: i16,
    version: i16,
    correlation: i32,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let mut frame = Vec::with_capacity(body.len() + 32);
    put_i16(&mut frame, api);
    put_i16(&mut frame, version);
    put_i32(&mut frame, correlation);
    put_str(&mut frame, CLIENT_ID);
    frame.extend_from_slice(body);
    let size = i32::try_from(frame.len()).map_err(|_| "request too large".to_string())?;
    let mut out = size.to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    let size = stream.read_i32().await.map_err(|e| e.to_string())?;
    let size = usize::try_from(size).ok().filter(|&s| (4..=MAX_ANSWER).contains(&s)).ok_or("bad answer size")?;
    let mut answer = vec![0; size];
    stream.read_exact(&mut answer).await.map_err(|e| e.to_string())?;
    let got = i32::from_be_bytes([answer[0], answer[1], answer[2], answer[3]]);
    if got != correlation {
        return Err(format!("answer {got} to request {correlation}"));
    }
    answer.drain(..4);
    Ok(answer)
}

pub(super) fn put_i16(out: &mut Vec<u8>, v: i16) {
    out.extend_from_slice(&v.to_be_bytes());
}
pub(super) fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}
pub(super) fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}
pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    // Names are checked (at most 200 bytes) before they get here.
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    put_i16(out, len);
    out.extend_from_slice(&s.as_bytes()[..len as usize]);
}

/// Bytes (`None`: null).
pub(super) fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        // What is put here is small: assignments and subscriptions.
        Some(b) => {
            put_i32(out, i32::try_from(b.len()).unwrap_or(i32::MAX));
            out.extend_from_slice(b);
        }
        None => put_i32(out, -1),
    }
}

/// A reader of an answer body that fails, never panics, when it is short.
pub(super) struct Wire<'a> {
    data: &'a [u8],
}

impl<'a> Wire<'a> {
    pub(super) fn new(data: &'a [u8]) -> Wire<'a> {
        Wire { data }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.data.len() < n {
            return Err("the answer is cut short".into());
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
    pub(super) fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    pub(super) fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(super) fn i64(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    /// An array's length (`-1`, null, is empty); bounded by what is left.
    pub(super) fn count(&mut self) -> Result<usize, String> {
        let n = self.i32()?;
        let n = usize::try_from(n).unwrap_or(0);
        if n > self.data.len() {
            return Err("the answer is cut short".into());
        }
        Ok(n)
    }
    /// (Nullable) bytes; null reads as empty.
    pub(super) fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.i32()?;
        let n = usize::try_from(n).unwrap_or(0);
        self.take(n)
    }
    /// A (nullable) string; null reads as empty.
    pub(super) fn string(&mut self) -> Result<String, String> {
        let n = self.i16()?;
        let n = usize::try_from(n).unwrap_or(0);
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_answer_is_an_error_not_a_panic() {
        let mut wire = Wire::new(&[0, 0, 0, 9, 0]);
        assert!(wire.count().is_err());
        let mut wire = Wire::new(&[0, 5, b'a']);
        assert!(wire.string().is_err());
        let mut wire = Wire::new(&[0x7f, 0xff, 0xff, 0xff, 1]);
        assert!(wire.bytes().is_err());
    }
}
