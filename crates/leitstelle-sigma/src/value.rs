//! Sigma values after their modifiers are applied: what a single value of a detection item
//! tests against one event field.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use ipnet::IpNet;
use regex::Regex;

/// One part of a Sigma string: literal text or a wildcard.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Piece {
    Lit(String),
    /// `*`: any run of characters, also empty.
    AnyStr,
    /// `?`: exactly one character.
    AnyChar,
}

/// A Sigma string pattern. Literal text of a case-insensitive pattern is stored lowercased.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern {
    pub pieces: Vec<Piece>,
    pub cased: bool,
    /// The pieces as one token per character, for wildcard matching without allocating.
    toks: Box<[Tok]>,
}

/// What a pattern looks like, for the compiled matcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape<'a> {
    Exact(&'a str),
    Prefix(&'a str),
    Suffix(&'a str),
    Contains(&'a str),
    /// `*`: any value at all (but not a missing or null field).
    Any,
    /// Anything else: literals mixed with wildcards.
    Glob,
}

impl Pattern {
    /// Normalises pieces: merges adjacent literals, collapses runs of `*`, lowercases literals
    /// of a case-insensitive pattern.
    pub fn new(pieces: Vec<Piece>, cased: bool) -> Self {
        let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
        for p in pieces {
            match (out.last_mut(), p) {
                (_, Piece::Lit(s)) if s.is_empty() => {}
                (Some(Piece::Lit(prev)), Piece::Lit(s)) => prev.push_str(&s),
                (Some(Piece::AnyStr), Piece::AnyStr) => {}
                (_, p) => out.push(p),
            }
        }
        if !cased {
            for p in &mut out {
                if let Piece::Lit(s) = p {
                    *s = fold(s);
                }
            }
        }
        let mut pattern = Pattern {
            pieces: out,
            cased,
            toks: Box::default(),
        };
        // Only globs need the tokens; the other shapes are string comparisons (most patterns
        // of a rule set: the tokens, 4 bytes per character, were MBs over SigmaHQ).
        if pattern.shape() == Shape::Glob {
            pattern.toks = tokens(&pattern.pieces);
        }
        pattern
    }

    /// A pattern of literal text (no wildcards).
    pub fn literal(text: &str, cased: bool) -> Self {
        Pattern::new(vec![Piece::Lit(text.to_string())], cased)
    }

    pub fn shape(&self) -> Shape<'_> {
        use Piece::*;
        match self.pieces.as_slice() {
            [] => Shape::Exact(""),
            [Lit(s)] => Shape::Exact(s),
            [Lit(s), AnyStr] => Shape::Prefix(s),
            [AnyStr, Lit(s)] => Shape::Suffix(s),
            [AnyStr, Lit(s), AnyStr] => Shape::Contains(s),
            [AnyStr] => Shape::Any,
            _ => Shape::Glob,
        }
    }

    /// The longest literal piece (used as the prefilter needle of a glob).
    pub fn longest_literal(&self) -> Option<&str> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Lit(s) => Some(s.as_str()),
                _ => None,
            })
            .max_by_key(|s| s.len())
    }

    /// Whether `text` matches. `text` must already be folded when the pattern is not cased
    /// (see [`fold`]).
    pub fn matches_folded(&self, text: &str) -> bool {
        match self.shape() {
            Shape::Exact(s) => text == s,
            Shape::Prefix(s) => text.starts_with(s),
            Shape::Suffix(s) => text.ends_with(s),
            Shape::Contains(s) => text.contains(s),
            Shape::Any => true,
            Shape::Glob if text.is_ascii() => {
                glob_match(&self.toks, text.as_bytes(), |b: &u8| *b as char)
            }
            Shape::Glob => {
                let chars: Vec<char> = text.chars().collect();
                glob_match(&self.toks, &chars, |c: &char| *c)
            }
        }
    }

    /// Whether `text` matches (folding it first when the pattern is case-insensitive).
    pub fn matches(&self, text: &str) -> bool {
        if self.cased {
            return self.matches_folded(text);
        }
        if !text.is_ascii() {
            return self.matches_folded(&fold(text));
        }
        // ASCII folds byte by byte: no allocation. The pattern's literals are folded already,
        // so comparing both sides lowercased is comparing the folded text.
        let t = text.as_bytes();
        let eq = |a: &[u8], s: &str| a.eq_ignore_ascii_case(s.as_bytes());
        match self.shape() {
            Shape::Exact(s) => eq(t, s),
            Shape::Prefix(s) => t.len() >= s.len() && eq(&t[..s.len()], s),
            Shape::Suffix(s) => t.len() >= s.len() && eq(&t[t.len() - s.len()..], s),
            Shape::Contains(s) => s.is_empty() || t.windows(s.len()).any(|w| eq(w, s)),
            Shape::Any => true,
            Shape::Glob => glob_match(&self.toks, t, |b: &u8| b.to_ascii_lowercase() as char),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => {
                    for c in s.chars() {
                        if matches!(c, '*' | '?' | '\\') {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                }
                Piece::AnyStr => f.write_str("*")?,
                Piece::AnyChar => f.write_str("?")?,
            }
        }
        Ok(())
    }
}

/// Case folding used for case-insensitive matching everywhere in the engine: each character
/// to its lowercase when that is a single character (so folding never depends on the
/// neighbouring letters, as `str::to_lowercase` does for a final sigma, and never changes the
/// number of characters, as `İ` -> `i̇` would). ASCII text folds to its ASCII lowercase.
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.chars().map(fold_char).collect()
}

#[inline]
pub(crate) fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if (c as u32) < 0x100 {
        // Latin-1 (`®` in every Windows product name): only `À`..=`Þ` but `×` have a
        // lowercase, 32 above (tested against `to_lowercase` below).
        return if ('\u{C0}'..='\u{DE}').contains(&c) && c != '\u{D7}' {
            char::from_u32(c as u32 + 32).unwrap_or(c)
        } else {
            c
        };
    }
    fold_char_slow(c)
}

fn fold_char_slow(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// The pieces as one token per character.
fn tokens(pieces: &[Piece]) -> Box<[Tok]> {
    let mut toks = Vec::new();
    for p in pieces {
        match p {
            Piece::Lit(s) => toks.extend(s.chars().map(Tok::Char)),
            Piece::AnyStr => toks.push(Tok::Star),
            Piece::AnyChar => toks.push(Tok::One),
        }
    }
    toks.into_boxed_slice()
}

/// Wildcard match of tokens over a text (as bytes of ASCII text, or chars), iterative with
/// backtracking to the last `*`: linear in practice, no recursion, no allocation.
fn glob_match<T>(toks: &[Tok], t: &[T], ch: impl Fn(&T) -> char) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<usize> = None;
    let mut mark = 0usize;
    while ti < t.len() {
        match toks.get(pi) {
            Some(Tok::Char(c)) if *c == ch(&t[ti]) => {
                pi += 1;
                ti += 1;
            }
            Some(Tok::One) => {
                pi += 1;
                ti += 1;
            }
            Some(Tok::Star) => {
                star = Some(pi);
                mark = ti;
                pi += 1;
            }
            _ => match star {
                Some(s) => {
                    pi = s + 1;
                    mark += 1;
                    ti = mark;
                }
                None => return false,
            },
        }
    }
    toks[pi..].iter().all(|t| matches!(t, Tok::Star))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Tok {
    Char(char),
    Star,
    One,
}

/// Parses a Sigma string value: `*` and `?` are wildcards, `\` escapes `*`, `?` and `\`;
/// any other backslash is literal.
pub fn parse_sigma_string(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n) if matches!(n, '*' | '?' | '\\') => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(if c == '*' {
                    Piece::AnyStr
                } else {
                    Piece::AnyChar
                });
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
    Neq,
}

impl Cmp {
    pub fn holds(self, have: f64, want: f64) -> bool {
        match self {
            Cmp::Lt => have < want,
            Cmp::Lte => have <= want,
            Cmp::Gt => have > want,
            Cmp::Gte => have >= want,
            Cmp::Eq => have == want,
            Cmp::Neq => have != want,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// How a `fieldref` compares the two fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefKind {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

/// What one value of a detection item tests on one field.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// A string pattern (wildcards, case-insensitive unless `cased`).
    Str(Pattern),
    /// `re`: a regular expression (case-sensitive unless the `i` flag is set).
    Re(Regex),
    /// `cidr`: the field is an IP address inside the network.
    Cidr(IpNet),
    /// `lt`/`lte`/`gt`/`gte`: the field is a number in that relation to the value.
    Num(Cmp, f64),
    /// `null`: the field is missing or null.
    Null,
    /// `exists: true/false`.
    Exists(bool),
    /// `fieldref`: compare with the value of another field of the same event.
    FieldRef {
        field: String,
        kind: RefKind,
        cased: bool,
    },
    /// Time modifiers: the date in the field, that part of it, compared with the value.
    Time {
        part: TimePart,
        cmp: Cmp,
        value: i64,
    },
    /// `neq`: none of the alternatives matches.
    NotAny(Vec<Matcher>),
}

impl Matcher {
    /// This matcher and every matcher inside it (`neq` wraps others).
    pub fn flatten(&self) -> Vec<&Matcher> {
        match self {
            Matcher::NotAny(inner) => std::iter::once(self)
                .chain(inner.iter().flat_map(Matcher::flatten))
                .collect(),
            other => vec![other],
        }
    }

    /// A key that is equal for matchers that test the same thing (used to share predicates).
    pub fn key(&self) -> String {
        match self {
            Matcher::Str(p) => format!("s{}:{p}", p.cased as u8),
            Matcher::Re(r) => format!("r:{}", r.as_str()),
            Matcher::Cidr(n) => format!("c:{n}"),
            Matcher::Num(c, v) => format!("n:{c:?}:{v}"),
            Matcher::Null => "null".into(),
            Matcher::Exists(b) => format!("e:{b}"),
            Matcher::FieldRef { field, kind, cased } => format!("f:{kind:?}:{cased}:{field}"),
            Matcher::Time { part, cmp, value } => format!("t:{part:?}:{cmp:?}:{value}"),
            Matcher::NotAny(v) => {
                let inner: Vec<String> = v.iter().map(Matcher::key).collect();
                format!("neq[{}]", inner.join("\u{1}"))
            }
        }
    }
}

/// A failure to build a value; the rule is reported and skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    pub message: String,
    pub placeholder: bool,
    pub regex: bool,
}

impl ValueError {
    fn new(message: impl Into<String>) -> Self {
        ValueError {
            message: message.into(),
            placeholder: false,
            regex: false,
        }
    }
}

/// Working representation while modifiers are applied in order.
#[derive(Clone, Debug)]
pub(crate) enum Work {
    Str(Vec<Piece>),
    Bytes(Vec<u8>),
}

fn plain_bytes(w: &Work, modifier: &str) -> Result<Vec<u8>, ValueError> {
    match w {
        Work::Bytes(b) => Ok(b.clone()),
        Work::Str(pieces) => {
            let mut s = String::new();
            for p in pieces {
                match p {
                    Piece::Lit(l) => s.push_str(l),
                    _ => {
                        return Err(ValueError::new(format!(
                            "`{modifier}` cannot encode a value with wildcards"
                        )));
                    }
                }
            }
            Ok(s.into_bytes())
        }
    }
}

fn plain_text(w: &Work, modifier: &str) -> Result<String, ValueError> {
    let b = plain_bytes(w, modifier)?;
    String::from_utf8(b).map_err(|_| ValueError::new(format!("`{modifier}` needs a text value")))
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The three `base64offset` variants of `val`: the part of its base64 encoding that does
/// not depend on the bytes around it, for each of the three alignments.
pub(crate) fn base64_offsets(val: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    // How many characters to cut from the end, by (len + shift) % 3.
    const END_CUT: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|shift| {
            let mut buf = vec![b' '; shift];
            buf.extend_from_slice(val);
            let enc = b64(&buf);
            let cut = END_CUT[(val.len() + shift) % 3];
            let end = enc.len().saturating_sub(cut);
            enc.get(START[shift]..end).unwrap_or("").to_string()
        })
        .collect()
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
const MAX_WINDASH_POSITIONS: usize = 6;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `windash`: every dash or slash that starts a word (`-x`, `/x` after a non-word character or
/// at the start) may be written with any of `-`, `/`, en dash, em dash or horizontal bar.
pub(crate) fn windash(pieces: &[Piece]) -> Result<Vec<Vec<Piece>>, ValueError> {
    // Flatten to (char or wildcard) cells.
    #[derive(Clone)]
    enum Cell {
        C(char),
        W(Piece),
    }
    let mut cells = Vec::new();
    for p in pieces {
        match p {
            Piece::Lit(s) => cells.extend(s.chars().map(Cell::C)),
            other => cells.push(Cell::W(other.clone())),
        }
    }
    let mut positions = Vec::new();
    for i in 0..cells.len() {
        let Cell::C(c) = cells[i] else { continue };
        if !DASHES.contains(&c) {
            continue;
        }
        let prev_word = i > 0 && matches!(cells[i - 1], Cell::C(p) if is_word(p));
        let next_word = matches!(cells.get(i + 1), Some(Cell::C(n)) if is_word(*n));
        if !prev_word && next_word {
            positions.push(i);
        }
    }
    if positions.len() > MAX_WINDASH_POSITIONS {
        return Err(ValueError::new(format!(
            "`windash` on a value with {} flags would create too many variants (at most {MAX_WINDASH_POSITIONS})",
            positions.len()
        )));
    }
    let total = DASHES.len().pow(positions.len() as u32);
    let mut out = Vec::with_capacity(total);
    for mut n in 0..total {
        let mut cells = cells.clone();
        for &pos in &positions {
            cells[pos] = Cell::C(DASHES[n % DASHES.len()]);
            n /= DASHES.len();
        }
        let mut pieces = Vec::new();
        let mut lit = String::new();
        for c in cells {
            match c {
                Cell::C(c) => lit.push(c),
                Cell::W(w) => {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    pieces.push(w);
                }
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        out.push(pieces);
    }
    Ok(out)
}

/// Placeholder values for the `expand` modifier (`%name%` -> values).
pub type Placeholders = std::collections::HashMap<String, Vec<String>>;

/// `expand`: replaces `%name%` placeholders with each of their values (all combinations).
/// `\%` is a literal percent sign.
pub(crate) fn expand(pieces: &[Piece], ph: &Placeholders) -> Result<Vec<Vec<Piece>>, ValueError> {
    // Work on literal pieces only; placeholders never span wildcards.
    let mut results: Vec<Vec<Piece>> = vec![Vec::new()];
    for p in pieces {
        let Piece::Lit(s) = p else {
            for r in &mut results {
                r.push(p.clone());
            }
            continue;
        };
        // Split the literal into text and placeholder names.
        let mut parts: Vec<Result<String, String>> = Vec::new();
        let mut cur = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.peek() == Some(&'%') {
                cur.push('%');
                chars.next();
            } else if c == '%' {
                let mut name = String::new();
                let mut closed = false;
                for n in chars.by_ref() {
                    if n == '%' {
                        closed = true;
                        break;
                    }
                    name.push(n);
                }
                if !closed {
                    cur.push('%');
                    cur.push_str(&name);
                    continue;
                }
                parts.push(Ok(std::mem::take(&mut cur)));
                parts.push(Err(name));
            } else {
                cur.push(c);
            }
        }
        parts.push(Ok(cur));
        for part in parts {
            match part {
                Ok(text) => {
                    for r in &mut results {
                        r.push(Piece::Lit(text.clone()));
                    }
                }
                Err(name) => {
                    let values = ph.get(&name).ok_or_else(|| ValueError {
                        message: format!("placeholder `%{name}%` has no definition"),
                        placeholder: true,
                        regex: false,
                    })?;
                    let mut next = Vec::with_capacity(results.len() * values.len());
                    for r in &results {
                        for v in values {
                            let mut r = r.clone();
                            r.extend(parse_sigma_string(v));
                            next.push(r);
                        }
                    }
                    if next.len() > 4096 {
                        return Err(ValueError::new(
                            "placeholder expansion creates too many values",
                        ));
                    }
                    results = next;
                }
            }
        }
    }
    Ok(results)
}

pub(crate) fn utf16(text: &str, le: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for u in text.encode_utf16() {
        if le {
            out.extend_from_slice(&u.to_le_bytes());
        } else {
            out.extend_from_slice(&u.to_be_bytes());
        }
    }
    out
}

/// Applies one encoding or transforming modifier to the working values.
pub(crate) fn transform(
    work: Vec<Work>,
    modifier: &str,
    ph: &Placeholders,
) -> Result<Vec<Work>, ValueError> {
    let mut out = Vec::new();
    for w in work {
        match modifier {
            "windash" => match &w {
                Work::Str(p) => out.extend(windash(p)?.into_iter().map(Work::Str)),
                Work::Bytes(_) => return Err(ValueError::new("`windash` after an encoding")),
            },
            "expand" => match &w {
                Work::Str(p) => out.extend(expand(p, ph)?.into_iter().map(Work::Str)),
                Work::Bytes(_) => return Err(ValueError::new("`expand` after an encoding")),
            },
            "base64" => {
                let b = plain_bytes(&w, modifier)?;
                out.push(Work::Str(vec![Piece::Lit(b64(&b))]));
            }
            "base64offset" => {
                let b = plain_bytes(&w, modifier)?;
                out.extend(
                    base64_offsets(&b)
                        .into_iter()
                        .map(|s| Work::Str(vec![Piece::Lit(s)])),
                );
            }
            "utf16le" | "wide" => {
                out.push(Work::Bytes(utf16(&plain_text(&w, modifier)?, true, false)))
            }
            "utf16be" => out.push(Work::Bytes(utf16(&plain_text(&w, modifier)?, false, false))),
            "utf16" => out.push(Work::Bytes(utf16(&plain_text(&w, modifier)?, true, true))),
            other => {
                return Err(ValueError::new(format!(
                    "internal: `{other}` is not a transform"
                )));
            }
        }
    }
    if out.len() > 20_000 {
        return Err(ValueError::new("modifiers create too many value variants"));
    }
    Ok(out)
}

pub(crate) fn finish_work(w: Work) -> Result<Vec<Piece>, ValueError> {
    match w {
        Work::Str(p) => Ok(p),
        Work::Bytes(b) => String::from_utf8(b)
            .map(|s| vec![Piece::Lit(s)])
            .map_err(|_| {
                ValueError::new(
                    "an encoded value is not valid text; combine `utf16*` with `base64` or `base64offset`",
                )
            }),
    }
}

pub(crate) fn parse_cidr(text: &str) -> Result<IpNet, ValueError> {
    if let Ok(n) = text.parse::<IpNet>() {
        return Ok(n);
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| ValueError::new(format!("`{text}` is not a CIDR network")))
}

/// Compiles a Sigma regex. The flags are written inline (`(?ims)`) so the pattern text alone
/// (`Regex::as_str`) carries them, as a `RegexSet` needs.
pub(crate) fn build_regex(pattern: &str, i: bool, m: bool, s: bool) -> Result<Regex, ValueError> {
    let flags: String = [(i, 'i'), (m, 'm'), (s, 's')]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
    let full = if flags.is_empty() {
        pattern.to_string()
    } else {
        format!("(?{flags}){pattern}")
    };
    regex::RegexBuilder::new(&full)
        .size_limit(8 << 20)
        // Twice the default: with it, Sigma regexes over large Unicode classes (SigmaHQ's
        // `-k\s\w{1,64}` on svchost command lines) still get a lazy DFA instead of the
        // bounded backtracker, which clears a visited set sized by the NFA on every call. The
        // cache grows only as states are needed.
        .dfa_size_limit(4 << 20)
        .build()
        .map_err(|e| ValueError {
            message: format!("invalid regular expression: {}", first_line(&e.to_string())),
            placeholder: false,
            regex: true,
        })
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_char_fast_paths_agree_with_to_lowercase() {
        for cp in 0..0x100u32 {
            let c = char::from_u32(cp).expect("below 0x100 is a char");
            assert_eq!(fold_char(c), fold_char_slow(c), "{cp:#x}");
        }
    }

    fn pat(s: &str) -> Pattern {
        Pattern::new(parse_sigma_string(s), false)
    }

    #[test]
    fn escapes_follow_the_spec() {
        let check = |input: &str, expected: &str| {
            assert_eq!(pat(input).to_string(), expected, "{input}");
        };
        check(r"C:\Windows\x", r"c:\\windows\\x");
        check(r"a\*b", r"a\*b");
        check(r"a\\*b", r"a\\*b");
        check(r"a\\\*b", r"a\\\*b");
        check(r"a\\\\b", r"a\\\\b");
        check(r"a\?b?", r"a\?b?");
        check("**a***", "*a*");
        assert_eq!(pat(r"\\\\").pieces, vec![Piece::Lit(r"\\".into())]);
        assert_eq!(pat(r"\\").pieces, vec![Piece::Lit(r"\".into())]);
    }

    #[test]
    fn glob_matching() {
        let check = |p: &str, text: &str, expected: bool| {
            assert_eq!(pat(p).matches(text), expected, "{p} ~ {text}");
        };
        check("*.exe", r"C:\A.EXE", true);
        check("a?c", "abc", true);
        check("a?c", "ac", false);
        check("*a*b*c*", "xxaxxbxxcxx", true);
        check("*a*b*c", "xxaxxbxxcxx", false);
        check("", "", true);
        check("", "x", false);
        check("*", "", true);
        check("ÄÖ*", "äöx", true);
        let cased = Pattern::new(parse_sigma_string("Abc"), true);
        assert!(cased.matches("Abc") && !cased.matches("abc"));
    }

    /// The reference: every pattern matched token by token, as globs are.
    fn matches_by_tokens(p: &Pattern, text: &str) -> bool {
        let toks = tokens(&p.pieces);
        let text = if p.cased {
            text.to_string()
        } else {
            fold(text)
        };
        let chars: Vec<char> = text.chars().collect();
        glob_match(&toks, &chars, |c: &char| *c)
    }

    #[test]
    fn every_shape_matches_as_its_glob_would() {
        let alphabet = ['a', 'B', 'b', '.', '\\', 'ä', 'Ä', '\u{212A}', 'k', 'ß'];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..20_000 {
            let mut pieces = Vec::new();
            for _ in 0..next(4) {
                pieces.push(match next(6) {
                    0 => Piece::AnyStr,
                    1 => Piece::AnyChar,
                    _ => Piece::Lit(
                        (0..1 + next(3))
                            .map(|_| alphabet[next(alphabet.len())])
                            .collect(),
                    ),
                });
            }
            let p = Pattern::new(pieces, next(3) == 0);
            for _ in 0..8 {
                let text: String = (0..next(7))
                    .map(|_| alphabet[next(alphabet.len())])
                    .collect();
                assert_eq!(
                    p.matches(&text),
                    matches_by_tokens(&p, &text),
                    "{p} ~ {text:?} cased {}",
                    p.cased
                );
                let folded = if p.cased { text.clone() } else { fold(&text) };
                assert_eq!(
                    p.matches_folded(&folded),
                    matches_by_tokens(&p, &text),
                    "{p} ~ {folded:?}"
                );
            }
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(pat("abc").shape(), Shape::Exact("abc"));
        assert_eq!(pat("abc*").shape(), Shape::Prefix("abc"));
        assert_eq!(pat("*abc").shape(), Shape::Suffix("abc"));
        assert_eq!(pat("*abc*").shape(), Shape::Contains("abc"));
        assert_eq!(pat("*").shape(), Shape::Any);
        assert_eq!(pat("a*b").shape(), Shape::Glob);
        assert_eq!(pat("*a?").shape(), Shape::Glob);
    }

    #[test]
    fn base64offset_variants() {
        // The well-known variants for "/bin/bash".
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
        assert_eq!(b64(b"ping"), "cGluZw==");
    }

    #[test]
    fn windash_variants() {
        let v = windash(&parse_sigma_string(" -enc ")).expect("ok");
        assert_eq!(v.len(), 5);
        let texts: Vec<String> = v
            .iter()
            .map(|p| Pattern::new(p.clone(), true).to_string())
            .collect();
        assert!(texts.contains(&" /enc ".to_string()));
        assert!(texts.contains(&" \u{2015}enc ".to_string()));
        // A dash inside a word is not a flag.
        assert_eq!(windash(&parse_sigma_string("a-b")).expect("ok").len(), 1);
        assert!(windash(&parse_sigma_string("-a -b -c -d -e -f -g")).is_err());
    }

    #[test]
    fn utf16_encodings() {
        assert_eq!(utf16("cmd", true, false), b"c\0m\0d\0");
        assert_eq!(utf16("cmd", false, false), b"\0c\0m\0d");
        assert_eq!(utf16("cmd", true, true), b"\xFF\xFEc\0m\0d\0");
    }

    #[test]
    fn placeholders_expand() {
        let mut ph = Placeholders::new();
        ph.insert("Admins".into(), vec!["root".into(), "adm_*".into()]);
        let v = expand(&parse_sigma_string(r"x%Admins%y\%z"), &ph).expect("ok");
        let texts: Vec<String> = v
            .iter()
            .map(|p| Pattern::new(p.clone(), true).to_string())
            .collect();
        assert_eq!(texts, vec!["xrooty%z", "xadm_*y%z"]);
        assert!(expand(&parse_sigma_string("%nope%"), &ph).is_err_and(|e| e.placeholder));
    }
}
