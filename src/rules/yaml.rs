//! Reading a rules file's YAML with positions, and saying what is wrong with it in words: an
//! unknown key or name comes with the closest known one.

use super::Problem;
use super::schema::{self, Pos, RulesFile};
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};

pub(super) fn deserialize_repo(text: &str) -> Result<schema::RepoRulesFile, Problem> {
    if text.trim().is_empty() {
        return Err(Problem {
            pos: Pos { line: 1, column: 1 },
            message: "the repository rules file is empty; it needs at least `version: 1`".into(),
        });
    }
    serde_saphyr::from_str(text).map_err(problem_from_yaml)
}

pub(super) fn deserialize(text: &str) -> Result<RulesFile, Problem> {
    if text.trim().is_empty() {
        return Err(Problem {
            pos: Pos { line: 1, column: 1 },
            message: "the rules file is empty; it needs at least `version: 1` and `enforce`".into(),
        });
    }
    // serde-saphyr's default budget bounds nesting depth, aliases and sizes.
    serde_saphyr::from_str(text).map_err(problem_from_yaml)
}

fn problem_from_yaml(e: serde_saphyr::Error) -> Problem {
    let pos = e
        .location()
        .map(|l| Pos {
            line: l.line(),
            column: l.column(),
        })
        .unwrap_or(Pos { line: 1, column: 1 });
    let message = match e.without_snippet() {
        serde_saphyr::Error::SerdeUnknownField {
            field, expected, ..
        } => unknown("key", field, expected.iter().copied()),
        inner => tidy(&DefaultMessageFormatter.format_message(inner)),
    };
    Problem { pos, message }
}

/// Makes the YAML library's messages say what to write instead.
fn tidy(message: &str) -> String {
    let message = message.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    match message.as_str() {
        "invalid boolean" => "invalid boolean: write true or false".into(),
        m if m.starts_with("expected ") => format!("wrong type: {m}"),
        _ => message,
    }
}

/// "unknown key `x` (did you mean `y`?); expected one of …"
pub(super) fn unknown<'a>(
    what: &str,
    name: &str,
    candidates: impl Iterator<Item = &'a str> + Clone,
) -> String {
    let mut msg = format!("unknown {what} `{name}`");
    if let Some(best) = closest(name, candidates.clone()) {
        msg.push_str(&format!(" (did you mean `{best}`?)"));
    }
    let all: Vec<String> = candidates.map(|c| format!("`{c}`")).collect();
    if all.is_empty() {
        msg.push_str(&format!("; no {what}s are defined"));
    } else {
        msg.push_str(&format!("; expected one of {}", all.join(", ")));
    }
    msg
}

pub(super) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| {
            (
                strsim::normalized_damerau_levenshtein(&name.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
