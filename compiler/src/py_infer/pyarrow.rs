//! PyArrow bodies whose output schema is written in the code: a straight-line body that
//! returns `pa.Table.from_pydict(..., schema=S)` (also `from_pylist`, `from_arrays`,
//! `from_pandas`, `from_batches`, `pa.table(..., schema=S)`), where `S` is a literal
//! `pa.schema([...])` in the call or assigned to a name before it. PyArrow casts the
//! data to `S` or raises, so the output has exactly `S`'s columns and types; a field is
//! nullable unless `pa.field(..., nullable=False)` says otherwise, and that nullability
//! is only PyArrow's typing (a non-null contract on it is deferred, not violated).

use std::collections::HashMap;

use super::ColVal;
use crate::syntax::python::{BodyExpr, Stmt};
use crate::types::{DataType, TimeUnit};

/// The columns the body returns, when it is straight-line code (assignments and one
/// final `return`) whose return builds a table with a literal schema.
pub(super) fn literal_schema_output(statements: &[Stmt]) -> Option<Vec<ColVal>> {
    let (last, before) = statements.split_last()?;
    let Stmt::Return {
        value: Some(value), ..
    } = last
    else {
        return None;
    };
    // Any other statement could return (or raise) something else.
    let mut schemas: HashMap<&str, &BodyExpr> = HashMap::new();
    for stmt in before {
        match stmt {
            Stmt::Nothing => {}
            Stmt::Assign { target, value } => {
                if is_call_to(value, "schema") {
                    schemas.insert(&target.text, value);
                } else {
                    schemas.remove(target.text.as_str());
                }
            }
            Stmt::Return { .. } | Stmt::Other(_) => return None,
        }
    }
    let BodyExpr::Call { func, kwargs, .. } = value else {
        return None;
    };
    let constructor = match func.as_ref() {
        BodyExpr::Attr { attr, .. } | BodyExpr::Name(attr) => attr.text.as_str(),
        _ => return None,
    };
    if !matches!(
        constructor,
        "from_pydict" | "from_pylist" | "from_arrays" | "from_pandas" | "from_batches" | "table"
    ) {
        return None;
    }
    let schema = match kwargs.iter().find(|(k, _)| k.text == "schema")? {
        (_, BodyExpr::Name(n)) => *schemas.get(n.text.as_str())?,
        (_, call) if is_call_to(call, "schema") => call,
        _ => return None,
    };
    let BodyExpr::Call { args, .. } = schema else {
        return None;
    };
    let Some(BodyExpr::List(fields, _)) = args.first() else {
        return None;
    };
    fields.iter().map(field).collect()
}

/// `pa.schema(...)`, `pa.field(...)`: a call of `pa.<name>` or `pyarrow.<name>`.
fn is_call_to(expr: &BodyExpr, name: &str) -> bool {
    let BodyExpr::Call { func, .. } = expr else {
        return false;
    };
    matches!(func.as_ref(), BodyExpr::Attr { object, attr, .. }
        if attr.text == name
            && matches!(object.as_ref(), BodyExpr::Name(m) if m.text == "pa" || m.text == "pyarrow"))
}

/// `("name", pa.int64())` or `pa.field("name", pa.int64(), nullable=False)`.
fn field(expr: &BodyExpr) -> Option<ColVal> {
    let (name, ty, nullable, span) = match expr {
        BodyExpr::List(items, span) => match items.as_slice() {
            [BodyExpr::Str(name, _), ty] => (name, ty, true, span),
            _ => return None,
        },
        BodyExpr::Call {
            args, kwargs, span, ..
        } if is_call_to(expr, "field") => {
            let (BodyExpr::Str(name, _), Some(ty)) = (args.first()?, args.get(1)) else {
                return None;
            };
            let nullable = match kwargs
                .iter()
                .find(|(k, _)| k.text == "nullable")
                .map(|(_, v)| v)
                .or(args.get(2))
            {
                None => true,
                Some(BodyExpr::Bool(b, _)) => *b,
                Some(_) => return None,
            };
            (name, ty, nullable, span)
        }
        _ => return None,
    };
    Some(ColVal {
        name: name.clone(),
        ty: Some(data_type(ty)?),
        unknown_type: false,
        dynamic: false,
        nullable,
        conservative: nullable,
        sources: Vec::new(),
        copy: false,
        span: span.clone(),
        nullable_origin: None,
    })
}

/// A PyArrow type factory call: `pa.int64()`, `pa.timestamp("us", tz="UTC")`,
/// `pa.decimal128(12, 2)`, ...
fn data_type(expr: &BodyExpr) -> Option<DataType> {
    let BodyExpr::Call {
        func, args, kwargs, ..
    } = expr
    else {
        return None;
    };
    let BodyExpr::Attr { object, attr, .. } = func.as_ref() else {
        return None;
    };
    if !matches!(object.as_ref(), BodyExpr::Name(m) if m.text == "pa" || m.text == "pyarrow") {
        return None;
    }
    let arg = |i: usize, key: &str| {
        args.get(i)
            .or_else(|| kwargs.iter().find(|(k, _)| k.text == key).map(|(_, v)| v))
    };
    let unit = |e: Option<&BodyExpr>| match e {
        Some(BodyExpr::Str(u, _)) => crate::types::parse_unit(u),
        _ => None,
    };
    use DataType::*;
    Some(match attr.text.as_str() {
        "bool_" => Boolean,
        "int8" => Int8,
        "int16" => Int16,
        "int32" => Int32,
        "int64" => Int64,
        "uint8" => UInt8,
        "uint16" => UInt16,
        "uint32" => UInt32,
        "uint64" => UInt64,
        "float16" => Float16,
        "float32" => Float32,
        "float64" => Float64,
        "string" | "utf8" => Utf8,
        "large_string" | "large_utf8" => LargeUtf8,
        "binary" => Binary,
        "large_binary" => LargeBinary,
        "date32" => Date32,
        "date64" => Date64,
        "timestamp" => {
            let tz = match arg(1, "tz") {
                None | Some(BodyExpr::None(_)) => None,
                Some(BodyExpr::Str(tz, _)) => Some(tz.as_str().into()),
                Some(_) => return None,
            };
            Timestamp(unit(arg(0, "unit"))?, tz)
        }
        "duration" => Duration(unit(arg(0, "unit"))?),
        "time64" => match unit(arg(0, "unit"))? {
            u @ (TimeUnit::Microsecond | TimeUnit::Nanosecond) => Time64(u),
            _ => return None,
        },
        "decimal128" => match (arg(0, "precision"), arg(1, "scale")) {
            (Some(BodyExpr::Int(p, _)), Some(BodyExpr::Int(s, _)))
                if (1..=38).contains(p) && (0..=*p).contains(s) =>
            {
                Decimal128(*p as u8, *s as i8)
            }
            _ => return None,
        },
        _ => return None,
    })
}
