//! A repository's commit graph for the fake forges: commits with their parents and
//! authors, in the order they were made, and what git answers about them (ancestors, the
//! merge base, `base...head`).
#![allow(dead_code)]

use std::collections::HashSet;

#[derive(Clone, Debug)]
pub struct GraphCommit {
    pub sha: String,
    pub parents: Vec<String>,
    /// The account the commit's author is linked to.
    pub author: String,
    /// When it was committed (RFC 3339).
    pub at: String,
}

/// How head relates to base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    Ahead,
    Behind,
    Identical,
    Diverged,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Ahead => "ahead",
            Relation::Behind => "behind",
            Relation::Identical => "identical",
            Relation::Diverged => "diverged",
        }
    }
}

/// What comparing two commits gives.
pub struct Comparison<'a> {
    pub relation: Relation,
    /// In head, not in base, oldest first (the order they were made).
    pub ahead: Vec<&'a GraphCommit>,
    pub behind_by: usize,
    pub merge_base: Option<&'a GraphCommit>,
}

#[derive(Default, Clone, Debug)]
pub struct CommitGraph {
    /// Oldest first: a commit comes after its parents.
    pub commits: Vec<GraphCommit>,
    /// Branches: (name, the commit it holds).
    pub branches: Vec<(String, String)>,
}

impl CommitGraph {
    /// Adds a commit; its parents must be in the graph already (git cannot do otherwise).
    pub fn add(&mut self, sha: &str, parents: &[&str], author: &str, at: &str) {
        for p in parents {
            assert!(
                self.get(p).is_some(),
                "parent {p} of {sha} is not in the graph"
            );
        }
        assert!(self.get(sha).is_none(), "{sha} is in the graph already");
        self.commits.push(GraphCommit {
            sha: sha.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            author: author.into(),
            at: at.into(),
        });
    }

    pub fn get(&self, sha: &str) -> Option<&GraphCommit> {
        self.commits.iter().find(|c| c.sha == sha)
    }

    /// Points branch `name` at `sha` (a merge into it, or a push).
    pub fn set_branch(&mut self, name: &str, sha: &str) {
        self.branches.retain(|(n, _)| n != name);
        self.branches.push((name.into(), sha.into()));
    }

    /// The commit a branch name, a full SHA or a unique prefix (at least 4 characters)
    /// names, as git resolves them; `None` when none or several do.
    pub fn resolve(&self, prefix: &str) -> Option<&GraphCommit> {
        if let Some(name) = prefix.strip_prefix("refs/heads/") {
            let (_, sha) = self.branches.iter().find(|(n, _)| n == name)?;
            return self.get(sha);
        }
        if let Some((_, sha)) = self.branches.iter().find(|(n, _)| n == prefix) {
            return self.get(sha);
        }
        if prefix.len() < 4 {
            return None;
        }
        let lower = prefix.to_ascii_lowercase();
        let mut found = self.commits.iter().filter(|c| c.sha.starts_with(&lower));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// `sha` and every commit reachable from it.
    pub fn ancestors(&self, sha: &str) -> HashSet<String> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut todo = vec![sha.to_string()];
        while let Some(s) = todo.pop() {
            if !seen.insert(s.clone()) {
                continue;
            }
            if let Some(c) = self.get(&s) {
                todo.extend(c.parents.iter().cloned());
            }
        }
        seen
    }

    /// `base...head` as git and both forges answer it; `None` when either is unknown.
    pub fn compare(&self, base: &str, head: &str) -> Option<Comparison<'_>> {
        let base = self.resolve(base)?;
        let head = self.resolve(head)?;
        let of_base = self.ancestors(&base.sha);
        let of_head = self.ancestors(&head.sha);
        let ahead: Vec<&GraphCommit> = self
            .commits
            .iter()
            .filter(|c| of_head.contains(&c.sha) && !of_base.contains(&c.sha))
            .collect();
        let behind_by = of_base.iter().filter(|s| !of_head.contains(*s)).count();
        // The newest common ancestor (the graph is in the order commits were made).
        let merge_base = self
            .commits
            .iter()
            .rev()
            .find(|c| of_base.contains(&c.sha) && of_head.contains(&c.sha));
        let relation = match (ahead.is_empty(), behind_by == 0) {
            (true, true) => Relation::Identical,
            (false, true) => Relation::Ahead,
            (true, false) => Relation::Behind,
            (false, false) => Relation::Diverged,
        };
        Some(Comparison {
            relation,
            ahead,
            behind_by,
            merge_base,
        })
    }

    /// Whether `sha` is reachable from `from`.
    pub fn contains(&self, from: &str, sha: &str) -> bool {
        self.ancestors(from).contains(sha)
    }
}
