//! [`PrefixRegexQuery`]: the documents holding a term of one field that starts with a given
//! prefix and whose rest matches a regular expression.
//!
//! Why not tantivy's `RegexQuery`: with sstable term dictionaries its automaton is tried on
//! every block of a segment's dictionary, even where a key range bounds the terms. Every
//! field query has such a pattern (a name like `CommandLine` also stands for the EVTX
//! profile's `Event.UserData.*.CommandLine`), so at 10M events each cost about 1 ms per
//! segment. Here the prefix bounds the stream of terms read (a path no event has costs one
//! block lookup) and the regex tests only the rest of the terms inside it (so a pattern like
//! `*needle*` gets the regex crate's literal search instead of a walk from an anchor).

use std::fmt;
use std::sync::Arc;

use tantivy::postings::TermInfo;
use tantivy::query::{ConstScorer, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError};

use crate::StoreError;

/// Compiled patterns larger than this are refused (a hostile wildcard is a clear error).
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// Terms of `field` that are `prefix` followed by text `regex` matches.
#[derive(Clone)]
pub(crate) struct PrefixRegexQuery {
    field: Field,
    prefix: Vec<u8>,
    regex: Arc<regex::bytes::Regex>,
}

impl PrefixRegexQuery {
    /// Terms `prefix` + `rest` where `rest` matches `pattern` as a whole.
    pub(crate) fn new(field: Field, prefix: &str, pattern: &str) -> Result<Self, StoreError> {
        Self::with_anchors(field, prefix, pattern, true, true)
    }

    /// Terms `prefix` + `rest` where `pattern` matches within `rest`: at its start when
    /// `starts`, at its end when `ends`.
    pub(crate) fn with_anchors(
        field: Field,
        prefix: &str,
        pattern: &str,
        starts: bool,
        ends: bool,
    ) -> Result<Self, StoreError> {
        let anchored = format!(
            "{}(?:{pattern}){}",
            if starts { "^" } else { "" },
            if ends { "$" } else { "" }
        );
        let regex = regex::bytes::RegexBuilder::new(&anchored)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| StoreError::Query(format!("wildcard or path pattern too complex: {e}")))?;
        Ok(PrefixRegexQuery {
            field,
            prefix: prefix.as_bytes().to_vec(),
            regex: Arc::new(regex),
        })
    }

    /// The term infos of the matching terms of one segment.
    fn term_infos(&self, reader: &SegmentReader) -> tantivy::Result<Vec<TermInfo>> {
        let inverted = reader.inverted_index(self.field)?;
        let mut range = inverted.terms().range().ge(&self.prefix);
        if let Some(end) = prefix_end(&self.prefix) {
            range = range.lt(end);
        }
        let mut stream = range.into_stream()?;
        let mut out = Vec::new();
        while stream.advance() {
            // Every key of the range starts with the prefix.
            if let Some(rest) = stream.key().strip_prefix(self.prefix.as_slice())
                && self.regex.is_match(rest)
            {
                out.push(stream.value().clone());
            }
        }
        Ok(out)
    }
}

/// The smallest key greater than every key starting with `prefix` (none when the prefix is
/// empty or all `0xff`).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl fmt::Debug for PrefixRegexQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefixRegexQuery")
            .field("field", &self.field)
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("regex", &self.regex.as_str())
            .finish()
    }
}

impl Query for PrefixRegexQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for PrefixRegexQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let infos = self.term_infos(reader)?;
        if infos.is_empty() {
            return Ok(Box::new(EmptyScorer));
        }
        let inverted = reader.inverted_index(self.field)?;
        let mut docs: Vec<DocId> = Vec::new();
        for info in &infos {
            let mut postings =
                inverted.read_block_postings_from_terminfo(info, IndexRecordOption::Basic)?;
            loop {
                let block = postings.docs();
                if block.is_empty() {
                    break;
                }
                docs.extend_from_slice(block);
                postings.advance();
            }
        }
        if infos.len() > 1 {
            docs.sort_unstable();
            docs.dedup();
        }
        Ok(Box::new(ConstScorer::new(
            SortedDocs { docs, at: 0 },
            boost,
        )))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc {
            Ok(Explanation::new("PrefixRegexQuery", 1.0))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )))
        }
    }
}

/// A sorted list of distinct documents as a [`DocSet`].
struct SortedDocs {
    docs: Vec<DocId>,
    at: usize,
}

impl DocSet for SortedDocs {
    fn advance(&mut self) -> DocId {
        self.at = (self.at + 1).min(self.docs.len());
        self.doc()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let rest = &self.docs[self.at..];
        self.at += rest.partition_point(|&d| d < target);
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.at).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        u32::try_from(self.docs.len() - self.at).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::{SortedDocs, prefix_end};
    use tantivy::{DocSet, TERMINATED};

    #[test]
    fn patterns_too_large_are_a_query_error() {
        let field = tantivy::schema::Field::from_field_id(0);
        assert!(super::PrefixRegexQuery::new(field, "a", "x.*y").is_ok());
        let huge = "(?:[a-z]{100}){1000}";
        assert!(matches!(
            super::PrefixRegexQuery::new(field, "a", huge),
            Err(crate::StoreError::Query(m)) if m.contains("too complex")
        ));
    }

    #[test]
    fn sorted_docs_advance_and_seek() {
        let mut d = SortedDocs {
            docs: vec![1, 4, 9, 12],
            at: 0,
        };
        assert_eq!(d.doc(), 1);
        assert_eq!(d.seek(4), 4);
        assert_eq!(d.seek(5), 9);
        assert_eq!(d.size_hint(), 2);
        assert_eq!(d.advance(), 12);
        assert_eq!(d.advance(), TERMINATED);
        assert_eq!(d.advance(), TERMINATED);
        let mut empty = SortedDocs {
            docs: vec![],
            at: 0,
        };
        assert_eq!(empty.doc(), TERMINATED);
        assert_eq!(empty.seek(3), TERMINATED);
    }

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
