//! Incremental splitter for streams of one JSON document per line (no `data:` framing), as some gateways
//! stream chat chunks. Lines end at LF; a CR before it is dropped; blank lines are skipped. A line that
//! opens a document it does not close (`{` alone: a pretty-printed body, typically a provider's error
//! object) goes on over the next lines until its brackets balance. Like the event-stream framer, it
//! scans each feed once, carries only an unfinished line (or document) and bounds its size.

use memchr::memchr;

use crate::event_stream::FrameError;

#[derive(Debug, Clone)]
pub struct JsonLinesSplitter {
    max_line_size: usize,
    offset: u64,
    line: Vec<u8>,
    line_start: u64,
    /// A document that spans lines is being read: how its brackets stand at the end of `line`.
    open: Option<Nesting>,
    /// How much of `line` the nesting scan has seen.
    scanned: usize,
    failed: Option<FrameError>,
}

/// How the brackets of a document stand after some of its bytes (strings told apart, so that a `{`
/// inside one does not count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Nesting {
    depth: u32,
    in_string: bool,
    escaped: bool,
}

impl Nesting {
    /// Goes over `bytes`; false when they close more than is open (not a document: left to the JSON
    /// scanner to report).
    fn scan(&mut self, bytes: &[u8]) -> bool {
        for &byte in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth == 0 => return false,
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
        true
    }

    /// At a line ending: the document goes on (brackets open, not inside a string, where a line
    /// ending cannot be).
    fn goes_on(&self) -> bool {
        self.depth > 0 && !self.in_string
    }
}

/// A line that starts a document and does not end like one (`{`, `{"error": {`): it may go on.
fn opens_a_document(line: &[u8]) -> bool {
    let trimmed = trim(line);
    matches!(trimmed.first(), Some(b'{' | b'[')) && !matches!(trimmed.last(), Some(b'}' | b']'))
}

impl JsonLinesSplitter {
    pub fn new(max_line_size: usize) -> Self {
        JsonLinesSplitter { max_line_size, offset: 0, line: Vec::new(), line_start: 0, open: None, scanned: 0, failed: None }
    }

    /// The limit error that stopped the splitter, if one did.
    pub fn failed(&self) -> Option<&FrameError> {
        self.failed.as_ref()
    }

    /// Counts `n` bytes of the stream that the caller consumed itself (a BOM), so offsets stay right.
    pub fn skip_bytes(&mut self, n: usize) {
        self.offset += n as u64;
    }

    /// The stream offset just past the last line ending that ends a payload: the bytes before it are
    /// whole lines (a document still open over several lines is after it).
    pub fn line_end(&self) -> u64 {
        self.offset - self.line.len() as u64
    }

    /// Calls `on_line(line, stream_offset, (start, end))` for each complete non-blank line (or document)
    /// of `input`; `start..end` is its raw span in the stream, from the start of its (first) line to
    /// past its LF.
    pub fn feed<E>(
        &mut self,
        input: &[u8],
        mut on_line: impl FnMut(&[u8], u64, (u64, u64)) -> Result<(), E>,
    ) -> Result<(), LinesError<E>> {
        if let Some(error) = &self.failed {
            return Err(LinesError::Frame(error.clone()));
        }
        let base = self.offset;
        self.offset += input.len() as u64;
        let mut pos = 0;
        while let Some(found) = memchr(b'\n', &input[pos..]) {
            let end = pos + found;
            let segment = &input[pos..end];
            let line_end = base + end as u64 + 1;
            if self.line.is_empty() && self.open.is_none() {
                self.check(segment.len(), base + pos as u64)?;
                if opens_a_document(segment) {
                    self.open_document(segment, base + pos as u64, line_end, &mut on_line)?;
                } else {
                    emit(segment, base + pos as u64, line_end, &mut on_line)?;
                }
            } else {
                self.check(self.line.len() + segment.len(), self.line_start)?;
                self.line.extend_from_slice(segment);
                self.end_line(line_end, &mut on_line)?;
            }
            pos = end + 1;
        }
        if pos < input.len() {
            if self.line.is_empty() && self.open.is_none() {
                self.line_start = base + pos as u64;
            }
            self.check(self.line.len() + input.len() - pos, self.line_start)?;
            self.line.extend_from_slice(&input[pos..]);
        }
        Ok(())
    }

    /// A line that opens a document lying in the input: carried when the document goes on.
    fn open_document<E>(&mut self, line: &[u8], offset: u64, line_end: u64, on_line: &mut impl FnMut(&[u8], u64, (u64, u64)) -> Result<(), E>) -> Result<(), LinesError<E>> {
        let mut nesting = Nesting::default();
        if nesting.scan(line) && nesting.goes_on() {
            self.line.extend_from_slice(line);
            self.line.push(b'\n');
            self.line_start = offset;
            self.open = Some(nesting);
            self.scanned = self.line.len();
            return Ok(());
        }
        emit(line, offset, line_end, on_line)
    }

    /// `line` holds a whole line (after any earlier lines of an open document): emits it unless it
    /// leaves a document open.
    fn end_line<E>(&mut self, line_end: u64, on_line: &mut impl FnMut(&[u8], u64, (u64, u64)) -> Result<(), E>) -> Result<(), LinesError<E>> {
        let open = match self.open {
            Some(mut nesting) => {
                // Only the bytes after the carried ones are new to the scan.
                let scanned = self.scanned;
                nesting.scan(&self.line[scanned..]).then_some(nesting).filter(Nesting::goes_on)
            }
            None if opens_a_document(&self.line) => {
                let mut nesting = Nesting::default();
                nesting.scan(&self.line).then_some(nesting).filter(Nesting::goes_on)
            }
            None => None,
        };
        if let Some(nesting) = open {
            self.line.push(b'\n');
            self.open = Some(nesting);
            self.scanned = self.line.len();
            return Ok(());
        }
        self.open = None;
        self.scanned = 0;
        let line = std::mem::take(&mut self.line);
        let result = emit(&line, self.line_start, line_end, on_line);
        self.line = line;
        self.line.clear(); // keep the allocation for the next carried line
        result
    }

    fn check<E>(&mut self, length: usize, line_start: u64) -> Result<(), LinesError<E>> {
        if length > self.max_line_size {
            let error = FrameError::LineTooLong { limit: self.max_line_size, line_start };
            self.failed = Some(error.clone());
            self.line = Vec::new();
            self.open = None;
            return Err(LinesError::Frame(error));
        }
        Ok(())
    }

    /// The last line (or open document) when the stream did not end with a line ending (a complete
    /// document is often sent that way), with the offset of its first non-blank byte; None when
    /// nothing is pending.
    pub fn finish(&mut self) -> Option<(Vec<u8>, u64)> {
        if self.failed.is_some() {
            return None;
        }
        let line = std::mem::take(&mut self.line);
        self.open = None;
        let trimmed = trim(&line);
        let leading = trimmed.as_ptr() as usize - line.as_ptr() as usize;
        (!trimmed.is_empty()).then(|| (trimmed.to_vec(), self.line_start + leading as u64))
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

fn emit<E>(line: &[u8], offset: u64, line_end: u64, on_line: &mut impl FnMut(&[u8], u64, (u64, u64)) -> Result<(), E>) -> Result<(), LinesError<E>> {
    let trimmed = trim(line);
    if trimmed.is_empty() {
        return Ok(());
    }
    let leading = trimmed.as_ptr() as usize - line.as_ptr() as usize;
    on_line(trimmed, offset + leading as u64, (offset, line_end)).map_err(LinesError::Line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pieces: &[&[u8]]) -> (Vec<(String, u64)>, Option<(Vec<u8>, u64)>) {
        let mut splitter = JsonLinesSplitter::new(256);
        let mut out = Vec::new();
        for piece in pieces {
            splitter
                .feed::<()>(piece, |line, offset, _| {
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
            splitter.feed::<()>(piece, |_, _, _| Ok(())).unwrap();
            ends.push(splitter.line_end());
        }
        assert_eq!(ends, [0, 9, 18, 18]);
    }

    #[test]
    fn finish_returns_an_unterminated_last_line() {
        // The offset is that of the document, after the blank space that opens the line.
        assert_eq!(lines(&[b"{}\n  {\"x\":1}  "]).1, Some((b"{\"x\":1}".to_vec(), 5)));
        assert_eq!(lines(&[b"{}\n \r"]).1, None);
    }

    #[test]
    fn long_lines_fail() {
        let mut splitter = JsonLinesSplitter::new(4);
        let result = splitter.feed::<()>(b"{}\n12345", |_, _, _| Ok(()));
        assert!(matches!(result, Err(LinesError::Frame(FrameError::LineTooLong { limit: 4, line_start: 3 }))));
        assert!(matches!(splitter.feed::<()>(b"\n", |_, _, _| Ok(())), Err(LinesError::Frame(_))));
    }

    #[test]
    fn a_document_over_several_lines_is_one_payload_however_cut() {
        let body = b"{\"a\":1}\n{\n  \"error\": {\n    \"message\": \"a { in \\\" text\",\n    \"code\": 400\n  }\r\n}\n{\"b\":[\n2]}\n";
        let document = b"{\n  \"error\": {\n    \"message\": \"a { in \\\" text\",\n    \"code\": 400\n  }\r\n}";
        let expected = vec![
            ("{\"a\":1}".to_owned(), 0),
            (String::from_utf8(document.to_vec()).unwrap(), 8),
            ("{\"b\":[\n2]}".to_owned(), 8 + document.len() as u64 + 1),
        ];
        for cut in 0..=body.len() {
            assert_eq!(lines(&[&body[..cut], &body[cut..]]), (expected.clone(), None), "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(lines(&bytes), (expected, None));
    }

    #[test]
    fn a_line_ending_inside_a_string_ends_the_line() {
        // A line ending cannot be inside a JSON string: the cut line is a payload of its own (bad
        // JSON for the consumer to report), and the next lines are read as they are.
        let (out, _) = lines(&[b"{\"a\":\"cut\n{\"b\":1}\n"]);
        assert_eq!(out, vec![("{\"a\":\"cut".to_owned(), 0), ("{\"b\":1}".to_owned(), 10)]);
    }

    #[test]
    fn an_open_document_is_bounded_and_finished_at_the_end() {
        let mut splitter = JsonLinesSplitter::new(16);
        let result = splitter.feed::<()>(b"{\n\"a\": 1,\n\"b\": 2,\n", |_, _, _| Ok(()));
        assert!(matches!(result, Err(LinesError::Frame(FrameError::LineTooLong { limit: 16, line_start: 0 }))));
        let mut splitter = JsonLinesSplitter::new(64);
        splitter.feed::<()>(b"\n {\n\"a\": 1", |_, _, _| panic!("not complete")).unwrap();
        assert_eq!(splitter.finish(), Some((b"{\n\"a\": 1".to_vec(), 2)));
    }
}
