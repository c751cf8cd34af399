//! Resolving refs (branch, tag, commit hash, `@hash`, `~n`), and creating,
//! deleting and marking branches, tags and commits.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Lake;
use crate::error::{LakeError, Result};
use crate::model::{Commit, CommitId, RefEntry, RefKind, Snapshot, SnapshotId, validate_ref_name};

/// What a ref string resolved to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum RefTarget {
    Branch(String),
    Tag(String),
    Commit,
}

#[derive(Clone, Debug)]
pub struct Resolved {
    /// The ref as written by the user.
    pub reference: String,
    pub target: RefTarget,
    pub commit: Commit,
}

/// The number of first-parent steps of the suffix `steps` (`~`, `~3`, `~2~1`, ...)
/// of `reference`, whose part before the first `~` is `base`.
pub(crate) fn ancestor_steps(reference: &str, base: &str, steps: &str) -> Result<u64> {
    let invalid = |reason: String| LakeError::InvalidRef {
        reference: reference.to_string(),
        reason,
    };
    if base.is_empty() {
        return Err(invalid(
            "`~N` needs a ref before it, e.g. `main~1` (there is no HEAD)".into(),
        ));
    }
    let mut total: u64 = 0;
    for step in steps.split('~').skip(1) {
        let n = if step.is_empty() {
            1
        } else if step.chars().all(|c| c.is_ascii_digit()) {
            step.parse::<u64>()
                .map_err(|_| invalid(format!("`~{step}` is too large")))?
        } else {
            return Err(invalid(format!(
                "`~{step}`: expected `~` followed by a number of commits, e.g. `{base}~2`"
            )));
        };
        total = total
            .checked_add(n)
            .ok_or_else(|| invalid("too many ancestor steps".into()))?;
    }
    Ok(total)
}

impl Lake {
    // ----- reading commits and refs -------------------------------------

    pub async fn commit_by_id(&self, id: &CommitId) -> Result<Commit> {
        self.catalog
            .get_commit(id)
            .await?
            .ok_or_else(|| LakeError::CommitNotFound(id.0.clone()))
    }

    pub async fn snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        self.catalog
            .get_snapshot(id)
            .await?
            .ok_or_else(|| LakeError::Corrupt(format!("snapshot {id} is not recorded")))
    }

    async fn commit_by_prefix(&self, reference: &str, prefix: &str) -> Result<Commit> {
        if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(LakeError::InvalidRef {
                reference: reference.to_string(),
                reason: format!("`{prefix}` is not a commit hash (at least 4 hexadecimal digits)"),
            });
        }
        let prefix = prefix.to_ascii_lowercase();
        let ids = self.catalog.commits_with_prefix(&prefix, 3).await?;
        match ids.as_slice() {
            [] => Err(LakeError::CommitNotFound(prefix)),
            [one] => self.commit_by_id(one).await,
            many => Err(LakeError::AmbiguousCommit {
                prefix,
                matches: many
                    .iter()
                    .map(|c| c.short().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Resolves `main`, `main@<hash prefix>`, `@<hash prefix>`, a tag name,
    /// or a bare hash prefix, each optionally followed by ancestor steps: `REF~N`
    /// is the N-th first-parent ancestor of what REF names (`REF~` is `REF~1`, and
    /// steps add up: `main~2~1` is `main~3`), as in git.
    pub async fn resolve(&self, reference: &str) -> Result<Resolved> {
        let reference = reference.trim();
        let Some(tilde) = reference.find('~') else {
            return self.resolve_named(reference).await;
        };
        let (base, steps) = reference.split_at(tilde);
        let steps = ancestor_steps(reference, base, steps)?;
        let mut commit = self.resolve_named(base).await?.commit;
        for walked in 0..steps {
            let Some(parent) = commit.content.parents.first().cloned() else {
                return Err(LakeError::InvalidRef {
                    reference: reference.to_string(),
                    reason: format!(
                        "`{base}` has only {walked} ancestor(s) along its first parents"
                    ),
                });
            };
            commit = self.commit_by_id(&parent).await?;
        }
        Ok(Resolved {
            reference: reference.to_string(),
            target: RefTarget::Commit,
            commit,
        })
    }

    /// [`Lake::resolve`] without ancestor steps.
    async fn resolve_named(&self, reference: &str) -> Result<Resolved> {
        if reference.is_empty() {
            return Err(LakeError::InvalidRef {
                reference: String::new(),
                reason: "it is empty".into(),
            });
        }
        if let Some((name, hash)) = reference.split_once('@') {
            let commit = self.commit_by_prefix(reference, hash).await?;
            if !name.is_empty() {
                let entry = self
                    .catalog
                    .get_ref(name)
                    .await?
                    .ok_or_else(|| LakeError::RefNotFound(name.to_string()))?;
                if !self.is_ancestor(&commit.id, &entry.commit).await? {
                    return Err(LakeError::CommitNotOnBranch {
                        commit: commit.id.short().to_string(),
                        branch: name.to_string(),
                    });
                }
            }
            return Ok(Resolved {
                reference: reference.to_string(),
                target: RefTarget::Commit,
                commit,
            });
        }
        if let Some(entry) = self.catalog.get_ref(reference).await? {
            let commit = self.commit_by_id(&entry.commit).await?;
            let target = match entry.kind {
                RefKind::Branch => RefTarget::Branch(entry.name),
                RefKind::Tag => RefTarget::Tag(entry.name),
            };
            return Ok(Resolved {
                reference: reference.to_string(),
                target,
                commit,
            });
        }
        if reference.len() >= 4 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
            let commit = self.commit_by_prefix(reference, reference).await?;
            return Ok(Resolved {
                reference: reference.to_string(),
                target: RefTarget::Commit,
                commit,
            });
        }
        Err(LakeError::RefNotFound(reference.to_string()))
    }

    /// The head of a branch, or `ReadOnlyRef`/`RefNotFound` for anything
    /// that is not a branch.
    pub async fn branch_head(&self, branch: &str) -> Result<Commit> {
        let resolved = match self.resolve(branch).await {
            Err(LakeError::RefNotFound(_)) => {
                return Err(LakeError::BranchNotFound(branch.to_string()));
            }
            r => r?,
        };
        match resolved.target {
            RefTarget::Branch(_) => Ok(resolved.commit),
            RefTarget::Tag(_) => Err(LakeError::ReadOnlyRef {
                reference: branch.to_string(),
                kind: "tag",
            }),
            RefTarget::Commit => Err(LakeError::ReadOnlyRef {
                reference: branch.to_string(),
                kind: "commit",
            }),
        }
    }

    pub async fn list_refs(&self, kind: RefKind) -> Result<Vec<RefEntry>> {
        self.catalog.list_refs(Some(kind)).await
    }

    /// Creates a branch at the commit `from` resolves to. Copies no data.
    pub async fn create_branch(&self, name: &str, from: &str) -> Result<RefEntry> {
        self.create_ref(name, RefKind::Branch, from).await
    }

    /// Creates a branch at a known commit (e.g. a run's base commit).
    pub async fn create_branch_at(&self, name: &str, commit: &CommitId) -> Result<RefEntry> {
        self.create_ref(name, RefKind::Branch, &format!("@{commit}"))
            .await
    }

    /// Creates the run's branch at `commit`, sealed by this handle's lease:
    /// from then on only writes presenting the lease reach it.
    pub async fn create_run_branch(&self, name: &str, commit: &CommitId) -> Result<RefEntry> {
        let lease = self.lease.as_ref().ok_or_else(|| {
            LakeError::Config(format!(
                "run branch `{name}`: this lake handle holds no run lease"
            ))
        })?;
        validate_ref_name("branch", name)?;
        self.catalog
            .create_ref(name, RefKind::Branch, commit, Some(lease))
            .await?;
        Ok(RefEntry {
            name: name.to_string(),
            kind: RefKind::Branch,
            commit: commit.clone(),
            properties: BTreeMap::new(),
        })
    }

    /// Creates a tag (an immutable ref) at the commit `from` resolves to.
    pub async fn create_tag(&self, name: &str, from: &str) -> Result<RefEntry> {
        self.create_ref(name, RefKind::Tag, from).await
    }

    async fn create_ref(&self, name: &str, kind: RefKind, from: &str) -> Result<RefEntry> {
        validate_ref_name(kind.as_str(), name)?;
        let from = self.resolve(from).await?;
        self.catalog
            .create_ref(name, kind, &from.commit.id, None)
            .await?;
        Ok(RefEntry {
            name: name.to_string(),
            kind,
            commit: from.commit.id,
            properties: BTreeMap::new(),
        })
    }

    pub async fn delete_branch(&self, name: &str) -> Result<()> {
        if name == "main" {
            return Err(LakeError::CannotDeleteMain);
        }
        self.catalog
            .delete_ref(name, RefKind::Branch, self.lease.as_ref())
            .await
    }

    pub async fn delete_tag(&self, name: &str) -> Result<()> {
        self.catalog.delete_ref(name, RefKind::Tag, None).await
    }

    /// Sets (`Some`) or removes (`None`) a mutable property of a branch,
    /// e.g. `run_id` or `aborted`.
    pub async fn set_branch_property(
        &self,
        branch: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<()> {
        self.catalog
            .set_branch_property(branch, key, value, self.lease.as_ref())
            .await
    }

    /// Adds a mutable mark (outside the hashed content) to a commit.
    pub async fn mark_commit(&self, id: &CommitId, key: &str, value: &str) -> Result<()> {
        self.catalog.mark_commit(id, key, value).await
    }

    pub async fn commit_marks(&self, id: &CommitId) -> Result<BTreeMap<String, String>> {
        self.catalog.commit_marks(id).await
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::ancestor_steps;

    proptest! {
        /// Any spelling of the steps (`~`, `~N`, chained) adds up to their sum.
        #[test]
        fn chained_steps_add_up(steps in proptest::collection::vec(proptest::option::of(0u64..50), 1..6)) {
            let text: String = steps
                .iter()
                .map(|s| s.map_or_else(|| "~".to_string(), |n| format!("~{n}")))
                .collect();
            let expected: u64 = steps.iter().map(|s| s.unwrap_or(1)).sum();
            let reference = format!("main{text}");
            prop_assert_eq!(ancestor_steps(&reference, "main", &text).ok(), Some(expected));
        }
    }

    #[test]
    fn malformed_steps_are_invalid_refs() {
        for (reference, base, steps) in [
            ("~1", "", "~1"),
            ("main~x", "main", "~x"),
            ("main~-1", "main", "~-1"),
            ("main~1.5", "main", "~1.5"),
            ("main~99999999999999999999", "main", "~99999999999999999999"),
        ] {
            let err = ancestor_steps(reference, base, steps).unwrap_err();
            assert!(
                matches!(err, crate::LakeError::InvalidRef { .. }),
                "{reference}: {err}"
            );
        }
    }
}
