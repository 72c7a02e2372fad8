//! Reads a unified diff with git's extended headers (`diff --git`, modes, renames, `index`)
//! into its files: GitHub's `application/vnd.github.diff` answer. Anything it cannot read with
//! certainty (a path git had to quote, a header it does not know) is an error, never a guess.

use super::{FileDiff, FileStatus};

/// The files of a diff text, in its order. Blob ids are as the text gives them (possibly
/// abbreviated); `patch` is the hunks from the first `@@`, verbatim.
pub fn sections(text: &str) -> Result<Vec<FileDiff>, String> {
    let mut out = vec![];
    let mut current: Option<Section> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            if let Some(s) = current.take() {
                out.push(s.finish()?);
            }
            current = Some(Section::start(line)?);
            continue;
        }
        match current.as_mut() {
            Some(s) => s.line(line)?,
            None if line.trim().is_empty() => {}
            None => return Err("the diff does not start with a file header".into()),
        }
    }
    if let Some(s) = current.take() {
        out.push(s.finish()?);
    }
    Ok(out)
}

struct Section {
    file: FileDiff,
    /// Still in the header (before the first hunk).
    header: bool,
    hunks: String,
    /// A mode from the `index` line (the same on both sides).
    index_mode: Option<String>,
}

impl Section {
    fn start(line: &str) -> Result<Section, String> {
        let rest = line
            .trim_end_matches('\n')
            .strip_prefix("diff --git ")
            .unwrap_or("");
        if rest.starts_with('"') {
            return Err("the diff names a path git had to quote".into());
        }
        // `a/P b/P`: a header of two different paths is only read from rename or copy lines.
        let path = rest
            .strip_prefix("a/")
            .and_then(|r| {
                let half = r.len().checked_sub(3)? / 2;
                let (first, second) = (r.get(..half)?, r.get(half..)?);
                (second.strip_prefix(" b/")? == first).then(|| first.to_string())
            })
            .unwrap_or_default();
        Ok(Section {
            file: FileDiff {
                status: FileStatus::Modified,
                old_path: path.clone(),
                new_path: path,
                old_mode: None,
                new_mode: None,
                old_blob: None,
                new_blob: None,
                patch: Some(String::new()),
                binary: false,
            },
            header: true,
            hunks: String::new(),
            index_mode: None,
        })
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        if !self.header {
            self.hunks.push_str(line);
            return Ok(());
        }
        if line.starts_with("@@") {
            self.header = false;
            self.hunks.push_str(line);
            return Ok(());
        }
        let text = line.trim_end_matches('\n');
        let f = &mut self.file;
        let word = |prefix: &str| text.strip_prefix(prefix).map(str::to_string);
        if let Some(m) = word("new file mode ") {
            f.status = FileStatus::Added;
            f.new_mode = Some(m);
        } else if let Some(m) = word("deleted file mode ") {
            f.status = FileStatus::Deleted;
            f.old_mode = Some(m);
        } else if let Some(m) = word("old mode ") {
            f.old_mode = Some(m);
        } else if let Some(m) = word("new mode ") {
            f.new_mode = Some(m);
        } else if let Some(p) = word("rename from ") {
            f.status = FileStatus::Renamed;
            f.old_path = p;
        } else if let Some(p) = word("rename to ") {
            f.new_path = p;
        } else if let Some(p) = word("copy from ") {
            f.status = FileStatus::Copied;
            f.old_path = p;
        } else if let Some(p) = word("copy to ") {
            f.new_path = p;
        } else if let Some(ids) = word("index ") {
            let (ids, mode) = match ids.split_once(' ') {
                Some((i, m)) => (i.to_string(), Some(m.to_string())),
                None => (ids, None),
            };
            let (old, new) = ids
                .split_once("..")
                .ok_or_else(|| format!("an index line without `..`: {text}"))?;
            let id = |s: &str| (!s.trim_matches('0').is_empty()).then(|| s.to_string());
            f.old_blob = id(old);
            f.new_blob = id(new);
            self.index_mode = mode;
        } else if text.starts_with("Binary files ") || text == "GIT binary patch" {
            f.binary = true;
            f.patch = None;
        } else if text.starts_with("similarity index ")
            || text.starts_with("dissimilarity index ")
            || text.starts_with("--- ")
            || text.starts_with("+++ ")
        {
            // Similarity is the forge's estimate; the ---/+++ paths repeat the header's.
        } else {
            return Err(format!(
                "a diff header line changegate does not know: {text}"
            ));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<FileDiff, String> {
        let f = &mut self.file;
        if f.old_path.is_empty() || f.new_path.is_empty() {
            return Err("a diff header whose paths cannot be read".into());
        }
        if let Some(m) = self.index_mode.take() {
            f.old_mode.get_or_insert(m.clone());
            f.new_mode.get_or_insert(m);
        }
        match f.status {
            FileStatus::Added => f.old_mode = None,
            FileStatus::Deleted => f.new_mode = None,
            _ => {}
        }
        if !f.binary {
            f.patch = Some(std::mem::take(&mut self.hunks));
        }
        Ok(self.file)
    }
}
