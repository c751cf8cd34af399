//! Project-wide name resolution for Python: modules, imports, schema classes, and the
//! column types written in annotations.

// Name tables keyed by identifiers the project itself wrote: rustc's fast hash, not
// SipHash (a third of schema resolution's time went to hashing names).
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use crate::source::{FileId, SourceFile, Span};
use crate::syntax::python::{Expr, Import, PyModule};
use crate::types::{ColumnType, DataType, TimeUnit, parse_unit};

pub type ModuleId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassId(pub usize);

pub struct ModuleInfo {
    pub file: FileId,
    /// Dotted module name (`pkg.schemas`; `pkg` for `pkg/__init__.py`).
    pub name: String,
    pub is_package: bool,
    pub ast: Arc<PyModule>,
    classes: HashMap<String, ClassId>,
    imports: HashMap<String, usize>,
}

pub struct ClassInfo {
    pub module: ModuleId,
    /// Index into the module's `ast.classes`.
    pub index: usize,
}

/// What a (dotted) name refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    Class(ClassId),
    Module(ModuleId),
    /// Bound by an import from outside the project (`sluice`, `polars`, ...): the
    /// imported module path and item.
    External {
        module: String,
        item: Option<String>,
    },
    Unknown,
    Ambiguous(Vec<ClassId>),
}

/// All Python modules of a project and their top-level classes.
pub struct Modules {
    pub modules: Vec<ModuleInfo>,
    by_name: HashMap<String, ModuleId>,
    pub classes: Vec<ClassInfo>,
    classes_by_name: HashMap<String, Vec<ClassId>>,
}

pub fn module_name(path: &str) -> (String, bool) {
    let without_ext = path.strip_suffix(".py").unwrap_or(path);
    let mut parts: Vec<&str> = without_ext.split('/').collect();
    let is_package = parts.last() == Some(&"__init__");
    if is_package {
        parts.pop();
    }
    (parts.join("."), is_package)
}

impl Modules {
    pub fn new(files: Vec<(FileId, &SourceFile, Arc<PyModule>)>) -> Modules {
        let mut modules = Vec::new();
        let mut by_name = HashMap::default();
        let mut classes = Vec::new();
        let mut classes_by_name: HashMap<String, Vec<ClassId>> = HashMap::default();
        for (file, source, ast) in files {
            let (name, is_package) = module_name(&source.path);
            let id = modules.len();
            let mut local = HashMap::default();
            for (index, class) in ast.classes.iter().enumerate() {
                let cid = ClassId(classes.len());
                classes.push(ClassInfo { module: id, index });
                local.insert(class.name.text.clone(), cid);
                classes_by_name
                    .entry(class.name.text.clone())
                    .or_default()
                    .push(cid);
            }
            let imports = ast
                .imports
                .iter()
                .enumerate()
                .map(|(i, imp)| (imp.local.text.clone(), i))
                .collect();
            by_name.insert(name.clone(), id);
            modules.push(ModuleInfo {
                file,
                name,
                is_package,
                ast,
                classes: local,
                imports,
            });
        }
        Modules {
            modules,
            by_name,
            classes,
            classes_by_name,
        }
    }

    pub fn module_by_name(&self, name: &str) -> Option<ModuleId> {
        self.by_name.get(name).copied()
    }

    pub fn class(&self, id: ClassId) -> &crate::syntax::python::ClassDef {
        let info = &self.classes[id.0];
        &self.modules[info.module].ast.classes[info.index]
    }

    pub fn class_module(&self, id: ClassId) -> &ModuleInfo {
        &self.modules[self.classes[id.0].module]
    }

    /// Every class of that name in the project.
    pub fn classes_named(&self, name: &str) -> &[ClassId] {
        self.classes_by_name.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn class_names(&self) -> impl Iterator<Item = &str> {
        self.classes_by_name.keys().map(String::as_str)
    }

    /// The absolute module path an import refers to.
    pub fn import_target(&self, module: ModuleId, imp: &Import) -> String {
        if imp.level == 0 {
            return imp.module.clone();
        }
        let m = &self.modules[module];
        let mut package: Vec<&str> = if m.name.is_empty() {
            Vec::new()
        } else {
            m.name.split('.').collect()
        };
        if !m.is_package {
            package.pop();
        }
        for _ in 1..imp.level {
            package.pop();
        }
        if !imp.module.is_empty() {
            package.push(&imp.module);
        }
        package.join(".")
    }

    /// Looks a single name up in a module's scope (its classes and imports).
    fn lookup(&self, module: ModuleId, name: &str, depth: u32) -> Option<Resolution> {
        if depth > 16 {
            return Some(Resolution::Unknown);
        }
        let m = &self.modules[module];
        if let Some(&class) = m.classes.get(name) {
            return Some(Resolution::Class(class));
        }
        let imp = &m.ast.imports[*m.imports.get(name)?];
        let target = self.import_target(module, imp);
        Some(match &imp.item {
            Some(item) => match self.module_by_name(&target) {
                Some(target_module) => match self.lookup(target_module, item, depth + 1) {
                    Some(r) => r,
                    None => {
                        let sub = if target.is_empty() {
                            item.clone()
                        } else {
                            format!("{target}.{item}")
                        };
                        self.module_by_name(&sub)
                            .map_or(Resolution::Unknown, Resolution::Module)
                    }
                },
                None => {
                    let sub = format!("{target}.{item}");
                    match self.module_by_name(&sub) {
                        Some(sub) => Resolution::Module(sub),
                        None => Resolution::External {
                            module: target,
                            item: Some(item.clone()),
                        },
                    }
                }
            },
            None => self.module_by_name(&target).map_or(
                Resolution::External {
                    module: target,
                    item: None,
                },
                Resolution::Module,
            ),
        })
    }

    /// Resolves a dotted name used in `module`. A bare name not bound in the module
    /// falls back to the unique class of that name in the project.
    pub fn resolve(&self, module: ModuleId, path: &[String]) -> Resolution {
        let Some((first, rest)) = path.split_first() else {
            return Resolution::Unknown;
        };
        let mut current = match self.lookup(module, first, 0) {
            Some(r) => r,
            None if rest.is_empty() => return self.global(first),
            None => {
                // `import pkg.schemas` binds `pkg`; try the longest module prefix.
                return self.resolve_module_path(path);
            }
        };
        for (i, segment) in rest.iter().enumerate() {
            current = match current {
                Resolution::Module(m) => match self.lookup(m, segment, 0) {
                    Some(r) => r,
                    None => {
                        let sub = format!("{}.{segment}", self.modules[m].name);
                        match self.module_by_name(&sub) {
                            Some(sub) => Resolution::Module(sub),
                            None => return Resolution::Unknown,
                        }
                    }
                },
                Resolution::External { module, item } => {
                    // `import pkg.schemas` binds `pkg`: walk on to a project module.
                    let mut name = match item {
                        Some(item) => format!("{module}.{item}"),
                        None => module,
                    };
                    for (j, seg) in rest[i..].iter().enumerate() {
                        name = format!("{name}.{seg}");
                        if let Some(m) = self.module_by_name(&name) {
                            return self.resolve_in(m, &rest[i + j + 1..]);
                        }
                    }
                    return Resolution::External {
                        module: path[..path.len() - 1].join("."),
                        item: path.last().cloned(),
                    };
                }
                Resolution::Class(_) | Resolution::Unknown | Resolution::Ambiguous(_) => {
                    return Resolution::Unknown;
                }
            };
        }
        current
    }

    fn resolve_in(&self, module: ModuleId, rest: &[String]) -> Resolution {
        match rest {
            [] => Resolution::Module(module),
            [name] => self.lookup(module, name, 0).unwrap_or(Resolution::Unknown),
            [name, tail @ ..] => {
                let sub = format!("{}.{name}", self.modules[module].name);
                match self.module_by_name(&sub) {
                    Some(sub) => self.resolve_in(sub, tail),
                    None => Resolution::Unknown,
                }
            }
        }
    }

    fn resolve_module_path(&self, path: &[String]) -> Resolution {
        for split in (1..path.len()).rev() {
            if let Some(m) = self.module_by_name(&path[..split].join(".")) {
                return self.resolve_in(m, &path[split..]);
            }
        }
        Resolution::Unknown
    }

    fn global(&self, name: &str) -> Resolution {
        match self.classes_named(name) {
            [] => Resolution::Unknown,
            [one] => Resolution::Class(*one),
            many => Resolution::Ambiguous(many.to_vec()),
        }
    }
}

/// Is this (unresolved or external) name one of sluice's or Bauplan's own?
pub fn is_builtin(res: &Resolution, path: &[String], names: &[&str]) -> bool {
    let last = path.last().map(String::as_str).unwrap_or("");
    if !names.contains(&last) {
        return false;
    }
    matches!(res, Resolution::Unknown | Resolution::External { .. })
}

/// Names accepted as column types, for messages and did-you-mean.
pub const TYPE_NAMES: &[&str] = &[
    "str",
    "int",
    "float",
    "bool",
    "bytes",
    "datetime",
    "date",
    "time",
    "timedelta",
    "Decimal",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Float16",
    "Float32",
    "Float64",
    "Utf8",
    "LargeUtf8",
    "Utf8View",
    "Bool",
    "Boolean",
    "Binary",
    "LargeBinary",
    "BinaryView",
    "Date32",
    "Date64",
    "Timestamp",
    "Decimal128",
    "Duration",
    "String",
    "TimestampMicro",
    "TimestampNano",
    "TimestampMicroUTC",
    "TimestampNanoUTC",
    "Time64",
    "UNION",
    "Optional",
    "Union",
    "Annotated",
    "Any",
];

pub struct TypeError {
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
    /// A did-you-mean: the type name as written and the known name it is close to.
    pub suggestion: Option<(String, &'static str)>,
}

pub(crate) fn plain_type(name: &str) -> Option<DataType> {
    use DataType::*;
    Some(match name {
        "str" | "Utf8" | "String" => Utf8,
        "int" | "Int64" => Int64,
        "float" | "Float64" => Float64,
        "bool" | "Bool" | "Boolean" => Boolean,
        "bytes" | "Binary" => Binary,
        "datetime" => Timestamp(TimeUnit::Microsecond, None),
        "date" | "Date32" => Date32,
        "time" => Time64(TimeUnit::Microsecond),
        "timedelta" => Duration(TimeUnit::Microsecond),
        "Decimal" => Decimal128(38, 10),
        "Int8" => Int8,
        "Int16" => Int16,
        "Int32" => Int32,
        "UInt8" => UInt8,
        "UInt16" => UInt16,
        "UInt32" => UInt32,
        "UInt64" => UInt64,
        "Float16" => Float16,
        "Float32" => Float32,
        "LargeUtf8" => LargeUtf8,
        "Utf8View" => Utf8View,
        "LargeBinary" => LargeBinary,
        "BinaryView" => BinaryView,
        "Date64" => Date64,
        "Timestamp" | "TimestampMicro" => Timestamp(TimeUnit::Microsecond, None),
        // Bauplan's field types (`bauplan.TimestampMicroUTC`, ...).
        "TimestampNano" => Timestamp(TimeUnit::Nanosecond, None),
        "TimestampMicroUTC" => Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "TimestampNanoUTC" => Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        _ => return None,
    })
}

/// `typing.Any` (also `Any | None`, `Optional[Any]`, `Annotated[Any, ...]`): a column
/// whose type the contract does not pin (Bauplan's spelling for decimals and nested
/// types), checked for presence only.
pub fn is_any(expr: &Expr) -> bool {
    match expr {
        Expr::Name { path, .. } => path.last().is_some_and(|n| n == "Any"),
        Expr::Str(text, _) => text == "Any" || text == "typing.Any",
        Expr::BitOr { left, right, .. } => {
            (is_any(left) && matches!(right.as_ref(), Expr::None(_)))
                || (is_any(right) && matches!(left.as_ref(), Expr::None(_)))
        }
        Expr::Subscript { value, index, .. } => match value.last_name() {
            Some("Optional" | "Annotated") => index.first().is_some_and(is_any),
            _ => false,
        },
        _ => false,
    }
}

/// Resolves a column annotation (`int`, `UNION(str, None)`, `Timestamp("ns", "UTC")`,
/// `Optional[Decimal128(12, 2)]`, ...) to a column type.
pub fn column_type(expr: &Expr) -> Result<ColumnType, TypeError> {
    let (data_type, nullable) = type_inner(expr)?;
    match data_type {
        Some(dt) => Ok(ColumnType::new(dt, nullable)),
        None => Err(TypeError {
            span: expr.span(),
            message: "`None` alone is not a column type".into(),
            help: Some(
                "write `UNION(T, None)` or `Optional[T]` for a nullable column of type T".into(),
            ),
            suggestion: None,
        }),
    }
}

/// Returns the data type (`None` for the `None` member of a union) and nullability.
fn type_inner(expr: &Expr) -> Result<(Option<DataType>, bool), TypeError> {
    match expr {
        Expr::None(_) => Ok((None, true)),
        Expr::Name { path, span } => {
            let name = path.last().map(String::as_str).unwrap_or("");
            match plain_type(name) {
                Some(dt) => Ok((Some(dt), false)),
                None => Err(unknown_type(name, span.clone())),
            }
        }
        Expr::Str(text, span) => {
            // A forward reference written as a string: `"int"`.
            let path: Vec<String> = text.split('.').map(str::to_owned).collect();
            type_inner(&Expr::Name {
                path,
                span: span.clone(),
            })
        }
        Expr::BitOr { left, right, .. } => union(
            &[left.as_ref().clone(), right.as_ref().clone()],
            expr.span(),
        ),
        Expr::Subscript { value, index, span } => match value.last_name() {
            Some("Optional") => match index.as_slice() {
                [inner] => {
                    let (dt, _) = type_inner(inner)?;
                    Ok((dt, true))
                }
                _ => Err(TypeError {
                    span: span.clone(),
                    message: "`Optional[...]` takes exactly one type".into(),
                    help: None,
                    suggestion: None,
                }),
            },
            Some("Union") => union(index, span.clone()),
            // `Annotated[T, TableField(doc=...)]`: the type is `T`.
            Some("Annotated") => match index.first() {
                Some(inner) => type_inner(inner),
                None => Err(not_a_type(span.clone())),
            },
            // Bauplan's `Decimal128[Literal[38], Literal[10]]`.
            Some("Decimal128") => {
                let literal = |e: Option<&Expr>| match e {
                    Some(Expr::Subscript { value, index, .. })
                        if value.last_name() == Some("Literal") && index.len() == 1 =>
                    {
                        index.first().cloned()
                    }
                    Some(other) => Some(other.clone()),
                    None => None,
                };
                let call = Expr::Call {
                    func: value.clone(),
                    args: [literal(index.first()), literal(index.get(1))]
                        .into_iter()
                        .flatten()
                        .collect(),
                    kwargs: Vec::new(),
                    span: span.clone(),
                };
                type_inner(&call)
            }
            Some(other) => Err(unknown_type(other, value.span())),
            None => Err(not_a_type(span.clone())),
        },
        Expr::Call {
            func,
            args,
            kwargs,
            span,
        } => {
            let name = func.last_name().unwrap_or("");
            let arg = |pos: usize, key: &str| -> Option<&Expr> {
                args.get(pos)
                    .or_else(|| kwargs.iter().find(|(k, _)| k.text == key).map(|(_, v)| v))
            };
            match name {
                "UNION" => union(args, span.clone()),
                "Timestamp" => {
                    let unit = match arg(0, "unit") {
                        Some(e) => time_unit(e, &["s", "ms", "us", "ns"])?,
                        None => TimeUnit::Microsecond,
                    };
                    let tz = match arg(1, "tz") {
                        None | Some(Expr::None(_)) => None,
                        Some(Expr::Str(tz, _)) => Some(tz.as_str().into()),
                        Some(other) => {
                            return Err(TypeError {
                                span: other.span(),
                                message:
                                    "the time zone of a Timestamp must be a string literal or None"
                                        .into(),
                                help: Some("e.g. `Timestamp(\"us\", \"UTC\")`".into()),
                                suggestion: None,
                            });
                        }
                    };
                    Ok((Some(DataType::Timestamp(unit, tz)), false))
                }
                "Duration" => {
                    let unit = match arg(0, "unit") {
                        Some(e) => time_unit(e, &["s", "ms", "us", "ns"])?,
                        None => TimeUnit::Microsecond,
                    };
                    Ok((Some(DataType::Duration(unit)), false))
                }
                "Time64" => {
                    let unit = match arg(0, "unit") {
                        Some(e) => time_unit(e, &["us", "ns"])?,
                        None => TimeUnit::Microsecond,
                    };
                    Ok((Some(DataType::Time64(unit)), false))
                }
                "Decimal128" | "Decimal" => {
                    let int = |e: Option<&Expr>, what: &str| -> Result<i64, TypeError> {
                        match e {
                            Some(Expr::Int(v, _)) => Ok(*v),
                            Some(other) => Err(TypeError {
                                span: other.span(),
                                message: format!(
                                    "the {what} of a decimal must be an integer literal"
                                ),
                                help: None,
                                suggestion: None,
                            }),
                            None => Err(TypeError {
                                span: span.clone(),
                                message: format!(
                                    "`{name}(precision, scale)` is missing its {what}"
                                ),
                                help: Some("e.g. `Decimal128(12, 2)`".into()),
                                suggestion: None,
                            }),
                        }
                    };
                    let precision = int(arg(0, "precision"), "precision")?;
                    let scale = int(arg(1, "scale"), "scale")?;
                    if !(1..=38).contains(&precision) || scale < 0 || scale > precision {
                        return Err(TypeError {
                            span: span.clone(),
                            message: format!(
                                "invalid decimal: precision must be 1 to 38 and scale 0 to the precision, found ({precision}, {scale})"
                            ),
                            help: None,
                            suggestion: None,
                        });
                    }
                    Ok((
                        Some(DataType::Decimal128(precision as u8, scale as i8)),
                        false,
                    ))
                }
                other => Err(unknown_type(other, func.span())),
            }
        }
        Expr::Int(_, span) | Expr::Other(span) => Err(not_a_type(span.clone())),
    }
}

fn union(members: &[Expr], span: Span) -> Result<(Option<DataType>, bool), TypeError> {
    let mut data_type: Option<DataType> = None;
    let mut nullable = false;
    for member in members {
        let (dt, member_nullable) = type_inner(member)?;
        nullable |= member_nullable;
        if let Some(dt) = dt {
            match &data_type {
                Some(existing) if existing != &dt => {
                    return Err(TypeError {
                        span,
                        message: format!(
                            "a column cannot be a union of different types (`{}` and `{}`)",
                            crate::types::display_type(existing),
                            crate::types::display_type(&dt)
                        ),
                        help: Some("a union may only add `None` to one type: `UNION(T, None)` is a nullable T".into()),
                        suggestion: None,
                    });
                }
                _ => data_type = Some(dt),
            }
        }
    }
    Ok((data_type, nullable))
}

fn time_unit(expr: &Expr, allowed: &[&str]) -> Result<TimeUnit, TypeError> {
    match expr {
        Expr::Str(unit, span) if allowed.contains(&unit.as_str()) => {
            parse_unit(unit).ok_or_else(|| bad_unit(span.clone(), allowed))
        }
        other => Err(bad_unit(other.span(), allowed)),
    }
}

fn bad_unit(span: Span, allowed: &[&str]) -> TypeError {
    let list = allowed
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    TypeError {
        span,
        message: format!("invalid time unit: expected one of {list}"),
        help: None,
        suggestion: None,
    }
}

fn unknown_type(name: &str, span: Span) -> TypeError {
    let suggestion = crate::suggest::did_you_mean(name, TYPE_NAMES.iter().copied());
    TypeError {
        span,
        message: format!("unknown column type `{name}`"),
        help: suggestion
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| Some("column types are Python scalars (str, int, float, ...) or the Arrow types exported by `sluice` (Int32, Utf8, Timestamp(unit, tz), ...)".into())),
        suggestion: suggestion.map(|s| (name.to_owned(), s)),
    }
}

fn not_a_type(span: Span) -> TypeError {
    TypeError {
        span,
        message: "expected a column type".into(),
        help: Some("e.g. `int`, `str`, `UNION(float, None)`, `Timestamp(\"us\", \"UTC\")`".into()),
        suggestion: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::python::parse;

    fn ann(src: &str) -> Result<ColumnType, String> {
        let text = format!("class A(Schema):\n    x: {src}\n");
        let (m, d) = parse(FileId(0), &text);
        assert!(d.is_empty(), "{d:?}");
        let crate::syntax::python::ClassItem::Annotated { annotation, .. } = &m.classes[0].items[0]
        else {
            panic!()
        };
        column_type(annotation).map_err(|e| e.message)
    }

    /// Every field type Bauplan's SDK exports, and its ways of writing one.
    #[test]
    fn bauplan_field_types() {
        use DataType::*;
        let us = TimeUnit::Microsecond;
        let ns = TimeUnit::Nanosecond;
        let cases = [
            ("bauplan.Bool", Boolean),
            ("bauplan.Int32", Int32),
            ("bauplan.Int64", Int64),
            ("bauplan.Float64", Float64),
            ("bauplan.String", Utf8),
            ("bauplan.Binary", Binary),
            ("bauplan.Date32", Date32),
            ("bauplan.Date64", Date64),
            ("bauplan.TimestampMicro", Timestamp(us, None)),
            ("bauplan.TimestampNano", Timestamp(ns, None)),
            (
                "bauplan.TimestampMicroUTC",
                Timestamp(us, Some("UTC".into())),
            ),
            (
                "bauplan.TimestampNanoUTC",
                Timestamp(ns, Some("UTC".into())),
            ),
            ("Decimal128[Literal[38], Literal[10]]", Decimal128(38, 10)),
        ];
        for (written, expected) in cases {
            assert_eq!(
                ann(written).unwrap(),
                ColumnType::new(expected, false),
                "{written}"
            );
        }
        assert_eq!(
            ann("Annotated[Float64 | None, TableField(doc=\"km\")]").unwrap(),
            ColumnType::new(Float64, true)
        );
        assert_eq!(
            ann("Annotated[TimestampMicroUTC, bauplan.TableField(doc=\"t\")]").unwrap(),
            ColumnType::new(Timestamp(us, Some("UTC".into())), false)
        );
        assert!(
            ann("Decimal128[Literal[40], Literal[2]]")
                .unwrap_err()
                .contains("invalid decimal")
        );
    }

    #[test]
    fn any_is_an_unchecked_type() {
        let parse = |src: &str| {
            let m = parse(FileId(0), &format!("class S(Schema):\n    a: {src}\n")).0;
            let crate::syntax::python::ClassItem::Annotated { annotation, .. } =
                &m.classes[0].items[0]
            else {
                panic!("not an annotation")
            };
            is_any(annotation)
        };
        for yes in [
            "Any",
            "typing.Any",
            "Any | None",
            "Optional[Any]",
            "Annotated[Any, TableField(doc=\"x\")]",
        ] {
            assert!(parse(yes), "{yes}");
        }
        for no in ["int", "Anything", "list[Any]", "Any | int"] {
            assert!(!parse(no), "{no}");
        }
    }

    #[test]
    fn annotation_forms() {
        use DataType::*;
        assert_eq!(ann("int").unwrap(), ColumnType::new(Int64, false));
        assert_eq!(
            ann("UNION(str, None)").unwrap(),
            ColumnType::new(Utf8, true)
        );
        assert_eq!(
            ann("Optional[float]").unwrap(),
            ColumnType::new(Float64, true)
        );
        assert_eq!(
            ann("typing.Optional[float]").unwrap(),
            ColumnType::new(Float64, true)
        );
        assert_eq!(ann("str | None").unwrap(), ColumnType::new(Utf8, true));
        // A string annotation means what it holds.
        assert_eq!(
            ann("\"Optional[int]\"").unwrap(),
            ColumnType::new(Int64, true)
        );
        assert_eq!(
            ann("\"datetime.date\"").unwrap(),
            ColumnType::new(Date32, false)
        );
        assert_eq!(
            ann("Union[None, Int32]").unwrap(),
            ColumnType::new(Int32, true)
        );
        assert_eq!(
            ann("datetime.datetime").unwrap().data_type,
            Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(
            ann("Timestamp(\"ns\", \"UTC\")").unwrap().data_type,
            Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        assert_eq!(
            ann("Decimal128(12, 2)").unwrap().data_type,
            Decimal128(12, 2)
        );
        assert!(
            ann("UNION(str, int)")
                .unwrap_err()
                .contains("union of different types")
        );
        assert!(
            ann("Strng")
                .unwrap_err()
                .contains("unknown column type `Strng`")
        );
        assert!(
            ann("Timestamp(\"h\")")
                .unwrap_err()
                .contains("invalid time unit")
        );
    }
}
