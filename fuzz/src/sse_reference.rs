//! WHATWG HTML §9.2.6, "Interpreting an event stream", transcribed step by step over a whole stream
//! of decoded text: slow and plainly right, the oracle of the `framer` target. It knows nothing of
//! `chatsse::event_stream` (no shared code), so that a misreading of the spec shows as a difference.
//!
//! Two things beyond the spec, both of the framer's documented API: `retry` is also reported per event
//! (the valid value given in that event's block), and `dispatch_unterminated` (the end of the stream
//! treated as a line ending and a blank line) can be asked for.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceEvent {
    /// The event type ("message" when the block set none).
    pub event_type: String,
    pub data: String,
    pub last_event_id: String,
    pub retry: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReferenceResult {
    pub events: Vec<ReferenceEvent>,
    /// The event source's last event ID string at the end.
    pub last_event_id: String,
    /// The event stream's reconnection time at the end, if a valid `retry` ever set it.
    pub retry: Option<u64>,
    /// At the end, the pending block held a field (`data`, `event`, `id`, `retry`) or the text after
    /// the last line ending was not empty and not a comment: the stream stopped inside an event.
    pub cut_inside_event: bool,
}

#[derive(Default)]
struct Interpreter {
    result: ReferenceResult,
    data_buffer: String,
    event_type_buffer: String,
    last_event_id_buffer: String,
    block_retry: Option<u64>,
    block_has_fields: bool,
}

impl Interpreter {
    /// "Process the field" for one line that is not blank and not a comment.
    fn process_field(&mut self, field: &str, value: &str) {
        match field {
            "event" => {
                self.block_has_fields = true;
                self.event_type_buffer = value.to_owned();
            }
            "data" => {
                self.block_has_fields = true;
                self.data_buffer.push_str(value);
                self.data_buffer.push('\n');
            }
            "id" => {
                self.block_has_fields = true;
                if !value.contains('\0') {
                    self.last_event_id_buffer = value.to_owned();
                }
            }
            "retry" => {
                self.block_has_fields = true;
                // "If the field value consists of only ASCII digits": an empty value is not a number.
                if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
                    // A value beyond u64 means "practically never": it saturates (the framer's rule).
                    let milliseconds = value.parse::<u64>().unwrap_or(u64::MAX);
                    self.result.retry = Some(milliseconds);
                    self.block_retry = Some(milliseconds);
                }
            }
            _ => {}
        }
    }

    /// One line, without its line ending.
    fn line(&mut self, line: &str) {
        if line.is_empty() {
            self.dispatch();
        } else if line.starts_with(':') {
            // A comment: ignored.
        } else if let Some((field, value)) = line.split_once(':') {
            let value = value.strip_prefix(' ').unwrap_or(value);
            self.process_field(field, value);
        } else {
            self.process_field(line, "");
        }
    }

    /// "Dispatch the event".
    fn dispatch(&mut self) {
        // Step 1: the last event ID string takes the buffer's value (the buffer is kept).
        self.result.last_event_id = self.last_event_id_buffer.clone();
        // Step 2: an empty data buffer dispatches nothing.
        if self.data_buffer.is_empty() {
            self.reset_block();
            return;
        }
        // Step 3: one trailing LF is removed.
        let mut data = std::mem::take(&mut self.data_buffer);
        if data.ends_with('\n') {
            data.pop();
        }
        let event_type = if self.event_type_buffer.is_empty() { "message".to_owned() } else { self.event_type_buffer.clone() };
        self.result.events.push(ReferenceEvent {
            event_type,
            data,
            last_event_id: self.result.last_event_id.clone(),
            retry: self.block_retry,
        });
        self.reset_block();
    }

    fn reset_block(&mut self) {
        self.data_buffer.clear();
        self.event_type_buffer.clear();
        self.block_retry = None;
        self.block_has_fields = false;
    }
}

/// Interprets a whole stream. With `dispatch_unterminated`, the text after the last line ending is
/// processed as a line and the pending block is then dispatched as if a blank line followed.
pub fn interpret(stream: &[u8], dispatch_unterminated: bool) -> ReferenceResult {
    // The stream is decoded as UTF-8, invalid sequences becoming U+FFFD; one leading BOM is dropped.
    let decoded = String::from_utf8_lossy(stream);
    let text = decoded.strip_prefix('\u{FEFF}').unwrap_or(&decoded);
    let mut interpreter = Interpreter::default();
    // Lines end at CRLF, at a lone LF, or at a lone CR.
    let mut rest = text;
    loop {
        let Some(end) = rest.find(['\r', '\n']) else { break };
        interpreter.line(&rest[..end]);
        let after = if rest[end..].starts_with("\r\n") { end + 2 } else { end + 1 };
        rest = &rest[after..];
    }
    // `rest` never got its line ending: at the end of the stream it is discarded with the block.
    if dispatch_unterminated {
        if !rest.is_empty() {
            interpreter.line(rest);
        }
        interpreter.dispatch();
    } else {
        let unfinished_line = !rest.is_empty() && !rest.starts_with(':');
        interpreter.result.cut_inside_event = interpreter.block_has_fields || unfinished_line;
    }
    interpreter.result
}
