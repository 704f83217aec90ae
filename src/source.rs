//! Source text and byte spans.
//!
//! In: a file name and its text. Out: a [`Source`] that every later stage
//! borrows, and [`Span`]s that point into it for diagnostics.

use std::sync::Arc;

/// A policy's text with the name it was read from, kept once and shared.
#[derive(Clone, Debug)]
pub struct Source {
    name: Arc<str>,
    text: Arc<str>,
    /// Byte offset of the start of every line after the first, so that
    /// [`Source::line_col`] is a binary search, not a scan (a policy of
    /// 100k rules asks it once per rule).
    line_starts: Arc<[usize]>,
}

impl Source {
    /// Wraps `text` read from `name` (a path, or `<string>`).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text: Arc<str> = Arc::from(text.into());
        let line_starts = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        Source {
            name: Arc::from(name.into()),
            text,
            line_starts,
        }
    }

    /// The file name given to [`Source::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The shared text, for miette's `NamedSource`.
    pub fn shared_text(&self) -> Arc<str> {
        Arc::clone(&self.text)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        // Lines that start at or before `offset`, after the first.
        let after_first = self.line_starts.partition_point(|&s| s <= offset);
        let line_start = match after_first {
            0 => 0,
            n => self.line_starts[n - 1],
        };
        let col = self.text[line_start..offset].chars().count() + 1;
        (after_first + 1, col)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A byte range in a [`Source`].
///
/// Spans compare equal to each other whatever their offsets, so that syntax
/// trees and IR can be compared in tests without positions getting in the way.
#[derive(Clone, Copy, Debug, Default, Eq, serde::Serialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True when the span covers no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

impl std::hash::Hash for Span {
    fn hash<H: std::hash::Hasher>(&self, _state: &mut H) {}
}

impl From<pest::Span<'_>> for Span {
    fn from(s: pest::Span<'_>) -> Self {
        Span::new(s.start(), s.end())
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        miette::SourceSpan::new(s.start.into(), s.len())
    }
}
