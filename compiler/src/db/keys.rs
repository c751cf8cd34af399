//! Memo keys: 128-bit fingerprints of exactly the values a memoised step reads.
//!
//! A key never contains a positional index (a `TableId`, `SchemaId` or `ModuleId`): a
//! schema is keyed by its content, a table by its name and definition, an input by its
//! parent's name and effective output. File ids are interned by path, so they are stable.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use crate::analysis::Table;
use crate::contracts::Output;
use crate::schema::SchemaDef;
use crate::syntax::python::PyModule;

/// A 128-bit content fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint(u128);

/// Two independently keyed SipHash streams, combined into one [`Fingerprint`].
pub(crate) struct Fingerprinter {
    a: std::collections::hash_map::DefaultHasher,
    b: std::collections::hash_map::DefaultHasher,
}

impl Hasher for Fingerprinter {
    fn write(&mut self, bytes: &[u8]) {
        self.a.write(bytes);
        self.b.write(bytes);
    }

    fn finish(&self) -> u64 {
        self.a.finish()
    }
}

impl Fingerprinter {
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        Fingerprint(u128::from(self.a.finish()) << 64 | u128::from(self.b.finish()))
    }
}

/// The hashing keys of one database (random per process: fingerprints are never
/// persisted, and random keys make crafted collisions impractical).
pub(crate) struct Keys {
    a: std::collections::hash_map::RandomState,
    b: std::collections::hash_map::RandomState,
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            a: std::collections::hash_map::RandomState::new(),
            b: std::collections::hash_map::RandomState::new(),
        }
    }
}

/// What a table's key reads besides its definition: the graph's resolution of its
/// inputs.
pub(crate) struct TableKeyInputs<'a> {
    pub tables: &'a [Table],
    /// Fingerprint of every checked table's effective output, by `TableId`.
    pub outputs: &'a [Option<Fingerprint>],
    /// The declared run parameters: a SQL query's `$key` is planned with its type.
    pub parameters:
        &'a std::collections::BTreeMap<String, crate::bauplan_project::ProjectParameter>,
}

/// A pass-through hasher for maps keyed by [`Fingerprint`]s, which are already uniformly
/// random (keyed SipHash): hashing them again would only cost time.
#[derive(Default)]
pub(crate) struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for a `Fingerprint` (which writes one u128); still a valid hash.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by fingerprints.
pub(crate) type FingerprintMap<V> =
    HashMap<Fingerprint, V, std::hash::BuildHasherDefault<FingerprintHasher>>;

impl Keys {
    pub(crate) fn hasher(&self, domain: &str) -> Fingerprinter {
        let mut h = Fingerprinter {
            a: self.a.build_hasher(),
            b: self.b.build_hasher(),
        };
        domain.hash(&mut h);
        h
    }

    /// A file's text.
    pub(crate) fn text(&self, text: &str) -> Fingerprint {
        let mut h = self.hasher("text");
        text.hash(&mut h);
        h.fingerprint()
    }

    /// What schema resolution reads of a Python module: its imports and classes (not its
    /// functions or other assignments).
    pub(crate) fn py_signature(&self, module: &PyModule) -> Fingerprint {
        let mut h = self.hasher("py-signature");
        (&module.imports, &module.classes).hash(&mut h);
        h.fingerprint()
    }

    /// What module and schema resolution, and other modules' table definitions, read
    /// of a Python module besides its functions, assignments and class bodies: its
    /// imports, and its classes' names and bases (without positions, which an edit
    /// above them shifts). Projects whose files all keep their structure keep their
    /// class and schema ids.
    pub(crate) fn py_structure(&self, module: &PyModule) -> Fingerprint {
        let mut h = self.hasher("py-structure");
        module.imports.hash(&mut h);
        module.classes.len().hash(&mut h);
        for class in &module.classes {
            class.name.text.hash(&mut h);
            class.bases.len().hash(&mut h);
            for base in &class.bases {
                base.as_path().hash(&mut h);
            }
        }
        h.fingerprint()
    }

    /// A schema's content: everything of a [`SchemaDef`] but the positional id of the
    /// schema an inherited column comes from (the contract step never reads it).
    pub(crate) fn schema(&self, def: &SchemaDef) -> Fingerprint {
        let mut h = self.hasher("schema");
        (&def.name, &def.module, def.file, &def.span, def.incomplete).hash(&mut h);
        (&def.append, &def.imports).hash(&mut h);
        def.columns.len().hash(&mut h);
        for c in def.columns.iter() {
            (&c.name, &c.ty, c.file, &c.span, &c.annotation_span).hash(&mut h);
            c.inherited_from.as_ref().map(|(_, col)| col).hash(&mut h);
            (&c.annotation, &c.doc).hash(&mut h);
        }
        h.fingerprint()
    }

    /// An effective output as a consumer reads it: its columns (types, nullability,
    /// where they are declared or computed) and how messages describe it.
    pub(crate) fn output(&self, output: &Output) -> Fingerprint {
        let mut h = self.hasher("output");
        output.described_as.hash(&mut h);
        output.columns.len().hash(&mut h);
        for c in &output.columns {
            (&c.name, &c.ty, c.file, &c.span, c.conservative_null).hash(&mut h);
        }
        h.fingerprint()
    }

    /// The fingerprint of a table's definition, as the front phases make it (before the
    /// graph resolves its inputs): its own file's text (its body, its parse, its spans),
    /// its name, kind, spans, the content of the schemas it names, and per input the
    /// reference as written. `file_text` is the fingerprint of the table's file's text;
    /// `schemas` the content fingerprint of every schema, by `SchemaId`.
    pub(crate) fn definition(
        &self,
        table: &Table,
        file_text: Option<Fingerprint>,
        schemas: &[Fingerprint],
    ) -> Fingerprint {
        let mut h = self.hasher("definition");
        table.file.hash(&mut h);
        file_text.hash(&mut h);
        (&table.name, table.kind, &table.span, table.output_invalid).hash(&mut h);
        table.output.map(|s| schemas[s.0]).hash(&mut h);
        // The function's index in its module (the module is the table's own file).
        table.function.map(|(_, index)| index).hash(&mut h);
        (&table.returns_span, &table.model_columns).hash(&mut h);
        table.inputs.len().hash(&mut h);
        for input in &table.inputs {
            (&input.table, &input.span, &input.annotation_span).hash(&mut h);
            input
                .param
                .as_ref()
                .map(|p| (&p.text, &p.span))
                .hash(&mut h);
            input.required.map(|s| schemas[s.0]).hash(&mut h);
            (input.annotation_invalid, input.bare_name).hash(&mut h);
            (&input.projection, &input.filter, &input.filter_span).hash(&mut h);
            input.projection_schema.hash(&mut h);
        }
        h.fingerprint()
    }

    /// The key of a table's contract step ([`crate::contracts::check_table`]): its
    /// definition's fingerprint ([`Keys::definition`]) and, per input, the table name the
    /// graph resolved it by, and the parent's name and effective output.
    pub(crate) fn table(
        &self,
        definition: Fingerprint,
        at: &TableKeyInputs,
        table: &Table,
    ) -> Fingerprint {
        let mut h = self.hasher("table");
        definition.hash(&mut h);
        // The declared type of each run parameter the query names (`$key`), and of each
        // one an input's filter names (`filter="x > $key"`, checked by planning it).
        let filters: Vec<_> = table
            .inputs
            .iter()
            .filter_map(|i| Some((i.filter.clone()?, i.filter_span.clone()?)))
            .collect();
        let in_filters = crate::bauplan::filter_placeholders(&filters);
        for p in table.placeholders.iter().chain(&in_filters) {
            at.parameters.get(&p.text).map(|d| &d.ty).hash(&mut h);
        }
        table.inputs.len().hash(&mut h);
        for input in &table.inputs {
            input.table.hash(&mut h);
            match input.resolved {
                Some(parent) => {
                    true.hash(&mut h);
                    at.tables[parent.0].name.hash(&mut h);
                    at.outputs[parent.0].hash(&mut h);
                }
                None => false.hash(&mut h),
            }
        }
        h.fingerprint()
    }
}
