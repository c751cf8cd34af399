//! Column types (Arrow data types plus nullability) and the edge compatibility rules.

use std::fmt;

pub use arrow_schema::{DataType, TimeUnit};

/// A column's type as a contract sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ColumnType {
    pub data_type: DataType,
    pub nullable: bool,
}

impl ColumnType {
    pub fn new(data_type: DataType, nullable: bool) -> ColumnType {
        ColumnType {
            data_type,
            nullable,
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", display_type(&self.data_type))?;
        if self.nullable {
            f.write_str(" (nullable)")?;
        }
        Ok(())
    }
}

/// How sluice spells a type everywhere (messages, plans): Arrow's own `Display`, e.g.
/// `Int64`, `Timestamp(µs)`, `Timestamp(ns, "UTC")`, which `DataType::from_str` reads back.
pub fn display_type(data_type: &DataType) -> String {
    data_type.to_string()
}

pub fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

pub fn parse_unit(unit: &str) -> Option<TimeUnit> {
    Some(match unit {
        "s" => TimeUnit::Second,
        "ms" => TimeUnit::Millisecond,
        "us" => TimeUnit::Microsecond,
        "ns" => TimeUnit::Nanosecond,
        _ => return None,
    })
}

/// Can a column of type `from` flow into a requirement of type `to` without loss?
///
/// Equal types, or a lossless widening within one family (docs/language.md, "Edge
/// compatibility"). Everything else needs an explicit cast in a node body.
pub fn widens_losslessly(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to {
        return true;
    }
    fn int_rank(t: &DataType) -> Option<(bool, u8)> {
        Some(match t {
            Int8 => (true, 8),
            Int16 => (true, 16),
            Int32 => (true, 32),
            Int64 => (true, 64),
            UInt8 => (false, 8),
            UInt16 => (false, 16),
            UInt32 => (false, 32),
            UInt64 => (false, 64),
            _ => return None,
        })
    }
    fn float_rank(t: &DataType) -> Option<u8> {
        Some(match t {
            Float16 => 16,
            Float32 => 32,
            Float64 => 64,
            _ => return None,
        })
    }
    if let (Some((fs, fb)), Some((ts, tb))) = (int_rank(from), int_rank(to)) {
        return match (fs, ts) {
            (true, true) | (false, false) => fb <= tb,
            (false, true) => fb < tb,
            (true, false) => false,
        };
    }
    if let (Some(f), Some(t)) = (float_rank(from), float_rank(to)) {
        return f <= t;
    }
    match (from, to) {
        (Utf8, LargeUtf8 | Utf8View) => true,
        (Binary, LargeBinary | BinaryView) => true,
        (Date32, Date64) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            s2 >= s1 && (*p2 as i16 - *s2 as i16) >= (*p1 as i16 - *s1 as i16)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;

    #[test]
    fn widening_table() {
        let ok = [
            (Int8, Int64),
            (Int32, Int64),
            (UInt8, UInt64),
            (UInt32, Int64),
            (Float32, Float64),
            (Utf8, LargeUtf8),
            (Utf8, Utf8View),
            (Binary, LargeBinary),
            (Date32, Date64),
            (Decimal128(10, 2), Decimal128(12, 2)),
            (Decimal128(10, 2), Decimal128(12, 4)),
        ];
        for (from, to) in ok {
            assert!(widens_losslessly(&from, &to), "{from} -> {to}");
        }
        let bad = [
            (Int64, Int32),
            (Float64, Int64),
            (Int64, Float64),
            (Int32, UInt64),
            (UInt32, Int32),
            (Float64, Float32),
            (LargeUtf8, Utf8),
            (Utf8, Int64),
            (
                Timestamp(TimeUnit::Microsecond, None),
                Timestamp(TimeUnit::Nanosecond, None),
            ),
            (Decimal128(10, 2), Decimal128(10, 4)),
            (Date64, Date32),
        ];
        for (from, to) in bad {
            assert!(!widens_losslessly(&from, &to), "{from} -> {to}");
        }
    }
}
