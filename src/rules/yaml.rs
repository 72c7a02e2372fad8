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

/// Every structural problem, not only the first: after each one the entry of a top-level list
/// that holds it (a rule, an approval, …) or an unknown top-level key is blanked out, keeping the
/// line numbers, and the file is read again. Blanking stops where it could invent a problem (a
/// required key, a flow-style list): then the problems found so far are all that is said.
pub(super) fn deserialize_all(text: &str) -> Result<RulesFile, Vec<Problem>> {
    const MOST: usize = 100;
    let mut text = text.to_string();
    let mut problems: Vec<Problem> = vec![];
    loop {
        match deserialize(&text) {
            Ok(file) if problems.is_empty() => return Ok(file),
            Ok(_) => return Err(problems),
            Err(p) => {
                let next = blank_entry(&text, &p);
                if problems.contains(&p) {
                    return Err(problems);
                }
                problems.push(p);
                match next {
                    Some(t) if problems.len() < MOST => text = t,
                    _ => return Err(problems),
                }
            }
        }
    }
}

/// The text with the list entry (or unknown top-level key) holding `problem` blanked out.
fn blank_entry(text: &str, problem: &Problem) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let at = usize::try_from(problem.pos.line).ok()?.checked_sub(1)?;
    if at >= lines.len() {
        return None;
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let content = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let item = |l: &str| l.trim_start().starts_with("- ") || l.trim() == "-";
    // The top-level key holding the line.
    let key = (0..=at)
        .rev()
        .find(|&i| content(lines[i]) && indent(lines[i]) == 0 && !item(lines[i]))?;
    let (start, depth) = if key == at {
        if !problem.message.starts_with("unknown key") {
            return None;
        }
        (key, 0)
    } else {
        let first = (key + 1..lines.len()).find(|&i| content(lines[i]))?;
        if !item(lines[first]) {
            return None;
        }
        let depth = indent(lines[first]);
        let start = (first..=at)
            .rev()
            .find(|&i| item(lines[i]) && indent(lines[i]) == depth)?;
        (start, depth)
    };
    let end = (start + 1..lines.len())
        .find(|&i| content(lines[i]) && indent(lines[i]) <= depth)
        .unwrap_or(lines.len());
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    for line in out.iter_mut().take(end).skip(start) {
        line.clear();
    }
    // A list left with no entry would read as null: it is written as an empty list instead.
    let list_end = (key + 1..out.len())
        .find(|&i| content(&out[i]) && indent(&out[i]) == 0 && !item(&out[i]))
        .unwrap_or(out.len());
    if depth > 0 || key != start {
        let left = (key + 1..list_end).any(|i| content(&out[i]));
        if !left {
            let name = lines[key].split(':').next().unwrap_or_default().to_string();
            out[key] = format!("{name}: []");
        }
    }
    Some(out.join("\n") + "\n")
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
