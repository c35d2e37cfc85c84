//! The reader's input, with a bound on how long it may stand still.
//!
//! just-kdl 0.3 loops forever on some unclosed multi-line strings inside a
//! slashdash (`/-n """⏎  foo \⏎Y"⏎`): matching the next line's indent at the
//! end of the file peeks an empty slice and never advances. Every correct
//! path through its lexer peeks a few times and then consumes input, so an
//! input that has been peeked [`MAX_PEEKS_WITHOUT_PROGRESS`] times at the
//! same offset ends the read with an error instead. That bounds the whole
//! read by `(len + 1) × MAX_PEEKS_WITHOUT_PROGRESS` peeks, whatever the
//! lexer's bugs.

use just_kdl::lexer::{Input, LexerError};

/// Far above the handful of peeks one step of the lexer makes.
const MAX_PEEKS_WITHOUT_PROGRESS: u32 = 256;

pub(super) struct GuardedInput<'a> {
    rest: &'a [u8],
    offset: usize,
    peeks_here: u32,
}

impl<'a> GuardedInput<'a> {
    pub(super) fn new(text: &'a [u8]) -> Self {
        GuardedInput { rest: text, offset: 0, peeks_here: 0 }
    }
}

impl Input for GuardedInput<'_> {
    fn peek(&mut self, _n: usize) -> Result<&[u8], LexerError> {
        self.peeks_here += 1;
        if self.peeks_here > MAX_PEEKS_WITHOUT_PROGRESS {
            return Err(if self.rest.is_empty() {
                LexerError::UnexpectedEof(self.offset)
            } else {
                LexerError::Io(std::io::Error::other(format!("the reader stopped making progress at {}", self.offset)))
            });
        }
        Ok(self.rest)
    }

    fn advance(&mut self, n: usize) {
        self.rest = &self.rest[n..];
        self.offset += n;
        if n > 0 {
            self.peeks_here = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use just_kdl::reader::Reader;

    fn read_all(text: &str) -> Vec<String> {
        Reader::new(GuardedInput::new(text.as_bytes()))
            .filter_map(|item| item.err().map(|(error, _)| error.to_string()))
            .collect()
    }

    #[test]
    fn an_unclosed_multiline_string_in_a_slashdash_ends_with_an_error() {
        // Hangs just-kdl 0.3 when read from a plain `&[u8]`.
        let errors = read_all("/-n \"\"\"\n  foo \\\nY\"\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("Unexpected end-of-file"), "{errors:?}");
    }

    #[test]
    fn valid_documents_read_the_same_as_from_a_slice() {
        let text = "a 1 \"two\" k=#true {\n  b \"\"\"\n    multi\n    line\n    \"\"\"\n}\n/-c { d }\n";
        let plain: Vec<_> = Reader::new(text.as_bytes()).map(|item| format!("{item:?}")).collect();
        let guarded: Vec<_> = Reader::new(GuardedInput::new(text.as_bytes())).map(|item| format!("{item:?}")).collect();
        assert_eq!(plain, guarded);
    }
}
