//! Raw HTML in a comment, as far as finding commands needs it: whether text at a point is
//! inside an HTML comment or any HTML element the comment's author opened (a `<details>`
//! folds it away, a `<del>` strikes it through, a `<div hidden>` hides it), and whether the
//! HTML is too odd to tell (a close without an open, an element or comment never closed):
//! then the comment holds no command at all.

/// Elements without content: they open nothing.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// What the HTML read so far leaves open.
#[derive(Debug, Default)]
pub(super) struct Html {
    /// Elements opened and not closed yet.
    open: Vec<String>,
    in_comment: bool,
    /// The HTML cannot be matched up (a close without its open, or crossed elements).
    odd: bool,
}

impl Html {
    /// Reads one piece of raw HTML, in the order the comment holds it.
    pub(super) fn feed(&mut self, html: &str) {
        let lower = html.to_ascii_lowercase();
        let mut rest = lower.as_str();
        loop {
            if self.in_comment {
                match rest.find("-->") {
                    Some(at) => {
                        self.in_comment = false;
                        rest = &rest[at + 3..];
                    }
                    None => return,
                }
                continue;
            }
            let Some(at) = rest.find('<') else {
                // `-->` with no comment open: text GitHub and GitLab would treat differently.
                if rest.contains("-->") {
                    self.odd = true;
                }
                return;
            };
            if rest[..at].contains("-->") {
                self.odd = true;
            }
            rest = &rest[at..];
            if let Some(after) = rest.strip_prefix("<!--") {
                self.in_comment = true;
                rest = after;
                continue;
            }
            let (closing, name_at) = match rest.strip_prefix("</") {
                Some(_) => (true, 2),
                None => (false, 1),
            };
            let name: String = rest[name_at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let end = rest.find('>').map(|e| e + 1).unwrap_or(rest.len());
            let self_closing = rest[..end].ends_with("/>");
            if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                // `<` not opening a tag (`<!DOCTYPE`, `<?`, `a < b`).
                rest = &rest[1..];
                continue;
            }
            if closing {
                match self.open.last() {
                    Some(last) if *last == name => {
                        self.open.pop();
                    }
                    _ if VOID.contains(&name.as_str()) => {}
                    _ => self.odd = true,
                }
            } else if !self_closing && !VOID.contains(&name.as_str()) {
                self.open.push(name);
            }
            rest = &rest[end.max(1)..];
        }
    }

    /// Whether text here is inside an HTML comment or element.
    pub(super) fn hides(&self) -> bool {
        self.in_comment || !self.open.is_empty()
    }

    /// Whether the comment's HTML, read whole, cannot be matched up.
    pub(super) fn ambiguous(&self) -> bool {
        self.odd || self.hides()
    }
}
