//! Maps field paths (`delivery_streams.raw.destination.prefix`) to line and column in
//! the YAML source, so that validation errors found after parsing still point at the
//! place to fix. Also finds duplicate mapping keys, which serde would accept silently.

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

#[derive(Default)]
struct Index {
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

fn index(source: &str) -> Index {
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
    let idx = index(source);
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
    fn reports_duplicate_keys() {
        let dup = duplicate_key("a:\n  b: 1\n  b: 2\n").expect("duplicate found");
        assert_eq!(
            (dup.key.as_str(), dup.path.as_str(), dup.line),
            ("b", "a.b", 3)
        );
        assert!(duplicate_key(DOC).is_none());
    }
}
