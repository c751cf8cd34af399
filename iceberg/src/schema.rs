//! A lake table's Arrow schema as an Iceberg schema (format v2), with field ids
//! that stay the table's for good ([`sluice_lake::Lake::column_ids`]).
//!
//! A column is identified by its path (names from the top, `element` for a list's
//! items, `key`/`value` for a map's) and its Iceberg type: a column that keeps its
//! name and type keeps its id on every commit, branch and schema change; a column
//! whose type changes is, for Iceberg, a new column with a new id (Iceberg readers
//! match Parquet columns to fields by id, and would misread old files otherwise).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use iceberg::spec::{
    ListType, MapType, MappedField, NameMapping, NestedField, NestedFieldRef, PrimitiveType,
    Schema, StructType, Type,
};
use sluice_lake::Lake;

use crate::error::{IcebergError, Result};

/// The largest decimal precision Iceberg has.
const MAX_DECIMAL_PRECISION: u8 = 38;

/// The Iceberg schema of `table` (schema id `schema_id`), its columns' ids taken
/// from (or first assigned by) the lake's catalog.
pub async fn table_schema(
    lake: &Lake,
    table: &str,
    arrow: &ArrowSchema,
    schema_id: i32,
) -> Result<Schema> {
    let mut keys = Vec::new();
    convert(table, arrow.fields(), &[], &mut |key| {
        keys.push(key);
        Ok(0)
    })?;
    let ids = lake.column_ids(table, &keys).await?;
    let by_key: HashMap<String, i32> = keys.into_iter().zip(ids).collect();
    let fields = convert(table, arrow.fields(), &[], &mut |key| {
        by_key
            .get(&key)
            .copied()
            .ok_or_else(|| IcebergError::Internal(format!("no column id for {key}")))
    })?;
    Ok(Schema::builder()
        .with_schema_id(schema_id)
        .with_fields(fields)
        .build()?)
}

/// `schema.name-mapping.default`: how readers find each field in Parquet files
/// written without field ids (all of the lake's files), by name.
pub fn name_mapping(schema: &Schema) -> NameMapping {
    NameMapping::new(mapped(schema.as_struct().fields()))
}

fn mapped(fields: &[NestedFieldRef]) -> Vec<MappedField> {
    fields
        .iter()
        .map(|f| {
            // Arrow writes a list's items as `item` or `element`, whichever its
            // field is called; both name the one element field.
            let names = match f.name.as_str() {
                "element" | "item" => vec!["element".to_string(), "item".to_string()],
                name => vec![name.to_string()],
            };
            MappedField::new(Some(f.id), names, mapped(&children(&f.field_type)))
        })
        .collect()
}

fn children(ty: &Type) -> Vec<NestedFieldRef> {
    match ty {
        Type::Struct(s) => s.fields().to_vec(),
        Type::List(l) => vec![l.element_field.clone()],
        Type::Map(m) => vec![m.key_field.clone(), m.value_field.clone()],
        Type::Primitive(_) => Vec::new(),
    }
}

/// Converts `fields` (at `path`), asking `id` for each column's id by its key, in
/// a fixed order (depth first): the first pass collects the keys, the second
/// builds the schema.
fn convert(
    table: &str,
    fields: &arrow_schema::Fields,
    path: &[&str],
    id: &mut dyn FnMut(String) -> Result<i32>,
) -> Result<Vec<NestedFieldRef>> {
    fields
        .iter()
        .map(|f| field(table, f, f.name(), path, id))
        .collect()
}

fn field(
    table: &str,
    f: &Field,
    name: &str,
    path: &[&str],
    id: &mut dyn FnMut(String) -> Result<i32>,
) -> Result<NestedFieldRef> {
    let mut here = path.to_vec();
    here.push(name);
    let (tag, ty) = match f.data_type() {
        DataType::Struct(children) => {
            let key = column_key(&here, "struct");
            let field_id = id(key)?;
            let ty = Type::Struct(StructType::new(convert(table, children, &here, id)?));
            return Ok(nested(field_id, name, ty, f.is_nullable()));
        }
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            let field_id = id(column_key(&here, "list"))?;
            let element = field(table, item, "element", &here, id)?;
            return Ok(nested(
                field_id,
                name,
                Type::List(ListType::new(element)),
                f.is_nullable(),
            ));
        }
        DataType::Map(entries, _) => {
            let field_id = id(column_key(&here, "map"))?;
            let DataType::Struct(kv) = entries.data_type() else {
                return Err(unsupported(table, &here, f.data_type()));
            };
            let [k, v] = kv.iter().collect::<Vec<_>>()[..] else {
                return Err(unsupported(table, &here, f.data_type()));
            };
            let key = field(table, k, "key", &here, id)?;
            let value = field(table, v, "value", &here, id)?;
            return Ok(nested(
                field_id,
                name,
                Type::Map(MapType::new(key, value)),
                f.is_nullable(),
            ));
        }
        DataType::Dictionary(_, values) => {
            let inner = Field::new(name, (**values).clone(), f.is_nullable());
            return field(table, &inner, name, path, id);
        }
        other => {
            let ty = primitive(other).ok_or_else(|| unsupported(table, &here, other))?;
            (ty.to_string(), Type::Primitive(ty))
        }
    };
    let field_id = id(column_key(&here, &tag))?;
    Ok(nested(field_id, name, ty, f.is_nullable()))
}

fn nested(id: i32, name: &str, ty: Type, nullable: bool) -> NestedFieldRef {
    Arc::new(NestedField::new(id, name, ty, !nullable))
}

/// A column's identity for [`Lake::column_ids`]: its path and Iceberg type, as
/// JSON (`[["address","city"],"string"]`), so no name can make two keys alike.
fn column_key(path: &[&str], ty: &str) -> String {
    serde_json::json!([path, ty]).to_string()
}

/// The Iceberg v2 type of an Arrow primitive type, if it has one.
fn primitive(ty: &DataType) -> Option<PrimitiveType> {
    Some(match ty {
        DataType::Boolean => PrimitiveType::Boolean,
        DataType::Int8 | DataType::Int16 | DataType::Int32 => PrimitiveType::Int,
        DataType::UInt8 | DataType::UInt16 => PrimitiveType::Int,
        DataType::Int64 | DataType::UInt32 => PrimitiveType::Long,
        DataType::Float32 => PrimitiveType::Float,
        DataType::Float64 => PrimitiveType::Double,
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s)
            if *p <= MAX_DECIMAL_PRECISION && *s >= 0 && (*s as u8) <= *p =>
        {
            PrimitiveType::Decimal {
                precision: u32::from(*p),
                scale: *s as u32,
            }
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => PrimitiveType::String,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => PrimitiveType::Binary,
        DataType::FixedSizeBinary(n) if *n > 0 => PrimitiveType::Fixed(*n as u64),
        DataType::Date32 | DataType::Date64 => PrimitiveType::Date,
        DataType::Time64(TimeUnit::Microsecond) => PrimitiveType::Time,
        DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Millisecond, None) => {
            PrimitiveType::Timestamp
        }
        DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Millisecond, Some(_)) => {
            PrimitiveType::Timestamptz
        }
        _ => return None,
    })
}

fn unsupported(table: &str, path: &[&str], ty: &DataType) -> IcebergError {
    IcebergError::UnsupportedColumn {
        table: table.to_string(),
        column: path.join("."),
        data_type: ty.to_string(),
    }
}
