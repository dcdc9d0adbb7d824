//! Incremental splitter for streams of one JSON document per line (no `data:` framing), as some gateways
//! stream chat chunks. Lines end at LF; a CR before it is dropped; blank lines are skipped. Like the
//! event-stream framer, it scans each feed once, carries only an unfinished line and bounds its size.

use memchr::memchr;

use crate::event_stream::FrameError;

#[derive(Debug, Clone)]
pub struct JsonLinesSplitter {
    max_line_size: usize,
    offset: u64,
    line: Vec<u8>,
    line_start: u64,
    failed: Option<FrameError>,
}

impl JsonLinesSplitter {
    pub fn new(max_line_size: usize) -> Self {
        JsonLinesSplitter { max_line_size, offset: 0, line: Vec::new(), line_start: 0, failed: None }
    }

    /// Counts `n` bytes of the stream that the caller consumed itself (a BOM), so offsets stay right.
    pub fn skip_bytes(&mut self, n: usize) {
        self.offset += n as u64;
    }

    /// The stream offset just past the last line ending: the bytes before it are whole lines.
    pub fn line_end(&self) -> u64 {
        self.offset - self.line.len() as u64
    }

    /// Calls `on_line(line, stream_offset)` for each complete non-blank line of `input`.
    pub fn feed<E>(
        &mut self,
        input: &[u8],
        mut on_line: impl FnMut(&[u8], u64) -> Result<(), E>,
    ) -> Result<(), LinesError<E>> {
        if let Some(error) = &self.failed {
            return Err(LinesError::Frame(error.clone()));
        }
        let base = self.offset;
        self.offset += input.len() as u64;
        let mut pos = 0;
        while let Some(found) = memchr(b'\n', &input[pos..]) {
            let end = pos + found;
            if self.line.is_empty() {
                self.check(end - pos, base + pos as u64)?;
                emit(&input[pos..end], base + pos as u64, &mut on_line)?;
            } else {
                self.check(self.line.len() + end - pos, self.line_start)?;
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&input[pos..end]);
                let result = emit(&line, self.line_start, &mut on_line);
                line.clear();
                self.line = line;
                result?;
            }
            pos = end + 1;
        }
        if pos < input.len() {
            if self.line.is_empty() {
                self.line_start = base + pos as u64;
            }
            self.check(self.line.len() + input.len() - pos, self.line_start)?;
            self.line.extend_from_slice(&input[pos..]);
        }
        Ok(())
    }

    fn check<E>(&mut self, length: usize, line_start: u64) -> Result<(), LinesError<E>> {
        if length > self.max_line_size {
            let error = FrameError::LineTooLong { limit: self.max_line_size, line_start };
            self.failed = Some(error.clone());
            self.line = Vec::new();
            return Err(LinesError::Frame(error));
        }
        Ok(())
    }

    /// The last line when the stream did not end with a line ending (a complete document is often
    /// sent that way), with its offset; None when nothing is pending.
    pub fn finish(&mut self) -> Option<(Vec<u8>, u64)> {
        let line = std::mem::take(&mut self.line);
        let trimmed = trim(&line);
        (!trimmed.is_empty()).then(|| (trimmed.to_vec(), self.line_start))
    }
}

#[derive(Debug)]
pub enum LinesError<E> {
    Frame(FrameError),
    Line(E),
}

fn trim(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &line[start..end]
}

fn emit<E>(line: &[u8], offset: u64, on_line: &mut impl FnMut(&[u8], u64) -> Result<(), E>) -> Result<(), LinesError<E>> {
    let trimmed = trim(line);
    if trimmed.is_empty() {
        return Ok(());
    }
    let leading = trimmed.as_ptr() as usize - line.as_ptr() as usize;
    on_line(trimmed, offset + leading as u64).map_err(LinesError::Line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pieces: &[&[u8]]) -> (Vec<(String, u64)>, Option<(Vec<u8>, u64)>) {
        let mut splitter = JsonLinesSplitter::new(64);
        let mut out = Vec::new();
        for piece in pieces {
            splitter
                .feed::<()>(piece, |line, offset| {
                    out.push((String::from_utf8(line.to_vec()).unwrap(), offset));
                    Ok(())
                })
                .unwrap();
        }
        (out, splitter.finish())
    }

    #[test]
    fn splits_on_lf_drops_cr_and_blank_lines() {
        let expected = vec![("{\"a\":1}".to_owned(), 0), ("{\"b\":2}".to_owned(), 9), ("{}".to_owned(), 21)];
        assert_eq!(lines(&[b"{\"a\":1}\r\n{\"b\":2}\n\n  \n{}\n"]), (expected.clone(), None));
        assert_eq!(lines(&[b"{\"a\":1}\r", b"\n{\"b\"", b":2}\n\n  \n{}", b"\n"]), (expected, None));
    }

    #[test]
    fn line_end_is_past_the_last_line_ending() {
        let mut splitter = JsonLinesSplitter::new(64);
        let mut ends = Vec::new();
        for piece in [&b"{\"a\":1}\r"[..], b"\n{\"b\"", b":2}\n\n", b"{}"] {
            splitter.feed::<()>(piece, |_, _| Ok(())).unwrap();
            ends.push(splitter.line_end());
        }
        assert_eq!(ends, [0, 9, 18, 18]);
    }

    #[test]
    fn finish_returns_an_unterminated_last_line() {
        assert_eq!(lines(&[b"{}\n  {\"x\":1}  "]).1, Some((b"{\"x\":1}".to_vec(), 3)));
        assert_eq!(lines(&[b"{}\n \r"]).1, None);
    }

    #[test]
    fn long_lines_fail() {
        let mut splitter = JsonLinesSplitter::new(4);
        let result = splitter.feed::<()>(b"{}\n12345", |_, _| Ok(()));
        assert!(matches!(result, Err(LinesError::Frame(FrameError::LineTooLong { limit: 4, line_start: 3 }))));
        assert!(matches!(splitter.feed::<()>(b"\n", |_, _| Ok(())), Err(LinesError::Frame(_))));
    }
}
