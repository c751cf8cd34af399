//! Python node bodies: an abstract interpreter over the inspectable subset (Polars-style
//! method chains rooted at the node's inputs) that infers the output schema, with
//! Polars' typing, and where every output column comes from.
//!
//! A body outside the subset is not an error: inference stops and the declared output
//! is validated at run time instead (deferred).

mod pyarrow;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;

use crate::diagnostic::{Code, Diagnostic, Fix};
use crate::source::{FileId, Span};
use crate::sql_plan::DependencyKind;
use crate::suggest::did_you_mean;
use crate::syntax::python::{BodyExpr, Ident, Stmt};
use crate::types::{DataType, TimeUnit, display_type};

/// One column flowing through a body.
#[derive(Clone, Debug)]
pub struct ColVal {
    pub name: String,
    /// `None` for `lit(None)`: the null literal, of no type yet.
    pub ty: Option<DataType>,
    /// The type is not modelled (e.g. Polars' decimal arithmetic): checks on it are
    /// deferred, and a cast gives it a type again.
    pub unknown_type: bool,
    /// A bare number literal: in arithmetic Polars gives it the other operand's type.
    pub dynamic: bool,
    pub nullable: bool,
    /// Nullable only by typing (outer join, `mean`): a non-null contract on it is deferred.
    pub conservative: bool,
    /// `(input table, column, kind)` it depends on.
    pub sources: Vec<(String, String, DependencyKind)>,
    /// A plain reference to an input column, unchanged.
    pub copy: bool,
    /// The expression that produces it.
    pub span: Span,
    /// When it copies an input column whose contract allows nulls: that column's origin,
    /// for E0604 (`table`, `column`, its schema description, declaration file and span).
    pub nullable_origin: Option<NullableOrigin>,
}

#[derive(Clone, Debug)]
pub struct NullableOrigin {
    pub table: String,
    pub column: String,
    pub described_as: String,
    pub file: FileId,
    pub span: Span,
}

/// An input of the node as the body sees it.
pub struct InputFrame {
    pub param: String,
    pub columns: Vec<ColVal>,
}

#[derive(Clone, Debug)]
struct Frame {
    columns: Vec<ColVal>,
    /// The first column of each name, built on the first lookup: lookups in a wide
    /// frame are constant time, so inference stays linear in its columns.
    by_name: OnceLock<HashMap<String, usize>>,
}

impl Frame {
    fn new(columns: Vec<ColVal>) -> Frame {
        Frame {
            columns,
            by_name: OnceLock::new(),
        }
    }

    fn get(&self, name: &str) -> Option<&ColVal> {
        let by_name = self.by_name.get_or_init(|| first_positions(&self.columns));
        by_name.get(name).map(|&i| &self.columns[i])
    }
}

/// The position of the first column of each name.
fn first_positions(columns: &[ColVal]) -> HashMap<String, usize> {
    let mut at = HashMap::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        at.entry(c.name.clone()).or_insert(i);
    }
    at
}

#[derive(Clone, Debug)]
enum Value {
    Frame(Frame),
    GroupBy(Frame, Vec<ColVal>),
}

/// Why inference stopped.
pub enum Stop {
    /// Outside the inspectable subset: deferred to the runtime.
    NotInspectable,
    /// An error was reported.
    Error,
}

type R<T> = Result<T, Stop>;

pub struct Inferred {
    pub columns: Vec<ColVal>,
    /// Every place the body reads an input column unchanged (`col("x")`, `"x"` in
    /// `select`, join keys): what the editor's references and rename follow.
    pub uses: Vec<ColumnUse>,
}

/// A body's read of an input column that reaches it unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnUse {
    /// The string literal naming the column, quotes included.
    pub span: Span,
    /// The input table (as the node names it) and its column.
    pub table: String,
    pub column: String,
}

/// The output of a PyArrow body that writes its schema
/// (`pa.Table.from_pydict(..., schema=pa.schema([...]))`), whatever its inputs.
pub fn literal_schema(statements: &[Stmt]) -> Option<Inferred> {
    Some(Inferred {
        columns: pyarrow::literal_schema_output(statements)?,
        uses: Vec::new(),
    })
}

/// Infers the output of a Python node body.
pub fn infer(
    file: FileId,
    node: &str,
    statements: &[Stmt],
    inputs: Vec<InputFrame>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Inferred, Stop> {
    let mut cx = Cx {
        file,
        node,
        env: HashMap::new(),
        diagnostics,
        uses: Vec::new(),
    };
    for input in inputs {
        cx.env
            .insert(input.param, Value::Frame(Frame::new(input.columns)));
    }
    for stmt in statements {
        match stmt {
            Stmt::Nothing => {}
            Stmt::Assign { target, value } => {
                let v = cx.value(value)?;
                cx.env.insert(target.text.clone(), v);
            }
            Stmt::Return {
                value: Some(value), ..
            } => {
                return match cx.value(value)? {
                    Value::Frame(f) => Ok(Inferred {
                        columns: f.columns,
                        uses: cx.uses,
                    }),
                    Value::GroupBy(..) => Err(Stop::NotInspectable),
                };
            }
            Stmt::Return { value: None, .. } | Stmt::Other(_) => return Err(Stop::NotInspectable),
        }
    }
    Err(Stop::NotInspectable)
}

struct Cx<'a> {
    file: FileId,
    node: &'a str,
    env: HashMap<String, Value>,
    diagnostics: &'a mut Vec<Diagnostic>,
    uses: Vec<ColumnUse>,
}

/// `recv.method(args, kwargs)`: receiver, method name, arguments.
type MethodCall<'e> = (
    &'e BodyExpr,
    &'e Ident,
    &'e [BodyExpr],
    &'e [(Ident, BodyExpr)],
);

/// The method name and receiver of `recv.method(...)`.
fn method(expr: &BodyExpr) -> Option<MethodCall<'_>> {
    match expr {
        BodyExpr::Call {
            func, args, kwargs, ..
        } => match func.as_ref() {
            BodyExpr::Attr { object, attr, .. } => Some((object, attr, args, kwargs)),
            _ => None,
        },
        _ => None,
    }
}

/// The name of a called function: `col` for `col(...)`, `pl.col(...)`, `sluice.col(...)`.
fn function_name(expr: &BodyExpr) -> Option<&str> {
    match expr {
        BodyExpr::Call { func, .. } => match func.as_ref() {
            BodyExpr::Name(i) => Some(&i.text),
            BodyExpr::Attr { attr, .. } => Some(&attr.text),
            _ => None,
        },
        _ => None,
    }
}

fn call_args(expr: &BodyExpr) -> (&[BodyExpr], &[(Ident, BodyExpr)]) {
    match expr {
        BodyExpr::Call { args, kwargs, .. } => (args, kwargs),
        _ => (&[], &[]),
    }
}

/// `f([a, b])` and `f(a, b)` both mean the items a, b.
fn items(args: &[BodyExpr]) -> Vec<&BodyExpr> {
    match args {
        [BodyExpr::List(list, _)] => list.iter().collect(),
        _ => args.iter().collect(),
    }
}

fn kwarg<'e>(kwargs: &'e [(Ident, BodyExpr)], name: &str) -> Option<&'e BodyExpr> {
    kwargs.iter().find(|(k, _)| k.text == name).map(|(_, v)| v)
}

impl Cx<'_> {
    fn value(&mut self, expr: &BodyExpr) -> R<Value> {
        if let BodyExpr::Name(name) = expr {
            return self
                .env
                .get(&name.text)
                .cloned()
                .ok_or(Stop::NotInspectable);
        }
        let Some((recv, attr, args, kwargs)) = method(expr) else {
            return Err(Stop::NotInspectable);
        };
        let recv = self.value(recv)?;
        match recv {
            Value::GroupBy(frame, keys) => match attr.text.as_str() {
                "agg" => {
                    let mut columns = keys.clone();
                    for item in items(args) {
                        let mut c = self.expr(item, &frame)?;
                        for key in &keys {
                            c.sources.extend(key.sources.iter().map(|(t, col, _)| {
                                (t.clone(), col.clone(), DependencyKind::Filter)
                            }));
                        }
                        c.sources.sort();
                        c.sources.dedup();
                        columns.push(c);
                    }
                    Ok(Value::Frame(Frame::new(columns)))
                }
                _ => Err(Stop::NotInspectable),
            },
            Value::Frame(frame) => self.frame_method(frame, attr, args, kwargs),
        }
    }

    fn frame_method(
        &mut self,
        frame: Frame,
        attr: &Ident,
        args: &[BodyExpr],
        kwargs: &[(Ident, BodyExpr)],
    ) -> R<Value> {
        match attr.text.as_str() {
            "select" => {
                let mut columns = Vec::new();
                for item in items(args) {
                    columns.push(self.expr(item, &frame)?);
                }
                // `select(name=expr)`: a named expression.
                for (name, value) in kwargs {
                    let mut c = self.expr(value, &frame)?;
                    c.name = name.text.clone();
                    columns.push(c);
                }
                Ok(Value::Frame(Frame::new(columns)))
            }
            "with_columns" => {
                let mut columns = frame.columns.clone();
                let mut added = Vec::new();
                for item in items(args) {
                    added.push(self.expr(item, &frame)?);
                }
                for (name, value) in kwargs {
                    let mut c = self.expr(value, &frame)?;
                    c.name = name.text.clone();
                    added.push(c);
                }
                let mut at = first_positions(&columns);
                for c in added {
                    match at.get(&c.name) {
                        Some(&i) => columns[i] = c,
                        None => {
                            at.insert(c.name.clone(), columns.len());
                            columns.push(c);
                        }
                    }
                }
                Ok(Value::Frame(Frame::new(columns)))
            }
            "filter" => {
                let mut removed = Vec::new();
                let mut filter_sources = Vec::new();
                for item in items(args) {
                    let predicate = self.expr(item, &frame)?;
                    filter_sources.extend(
                        predicate
                            .sources
                            .iter()
                            .map(|(t, c, _)| (t.clone(), c.clone(), DependencyKind::Filter)),
                    );
                    null_removed_columns(item, &mut removed);
                }
                let removed: HashSet<String> = removed.into_iter().collect();
                let columns = frame
                    .columns
                    .into_iter()
                    .map(|mut c| {
                        if removed.contains(&c.name) {
                            c.nullable = false;
                            c.conservative = false;
                            c.nullable_origin = None;
                        }
                        c.sources.extend(filter_sources.iter().cloned());
                        c.sources.sort();
                        c.sources.dedup();
                        c
                    })
                    .collect();
                Ok(Value::Frame(Frame::new(columns)))
            }
            "join" => self.join(frame, args, kwargs),
            "drop" => {
                let names: HashSet<String> = self.names(args, &frame)?.into_iter().collect();
                let columns = frame
                    .columns
                    .into_iter()
                    .filter(|c| !names.contains(&c.name))
                    .collect();
                Ok(Value::Frame(Frame::new(columns)))
            }
            "rename" => {
                let Some(BodyExpr::Dict(pairs, _)) = args.first() else {
                    return Err(Stop::NotInspectable);
                };
                let mut columns = frame.columns.clone();
                // Positions of the columns of each name, as renames change names.
                let mut at: HashMap<String, BTreeSet<usize>> = HashMap::new();
                for (i, c) in columns.iter().enumerate() {
                    at.entry(c.name.clone()).or_default().insert(i);
                }
                for (from, to) in pairs {
                    let (BodyExpr::Str(from, from_span), BodyExpr::Str(to, _)) = (from, to) else {
                        return Err(Stop::NotInspectable);
                    };
                    self.column(&frame, from, from_span)?;
                    if let Some(i) = at.get_mut(from).and_then(|p| p.pop_first()) {
                        columns[i].name = to.clone();
                        at.entry(to.clone()).or_default().insert(i);
                    }
                }
                Ok(Value::Frame(Frame::new(columns)))
            }
            "sort" | "unique" => {
                // Referenced columns must exist; rows change, columns do not.
                let names: Vec<&BodyExpr> = items(args)
                    .into_iter()
                    .chain(kwarg(kwargs, "subset"))
                    .collect();
                for item in names {
                    match item {
                        BodyExpr::Str(name, span) => {
                            self.column(&frame, name, span)?;
                        }
                        BodyExpr::List(list, _) => {
                            for n in list {
                                if let BodyExpr::Str(name, span) = n {
                                    self.column(&frame, name, span)?;
                                }
                            }
                        }
                        other => {
                            self.expr(other, &frame)?;
                        }
                    }
                }
                Ok(Value::Frame(frame))
            }
            "head" | "tail" | "limit" => Ok(Value::Frame(frame)),
            "group_by" => {
                let mut keys = Vec::new();
                for item in items(args) {
                    keys.push(self.expr(item, &frame)?);
                }
                Ok(Value::GroupBy(frame, keys))
            }
            _ => Err(Stop::NotInspectable),
        }
    }

    fn names(&mut self, args: &[BodyExpr], frame: &Frame) -> R<Vec<String>> {
        let mut names = Vec::new();
        for item in items(args) {
            match item {
                BodyExpr::Str(name, span) => {
                    self.column(frame, name, span)?;
                    names.push(name.clone());
                }
                _ => return Err(Stop::NotInspectable),
            }
        }
        Ok(names)
    }

    fn join(&mut self, left: Frame, args: &[BodyExpr], kwargs: &[(Ident, BodyExpr)]) -> R<Value> {
        let Some(other) = args.first() else {
            return Err(Stop::NotInspectable);
        };
        let Value::Frame(right) = self.value(other)? else {
            return Err(Stop::NotInspectable);
        };
        let how = match kwarg(kwargs, "how").or(args.get(2)) {
            None => "inner".to_owned(),
            Some(BodyExpr::Str(h, _)) => h.clone(),
            Some(_) => return Err(Stop::NotInspectable),
        };
        let key_list = |e: Option<&BodyExpr>| -> Option<Vec<(String, Span)>> {
            match e? {
                BodyExpr::Str(s, span) => Some(vec![(s.clone(), span.clone())]),
                BodyExpr::List(list, _) => list
                    .iter()
                    .map(|i| match i {
                        BodyExpr::Str(s, span) => Some((s.clone(), span.clone())),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            }
        };
        let on = key_list(kwarg(kwargs, "on").or(args.get(1)));
        let (left_keys, right_keys) = match (
            on,
            key_list(kwarg(kwargs, "left_on")),
            key_list(kwarg(kwargs, "right_on")),
        ) {
            (Some(on), _, _) => (on.clone(), on),
            (None, Some(l), Some(r)) => (l, r),
            _ if how == "cross" => (Vec::new(), Vec::new()),
            _ => return Err(Stop::NotInspectable),
        };
        let mut key_sources = Vec::new();
        for (name, span) in &left_keys {
            let c = self.column(&left, name, span)?;
            key_sources.extend(
                c.sources
                    .iter()
                    .map(|(t, col, _)| (t.clone(), col.clone(), DependencyKind::Filter)),
            );
        }
        for (name, span) in &right_keys {
            let c = self.column(&right, name, span)?;
            key_sources.extend(
                c.sources
                    .iter()
                    .map(|(t, col, _)| (t.clone(), col.clone(), DependencyKind::Filter)),
            );
        }
        let (left_nullable, right_nullable, keep_right) = match how.as_str() {
            "inner" | "cross" => (false, false, true),
            "left" => (false, true, true),
            "right" => (true, false, true),
            "full" | "outer" => (true, true, true),
            "semi" | "anti" => (false, false, false),
            _ => return Err(Stop::NotInspectable),
        };
        let outer = |mut c: ColVal, nullable: bool| {
            if nullable && !c.nullable {
                c.nullable = true;
                c.conservative = true;
            }
            c.sources.extend(key_sources.iter().cloned());
            c.sources.sort();
            c.sources.dedup();
            c
        };
        let mut columns: Vec<ColVal> = left
            .columns
            .iter()
            .cloned()
            .map(|c| outer(c, left_nullable))
            .collect();
        if keep_right {
            let right_key_names: HashSet<&str> =
                right_keys.iter().map(|(n, _)| n.as_str()).collect();
            let mut names: HashSet<String> = columns.iter().map(|c| c.name.clone()).collect();
            for c in &right.columns {
                if right_key_names.contains(c.name.as_str()) && how != "full" && how != "outer" {
                    continue;
                }
                let mut c = outer(c.clone(), right_nullable);
                if names.contains(&c.name) {
                    c.name = format!("{}_right", c.name);
                }
                names.insert(c.name.clone());
                columns.push(c);
            }
        }
        Ok(Value::Frame(Frame::new(columns)))
    }

    /// Looks a column up, reporting E0701 when the frame has no such column.
    fn column(&mut self, frame: &Frame, name: &str, span: &Span) -> R<ColVal> {
        if let Some(c) = frame.get(name) {
            let mut c = c.clone();
            c.span = span.clone();
            // A copy has one `Copy` source (filters on the way add `Filter` ones).
            let mut copied = c
                .sources
                .iter()
                .filter(|(_, _, kind)| *kind == DependencyKind::Copy);
            if c.copy
                && let (Some((table, column, _)), None) = (copied.next(), copied.next())
                && column == name
            {
                self.uses.push(ColumnUse {
                    span: span.clone(),
                    table: table.clone(),
                    column: column.clone(),
                });
            }
            return Ok(c);
        }
        let suggestion = did_you_mean(name, frame.columns.iter().map(|c| c.name.as_str()));
        let fix = suggestion.map(|s| Fix::did_you_mean(self.file, span, name, s));
        let help = match suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "available here: {}",
                frame
                    .columns
                    .iter()
                    .map(|c| format!("`{}`", c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.diagnostics.push(
            Diagnostic::new(
                Code::PyUnknownColumn,
                self.file,
                span.clone(),
                format!(
                    "`{}` reads column `{name}`, which its input does not have at this point",
                    self.node
                ),
            )
            .with_label("unknown column")
            .with_help(help)
            .with_fix_opt(fix),
        );
        Err(Stop::Error)
    }

    /// A column expression evaluated against `frame`.
    fn expr(&mut self, expr: &BodyExpr, frame: &Frame) -> R<ColVal> {
        let span = expr.span();
        match expr {
            BodyExpr::Str(name, span) => self.column(frame, name, span),
            BodyExpr::Binary {
                op, left, right, ..
            } => {
                let l = self.operand(left, frame)?;
                let r = self.operand(right, frame)?;
                let ty = match op.as_str() {
                    "==" | "!=" | "<" | "<=" | ">" | ">=" | "&" | "|" | "and" | "or" => {
                        Some(DataType::Boolean)
                    }
                    "+" | "-" | "*" | "%" | "//" | "/"
                        if [&l.ty, &r.ty].iter().any(|t| {
                            matches!(t, Some(DataType::Decimal128(..) | DataType::Decimal256(..)))
                        }) =>
                    {
                        // Polars' decimal precision rules are not modelled; a cast
                        // around the expression types it again (see `cast`).
                        let mut c = combine(l.name.clone(), None, &[l, r], span);
                        c.unknown_type = true;
                        return Ok(c);
                    }
                    "+" | "-" | "*" | "%" | "//" | "/" => arithmetic(op, &l, &r),
                    _ => return Err(Stop::NotInspectable),
                };
                Ok(combine(l.name.clone(), ty, &[l, r], span))
            }
            BodyExpr::Unary { op, operand, .. } => {
                let v = self.operand(operand, frame)?;
                let ty = match op.as_str() {
                    "~" | "not" => Some(DataType::Boolean),
                    "-" => v.ty.clone(),
                    _ => return Err(Stop::NotInspectable),
                };
                Ok(combine(v.name.clone(), ty, &[v], span))
            }
            BodyExpr::Call { .. } => {
                if let Some((recv, attr, args, kwargs)) = method(expr)
                    && !matches!(recv, BodyExpr::Name(n) if n.text == "pl" || n.text == "sluice")
                {
                    return self.expr_method(recv, attr, args, kwargs, frame, span);
                }
                let (args, _) = call_args(expr);
                match function_name(expr) {
                    Some("col") => match args {
                        [BodyExpr::Str(name, s)] => {
                            // Unknown columns are reported on the name; the value spans the call.
                            let mut c = self.column(frame, name, s)?;
                            c.span = span;
                            Ok(c)
                        }
                        _ => Err(Stop::NotInspectable),
                    },
                    Some("lit") => Ok(literal(args.first(), span)),
                    Some("arrow_cast") => {
                        let [value, ty] = args else {
                            return Err(Stop::NotInspectable);
                        };
                        let v = self.expr(value, frame)?;
                        let name = match ty {
                            BodyExpr::Str(s, _) => s.clone(),
                            other if function_name(other) == Some("str_lit") => {
                                match call_args(other).0 {
                                    [BodyExpr::Str(s, _)] => s.clone(),
                                    _ => return Err(Stop::NotInspectable),
                                }
                            }
                            _ => return Err(Stop::NotInspectable),
                        };
                        let target = DataType::from_str(&name).map_err(|_| Stop::NotInspectable)?;
                        Ok(cast(v, target, span))
                    }
                    Some("coalesce") => {
                        let mut vals = Vec::new();
                        for a in items(args) {
                            vals.push(self.operand(a, frame)?);
                        }
                        let Some(first) = vals.first().cloned() else {
                            return Err(Stop::NotInspectable);
                        };
                        let ty = vals.iter().find_map(|v| v.ty.clone());
                        let mut c = combine(first.name.clone(), ty, &vals, span);
                        if vals.iter().any(|v| !v.nullable) {
                            c.nullable = false;
                            c.conservative = false;
                            c.nullable_origin = None;
                        }
                        Ok(c)
                    }
                    _ => Err(Stop::NotInspectable),
                }
            }
            _ => Err(Stop::NotInspectable),
        }
    }

    /// An operand: a column expression, or a bare Python literal (`col("x") > 0.5`). As
    /// in Polars, a string operand is a string literal, not a column name.
    fn operand(&mut self, expr: &BodyExpr, frame: &Frame) -> R<ColVal> {
        match expr {
            BodyExpr::Int(..)
            | BodyExpr::Float(_)
            | BodyExpr::Bool(..)
            | BodyExpr::None(_)
            | BodyExpr::Str(..) => Ok(literal(Some(expr), expr.span())),
            other => self.expr(other, frame),
        }
    }

    fn expr_method(
        &mut self,
        recv: &BodyExpr,
        attr: &Ident,
        args: &[BodyExpr],
        _kwargs: &[(Ident, BodyExpr)],
        frame: &Frame,
        span: Span,
    ) -> R<ColVal> {
        let v = self.expr(recv, frame)?;
        let same = |mut v: ColVal, copy: bool| {
            v.span = span.clone();
            v.copy &= copy;
            v
        };
        match attr.text.as_str() {
            "alias" => match args {
                [BodyExpr::Str(name, _)] => {
                    let mut v = same(v, true);
                    v.name = name.clone();
                    Ok(v)
                }
                _ => Err(Stop::NotInspectable),
            },
            "cast" => {
                let target = args
                    .first()
                    .and_then(polars_dtype)
                    .ok_or(Stop::NotInspectable)?;
                Ok(cast(v, target, span))
            }
            "is_null" | "is_not_null" => {
                let mut c = combine(v.name.clone(), Some(DataType::Boolean), &[v], span);
                c.nullable = false;
                c.conservative = false;
                c.nullable_origin = None;
                Ok(c)
            }
            "fill_null" => {
                let fill = args.first().map(|a| self.operand(a, frame)).transpose()?;
                let mut c = combine(v.name.clone(), v.ty.clone(), &[v], span);
                if fill.as_ref().is_some_and(|f| !f.nullable) {
                    c.nullable = false;
                    c.conservative = false;
                    c.nullable_origin = None;
                }
                Ok(c)
            }
            "sum" => {
                let ty = match &v.ty {
                    Some(DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16) => {
                        Some(DataType::Int64)
                    }
                    Some(DataType::Boolean) => Some(DataType::UInt32),
                    other => other.clone(),
                };
                let mut c = combine(v.name.clone(), ty, &[v], span);
                c.nullable = false;
                c.conservative = false;
                c.nullable_origin = None;
                Ok(c)
            }
            "mean" | "median" | "std" | "var" => {
                let ty = if v.ty == Some(DataType::Float32) {
                    DataType::Float32
                } else {
                    DataType::Float64
                };
                let mut c = combine(v.name.clone(), Some(ty), &[v], span);
                if !c.nullable {
                    c.nullable = true;
                    c.conservative = true;
                }
                Ok(c)
            }
            "count" | "len" | "n_unique" => {
                let mut c = combine(v.name.clone(), Some(DataType::UInt32), &[v], span);
                c.nullable = false;
                c.conservative = false;
                c.nullable_origin = None;
                Ok(c)
            }
            "min" | "max" | "first" | "last" => {
                let ty = v.ty.clone();
                let nullable = v.nullable;
                let origin = v.nullable_origin.clone();
                let mut c = combine(v.name.clone(), ty, &[v], span);
                c.nullable = nullable;
                c.nullable_origin = origin;
                Ok(c)
            }
            "abs" | "round" | "floor" | "ceil" => {
                let ty = v.ty.clone();
                Ok(combine(v.name.clone(), ty, &[v], span))
            }
            _ => Err(Stop::NotInspectable),
        }
    }
}

/// The columns whose nulls a filter predicate removes: conjuncts `col(x).is_not_null()`.
fn null_removed_columns(predicate: &BodyExpr, out: &mut Vec<String>) {
    match predicate {
        BodyExpr::Binary {
            op, left, right, ..
        } if op == "&" || op == "and" => {
            null_removed_columns(left, out);
            null_removed_columns(right, out);
        }
        BodyExpr::Unary { op, operand, .. } if op == "~" || op == "not" => {
            if let Some((recv, attr, _, _)) = method(operand)
                && attr.text == "is_null"
                && function_name(recv) == Some("col")
                && let [BodyExpr::Str(name, _)] = call_args(recv).0
            {
                out.push(name.clone());
            }
        }
        other => {
            if let Some((recv, attr, _, _)) = method(other)
                && attr.text == "is_not_null"
                && function_name(recv) == Some("col")
                && let [BodyExpr::Str(name, _)] = call_args(recv).0
            {
                out.push(name.clone());
            }
        }
    }
}

/// A computed column: sources merged as transforms, nullable if any input is.
fn combine(name: String, ty: Option<DataType>, parts: &[ColVal], span: Span) -> ColVal {
    let mut sources: Vec<_> = parts
        .iter()
        .flat_map(|p| p.sources.iter())
        .map(|(t, c, k)| {
            let k = if *k == DependencyKind::Filter {
                *k
            } else {
                DependencyKind::Transform
            };
            (t.clone(), c.clone(), k)
        })
        .collect();
    sources.sort();
    sources.dedup();
    let nullable = parts.iter().any(|p| p.nullable);
    ColVal {
        name,
        ty,
        dynamic: false,
        unknown_type: parts.iter().any(|p| p.unknown_type),
        nullable,
        conservative: nullable && parts.iter().filter(|p| p.nullable).all(|p| p.conservative),
        sources,
        copy: false,
        span,
        nullable_origin: None,
    }
}

fn cast(v: ColVal, target: DataType, span: Span) -> ColVal {
    let nullable = v.nullable;
    let origin = v.nullable_origin.clone();
    let conservative = v.conservative;
    let mut c = combine(v.name.clone(), Some(target), &[v], span);
    c.unknown_type = false;
    c.nullable = nullable;
    c.conservative = conservative;
    c.nullable_origin = origin;
    c
}

fn literal(value: Option<&BodyExpr>, span: Span) -> ColVal {
    let value = match value {
        // `-1`, `-2.5`: a negative number literal.
        Some(BodyExpr::Unary { op, operand, .. }) if op == "-" => Some(operand.as_ref()),
        other => other,
    };
    let (ty, nullable) = match value {
        // Polars types integer literals Int32 (and adapts them to the other operand).
        Some(BodyExpr::Int(..)) => (Some(DataType::Int32), false),
        Some(BodyExpr::Float(_)) => (Some(DataType::Float64), false),
        Some(BodyExpr::Bool(..)) => (Some(DataType::Boolean), false),
        Some(BodyExpr::Str(..)) => (Some(DataType::Utf8), false),
        Some(call @ BodyExpr::Call { .. }) => match function_name(call) {
            // `lit(float())`, `lit(int())`, `lit(str())`: the type's zero value.
            Some("float") => (Some(DataType::Float64), false),
            Some("int") => (Some(DataType::Int32), false),
            Some("str") => (Some(DataType::Utf8), false),
            Some("bool") => (Some(DataType::Boolean), false),
            _ => (None, true),
        },
        _ => (None, true),
    };
    ColVal {
        name: "literal".to_owned(),
        dynamic: matches!(value, Some(BodyExpr::Int(..) | BodyExpr::Float(_))),
        ty,
        unknown_type: false,
        nullable,
        conservative: false,
        sources: Vec::new(),
        copy: false,
        span,
        nullable_origin: None,
    }
}

/// Polars' arithmetic result type: the supertype of the operands, a bare number literal
/// taking the other operand's type, true division giving floats.
fn arithmetic(op: &str, l: &ColVal, r: &ColVal) -> Option<DataType> {
    use DataType::*;
    let (lt, rt) = match (&l.ty, &r.ty) {
        (Some(l), Some(r)) => (l, r),
        (Some(t), None) | (None, Some(t)) => return Some(t.clone()),
        (None, None) => return None,
    };
    // Temporal arithmetic: instants differ by durations.
    match (op, lt, rt) {
        ("-", Timestamp(unit, _), Timestamp(..)) => return Some(Duration(*unit)),
        ("-", Date32, Date32) => return Some(Duration(TimeUnit::Millisecond)),
        ("+" | "-", Timestamp(..) | Date32, Duration(_)) => return Some(lt.clone()),
        ("+", Duration(_), Timestamp(..) | Date32) => return Some(rt.clone()),
        ("+", Utf8, Utf8) => return Some(Utf8),
        _ => {}
    }
    let float = |t: &DataType| matches!(t, Float16 | Float32 | Float64);
    let int = |t: &DataType| t.is_integer();
    let numeric = |t: &DataType| float(t) || int(t);
    // A bare literal adapts: `col(i32) + 1` is Int32, `col(f32) * 2.0` is Float32.
    let (lt, rt) = match (l.dynamic, r.dynamic) {
        (true, false) if numeric(rt) && (float(rt) || int(lt)) => (rt, rt),
        (false, true) if numeric(lt) && (float(lt) || int(rt)) => (lt, lt),
        _ => (lt, rt),
    };
    let result = if lt == rt {
        lt.clone()
    } else if float(lt) || float(rt) {
        match (lt, rt) {
            (Float32, Float32 | Int8 | Int16 | UInt8 | UInt16)
            | (Int8 | Int16 | UInt8 | UInt16, Float32) => Float32,
            _ => Float64,
        }
    } else if int(lt) && int(rt) {
        integer_supertype(lt, rt)
    } else {
        lt.clone()
    };
    Some(if op == "/" && !float(&result) {
        Float64
    } else {
        result
    })
}

/// The smallest integer type holding both (Polars' supertype rules).
fn integer_supertype(a: &DataType, b: &DataType) -> DataType {
    use DataType::*;
    let bits = |t: &DataType| match t {
        Int8 | UInt8 => 8,
        Int16 | UInt16 => 16,
        Int32 | UInt32 => 32,
        _ => 64,
    };
    let signed = |t: &DataType| matches!(t, Int8 | Int16 | Int32 | Int64);
    let signed_of = |bits: u32| match bits {
        8 => Int8,
        16 => Int16,
        32 => Int32,
        _ => Int64,
    };
    match (signed(a), signed(b)) {
        (true, true) => signed_of(bits(a).max(bits(b))),
        (false, false) => match bits(a).max(bits(b)) {
            8 => UInt8,
            16 => UInt16,
            32 => UInt32,
            _ => UInt64,
        },
        _ => {
            let (s, u) = if signed(a) { (a, b) } else { (b, a) };
            signed_of(bits(s).max((bits(u) * 2).min(64)))
        }
    }
}

/// `pl.Int64`, `Int64`, `pl.String`, `pl.Datetime("us")`, ... as an Arrow type.
fn polars_dtype(expr: &BodyExpr) -> Option<DataType> {
    let name = match expr {
        BodyExpr::Name(i) => i.text.as_str(),
        BodyExpr::Attr { attr, .. } => attr.text.as_str(),
        call @ BodyExpr::Call { .. } => {
            let name = function_name(call)?;
            // `pl.Datetime("ns")`, `pl.Datetime("us", "UTC")`, `pl.Duration("ms")`.
            let (args, kwargs) = call_args(call);
            let unit = match args.first().or_else(|| kwarg(kwargs, "time_unit")) {
                Some(BodyExpr::Str(u, _)) => crate::types::parse_unit(u)?,
                None => TimeUnit::Microsecond,
                Some(_) => return None,
            };
            let tz = match args.get(1).or_else(|| kwarg(kwargs, "time_zone")) {
                Some(BodyExpr::Str(tz, _)) => Some(tz.as_str().into()),
                _ => None,
            };
            return match name {
                "Datetime" => Some(DataType::Timestamp(unit, tz)),
                "Duration" => Some(DataType::Duration(unit)),
                _ => None,
            };
        }
        BodyExpr::Str(s, _) => {
            return polars_dtype(&BodyExpr::Name(Ident {
                text: s.clone(),
                span: 0..0,
            }))
            .or_else(|| DataType::from_str(s).ok());
        }
        _ => return None,
    };
    Some(match name {
        "Int8" => DataType::Int8,
        "Int16" => DataType::Int16,
        "Int32" => DataType::Int32,
        "Int64" | "int" => DataType::Int64,
        "UInt8" => DataType::UInt8,
        "UInt16" => DataType::UInt16,
        "UInt32" => DataType::UInt32,
        "UInt64" => DataType::UInt64,
        "Float32" => DataType::Float32,
        "Float64" | "float" => DataType::Float64,
        "Utf8" | "String" | "str" => DataType::Utf8,
        "Boolean" | "bool" => DataType::Boolean,
        "Date" => DataType::Date32,
        "Datetime" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "Duration" => DataType::Duration(TimeUnit::Microsecond),
        _ => return None,
    })
}

/// For messages.
pub fn describe(ty: Option<&DataType>) -> String {
    ty.map_or_else(|| "null".to_owned(), display_type)
}
