//! "Add the missing column to the contract": a body produces a column its declared schema
//! lacks (E0602); the fix declares it, `name: <type>`, on a new line after the line of
//! the schema class's last column, with that column's indentation.

use arrow_schema::{DataType, TimeUnit};

use crate::diagnostic::{Edit, Fix};
use crate::schema::SchemaDef;
use crate::types::ColumnType;

use super::is_python_identifier;

/// The fix declaring `column` of type `ty` in `schema` (its module's text is `text`),
/// importing the type's name where the module does not yet. `None` when the type has no
/// annotation sluice reads back as the same type, the name is no Python identifier, or
/// there is no safe place to insert (the class body's last line is not its own; the
/// import would have to go before a `from __future__` import or inside a bracket).
pub(crate) fn add_column(
    schema: &SchemaDef,
    text: &str,
    column: &str,
    ty: &ColumnType,
) -> Option<Fix> {
    if !is_python_identifier(column) {
        return None;
    }
    let annotation = python_annotation(ty)?;
    let append = schema.append.as_ref()?;
    let name_end = annotation
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(annotation.len());
    let mut edits = Vec::new();
    match import_edit(schema, text, &annotation[..name_end]) {
        Import::Bound => {}
        Import::Add(edit) => edits.push(edit),
        Import::Nowhere => return None,
    }
    edits.push(Edit {
        file: schema.file,
        span: append.at..append.at,
        replacement: format!("\n{}{column}: {annotation}", append.indent),
    });
    Some(Fix {
        title: format!("Declare `{column}: {annotation}` in `{}`", schema.name),
        preferred: false,
        edits,
    })
}

/// Whether a type name is usable in the schema's module.
enum Import {
    /// A builtin, or imported already.
    Bound,
    /// Imported by this edit.
    Add(Edit),
    /// Not imported, and no safe place for the import.
    Nowhere,
}

/// Makes type `name` importable in the module of `schema` (whose text is `text`):
/// `date`, `datetime`, `time`, `timedelta` from `datetime`, Arrow names from `sluice`;
/// `, name` after an existing `from <module> import ...`, else a new import line before
/// the module's first import.
fn import_edit(schema: &SchemaDef, text: &str, name: &str) -> Import {
    let module = match name {
        "int" | "float" | "str" | "bool" | "bytes" => return Import::Bound,
        "date" | "datetime" | "time" | "timedelta" => "datetime",
        _ => "sluice",
    };
    let imports = &schema.imports;
    let star = format!("from {module} import *");
    if imports.iter().any(|i| i.local.text == name) || text.lines().any(|l| l.trim() == star) {
        return Import::Bound;
    }
    let edit = |at: usize, replacement: String| {
        Import::Add(Edit {
            file: schema.file,
            span: at..at,
            replacement,
        })
    };
    if let Some(last) = imports
        .iter()
        .filter(|i| i.level == 0 && i.module == module && i.item.is_some())
        .max_by_key(|i| i.local.span.end)
    {
        return edit(last.local.span.end, format!(", {name}"));
    }
    let first = imports
        .iter()
        .filter(|i| i.module != "__future__")
        .map(|i| i.local.span.start)
        .min();
    let Some(first) = first else {
        // No import to stand before: the top, unless `from __future__` must come first.
        return if imports.is_empty() {
            edit(0, format!("from {module} import {name}\n"))
        } else {
            Import::Nowhere
        };
    };
    let line_start = text
        .get(..first)
        .map_or(0, |t| t.rfind('\n').map_or(0, |i| i + 1));
    let line = text.get(line_start..).unwrap_or("");
    if line.starts_with("from ") || line.starts_with("import ") {
        edit(line_start, format!("from {module} import {name}\n"))
    } else {
        Import::Nowhere
    }
}

/// How a schema class declares a column of type `ty`: Python's own names where sluice
/// reads them as exactly that Arrow type (`int` is Int64, `datetime` is a timestamp in
/// microseconds without time zone), sluice's Arrow names otherwise; `| None` when
/// nullable. `None` for types a schema cannot declare (lists, structs, the null type).
pub(crate) fn python_annotation(ty: &ColumnType) -> Option<String> {
    use DataType::*;
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    };
    let base = match &ty.data_type {
        Utf8 => "str".to_owned(),
        Int64 => "int".to_owned(),
        Float64 => "float".to_owned(),
        Boolean => "bool".to_owned(),
        Binary => "bytes".to_owned(),
        Date32 => "date".to_owned(),
        Timestamp(TimeUnit::Microsecond, None) => "datetime".to_owned(),
        Timestamp(u, None) => format!("Timestamp(\"{}\")", unit(u)),
        Timestamp(u, Some(tz)) => format!("Timestamp(\"{}\", \"{tz}\")", unit(u)),
        Time64(TimeUnit::Microsecond) => "time".to_owned(),
        Time64(u @ TimeUnit::Nanosecond) => format!("Time64(\"{}\")", unit(u)),
        Duration(TimeUnit::Microsecond) => "timedelta".to_owned(),
        Duration(u) => format!("Duration(\"{}\")", unit(u)),
        Decimal128(p, s) if *s >= 0 => format!("Decimal128({p}, {s})"),
        Int8 => "Int8".to_owned(),
        Int16 => "Int16".to_owned(),
        Int32 => "Int32".to_owned(),
        UInt8 => "UInt8".to_owned(),
        UInt16 => "UInt16".to_owned(),
        UInt32 => "UInt32".to_owned(),
        UInt64 => "UInt64".to_owned(),
        Float16 => "Float16".to_owned(),
        Float32 => "Float32".to_owned(),
        LargeUtf8 => "LargeUtf8".to_owned(),
        Utf8View => "Utf8View".to_owned(),
        LargeBinary => "LargeBinary".to_owned(),
        BinaryView => "BinaryView".to_owned(),
        Date64 => "Date64".to_owned(),
        _ => return None,
    };
    Some(if ty.nullable {
        format!("{base} | None")
    } else {
        base
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::column_type;
    use crate::source::FileId;
    use crate::syntax::python::{self, ClassItem};

    fn read_back(written: &str) -> Option<ColumnType> {
        let text = format!("class A(Schema):\n    x: {written}\n");
        let (module, diagnostics) = python::parse(FileId(0), &text);
        if !diagnostics.is_empty() {
            return None;
        }
        match module.classes.first()?.items.first()? {
            ClassItem::Annotated { annotation, .. } => column_type(annotation).ok(),
            ClassItem::Assigned { .. } => None,
        }
    }

    /// Every annotation written reads back as the type it was written for.
    #[test]
    fn annotations_read_back_as_their_type() {
        use DataType::*;
        let types = [
            Utf8,
            Int64,
            Float64,
            Boolean,
            Binary,
            Date32,
            Date64,
            Int8,
            Int16,
            Int32,
            UInt8,
            UInt16,
            UInt32,
            UInt64,
            Float16,
            Float32,
            LargeUtf8,
            Utf8View,
            LargeBinary,
            BinaryView,
            Timestamp(TimeUnit::Microsecond, None),
            Timestamp(TimeUnit::Nanosecond, None),
            Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Time64(TimeUnit::Microsecond),
            Time64(TimeUnit::Nanosecond),
            Duration(TimeUnit::Microsecond),
            Duration(TimeUnit::Second),
            Decimal128(12, 2),
        ];
        for data_type in types {
            for nullable in [false, true] {
                let ty = ColumnType::new(data_type.clone(), nullable);
                let written = python_annotation(&ty).expect("declarable");
                let back =
                    read_back(&written).unwrap_or_else(|| panic!("`{written}` does not read back"));
                assert_eq!(back, ty, "`{written}`");
            }
        }
        assert_eq!(python_annotation(&ColumnType::new(Null, true)), None);
    }
}
