//! The guard rails of `sluice mcp`: which branches an agent may not write to.
//!
//! `main` is protected unless `--allow-writes-to main` lifts it; `--protect BRANCH`
//! protects more. Every tool that writes to a branch asks [`Guard::check`] first, so a
//! refused write changes nothing.

use std::collections::BTreeSet;

/// The protected branches of one server.
#[derive(Clone, Debug)]
pub struct Guard {
    /// Branches no tool may write to.
    pub protected: BTreeSet<String>,
}

/// A write a tool is about to make: the tool's name and the branch (or tag name) it
/// writes.
#[derive(Clone, Copy, Debug)]
pub struct Write<'a> {
    /// The tool, as the agent called it (`merge`, `run`, ...).
    pub tool: &'a str,
    /// The branch it writes to (for `delete_branch`, the branch deleted; for
    /// `create_branch`/`create_tag`, the name created).
    pub branch: &'a str,
}

impl Guard {
    /// `main` protected, plus `protect`, less `allow`.
    pub fn new(protect: &[String], allow: &[String]) -> Guard {
        let mut protected: BTreeSet<String> = std::iter::once("main".to_string())
            .chain(protect.iter().map(|p| p.trim().to_string()))
            .collect();
        for a in allow {
            protected.remove(a.trim());
        }
        Guard { protected }
    }

    /// `Err(message)` when `write` would touch a protected branch: the message names the
    /// tool, the branch and the flag that lifts the protection.
    pub fn check(&self, write: Write<'_>) -> Result<(), String> {
        // The lake reads a ref with its surrounding whitespace trimmed (` main` is
        // `main`): so does the guard, or a padded name would slip past it.
        let branch = write.branch.trim();
        if !self.protected.contains(branch) {
            return Ok(());
        }
        let tool = write.tool;
        Err(format!(
            "refused: `{tool}` into `{branch}` would write to a protected branch; an agent \
             works on its own branch (create_branch) and a person merges into `{branch}` — \
             or restart the server with --allow-writes-to {branch}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{Guard, Write};

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    /// ` main` names `main` for the lake (it trims refs): the guard refuses it too.
    #[test]
    fn a_padded_name_is_the_branch_it_pads() {
        let g = Guard::new(&strings(&[" prod "]), &[]);
        for padded in [" main", "main ", "\tmain\n", "prod", " prod"] {
            let err = g.check(Write {
                tool: "merge",
                branch: padded,
            });
            assert!(err.is_err(), "{padded:?} slipped past the guard");
        }
    }

    #[test]
    fn main_is_protected_by_default() {
        let g = Guard::new(&[], &[]);
        let err = g
            .check(Write {
                tool: "merge",
                branch: "main",
            })
            .unwrap_err();
        assert!(err.contains("`merge` into `main`"), "{err}");
        assert!(err.contains("--allow-writes-to main"), "{err}");
        assert!(
            g.check(Write {
                tool: "merge",
                branch: "agent/fix"
            })
            .is_ok()
        );
    }

    #[test]
    fn protect_adds_and_allow_lifts() {
        let g = Guard::new(&strings(&["prod"]), &strings(&["main"]));
        assert!(
            g.check(Write {
                tool: "run",
                branch: "main"
            })
            .is_ok()
        );
        let err = g
            .check(Write {
                tool: "import",
                branch: "prod",
            })
            .unwrap_err();
        assert!(err.contains("`import` into `prod`"), "{err}");
        assert!(err.contains("--allow-writes-to prod"), "{err}");
    }
}
