//! Python front end: tree-sitter parse, then lowering of the module-level items sluice
//! cares about (imports, classes, assignments, functions) into a small item tree.
//!
//! Parsing never fails: a file with syntax errors yields its items from the parts that
//! parsed plus one diagnostic per error region.

use std::cell::{Cell, RefCell};

use tree_sitter::{Node, Parser, Tree};

use crate::diagnostic::{Code, Diagnostic};
use crate::limits::{self, MAX_NESTING};
use crate::source::{FileId, Span};

/// A name with its location.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub text: String,
    pub span: Span,
}

/// The subset of Python expressions that annotations, defaults and schema fields use.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Expr {
    /// `a` or `a.b.c`.
    Name {
        path: Vec<String>,
        span: Span,
    },
    Call {
        func: Box<Expr>,
        args: Vec<Expr>,
        kwargs: Vec<(Ident, Expr)>,
        span: Span,
    },
    Subscript {
        value: Box<Expr>,
        index: Vec<Expr>,
        span: Span,
    },
    /// `a | b` (PEP 604 unions).
    BitOr {
        left: Box<Expr>,
        right: Box<Expr>,
        span: Span,
    },
    None(Span),
    Str(String, Span),
    Int(i64, Span),
    Other(Span),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Name { span, .. }
            | Expr::Call { span, .. }
            | Expr::Subscript { span, .. }
            | Expr::BitOr { span, .. }
            | Expr::None(span)
            | Expr::Str(_, span)
            | Expr::Int(_, span)
            | Expr::Other(span) => span.clone(),
        }
    }

    /// The expression written back as Python (`Optional[str]`, `UNION(str, None)`,
    /// `int | None`), for messages that speak the user's spelling; `None` for a part
    /// the item tree does not keep.
    pub fn source_text(&self) -> Option<String> {
        let list = |items: &[Expr]| -> Option<String> {
            Some(
                items
                    .iter()
                    .map(Expr::source_text)
                    .collect::<Option<Vec<_>>>()?
                    .join(", "),
            )
        };
        Some(match self {
            Expr::Name { path, .. } => path.join("."),
            Expr::Call {
                func, args, kwargs, ..
            } => {
                let mut parts = vec![list(args)?];
                for (k, v) in kwargs {
                    parts.push(format!("{}={}", k.text, v.source_text()?));
                }
                parts.retain(|p| !p.is_empty());
                format!("{}({})", func.source_text()?, parts.join(", "))
            }
            Expr::Subscript { value, index, .. } => {
                format!("{}[{}]", value.source_text()?, list(index)?)
            }
            Expr::BitOr { left, right, .. } => {
                format!("{} | {}", left.source_text()?, right.source_text()?)
            }
            Expr::None(_) => "None".to_owned(),
            Expr::Str(s, _) => format!("{s:?}"),
            Expr::Int(i, _) => i.to_string(),
            Expr::Other(_) => return None,
        })
    }

    /// The dotted path of a plain name, e.g. `["sluice", "Source"]`.
    pub fn as_path(&self) -> Option<&[String]> {
        match self {
            Expr::Name { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The last segment of a plain name (`Source` for `sluice.Source`).
    pub fn last_name(&self) -> Option<&str> {
        self.as_path().and_then(|p| p.last()).map(String::as_str)
    }

    /// For a call, the last segment of the callee's name.
    pub fn call_name(&self) -> Option<&str> {
        match self {
            Expr::Call { func, .. } => func.last_name(),
            _ => None,
        }
    }

    pub fn kwarg(&self, name: &str) -> Option<&Expr> {
        match self {
            Expr::Call { kwargs, .. } => {
                kwargs.iter().find(|(k, _)| k.text == name).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Hash)]
pub struct Import {
    /// The name bound in this module.
    pub local: Ident,
    /// Module path as written (`schemas`, `pkg.schemas`; empty for `from . import x`).
    pub module: String,
    /// Number of leading dots of a relative import.
    pub level: u32,
    /// The imported item for `from m import item`; `None` for `import m`.
    pub item: Option<String>,
}

#[derive(Clone, Debug, Hash)]
pub enum ClassItem {
    /// `col: type`
    Annotated { name: Ident, annotation: Expr },
    /// `col = Other.col` (or any other assignment in the class body).
    Assigned { name: Ident, value: Expr },
}

#[derive(Clone, Debug, Hash)]
pub struct ClassDef {
    pub name: Ident,
    pub bases: Vec<Expr>,
    pub items: Vec<ClassItem>,
    /// Where a new `name: type` line goes: after the line of the last item.
    pub append: Option<ClassAppend>,
}

/// The end of the line holding a class body's last item, and that item's indentation:
/// `None` when the item does not start its own line (`class S(Schema): a: int`) or
/// shares its last line with a statement after it.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct ClassAppend {
    pub at: usize,
    pub indent: String,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: Ident,
    pub annotation: Option<Expr>,
    pub default: Option<Expr>,
    /// The default as a general expression (`bauplan.Model("t", columns=[...])`).
    pub default_body: Option<BodyExpr>,
}

#[derive(Clone, Debug)]
pub struct FnDef {
    pub name: Ident,
    pub decorators: Vec<Expr>,
    /// The same decorators as general expressions (dict arguments such as `pip={...}`).
    pub decorator_exprs: Vec<BodyExpr>,
    pub params: Vec<Param>,
    /// `*args`, `**kwargs`, `/` or `*` markers make a function something other than a node.
    pub has_variadic: bool,
    pub returns: Option<Expr>,
    pub body: Span,
    /// The body's statements, lowered for inference.
    pub statements: Vec<Stmt>,
}

/// A statement of a node body, as far as inference cares.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `name = value`
    Assign { target: Ident, value: BodyExpr },
    /// `return value`
    Return { value: Option<BodyExpr>, span: Span },
    /// Docstrings, `pass`, `...`: no effect.
    Nothing,
    /// Anything else: the body is not inspectable.
    Other(Span),
}

/// A general Python expression inside a node body.
#[derive(Clone, Debug, PartialEq)]
pub enum BodyExpr {
    Name(Ident),
    Attr {
        object: Box<BodyExpr>,
        attr: Ident,
        span: Span,
    },
    Call {
        func: Box<BodyExpr>,
        args: Vec<BodyExpr>,
        kwargs: Vec<(Ident, BodyExpr)>,
        span: Span,
    },
    Str(String, Span),
    Int(i64, Span),
    Float(Span),
    Bool(bool, Span),
    None(Span),
    List(Vec<BodyExpr>, Span),
    Dict(Vec<(BodyExpr, BodyExpr)>, Span),
    /// Arithmetic, comparison and bitwise operators (`+`, `<`, `&`, ...).
    Binary {
        op: String,
        left: Box<BodyExpr>,
        right: Box<BodyExpr>,
        span: Span,
    },
    /// `~x`, `-x`, `not x`.
    Unary {
        op: String,
        operand: Box<BodyExpr>,
        span: Span,
    },
    Other(Span),
}

impl BodyExpr {
    pub fn span(&self) -> Span {
        match self {
            BodyExpr::Name(i) => i.span.clone(),
            BodyExpr::Attr { span, .. }
            | BodyExpr::Call { span, .. }
            | BodyExpr::Str(_, span)
            | BodyExpr::Int(_, span)
            | BodyExpr::Float(span)
            | BodyExpr::Bool(_, span)
            | BodyExpr::None(span)
            | BodyExpr::List(_, span)
            | BodyExpr::Dict(_, span)
            | BodyExpr::Binary { span, .. }
            | BodyExpr::Unary { span, .. }
            | BodyExpr::Other(span) => span.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Assign {
    pub target: Ident,
    pub value: Expr,
}

/// The module-level items of one Python file.
#[derive(Clone, Debug, Default)]
pub struct PyModule {
    pub imports: Vec<Import>,
    pub classes: Vec<ClassDef>,
    pub functions: Vec<FnDef>,
    pub assigns: Vec<Assign>,
}

thread_local! {
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

fn parse_tree(text: &str) -> Option<Tree> {
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut parser = Parser::new();
            parser
                .set_language(&tree_sitter_python::LANGUAGE.into())
                .ok()?;
            *slot = Some(parser);
        }
        slot.as_mut()?.parse(text, None)
    })
}

/// Parses one Python file. Never fails: syntax errors come back as diagnostics.
pub fn parse(file: FileId, text: &str) -> (PyModule, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let Some(tree) = parse_tree(text) else {
        diagnostics.push(Diagnostic::new(
            Code::PythonSyntax,
            file,
            0..0,
            "the Python parser could not parse this file",
        ));
        return (PyModule::default(), diagnostics);
    };
    let root = tree.root_node();
    if root.has_error() {
        collect_syntax_errors(root, file, text, &mut diagnostics);
    }
    let lower = Lower {
        text,
        file,
        depth: Cell::new(0),
        too_deep: RefCell::new(None),
    };
    let mut module = PyModule::default();
    lower.block(root, &mut module);
    diagnostics.extend(lower.too_deep.into_inner());
    (module, diagnostics)
}

const MAX_SYNTAX_ERRORS_PER_FILE: usize = 20;

fn collect_syntax_errors(root: Node, file: FileId, text: &str, out: &mut Vec<Diagnostic>) {
    let mut stack = vec![root];
    let mut found = Vec::new();
    while let Some(node) = stack.pop() {
        if found.len() >= MAX_SYNTAX_ERRORS_PER_FILE {
            break;
        }
        if node.is_missing() {
            let at = node.start_byte();
            found.push(
                Diagnostic::new(
                    Code::PythonSyntax,
                    file,
                    at..at,
                    format!("syntax error: expected `{}`", node.kind()),
                )
                .with_label(format!("`{}` expected here", node.kind())),
            );
            continue;
        }
        if node.is_error() {
            let token = first_leaf(node);
            let span = token.byte_range();
            if let Some(e) = super::python_errors::explain(text, node.byte_range(), span.clone()) {
                let mut d = Diagnostic::new(Code::PythonSyntax, file, e.span, e.message)
                    .with_label(e.label);
                if let Some(help) = e.help {
                    d = d.with_help(help);
                }
                found.push(d);
                continue;
            }
            let snippet = text.get(span.clone()).unwrap_or("").trim();
            let message = if snippet.is_empty() {
                "syntax error".to_owned()
            } else {
                format!("syntax error: unexpected `{}`", shorten(snippet))
            };
            found.push(
                Diagnostic::new(Code::PythonSyntax, file, span, message)
                    .with_label("Python cannot parse this"),
            );
            continue;
        }
        if node.has_error() {
            let mut cursor = node.walk();
            let children: Vec<Node> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }
    if found.is_empty() {
        // tree-sitter flagged an error it did not attach to a node we can locate.
        found.push(Diagnostic::new(
            Code::PythonSyntax,
            file,
            0..0,
            "syntax error",
        ));
    }
    out.extend(found);
}

fn first_leaf(mut node: Node) -> Node {
    while let Some(child) = node.child(0) {
        node = child;
    }
    node
}

fn shorten(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 40 {
        format!("{}…", line.chars().take(40).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// `expr` with every span moved `by` bytes later.
fn shifted(expr: Expr, by: usize) -> Expr {
    let at = |s: Span| s.start + by..s.end + by;
    let ident = |i: Ident| Ident {
        text: i.text,
        span: at(i.span),
    };
    match expr {
        Expr::Name { path, span } => Expr::Name {
            path,
            span: at(span),
        },
        Expr::Call {
            func,
            args,
            kwargs,
            span,
        } => Expr::Call {
            func: Box::new(shifted(*func, by)),
            args: args.into_iter().map(|a| shifted(a, by)).collect(),
            kwargs: kwargs
                .into_iter()
                .map(|(k, v)| (ident(k), shifted(v, by)))
                .collect(),
            span: at(span),
        },
        Expr::Subscript { value, index, span } => Expr::Subscript {
            value: Box::new(shifted(*value, by)),
            index: index.into_iter().map(|i| shifted(i, by)).collect(),
            span: at(span),
        },
        Expr::BitOr { left, right, span } => Expr::BitOr {
            left: Box::new(shifted(*left, by)),
            right: Box::new(shifted(*right, by)),
            span: at(span),
        },
        Expr::None(span) => Expr::None(at(span)),
        Expr::Str(s, span) => Expr::Str(s, at(span)),
        Expr::Int(v, span) => Expr::Int(v, at(span)),
        Expr::Other(span) => Expr::Other(at(span)),
    }
}

/// Where the text of a plain string literal (one `string_content`, no escapes or
/// interpolations) starts.
fn string_content_start(node: Node) -> Option<usize> {
    if node.kind() != "string" {
        return None;
    }
    let mut cursor = node.walk();
    let parts: Vec<Node> = node
        .named_children(&mut cursor)
        .filter(|c| !matches!(c.kind(), "string_start" | "string_end"))
        .collect();
    match parts.as_slice() {
        [content] if content.kind() == "string_content" => Some(content.start_byte()),
        _ => None,
    }
}

struct Lower<'a> {
    text: &'a str,
    file: FileId,
    /// Nesting depth of the walk: expressions and blocks.
    depth: Cell<usize>,
    /// The file's `E0007`, for the first construct nested deeper than [`MAX_NESTING`].
    too_deep: RefCell<Option<Diagnostic>>,
}

/// One level of [`Lower`]'s nesting, left when dropped.
struct Level<'a>(&'a Cell<usize>);

impl Drop for Level<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl<'a> Lower<'a> {
    /// Enters one more level of nesting at `node`; `None` past [`MAX_NESTING`], where the
    /// walk stops (and the file gets its one `E0007`, on `node`'s first token).
    fn enter(&self, node: Node, construct: &str) -> Option<Level<'_>> {
        let depth = self.depth.get() + 1;
        if depth > MAX_NESTING {
            let mut slot = self.too_deep.borrow_mut();
            if slot.is_none() {
                let span = first_leaf(node).byte_range();
                *slot = Some(limits::too_deep(self.file, span, construct, MAX_NESTING));
            }
            return None;
        }
        self.depth.set(depth);
        Some(Level(&self.depth))
    }

    fn text(&self, node: Node) -> &'a str {
        self.text.get(node.byte_range()).unwrap_or("")
    }

    fn ident(&self, node: Node) -> Ident {
        Ident {
            text: self.text(node).to_owned(),
            span: node.byte_range(),
        }
    }

    /// Module-level statements. `if`/`try` blocks are entered for imports and
    /// definitions (e.g. `if TYPE_CHECKING:` imports).
    fn block(&self, node: Node, module: &mut PyModule) {
        let Some(_level) = self.enter(node, "this block of Python statements") else {
            return;
        };
        let mut cursor = node.walk();
        for stmt in node.named_children(&mut cursor) {
            self.statement(stmt, module);
        }
    }

    fn statement(&self, stmt: Node, module: &mut PyModule) {
        match stmt.kind() {
            "import_statement" => self.import(stmt, module),
            "import_from_statement" => self.import_from(stmt, module),
            "class_definition" => {
                if let Some(class) = self.class(stmt) {
                    module.classes.push(class);
                }
            }
            "function_definition" => {
                if let Some(f) = self.function(stmt, Vec::new()) {
                    module.functions.push(f);
                }
            }
            "decorated_definition" => {
                let mut cursor = stmt.walk();
                let decorators: Vec<Expr> = stmt
                    .named_children(&mut cursor)
                    .filter(|c| c.kind() == "decorator")
                    .filter_map(|d| d.named_child(0))
                    .map(|e| self.expr(e))
                    .collect();
                let mut cursor = stmt.walk();
                let decorator_exprs: Vec<BodyExpr> = stmt
                    .named_children(&mut cursor)
                    .filter(|c| c.kind() == "decorator")
                    .filter_map(|d| d.named_child(0))
                    .map(|e| self.body_expr(e))
                    .collect();
                if let Some(def) = stmt.child_by_field_name("definition") {
                    match def.kind() {
                        "function_definition" => {
                            if let Some(mut f) = self.function(def, decorators) {
                                f.decorator_exprs = decorator_exprs;
                                module.functions.push(f);
                            }
                        }
                        "class_definition" => {
                            if let Some(class) = self.class(def) {
                                module.classes.push(class);
                            }
                        }
                        _ => {}
                    }
                }
            }
            "expression_statement" => {
                if let Some(assign) = stmt.named_child(0).filter(|n| n.kind() == "assignment") {
                    let left = assign.child_by_field_name("left");
                    let right = assign.child_by_field_name("right");
                    if let (Some(left), Some(right)) = (left, right)
                        && left.kind() == "identifier"
                    {
                        module.assigns.push(Assign {
                            target: self.ident(left),
                            value: self.expr(right),
                        });
                    }
                }
            }
            "if_statement" | "try_statement" | "else_clause" | "elif_clause" | "except_clause"
            | "finally_clause" | "block" => {
                let mut cursor = stmt.walk();
                for child in stmt.named_children(&mut cursor) {
                    if matches!(
                        child.kind(),
                        "block"
                            | "else_clause"
                            | "elif_clause"
                            | "except_clause"
                            | "finally_clause"
                    ) {
                        self.block_like(child, module);
                    }
                }
            }
            _ => {}
        }
    }

    fn block_like(&self, node: Node, module: &mut PyModule) {
        if node.kind() == "block" {
            self.block(node, module);
        } else {
            self.statement(node, module);
        }
    }

    fn import(&self, stmt: Node, module: &mut PyModule) {
        let mut cursor = stmt.walk();
        for name in stmt.children_by_field_name("name", &mut cursor) {
            let (path_node, alias) = match name.kind() {
                "aliased_import" => (
                    name.child_by_field_name("name"),
                    name.child_by_field_name("alias"),
                ),
                _ => (Some(name), None),
            };
            let Some(path_node) = path_node else { continue };
            let path = self.text(path_node).to_owned();
            let local = match alias {
                Some(alias) => self.ident(alias),
                // `import a.b` binds `a`; resolution of `a.b.X` walks the full path.
                None => Ident {
                    text: path.split('.').next().unwrap_or("").to_owned(),
                    span: path_node.byte_range(),
                },
            };
            let module_path = if alias.is_some() {
                path
            } else {
                local.text.clone()
            };
            module.imports.push(Import {
                local,
                module: module_path,
                level: 0,
                item: None,
            });
        }
    }

    fn import_from(&self, stmt: Node, module: &mut PyModule) {
        let Some(module_node) = stmt.child_by_field_name("module_name") else {
            return;
        };
        let raw = self.text(module_node);
        let level = raw.chars().take_while(|&c| c == '.').count() as u32;
        let module_path = raw.trim_start_matches('.').to_owned();
        let mut cursor = stmt.walk();
        for name in stmt.children_by_field_name("name", &mut cursor) {
            let (item_node, alias) = match name.kind() {
                "aliased_import" => (
                    name.child_by_field_name("name"),
                    name.child_by_field_name("alias"),
                ),
                _ => (Some(name), None),
            };
            let Some(item_node) = item_node else { continue };
            let item = self.text(item_node).to_owned();
            let local = alias.map_or_else(|| self.ident(item_node), |a| self.ident(a));
            module.imports.push(Import {
                local,
                module: module_path.clone(),
                level,
                item: Some(item),
            });
        }
    }

    fn class(&self, node: Node) -> Option<ClassDef> {
        let name = self.ident(node.child_by_field_name("name")?);
        let mut bases = Vec::new();
        if let Some(args) = node.child_by_field_name("superclasses") {
            let mut cursor = args.walk();
            for arg in args.named_children(&mut cursor) {
                if arg.kind() != "keyword_argument" && arg.kind() != "comment" {
                    bases.push(self.expr(arg));
                }
            }
        }
        let mut items = Vec::new();
        let mut append = None;
        if let Some(body) = node.child_by_field_name("body") {
            let mut cursor = body.walk();
            for stmt in body.named_children(&mut cursor) {
                if stmt.kind() != "expression_statement" {
                    continue;
                }
                let Some(assign) = stmt.named_child(0).filter(|n| n.kind() == "assignment") else {
                    continue;
                };
                let Some(left) = assign
                    .child_by_field_name("left")
                    .filter(|l| l.kind() == "identifier")
                else {
                    continue;
                };
                let name = self.ident(left);
                append = self.append_after(stmt);
                if let Some(annotation) = assign.child_by_field_name("type") {
                    items.push(ClassItem::Annotated {
                        name,
                        annotation: self.type_expr(annotation),
                    });
                } else if let Some(value) = assign.child_by_field_name("right") {
                    items.push(ClassItem::Assigned {
                        name,
                        value: self.expr(value),
                    });
                }
            }
        }
        Some(ClassDef {
            name,
            bases,
            items,
            append,
        })
    }

    /// Where a line after `stmt` goes, with `stmt`'s indentation.
    fn append_after(&self, stmt: Node) -> Option<ClassAppend> {
        let text = self.text;
        let (start, end) = (stmt.start_byte(), stmt.end_byte());
        let line_start = text.get(..start)?.rfind('\n').map_or(0, |i| i + 1);
        let indent = text.get(line_start..start)?;
        let line_end = text.get(end..)?.find('\n').map_or(text.len(), |i| end + i);
        let line_end = if text.get(..line_end)?.ends_with('\r') {
            line_end - 1
        } else {
            line_end
        };
        let rest = text.get(end..line_end)?.trim_start();
        let clean = !indent.is_empty()
            && indent.chars().all(|c| c == ' ' || c == '\t')
            && (rest.is_empty() || rest.starts_with('#'));
        clean.then(|| ClassAppend {
            at: line_end,
            indent: indent.to_owned(),
        })
    }

    fn function(&self, node: Node, decorators: Vec<Expr>) -> Option<FnDef> {
        let name = self.ident(node.child_by_field_name("name")?);
        let mut params = Vec::new();
        let mut has_variadic = false;
        if let Some(list) = node.child_by_field_name("parameters") {
            let mut cursor = list.walk();
            for p in list.named_children(&mut cursor) {
                let field = |f: &str| p.child_by_field_name(f);
                let param = match p.kind() {
                    "identifier" => Param {
                        name: self.ident(p),
                        annotation: None,
                        default: None,
                        default_body: None,
                    },
                    "typed_parameter" => {
                        let Some(inner) = p.named_child(0).filter(|n| n.kind() == "identifier")
                        else {
                            has_variadic = true;
                            continue;
                        };
                        Param {
                            name: self.ident(inner),
                            annotation: field("type").map(|t| self.type_expr(t)),
                            default: None,
                            default_body: None,
                        }
                    }
                    "default_parameter" | "typed_default_parameter" => {
                        let Some(pname) = field("name").filter(|n| n.kind() == "identifier") else {
                            has_variadic = true;
                            continue;
                        };
                        Param {
                            name: self.ident(pname),
                            annotation: field("type").map(|t| self.type_expr(t)),
                            default: field("value").map(|v| self.expr(v)),
                            default_body: field("value").map(|v| self.body_expr(v)),
                        }
                    }
                    "comment" => continue,
                    _ => {
                        has_variadic = true;
                        continue;
                    }
                };
                params.push(param);
            }
        }
        let returns = node
            .child_by_field_name("return_type")
            .map(|t| self.type_expr(t));
        let body_node = node.child_by_field_name("body");
        let body = body_node.map_or(node.byte_range(), |b| b.byte_range());
        let statements = body_node.map(|b| self.statements(b)).unwrap_or_default();
        Some(FnDef {
            name,
            decorators,
            decorator_exprs: Vec::new(),
            params,
            has_variadic,
            returns,
            body,
            statements,
        })
    }

    /// The positional and keyword arguments of a call, each lowered by `lower`.
    #[allow(clippy::type_complexity)]
    fn arguments<T>(&self, call: Node, lower: fn(&Self, Node) -> T) -> (Vec<T>, Vec<(Ident, T)>) {
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        if let Some(list) = call.child_by_field_name("arguments") {
            let mut cursor = list.walk();
            for arg in list.named_children(&mut cursor) {
                match arg.kind() {
                    "keyword_argument" => {
                        if let (Some(k), Some(v)) = (
                            arg.child_by_field_name("name"),
                            arg.child_by_field_name("value"),
                        ) {
                            kwargs.push((self.ident(k), lower(self, v)));
                        }
                    }
                    "comment" => {}
                    _ => args.push(lower(self, arg)),
                }
            }
        }
        (args, kwargs)
    }

    fn statements(&self, block: Node) -> Vec<Stmt> {
        let mut cursor = block.walk();
        block
            .named_children(&mut cursor)
            .filter(|n| n.kind() != "comment")
            .map(|stmt| match stmt.kind() {
                "pass_statement" => Stmt::Nothing,
                "return_statement" => Stmt::Return {
                    value: stmt.named_child(0).map(|v| self.body_expr(v)),
                    span: stmt.byte_range(),
                },
                "expression_statement" => match stmt.named_child(0) {
                    Some(e) if matches!(e.kind(), "string" | "ellipsis") => Stmt::Nothing,
                    Some(a) if a.kind() == "assignment" => {
                        match (
                            a.child_by_field_name("left"),
                            a.child_by_field_name("right"),
                        ) {
                            (Some(l), Some(r))
                                if l.kind() == "identifier"
                                    && a.child_by_field_name("type").is_none() =>
                            {
                                Stmt::Assign {
                                    target: self.ident(l),
                                    value: self.body_expr(r),
                                }
                            }
                            _ => Stmt::Other(stmt.byte_range()),
                        }
                    }
                    _ => Stmt::Other(stmt.byte_range()),
                },
                _ => Stmt::Other(stmt.byte_range()),
            })
            .collect()
    }

    fn body_expr(&self, node: Node) -> BodyExpr {
        let span = node.byte_range();
        let Some(_level) = self.enter(node, "this Python expression") else {
            return BodyExpr::Other(span);
        };
        let field = |f: &str| node.child_by_field_name(f);
        match node.kind() {
            "identifier" => BodyExpr::Name(self.ident(node)),
            "attribute" => match (field("object"), field("attribute")) {
                (Some(o), Some(a)) => BodyExpr::Attr {
                    object: Box::new(self.body_expr(o)),
                    attr: self.ident(a),
                    span,
                },
                _ => BodyExpr::Other(span),
            },
            "call" => {
                let Some(func) = field("function") else {
                    return BodyExpr::Other(span);
                };
                // The callee first: a too-deep chain is reported where it starts.
                let func = Box::new(self.body_expr(func));
                let (args, kwargs) = self.arguments(node, Self::body_expr);
                BodyExpr::Call {
                    func,
                    args,
                    kwargs,
                    span,
                }
            }
            "string" => match self.expr(node) {
                Expr::Str(text, span) => BodyExpr::Str(text, span),
                _ => BodyExpr::Other(span),
            },
            "integer" => match self.expr(node) {
                Expr::Int(v, span) => BodyExpr::Int(v, span),
                _ => BodyExpr::Other(span),
            },
            "float" => BodyExpr::Float(span),
            "true" => BodyExpr::Bool(true, span),
            "false" => BodyExpr::Bool(false, span),
            "none" => BodyExpr::None(span),
            "list" | "tuple" => {
                let mut cursor = node.walk();
                let items = node
                    .named_children(&mut cursor)
                    .filter(|c| c.kind() != "comment")
                    .map(|c| self.body_expr(c))
                    .collect();
                BodyExpr::List(items, span)
            }
            "dictionary" => {
                let mut cursor = node.walk();
                let mut pairs = Vec::new();
                for pair in node.named_children(&mut cursor) {
                    match (
                        pair.kind(),
                        pair.child_by_field_name("key"),
                        pair.child_by_field_name("value"),
                    ) {
                        ("pair", Some(k), Some(v)) => {
                            pairs.push((self.body_expr(k), self.body_expr(v)))
                        }
                        ("comment", _, _) => {}
                        _ => return BodyExpr::Other(span),
                    }
                }
                BodyExpr::Dict(pairs, span)
            }
            "parenthesized_expression" => node
                .named_child(0)
                .map_or(BodyExpr::Other(span.clone()), |inner| self.body_expr(inner)),
            "binary_operator" | "boolean_operator" => {
                match (field("left"), field("operator"), field("right")) {
                    (Some(l), Some(op), Some(r)) => BodyExpr::Binary {
                        op: self.text(op).to_owned(),
                        left: Box::new(self.body_expr(l)),
                        right: Box::new(self.body_expr(r)),
                        span,
                    },
                    _ => BodyExpr::Other(span),
                }
            }
            "comparison_operator" => {
                let mut cursor = node.walk();
                let operands: Vec<Node> = node.named_children(&mut cursor).collect();
                let mut cursor = node.walk();
                let op = node
                    .children(&mut cursor)
                    .find(|c| !c.is_named())
                    .map(|c| self.text(c).to_owned());
                match (operands.as_slice(), op) {
                    ([l, r], Some(op)) => BodyExpr::Binary {
                        op,
                        left: Box::new(self.body_expr(*l)),
                        right: Box::new(self.body_expr(*r)),
                        span,
                    },
                    _ => BodyExpr::Other(span),
                }
            }
            "unary_operator" => match (field("operator"), field("argument")) {
                (Some(op), Some(arg)) => BodyExpr::Unary {
                    op: self.text(op).to_owned(),
                    operand: Box::new(self.body_expr(arg)),
                    span,
                },
                _ => BodyExpr::Other(span),
            },
            "not_operator" => match field("argument") {
                Some(arg) => BodyExpr::Unary {
                    op: "not".to_owned(),
                    operand: Box::new(self.body_expr(arg)),
                    span,
                },
                None => BodyExpr::Other(span),
            },
            _ => BodyExpr::Other(span),
        }
    }

    /// A `type` node wraps the annotation expression. An annotation written as a
    /// string (`-> "Annotated[pa.Table, S]"`) is the expression it holds, with the
    /// positions it has in the file; a dotted name stays a string (`"int"`, `"S"`).
    fn type_expr(&self, node: Node) -> Expr {
        let node = match node.named_child(0) {
            Some(inner) if node.kind() == "type" => inner,
            _ => node,
        };
        let expr = self.expr(node);
        if let Expr::Str(content, _) = &expr
            && !content
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
            && let Some(start) = string_content_start(node)
            && let Some(parsed) = self.string_annotation(content, start)
        {
            return parsed;
        }
        expr
    }

    /// Parses `content` (the text of a string literal starting at byte `start` of the
    /// file, without escapes) as an expression whose spans are those of the file: the
    /// expression is parsed alone, inside brackets, and its spans moved to `start`.
    fn string_annotation(&self, content: &str, start: usize) -> Option<Expr> {
        let padded = format!("({content})");
        let tree = parse_tree(&padded)?;
        let root = tree.root_node();
        if root.has_error() || root.named_child_count() != 1 {
            return None;
        }
        let inner = root.named_child(0)?.named_child(0)?.named_child(0)?;
        let lower = Lower {
            text: &padded,
            file: self.file,
            depth: Cell::new(self.depth.get()),
            too_deep: RefCell::new(None),
        };
        let expr = lower.expr(inner);
        let by = start.checked_sub(1)?;
        lower
            .too_deep
            .into_inner()
            .is_none()
            .then(|| shifted(expr, by))
    }

    fn expr(&self, node: Node) -> Expr {
        let span = node.byte_range();
        let Some(_level) = self.enter(node, "this Python expression") else {
            return Expr::Other(span);
        };
        match node.kind() {
            "identifier" => Expr::Name {
                path: vec![self.text(node).to_owned()],
                span,
            },
            "attribute" => {
                let object = node.child_by_field_name("object").map(|o| self.expr(o));
                let attr = node
                    .child_by_field_name("attribute")
                    .map(|a| self.text(a).to_owned());
                match (object, attr) {
                    (Some(Expr::Name { mut path, .. }), Some(attr)) => {
                        path.push(attr);
                        Expr::Name { path, span }
                    }
                    _ => Expr::Other(span),
                }
            }
            "call" => {
                let func = node
                    .child_by_field_name("function")
                    .map_or(Expr::Other(span.clone()), |f| self.expr(f));
                let (args, kwargs) = self.arguments(node, Self::expr);
                Expr::Call {
                    func: Box::new(func),
                    args,
                    kwargs,
                    span,
                }
            }
            "subscript" => {
                let value = node
                    .child_by_field_name("value")
                    .map_or(Expr::Other(span.clone()), |v| self.expr(v));
                let mut cursor = node.walk();
                let index = node
                    .children_by_field_name("subscript", &mut cursor)
                    .map(|s| self.expr(s))
                    .collect();
                Expr::Subscript {
                    value: Box::new(value),
                    index,
                    span,
                }
            }
            "generic_type" => {
                // `Optional[str]` in annotation position parses as a generic type.
                let mut cursor = node.walk();
                let children: Vec<Node> = node.named_children(&mut cursor).collect();
                let value = children
                    .first()
                    .map_or(Expr::Other(span.clone()), |v| self.expr(*v));
                let index = children
                    .get(1)
                    .map(|params| {
                        let mut c = params.walk();
                        params
                            .named_children(&mut c)
                            .map(|p| self.type_expr(p))
                            .collect()
                    })
                    .unwrap_or_default();
                Expr::Subscript {
                    value: Box::new(value),
                    index,
                    span,
                }
            }
            "union_type" => {
                let mut cursor = node.walk();
                let parts: Vec<Node> = node.named_children(&mut cursor).collect();
                match parts.as_slice() {
                    [l, r] => Expr::BitOr {
                        left: Box::new(self.type_expr(*l)),
                        right: Box::new(self.type_expr(*r)),
                        span,
                    },
                    _ => Expr::Other(span),
                }
            }
            "type" => node
                .named_child(0)
                .map_or(Expr::Other(span.clone()), |inner| self.expr(inner)),
            "binary_operator" => {
                let op = node.child_by_field_name("operator").map(|o| o.kind());
                match (
                    op,
                    node.child_by_field_name("left"),
                    node.child_by_field_name("right"),
                ) {
                    (Some("|"), Some(l), Some(r)) => Expr::BitOr {
                        left: Box::new(self.expr(l)),
                        right: Box::new(self.expr(r)),
                        span,
                    },
                    _ => Expr::Other(span),
                }
            }
            "parenthesized_expression" => node
                .named_child(0)
                .map_or(Expr::Other(span.clone()), |inner| self.expr(inner)),
            "none" => Expr::None(span),
            "string" => {
                let mut cursor = node.walk();
                let mut content = String::new();
                let mut plain = true;
                for child in node.named_children(&mut cursor) {
                    match child.kind() {
                        "string_content" => content.push_str(self.text(child)),
                        "string_start" | "string_end" => {}
                        _ => plain = false,
                    }
                }
                if plain {
                    Expr::Str(content, span)
                } else {
                    Expr::Other(span)
                }
            }
            "integer" => self
                .text(node)
                .replace('_', "")
                .parse()
                .map_or(Expr::Other(span.clone()), |v| Expr::Int(v, span)),
            _ => Expr::Other(span),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An annotation written as a string is the expression it holds, with the spans it
    /// has in the file; a dotted name stays a string, and so does one with escapes.
    #[test]
    fn string_annotations_are_parsed_in_place() {
        let src = "def f(x) -> \"Annotated[pa.Table, Out]\":\n    return x\n\n\
                   def g(y: \"Optional[int]\", z: \"S\", w: \"a\\tb[\") -> \"bad[\":\n    return y\n";
        let (m, _) = parse(FileId(0), src);
        let returns = m.functions[0].returns.as_ref().unwrap();
        let Expr::Subscript { value, index, span } = returns else {
            panic!("{returns:?}")
        };
        assert_eq!(value.last_name(), Some("Annotated"));
        assert_eq!(&src[span.clone()], "Annotated[pa.Table, Out]");
        assert_eq!(&src[index[1].span()], "Out");
        let params = &m.functions[1].params;
        assert!(matches!(params[0].annotation, Some(Expr::Subscript { .. })));
        assert!(matches!(&params[1].annotation, Some(Expr::Str(s, _)) if s == "S"));
        assert!(!matches!(
            params[2].annotation,
            Some(Expr::Subscript { .. })
        ));
        // Not an expression: kept as the string it is.
        assert!(matches!(&m.functions[1].returns, Some(Expr::Str(s, _)) if s == "bad["));
    }

    #[test]
    fn lowers_schemas_sources_and_nodes() {
        let src = r#"
from datetime import datetime
from sluice import Schema, Source, UNION, NotNull
import pkg.schemas as ps

class RawSchema(Schema):
    col1: str
    col5: UNION(str, None)
    col2 = ChildSchema.col2[NotNull]

raw_table = Source(RawSchema, name="ns.raw")

@decorator(x=1)
def child_table(df: ps.ParentSchema = parent_table, other=Table("t")) -> "ChildSchema":
    return df
"#;
        let (m, diags) = parse(FileId(0), src);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(m.imports.len(), 6);
        assert_eq!(m.imports[5].module, "pkg.schemas");
        assert_eq!(m.imports[5].local.text, "ps");
        assert_eq!(m.classes.len(), 1);
        assert_eq!(m.classes[0].items.len(), 3);
        assert_eq!(m.assigns[0].value.call_name(), Some("Source"));
        let f = &m.functions[0];
        assert_eq!(f.name.text, "child_table");
        assert_eq!(f.decorators.len(), 1);
        assert_eq!(f.params.len(), 2);
        assert_eq!(
            f.params[0].annotation.as_ref().unwrap().as_path().unwrap(),
            ["ps", "ParentSchema"]
        );
        assert!(matches!(f.returns, Some(Expr::Str(ref s, _)) if s == "ChildSchema"));
    }

    #[test]
    fn syntax_errors_are_located_and_items_survive() {
        let src = "class A(Schema):\n    x: int\n\ndef broken(:\n    pass\n\nclass B(Schema):\n    y: str\n";
        let (m, diags) = parse(FileId(0), src);
        assert!(!diags.is_empty());
        assert!(diags.iter().all(|d| d.code == Code::PythonSyntax));
        assert!(m.classes.iter().any(|c| c.name.text == "A"));
    }
}
