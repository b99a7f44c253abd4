//! Maps field paths (`delivery_streams.raw.destination.prefix`) to line and column in
//! the YAML source, so that validation errors found after parsing still point at the
//! place to fix. Also finds duplicate mapping keys, which serde would accept silently,
//! and guards the parsers against hostile shapes ([`shape_problem`]): nesting deeper
//! than [`MAX_DEPTH`] and aliases expanding past [`MAX_NODES`] nodes.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// A key that appears twice in one mapping.
#[derive(Debug, Clone)]
pub struct DuplicateKey {
    pub key: String,
    pub path: String,
    pub line: usize,
    pub column: usize,
}

/// Where each field path is, built once per source ([`index`]).
#[derive(Debug, Clone, Default)]
pub struct Index {
    at: HashMap<String, (usize, usize)>,
    duplicate: Option<DuplicateKey>,
}

fn pos(m: &Marker) -> (usize, usize) {
    // yaml-rust2 counts lines from 1 and columns from 0.
    (m.line(), m.col() + 1)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct Walker<'a> {
    parser: Parser<std::str::Chars<'a>>,
    index: Index,
}

impl Walker<'_> {
    fn next(&mut self) -> Option<(Event, Marker)> {
        self.parser.next_token().ok()
    }

    /// Walk one node whose first event has been read.
    fn node(&mut self, path: &str, first: Event, at: Marker) -> Option<()> {
        self.index.at.entry(path.to_string()).or_insert(pos(&at));
        match first {
            Event::SequenceStart(..) => {
                let mut i = 0;
                loop {
                    let (ev, m) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        return Some(());
                    }
                    self.node(&format!("{path}[{i}]"), ev, m)?;
                    i += 1;
                }
            }
            Event::MappingStart(..) => {
                let mut seen = HashSet::new();
                loop {
                    let (key, km) = self.next()?;
                    let key = match key {
                        Event::MappingEnd => return Some(()),
                        Event::Scalar(k, ..) => k,
                        other => {
                            // A complex key: walk it and give it no path.
                            self.node("?", other, km)?;
                            String::from("?")
                        }
                    };
                    let child = join(path, &key);
                    if !seen.insert(key.clone()) && self.index.duplicate.is_none() {
                        let (line, column) = pos(&km);
                        self.index.duplicate = Some(DuplicateKey {
                            key: key.clone(),
                            path: child.clone(),
                            line,
                            column,
                        });
                    }
                    self.index.at.entry(child.clone()).or_insert(pos(&km));
                    let (ev, vm) = self.next()?;
                    self.node(&child, ev, vm)?;
                }
            }
            _ => Some(()),
        }
    }
}

/// Walk `source` once; [`locate_in`] then answers each path without walking again.
pub fn index(source: &str) -> Index {
    let mut w = Walker {
        parser: Parser::new_from_str(source),
        index: Index::default(),
    };
    while let Some((ev, m)) = w.next() {
        match ev {
            Event::StreamEnd => break,
            Event::MappingStart(..) | Event::SequenceStart(..) | Event::Scalar(..) => {
                if w.node("", ev, m).is_none() {
                    break;
                }
                break;
            }
            _ => {}
        }
    }
    w.index
}

/// Line and column (both from 1) of `path`, or of its nearest ancestor present in the source.
pub fn locate(source: &str, path: &str) -> Option<(usize, usize)> {
    locate_in(&index(source), path)
}

/// [`locate`] in an index made by [`index`].
pub fn locate_in(idx: &Index, path: &str) -> Option<(usize, usize)> {
    let mut p = path.to_string();
    loop {
        if let Some(&l) = idx.at.get(&p) {
            return Some(l);
        }
        let cut = p.rfind(['.', '['])?;
        p.truncate(cut);
    }
}

/// The first key that appears twice in one mapping, if any.
pub fn duplicate_key(source: &str) -> Option<DuplicateKey> {
    index(source).duplicate
}

/// Deepest nesting of mappings and sequences accepted; the spec needs 6.
pub const MAX_DEPTH: usize = 32;
/// Most nodes the document may have once every alias is expanded; the lab's spec has
/// about 300. Validation work grows faster than linearly with the number of
/// resources, so this also keeps `validate` within a second.
pub const MAX_NODES: u64 = 20_000;

/// Where `[`/`{` brackets first nest past twice [`MAX_DEPTH`], counted on the raw
/// text (comments skipped). yaml-rust2's scanner looks ahead to the end of a flow
/// collection before giving its first event, in time quadratic in the depth, so
/// deep flow nesting must be refused before it runs. Counting brackets that sit in
/// strings can only overestimate; hence the margin.
fn flow_too_deep(source: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (i, line) in source.lines().enumerate() {
        let mut prev = ' ';
        for (j, ch) in line.chars().enumerate() {
            if ch == '#' && prev.is_whitespace() {
                break;
            }
            match ch {
                '[' | '{' => depth += 1,
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > 2 * MAX_DEPTH {
                return Some((i + 1, j + 1));
            }
            prev = ch;
        }
    }
    None
}

/// Why the document's shape is refused, with the line and column: too deep, or
/// aliases that expand past [`MAX_NODES`] ("billion laughs"). Walks the events
/// without recursion and stops at the first problem; syntax errors are left to serde.
pub fn shape_problem(source: &str) -> Option<(String, usize, usize)> {
    if let Some((line, column)) = flow_too_deep(source) {
        let why = format!("the YAML nests deeper than {MAX_DEPTH} levels");
        return Some((why, line, column));
    }
    let mut parser = Parser::new_from_str(source);
    // Expanded size of each anchored node, and of each open collection so far.
    let mut anchored: HashMap<usize, u64> = HashMap::new();
    let mut open: Vec<(usize, u64)> = Vec::new();
    // Nodes of the document with every alias expanded, so far.
    let mut nodes: u64 = 0;
    loop {
        let (ev, m) = parser.next_token().ok()?;
        let finished = match ev {
            Event::StreamEnd => return None,
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    let (l, c) = pos(&m);
                    let why = format!("the YAML nests deeper than {MAX_DEPTH} levels");
                    return Some((why, l, c));
                }
                open.push((anchor, 1));
                nodes += 1;
                None
            }
            Event::MappingEnd | Event::SequenceEnd => open.pop().map(|(anchor, size)| {
                if anchor > 0 {
                    anchored.insert(anchor, size);
                }
                size
            }),
            Event::Scalar(_, _, anchor, _) => {
                if anchor > 0 {
                    anchored.insert(anchor, 1);
                }
                nodes += 1;
                Some(1)
            }
            Event::Alias(id) => {
                let size = anchored.get(&id).copied().unwrap_or(1);
                nodes = nodes.saturating_add(size);
                Some(size)
            }
            _ => None,
        };
        if let (Some(size), Some((_, parent))) = (finished, open.last_mut()) {
            *parent = parent.saturating_add(size);
        }
        if nodes > MAX_NODES {
            let (l, c) = pos(&m);
            let why = if anchored.is_empty() {
                format!("the document has more than {MAX_NODES} values (the limit is reached here)")
            } else {
                format!(
                    "the document grows past {MAX_NODES} values here, counting each alias expanded"
                )
            };
            return Some((why, l, c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "a:\n  b: 1\n  c:\n    - x\n    - y\nd: 2\n";

    #[test]
    fn finds_nested_keys_and_items() {
        assert_eq!(locate(DOC, "a.b"), Some((2, 3)));
        assert_eq!(locate(DOC, "a.c[1]"), Some((5, 7)));
        assert_eq!(locate(DOC, "d"), Some((6, 1)));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        assert_eq!(locate(DOC, "a.b.nothing.here"), Some((2, 3)));
        assert_eq!(locate(DOC, "zzz"), None);
    }

    #[test]
    fn refuses_deep_nesting_and_exponential_aliases() {
        let deep = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
        let (why, line, _) = shape_problem(&deep).expect("too deep");
        assert!(why.contains("deeper than 32"), "{why}");
        assert_eq!(line, 1);
        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            laughs.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let (why, line, _) = shape_problem(&laughs).expect("too many nodes");
        assert!(why.contains("past 20000 values"), "{why}");
        assert!(line <= 6, "found late, at line {line}");
        // A few ordinary aliases are fine.
        let ok = "b: &b {interval_seconds: 60, size_mib: 1}\nc: *b\nd: *b\n";
        assert_eq!(shape_problem(ok), None);
        assert_eq!(shape_problem(DOC), None);
    }

    #[test]
    fn reports_duplicate_keys() {
        let dup = duplicate_key("a:\n  b: 1\n  b: 2\n").expect("duplicate found");
        assert_eq!(
            (dup.key.as_str(), dup.path.as_str(), dup.line),
            ("b", "a.b", 3)
        );
        assert!(duplicate_key(DOC).is_none());
    }
}
