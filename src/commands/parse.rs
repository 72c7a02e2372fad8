//! Finding commands in a comment as the forge renders it: CommonMark (GitHub's extensions on),
//! and only a line of a top-level paragraph's plain text that starts with the prefix. A
//! command quoted, fenced, indented, in inline code, inside `<details>` or an HTML comment, in
//! a list or a table, emphasised, or written mid-line is text about a command, not a command.

use super::html::Html;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Commands read from one comment, in order, at most this many (the rest are refused).
pub const MAX_COMMANDS: usize = 10;

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `approve ROLE [ROLE…] [@SHA]`.
    Approve {
        roles: Vec<String>,
        sha: Option<String>,
    },
    /// `withdraw [ROLE…]`: none named withdraws all the commenter gave.
    Withdraw { roles: Vec<String> },
    /// `request exception`.
    RequestException,
    /// `confirm`.
    Confirm,
    /// `recheck`.
    Recheck,
    /// `help`.
    Help,
}

impl Command {
    /// The command's kind as audit records and the store name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Approve { .. } => "approve",
            Command::Withdraw { .. } => "withdraw",
            Command::RequestException => "request_exception",
            Command::Confirm => "confirm",
            Command::Recheck => "recheck",
            Command::Help => "help",
        }
    }
}

/// One line that starts with the prefix: its text after the prefix, and the command it is, or
/// why it is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The line's text (the prefix included), as written.
    pub text: String,
    pub command: Result<Command, String>,
}

/// The command lines of `body`, in order.
/// At most [`MAX_COMMANDS`] and one more are returned: the rest are never read.
pub fn commands(body: &str, prefix: &str) -> Vec<CommandLine> {
    plain_lines(body)
        .into_iter()
        .filter_map(|line| {
            let rest = line.strip_prefix(prefix)?;
            if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
                return None;
            }
            Some(CommandLine {
                command: command(rest),
                text: line.trim_end().to_string(),
            })
        })
        .take(MAX_COMMANDS + 1)
        .collect()
}

/// Lines of top-level paragraphs made only of plain text: no code, HTML, math, emphasis,
/// strikethrough or link in them or open around them (a container begun on an earlier line
/// of the paragraph covers this one too), and outside every HTML comment and element. A
/// paragraph with a `$$` left in its text (math the parser could not match) gives none. A
/// comment whose HTML cannot be matched up holds no command line at all.
fn plain_lines(body: &str) -> Vec<String> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_MATH;
    let mut out = vec![];
    // The current paragraph's plain lines, kept only if no `$$` is left in its text: math
    // the parser did not match may still be rendered as math by the forge.
    let mut para: Vec<String> = vec![];
    let mut dollars = false;
    // Block containers around the current point (quotes, lists, tables, footnotes, headings…).
    let mut depth = 0usize;
    let mut html = Html::default();
    let mut paragraph = false;
    // Inline containers (emphasis, strikethrough, links…) open in the paragraph.
    let mut inline = 0usize;
    let mut line = String::new();
    let mut clean = true;
    let end_line = |para: &mut Vec<String>, line: &mut String, clean: bool| {
        if clean && !line.trim().is_empty() {
            para.push(line.trim().to_string());
        }
        line.clear();
    };
    for event in Parser::new_ext(body, options) {
        if let Event::Html(h) | Event::InlineHtml(h) = &event {
            html.feed(h);
        }
        match event {
            Event::Start(Tag::Paragraph) if depth == 0 => {
                paragraph = true;
                inline = 0;
                line.clear();
                para.clear();
                dollars = false;
                clean = !html.hides();
            }
            Event::End(TagEnd::Paragraph) if paragraph => {
                dollars |= line.contains("$$");
                end_line(&mut para, &mut line, clean && !html.hides());
                if !dollars {
                    out.append(&mut para);
                }
                paragraph = false;
            }
            Event::Start(_) if paragraph => {
                inline += 1;
                clean = false;
            }
            Event::End(_) if paragraph => {
                inline = inline.saturating_sub(1);
                clean = false;
            }
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) if paragraph => {
                if html.hides() || inline > 0 {
                    clean = false;
                }
                line.push_str(&t);
            }
            Event::SoftBreak | Event::HardBreak if paragraph => {
                dollars |= line.contains("$$");
                end_line(&mut para, &mut line, clean && !html.hides());
                clean = inline == 0 && !html.hides();
            }
            _ if paragraph => clean = false,
            _ => {}
        }
    }
    if html.ambiguous() {
        return vec![];
    }
    out
}

fn command(rest: &str) -> Result<Command, String> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        [] => Err("no command given".into()),
        ["approve"] => Err("name the approval roles to give, like `approve peer`".into()),
        ["approve", args @ ..] => {
            let (sha, roles) = match args.split_last() {
                Some((last, roles)) if last.starts_with('@') => (Some(sha(last)?), roles),
                _ => (None, args),
            };
            if roles.is_empty() {
                return Err("name the approval roles to give, like `approve peer`".into());
            }
            if let Some(bad) = roles.iter().find(|r| r.starts_with('@')) {
                return Err(format!(
                    "{} must come last: `approve ROLE… @SHA`",
                    crate::markdown::code(bad)
                ));
            }
            Ok(Command::Approve {
                roles: roles.iter().map(|r| r.to_string()).collect(),
                sha,
            })
        }
        ["withdraw", roles @ ..] => Ok(Command::Withdraw {
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }),
        ["request", "exception"] => Ok(Command::RequestException),
        ["confirm"] => Ok(Command::Confirm),
        ["recheck"] => Ok(Command::Recheck),
        ["help"] => Ok(Command::Help),
        [verb @ ("request" | "confirm" | "recheck" | "help"), ..] => Err(format!(
            "{} takes no such words; see `help`",
            crate::markdown::code(verb)
        )),
        [verb, ..] => Err(format!(
            "{} is not a command changegate knows; see `help`",
            crate::markdown::code(verb)
        )),
    }
}

/// `@SHA`: 7 to 40 hexadecimal digits.
fn sha(word: &str) -> Result<String, String> {
    let hex = word.trim_start_matches('@');
    if (7..=40).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(format!(
            "{} is not a commit (7 to 40 hexadecimal digits after `@`)",
            crate::markdown::code(word)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/changegate";

    fn found(body: &str) -> Vec<Result<Command, String>> {
        commands(body, P).into_iter().map(|c| c.command).collect()
    }

    fn approve(roles: &[&str], sha: Option<&str>) -> Result<Command, String> {
        Ok(Command::Approve {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            sha: sha.map(str::to_string),
        })
    }

    #[test]
    fn commands_on_their_own_lines_count() {
        let table: Vec<(&str, Vec<Result<Command, String>>)> = vec![
            (
                "/changegate approve business-owner",
                vec![approve(&["business-owner"], None)],
            ),
            (
                "LGTM\n/changegate approve peer manager @ABCDEF1\nthanks",
                vec![approve(&["peer", "manager"], Some("abcdef1"))],
            ),
            (
                "  /changegate withdraw",
                vec![Ok(Command::Withdraw { roles: vec![] })],
            ),
            (
                "/changegate withdraw peer\n\n/changegate recheck",
                vec![
                    Ok(Command::Withdraw {
                        roles: vec!["peer".into()],
                    }),
                    Ok(Command::Recheck),
                ],
            ),
            (
                "/changegate request exception\r\n/changegate confirm",
                vec![Ok(Command::RequestException), Ok(Command::Confirm)],
            ),
            ("/changegate help  ", vec![Ok(Command::Help)]),
            ("text  \n/changegate help", vec![Ok(Command::Help)]),
            ("*closed*\n/changegate help", vec![Ok(Command::Help)]),
            (
                "<!-- the template's hint -->\n\n/changegate help",
                vec![Ok(Command::Help)],
            ),
            (
                "<details><summary>log</summary>\n\nx\n\n</details>\n\n/changegate help<br>",
                vec![],
            ),
            (
                "<details><summary>log</summary>\n\nx\n\n</details>\n\n/changegate help",
                vec![Ok(Command::Help)],
            ),
            (
                "<img src=\"x.png\">\n\n/changegate help",
                vec![Ok(Command::Help)],
            ),
        ];
        for (body, want) in table {
            assert_eq!(found(body), want, "{body:?}");
        }
    }

    #[test]
    fn commands_as_text_about_commands_do_nothing() {
        for body in [
            "```\n/changegate approve peer\n```",
            "~~~md\n/changegate approve peer\n~~~",
            "    /changegate approve peer",
            "text\n\n    /changegate approve peer",
            "`/changegate approve peer`",
            "> /changegate approve peer",
            "> quoted\n> /changegate approve peer",
            "<!-- /changegate approve peer -->",
            "<!--\n/changegate approve peer\n-->",
            "see <!-- hidden\n/changegate approve peer\n--> end",
            "<details>\n\n/changegate approve peer\n\n</details>",
            "<details><summary>x</summary>\n\n/changegate approve peer\n\n</details>",
            "please run /changegate approve peer",
            "x /changegate approve peer",
            "- /changegate approve peer",
            "1. /changegate approve peer",
            "# /changegate approve peer",
            "**/changegate approve peer**",
            "/changegate approve `peer`",
            "/changegate approve [peer](https://x)",
            "| a |\n| - |\n| /changegate approve peer |",
            "/changegateapprove peer",
            "/changegate-x approve peer",
            "<span>/changegate approve peer</span>",
            // Containers begun on an earlier line of the paragraph.
            "*emphasis\n/changegate approve peer*",
            "**strong\n/changegate approve peer**",
            "~~struck\n/changegate approve peer~~",
            "[link\n/changegate approve peer](https://x)",
            "<del>x\n/changegate approve peer</del>",
            "<sub>x\n/changegate approve peer\n</sub>",
            // HTML that cannot be matched up, or that hides what follows.
            "</details><details>\n\n/changegate approve peer\n\n</details>",
            "<details>\n\n</details>\n</details>\n\n/changegate approve peer",
            "<!-- a --> <!--\n\n/changegate approve peer\n\n-->",
            "<details>\n\n/changegate approve peer",
            "<div hidden>\n\n/changegate approve peer\n\n</div>",
            // Math, which GitHub renders as a formula.
            "$$\n/changegate approve peer\n$$",
            "$$x\n/changegate approve peer\ny$$",
            "text\n$$\n/changegate approve peer\n$$\nmore",
            "$$\n/changegate approve peer",
            "/changegate approve peer\n$$",
            "$/changegate approve peer$",
        ] {
            let all = found(body);
            assert!(
                !all.iter().any(|c| matches!(c, Ok(Command::Approve { .. }))),
                "{body:?} gave {all:?}"
            );
        }
    }

    #[test]
    fn malformed_commands_say_why() {
        for (body, why) in [
            ("/changegate approve", "name the approval roles"),
            ("/changegate approve @abcdef1", "name the approval roles"),
            ("/changegate approve peer @xyz", "is not a commit"),
            ("/changegate approve @abcdef1 peer", "must come last"),
            ("/changegate merge", "is not a command"),
            ("/changegate request", "takes no such words"),
            ("/changegate", "no command given"),
        ] {
            let all = found(body);
            assert!(
                matches!(all.as_slice(), [Err(e)] if e.contains(why)),
                "{body:?} gave {all:?}"
            );
        }
    }

    #[test]
    fn at_most_one_more_than_the_maximum_is_read() {
        let many: String = (0..50).map(|_| "/changegate help\n").collect();
        assert_eq!(commands(&many, P).len(), MAX_COMMANDS + 1);
    }

    #[test]
    fn another_prefix_is_read_as_configured() {
        assert_eq!(
            commands("/cg approve peer\n/changegate approve peer", "/cg")
                .into_iter()
                .map(|c| c.command)
                .collect::<Vec<_>>(),
            vec![approve(&["peer"], None)]
        );
    }
}
