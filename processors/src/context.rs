//! The per-request context handed to every processor of a chain: request metadata from the
//! receiver (HTTP headers or gRPC metadata) in, drop and audit counts out.

/// Request metadata carried from the receiver to the processors: header or gRPC metadata keys
/// (lower-case) and their values. Only printable values are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Vec<(String, String)>,
}

impl Metadata {
    /// Builds metadata from `(key, value)` pairs; keys are lower-cased.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        Metadata {
            entries: pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into()))
                .collect(),
        }
    }

    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Whether no metadata was carried.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Context of one request passing through one pipeline's processor chain.
#[derive(Debug)]
pub struct ProcessContext<'a> {
    metadata: &'a Metadata,
    dropped: u64,
    counts: Vec<(&'static str, String, u64)>,
}

impl<'a> ProcessContext<'a> {
    /// A fresh context for one request.
    pub fn new(metadata: &'a Metadata) -> Self {
        ProcessContext {
            metadata,
            dropped: 0,
            counts: Vec::new(),
        }
    }

    /// Request metadata from the receiver.
    pub fn metadata(&self) -> &Metadata {
        self.metadata
    }

    /// Records `n` items (spans, data points, log records) removed on purpose by a processor.
    pub fn record_dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    /// Items dropped so far in this request.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Adds `n` to the audit counter `name` with label value `label` (e.g. counter
    /// `redactions`, label = rule name). Never put request content in `label`.
    pub fn count(&mut self, name: &'static str, label: &str, n: u64) {
        if let Some(entry) = self
            .counts
            .iter_mut()
            .find(|(k, l, _)| *k == name && l == label)
        {
            entry.2 += n;
        } else {
            self.counts.push((name, label.to_string(), n));
        }
    }

    /// Audit counters recorded so far: `(name, label, value)`.
    pub fn counts(&self) -> &[(&'static str, String, u64)] {
        &self.counts
    }

    /// Returns the audit counters recorded so far and clears them; the pipeline calls this after
    /// each processor to attribute them to it.
    pub fn take_counts(&mut self) -> Vec<(&'static str, String, u64)> {
        std::mem::take(&mut self.counts)
    }

    /// Returns the drop count so far and resets it; the pipeline calls this after each
    /// processor to attribute drops to it.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}
