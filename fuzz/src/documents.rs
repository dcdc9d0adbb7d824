//! Valid JSON documents for the prefix targets: the fuzz input itself when serde_json accepts it
//! (the seeds are real chunk payloads), else a document generated from the input's bytes, with
//! every kind of value, escapes of every form, numbers with fractions, exponents and signs, and
//! whitespace between tokens.

/// A valid JSON document made from `input`.
pub fn document(input: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(input) {
        if serde_json::from_str::<serde_json::Value>(text).is_ok() {
            return text.to_owned();
        }
    }
    let mut generator = Generator { input, pos: 0, out: String::new() };
    generator.value(0);
    debug_assert!(serde_json::from_str::<serde_json::Value>(&generator.out).is_ok(), "{}", generator.out);
    generator.out
}

const STRING_PIECES: &[&str] = &[
    "a", "city", "Paris", " ", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\b\\f\\r", "\\u00e9", "\\u0000", "\\uD83D\\uDE00",
    "\\ud83d\\ude00", "é", "日本", "😀", "{", "}", "[", "]", ":", ",", "true", "-1.5",
];
const NUMBERS: &[&str] = &["0", "-0", "7", "-12", "3.25", "-0.5", "1e5", "1E+5", "2.5e-3", "-6.02E23", "10.0", "123456789012345678901234567890"];

struct Generator<'a> {
    input: &'a [u8],
    pos: usize,
    out: String,
}

impl Generator<'_> {
    fn below(&mut self, bound: usize) -> usize {
        let byte = self.input.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        byte as usize % bound
    }

    fn space(&mut self) {
        if self.below(5) == 0 {
            let space = [" ", "\n", "\t", "\r\n  "][self.below(4)];
            self.out.push_str(space);
        }
    }

    fn string(&mut self) {
        self.out.push('"');
        for _ in 0..self.below(4) {
            let piece = STRING_PIECES[self.below(STRING_PIECES.len())];
            self.out.push_str(piece);
        }
        self.out.push('"');
    }

    fn value(&mut self, depth: usize) {
        let kinds = if depth >= 6 || self.pos >= self.input.len() { 5 } else { 7 };
        match self.below(kinds) {
            0 => {
                let literal = ["null", "true", "false"][self.below(3)];
                self.out.push_str(literal);
            }
            1 | 2 => {
                let number = NUMBERS[self.below(NUMBERS.len())];
                self.out.push_str(number);
            }
            3 | 4 => self.string(),
            5 => {
                self.out.push('[');
                for n in 0..self.below(4) {
                    if n > 0 {
                        self.out.push(',');
                    }
                    self.space();
                    self.value(depth + 1);
                    self.space();
                }
                self.out.push(']');
            }
            _ => {
                self.out.push('{');
                for n in 0..self.below(4) {
                    if n > 0 {
                        self.out.push(',');
                    }
                    self.space();
                    self.string();
                    self.space();
                    self.out.push(':');
                    self.space();
                    self.value(depth + 1);
                    self.space();
                }
                self.out.push('}');
            }
        }
    }
}
