//! Errors that name the field and the problem, so a producer can fix a bad
//! row without guessing ("subscription.items[0].unit_amount must be ≥ 0").

use std::fmt;

/// One problem with one field of an input document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} {problem}")]
pub struct FieldError {
    /// Dotted path from the document root, e.g. `subscription.items[0].quantity`.
    pub path: String,
    /// What is wrong, phrased to follow the path ("must be ≥ 0").
    pub problem: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Why a document could not be turned into a canonical event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all, or JSON of the wrong shape at a known place.
    #[error("{0}")]
    Shape(FieldError),
    /// Well-formed, but a value breaks a rule (negative amount, unknown currency, …).
    #[error("{0}")]
    Invalid(FieldError),
}

impl ParseError {
    /// The field the error is about (`.` for the document itself).
    pub fn path(&self) -> &str {
        match self {
            ParseError::Shape(e) | ParseError::Invalid(e) => &e.path,
        }
    }
}

/// Builds field paths while walking a document, so validators never
/// `format!` a path by hand.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Root,
    Field(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        segment: Segment::Root,
    };

    pub(crate) fn field(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: Segment::Field(name),
        }
    }

    pub(crate) fn index(&'a self, i: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: Segment::Index(i),
        }
    }

    pub(crate) fn error(&self, problem: impl Into<String>) -> FieldError {
        FieldError::new(self.to_string(), problem)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut segments = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            segments.push(p.segment);
            cur = p.parent;
        }
        let mut wrote = false;
        for seg in segments.iter().rev() {
            match seg {
                Segment::Root => {}
                Segment::Field(name) => {
                    if wrote {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                    wrote = true;
                }
                Segment::Index(i) => {
                    write!(f, "[{i}]")?;
                    wrote = true;
                }
            }
        }
        if !wrote {
            f.write_str(".")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_json_accessors() {
        let root = Path::ROOT;
        let sub = root.field("subscription");
        let items = sub.field("items");
        let first = items.index(0);
        let amount = first.field("unit_amount");
        assert_eq!(amount.to_string(), "subscription.items[0].unit_amount");
        assert_eq!(root.to_string(), ".");
    }
}
