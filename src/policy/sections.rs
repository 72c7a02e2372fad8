//! Sections of a change's description (`require_sections`): a Markdown heading of any level,
//! or a line starting with `**Name**` or `Name:`, followed by text before the next section.
//! Names match without regard to case; HTML comments (template hints) are not text.

/// Required sections that are missing, and those present with no text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SectionCheck {
    pub missing: Vec<String>,
    pub empty: Vec<String>,
}

impl SectionCheck {
    pub fn ok(&self) -> bool {
        self.missing.is_empty() && self.empty.is_empty()
    }
}

/// A line that starts a section: the name it gives and the text after it on the same line.
/// `known` are the required names: `Name:` starts a section only for those (so that an
/// ordinary "Note: …" line does not end one).
fn section_start<'a>(line: &'a str, known: &[String]) -> Option<(String, &'a str)> {
    let t = line.trim();
    if let Some(rest) = t.strip_prefix('#') {
        let name = rest.trim_start_matches('#');
        if name.starts_with(' ') || name.is_empty() {
            let name = name
                .trim()
                .trim_end_matches('#')
                .trim()
                .trim_end_matches(':');
            return Some((name.trim().to_string(), ""));
        }
    }
    if let Some(rest) = t.strip_prefix("**")
        && let Some(end) = rest.find("**")
    {
        let name = rest[..end].trim().trim_end_matches(':').trim();
        let after = rest[end + 2..].trim_start();
        let after = after.strip_prefix(':').unwrap_or(after);
        return Some((name.to_string(), after));
    }
    let (name, after) = t.split_once(':')?;
    known
        .iter()
        .any(|k| k.eq_ignore_ascii_case(name.trim()))
        .then(|| (name.trim().to_string(), after))
}

fn without_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Checks `description` for every name in `required`.
pub fn check(description: &str, required: &[String]) -> SectionCheck {
    let text = without_comments(description);
    // (name, has text)
    let mut found: Vec<(String, bool)> = vec![];
    for line in text.lines() {
        if let Some((name, after)) = section_start(line, required) {
            found.push((name, !after.trim().is_empty()));
        } else if let Some(last) = found.last_mut()
            && !line.trim().is_empty()
        {
            last.1 = true;
        }
    }
    let mut out = SectionCheck::default();
    for name in required {
        let matching: Vec<&(String, bool)> = found
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .collect();
        if matching.is_empty() {
            out.missing.push(name.clone());
        } else if !matching.iter().any(|(_, text)| *text) {
            out.empty.push(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn headings_bold_lines_and_colons_start_sections() {
        let d = "## Justification\nCustomers asked.\n\n**Risk assessment**: low\n\
                 Rollback plan: revert the commit\n### testing\n- unit tests\n";
        let c = check(
            d,
            &names(&[
                "Justification",
                "Risk assessment",
                "Rollback plan",
                "Testing",
            ]),
        );
        assert!(c.ok(), "{c:?}");
    }

    #[test]
    fn missing_and_empty_sections_are_named() {
        let d = "# Justification\n\n## Testing\n<!-- describe the tests -->\n\n## Rollback plan\n\
                 Note: this line is text\n";
        let c = check(
            d,
            &names(&[
                "Justification",
                "Testing",
                "Rollback plan",
                "Security considerations",
            ]),
        );
        assert_eq!(c.missing, ["Security considerations"]);
        assert_eq!(c.empty, ["Justification", "Testing"]);
    }

    #[test]
    fn an_empty_description_misses_everything() {
        let c = check("", &names(&["Justification"]));
        assert_eq!(c.missing, ["Justification"]);
        // A heading alone, or a hash without a space, is not text or a section.
        let c = check(
            "#Justification\n## Justification\n",
            &names(&["Justification"]),
        );
        assert_eq!(c.empty, ["Justification"]);
    }
}
