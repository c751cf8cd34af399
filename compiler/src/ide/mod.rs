//! The semantic model editors navigate: what every name in a project's sources refers
//! to, and the queries an editor asks about a cursor position (hover, definition,
//! references, rename, symbols, column lineage).
//!
//! [`SymbolIndex::build`] reads one checked state of a project (the [`Analysis`], the
//! [`SourceSet`] it was computed from and the syntax trees it read) and records every
//! *occurrence*: a byte span in a file naming a [`Symbol`] (a table, a schema class, or
//! a column read through a contract), as its definition or as a reference. The query
//! functions (`hover.rs`, `nav.rs`) are pure functions of the index. Nothing here
//! knows the language server protocol: positions are byte offsets, answers are spans
//! and strings.
//!
//! Column identity is "a contract column, everywhere it flows unchanged": two column
//! keys are one column when a body copies one into the other under the same name (the
//! lineage edges of [`crate::lineage`]), a schema inherits it (`col = Other.col`), or a
//! Python input's annotation requires it of its parent. A renamed or computed column
//! starts a new one.
//!
//! [`Analysis`]: crate::Analysis
//! [`SourceSet`]: crate::SourceSet

mod collect_py;
mod collect_py_text;
mod collect_sql;
pub mod complete;
mod hover;
mod index;
mod nav;

pub use index::{ColumnKey, Edit, Occurrence, Owner, Role, Symbol, SymbolIndex, Wildcard};
pub use nav::{
    ColumnLineage, DocumentSymbol, Location, RenameEdits, RenameRefused, SymbolCategory,
    WorkspaceSymbol,
};
