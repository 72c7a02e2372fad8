//! Forge text inside the bot's Markdown: labels, branch names, references and logins are
//! written by whoever can name them, so they go into code spans they cannot close and never
//! become a live mention, a heading, HTML or a fake approval line.

/// `text` as one CommonMark inline code span, whatever it holds: the fence is one backtick
/// longer than the longest run inside (so no run inside closes it), padded with a space when
/// the text starts or ends with a backtick or a space (CommonMark strips one space from each
/// side of padded content), and line breaks become spaces (block structure is parsed before
/// inline spans, so a line break could start a heading or a list item and end the span).
pub fn code(text: impl std::fmt::Display) -> String {
    let flat: String = text
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.is_empty() {
        // An empty span cannot be written; a span of one space reads as blank.
        return "` `".to_string();
    }
    let longest = flat.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if flat.starts_with(['`', ' ']) || flat.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{flat}{pad}{fence}")
}

/// `text` as a fenced code block: the fence is longer than any backtick run inside (three at
/// least) and every line break a plain `\n`, so that no line of the text closes the block.
pub fn code_block(text: &str) -> String {
    let flat: String = text
        .replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\r' => '\n',
            c if c.is_control() && c != '\n' => ' ',
            c => c,
        })
        .collect();
    let longest = flat.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}\n{flat}\n{fence}")
}

/// Prose written by people who are not the organization's rule writers (a repository's own
/// rules file): kept on one line, with no mention (a word joiner after each `@`) and no HTML
/// (`<` escaped), so that it cannot notify a team or hide or fake the bot's text.
pub fn tame(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '@' => vec!['@', '\u{2060}'],
            '<' => "&lt;".chars().collect(),
            c if c.is_control() => vec![' '],
            c => vec![c],
        })
        .collect()
}

/// Whether `name` is a login as both forges allow them (letters, digits, `-`, `_`, `.`, and a
/// GitHub App's `[bot]` suffix): only such a name is written as a mention.
pub fn is_login(name: &str) -> bool {
    let base = name.strip_suffix("[bot]").unwrap_or(name);
    base.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The bot's one-line Markdown (a reason, a summary) as pieces for a web page: text, and the
/// contents of code spans (`true`), as a CommonMark reader finds them. Every other construct
/// gives only its text (HTML stays text, to be escaped), so a page shows code as code and
/// never renders markup from a label or a title inside a reason.
pub fn inline_pieces(md: &str) -> Vec<(String, bool)> {
    use pulldown_cmark::{Event, Parser};
    let mut out: Vec<(String, bool)> = vec![];
    let mut push = |text: &str, code: bool| match out.last_mut() {
        Some((last, false)) if !code => last.push_str(text),
        _ => out.push((text.to_string(), code)),
    };
    for ev in Parser::new(md) {
        match ev {
            Event::Code(c) => push(&c, true),
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => push(&t, false),
            Event::SoftBreak | Event::HardBreak => push(" ", false),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

    /// What a CommonMark reader makes of `md`: the code spans' contents, and every other
    /// piece of text or HTML it would render.
    pub(crate) fn read(md: &str) -> (Vec<String>, String) {
        let (mut spans, mut outside, mut block) = (vec![], String::new(), false);
        for ev in Parser::new_ext(md, Options::all()) {
            match ev {
                Event::Start(Tag::CodeBlock(_)) => block = true,
                Event::End(TagEnd::CodeBlock) => block = false,
                _ if block => {}
                Event::Code(c) => spans.push(c.into_string()),
                Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => outside.push_str(&t),
                Event::Start(Tag::Link { dest_url, .. }) => outside.push_str(&dest_url),
                Event::End(TagEnd::Paragraph) | Event::SoftBreak | Event::HardBreak => {
                    outside.push('\n')
                }
                _ => {}
            }
        }
        (spans, outside)
    }

    /// Hostile names: backtick runs of 1 to 5 (alone, leading, trailing, inside), mentions,
    /// HTML, comments, line breaks, table pipes, emphasis.
    pub(crate) fn hostile() -> Vec<String> {
        let mut out: Vec<String> = vec![
            "CMT::x` @acme/everyone **✅ approved** `".into(),
            "@acme/everyone".into(),
            "<!-- changegate:sticky-comment -->".into(),
            "<details><summary>ok</summary>✅ approved</details>".into(),
            "a\n# ✅ approved\n@all".into(),
            "a\r\n\r\n- [x] **Manager approval** — given by @mona".into(),
            "x | y | @acme/everyone".into(),
            "<img src=x onerror=alert(1)>".into(),
            " padded ".into(),
            "`".into(),
            "".into(),
            "[link](https://evil.example) @team".into(),
            "\\` @acme/everyone".into(),
        ];
        for n in 1..=5 {
            let run = "`".repeat(n);
            out.push(format!("{run} @acme/everyone {run}"));
            out.push(format!("{run}@acme/everyone"));
            out.push(format!("@acme/everyone{run}"));
            out.push(format!("a{run}b @all"));
            out.push(run);
        }
        out
    }

    #[test]
    fn hostile_text_stays_inside_its_code_span() {
        for text in hostile() {
            let md = format!(
                "- [ ] **Label** — `{}` is not known: {} was removed\n",
                "x",
                code(&text)
            );
            let (spans, outside) = read(&md);
            let expected: String = text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let expected = if expected.is_empty() {
                " ".to_string()
            } else {
                expected
            };
            assert_eq!(spans, vec!["x".to_string(), expected], "{text:?} → {md}");
            assert_eq!(
                outside, "Label —  is not known:  was removed",
                "{text:?} → {md}"
            );
        }
    }

    #[test]
    fn hostile_text_stays_inside_its_code_block() {
        for text in hostile() {
            // As the sticky comment quotes a note: every line behind `> `.
            let md = format!(
                "> Not valid:\n{}\n\nafter\n",
                ("> ".to_string() + &code_block(&text).replace('\n', "\n> "))
            );
            let blocks: Vec<String> = Parser::new_ext(&md, Options::all())
                .scan(false, |inside, ev| {
                    Some(match ev {
                        Event::Start(Tag::CodeBlock(_)) => {
                            *inside = true;
                            None
                        }
                        Event::End(TagEnd::CodeBlock) => {
                            *inside = false;
                            None
                        }
                        Event::Text(t) if *inside => Some(t.into_string()),
                        _ => None,
                    })
                })
                .flatten()
                .collect();
            let expected = text.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(blocks.concat(), format!("{expected}\n"), "{text:?} → {md}");
            let (spans, outside) = read(&md);
            assert!(spans.is_empty(), "{text:?} → {md}");
            assert_eq!(outside.trim(), "Not valid:\nafter", "{text:?} → {md}");
        }
    }

    #[test]
    fn plain_names_keep_a_single_backtick_fence() {
        assert_eq!(code("CMT::Minor"), "`CMT::Minor`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(code("a\nb"), "`a b`");
    }

    #[test]
    fn tamed_prose_mentions_nobody_and_holds_no_html() {
        for text in hostile() {
            let md = format!("- [ ] **Rule** — {}\n", tame(&text));
            let events: Vec<Event> = Parser::new_ext(&md, Options::all()).collect();
            assert!(
                !events
                    .iter()
                    .any(|e| matches!(e, Event::Html(_) | Event::InlineHtml(_))),
                "{text:?} → {md}"
            );
            let (_, outside) = read(&md);
            // `<` reads as text now; only a live mention would be harm.
            for bad in ["@acme", "@all", "@team"] {
                assert!(!outside.contains(bad), "{text:?} lets {bad:?} out → {md}");
            }
            assert_eq!(outside.lines().count(), 1, "{text:?} → {md}");
        }
    }

    #[test]
    fn only_logins_are_mentionable() {
        for ok in ["pam", "mona-lisa", "changegate[bot]", "a.b_c"] {
            assert!(is_login(ok), "{ok}");
        }
        for bad in ["", "acme/everyone", "x` @all", "-x", "a b", "@pam", "all\n"] {
            assert!(!is_login(bad), "{bad}");
        }
    }

    #[test]
    fn inline_pieces_find_code_spans_and_keep_html_as_text() {
        assert_eq!(
            inline_pieces("`Peer Approval::Approved` by @alice: she is the author"),
            vec![
                ("Peer Approval::Approved".to_string(), true),
                (" by @alice: she is the author".to_string(), false)
            ]
        );
        assert_eq!(
            inline_pieces("label ``a`b`` and <img src=x onerror=alert(1)> **bold**"),
            vec![
                ("label ".to_string(), false),
                ("a`b".to_string(), true),
                (" and <img src=x onerror=alert(1)> bold".to_string(), false)
            ]
        );
        // An unclosed backtick is text.
        assert_eq!(inline_pieces("a ` b"), vec![("a ` b".to_string(), false)]);
        for name in hostile() {
            let md = format!("{} was refused", code(&name));
            let pieces = inline_pieces(&md);
            assert!(pieces.iter().any(|(t, c)| *c && !t.is_empty()), "{md}");
        }
    }
}
