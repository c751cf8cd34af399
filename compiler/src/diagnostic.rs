//! The one diagnostic model of sluice: a stable code, a severity, a message, a primary
//! span, secondary labels and help. Rendered for people by miette ([`render_human`]) and
//! for machines as JSON ([`JsonReport`]); the LSP converts the same values.

use std::fmt;

use serde::Serialize;

use crate::source::{FileId, SourceSet, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $severity:ident, $title:literal;)*) => {
        /// Every diagnostic sluice can emit. Codes are stable: tools and agents match on them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }

            /// One line saying what the code means (used in docs and `--explain`-style output).
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }
        }
    };
}

codes! {
    PythonSyntax = "E0001", Error, "Python syntax error";
    SqlSyntax = "E0002", Error, "SQL syntax error";
    SqlNotAQuery = "E0003", Error, "a SQL node must hold exactly one query";
    SqlHeader = "E0004", Error, "malformed SQL node header";
    Config = "E0005", Error, "invalid sluice.toml";
    BauplanProject = "E0006", Error, "invalid bauplan_project.yml";
    NestingTooDeep = "E0007", Error, "input nested too deeply for the checker";
    UnknownTable = "E0101", Error, "unknown table";
    DuplicateTable = "E0102", Error, "table defined more than once";
    Cycle = "E0103", Error, "dependency cycle between tables";
    UnknownSchema = "E0201", Error, "unknown schema";
    UnknownType = "E0202", Error, "unknown or unsupported column type";
    UnknownInheritedColumn = "E0203", Error, "inherited column does not exist";
    AmbiguousSchema = "E0204", Error, "schema name defined in several modules";
    SchemaCycle = "E0205", Error, "schema inherits from itself";
    DuplicateColumn = "E0206", Error, "column declared twice in a schema";
    MissingColumn = "E0301", Error, "required column missing from the input";
    TypeMismatch = "E0302", Error, "incompatible column type at an edge";
    NullabilityMismatch = "E0303", Error, "nullable column feeds a non-null requirement";
    SqlHeaderInputs = "E0401", Error, "SQL header inputs disagree with the query";
    SqlUnknownColumn = "E0501", Error, "SQL query reads a column its inputs do not have";
    SqlUnknownFunction = "E0502", Error, "SQL query calls an unknown function";
    SqlPlan = "E0503", Error, "SQL query does not type-check";
    ContractMissingColumn = "E0601", Error, "declared output column not produced by the body";
    ContractExtraColumn = "E0602", Error, "body produces a column the contract does not declare";
    ContractTypeMismatch = "E0603", Error, "body computes a type the contract does not accept";
    ContractNullability = "E0604", Error, "nullable input reaches a non-null output unchanged";
    PyUnknownColumn = "E0701", Error, "Python body reads a column its input does not have";
    PipRequirement = "E0801", Error, "invalid pip requirement in a Python node's settings";
    UnknownDataframe = "E0802", Error, "unknown dataframe library in a Python node's settings";
    Materialization = "E0803", Error, "unknown materialization strategy";
    RunParameter = "E0804", Error, "run parameter not declared in bauplan_project.yml";
    RunParameterType = "E0805", Error, "run parameter annotated with another type than declared";
    UncheckedInput = "W0001", Warning, "node input has no schema annotation";
    UnknownOutput = "W0002", Warning, "node output schema is undeclared";
    UnusedSource = "W0003", Warning, "declared source is never read";
    ImplicitLakeTable = "W0004", Warning, "Bauplan project reads a table it does not define";
    SqlTooWide = "W0005", Warning, "SQL query too wide to check: validated at run time";
    NotANode = "W0006", Warning, "function with table inputs is not a node";
    BauplanUnsupported = "W0007", Warning, "part of a Bauplan node sluice does not understand";
    RunParameterNoDefault = "W0008", Warning, "run parameter without a default";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secondary location, possibly in another file than the primary span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub file: FileId,
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub file: FileId,
    /// Primary span: the exact token the diagnostic is about.
    pub span: Span,
    /// Text shown under the primary span.
    pub label: Option<String>,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// Machine-applicable repairs (quick fixes in the editor, `fixes` in the JSON
    /// report). Applying one yields a file without this diagnostic.
    pub fixes: Vec<Fix>,
}

/// One repair of a diagnostic: a title for people and the exact edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    /// The likely intended repair (a single did-you-mean): an editor may apply it
    /// without asking which.
    pub preferred: bool,
    /// Non-overlapping edits, each against the text the diagnostic was made from.
    pub edits: Vec<Edit>,
}

/// Replace `span` of `file` with `replacement` (an empty span inserts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub file: FileId,
    pub span: Span,
    pub replacement: String,
}

impl Edit {
    /// Replaces the name `written` that a diagnostic's `span` points at with `new`.
    /// The span may hold the name quoted (`"custmer"`, a Python string or a quoted SQL
    /// identifier) or qualified (`o.ammount`, `sluice.Int33`): only the name's own
    /// characters change, so quotes and qualifiers stay as written. (A quoted name
    /// behind a qualifier, `o."Ammount"`, is not told apart from an unquoted one.)
    pub fn rename(file: FileId, span: &Span, written: &str, new: &str) -> Edit {
        let len = span.end.saturating_sub(span.start);
        let n = written.len();
        let span = if len == n + 2 {
            span.start + 1..span.end - 1
        } else if len > n && n > 0 {
            span.end - n..span.end
        } else {
            span.clone()
        };
        Edit {
            file,
            span,
            replacement: new.to_owned(),
        }
    }
}

impl Fix {
    /// The did-you-mean fix: replace the unknown name with the suggested one.
    pub fn did_you_mean(file: FileId, span: &Span, written: &str, suggestion: &str) -> Fix {
        Fix {
            title: format!("Change `{written}` to `{suggestion}`"),
            preferred: true,
            edits: vec![Edit::rename(file, span, written, suggestion)],
        }
    }
}

impl Diagnostic {
    pub fn new(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            file,
            span,
            label: None,
            labels: Vec::new(),
            help: None,
            fixes: Vec::new(),
        }
    }

    pub fn with_fix(mut self, fix: Fix) -> Diagnostic {
        self.fixes.push(fix);
        self
    }

    pub fn with_fix_opt(mut self, fix: Option<Fix>) -> Diagnostic {
        self.fixes.extend(fix);
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn with_secondary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_help_opt(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `1234567` as `1,234,567`, for numbers in messages.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Sorts diagnostics into the order they are reported: by file path, then position.
pub fn sort(diagnostics: &mut [Diagnostic], sources: &SourceSet) {
    diagnostics.sort_by(|a, b| {
        (
            sources.file(a.file).path.as_str(),
            a.span.start,
            a.span.end,
            a.code,
        )
            .cmp(&(
                sources.file(b.file).path.as_str(),
                b.span.start,
                b.span.end,
                b.code,
            ))
    });
}

/// The machine-readable report of `sluice check --format json`. Its shape is a contract
/// with agents and CI (docs/language.md): change it only with a version bump.
#[derive(Debug, Serialize)]
pub struct JsonReport {
    pub diagnostics: Vec<JsonDiagnostic>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub help: Option<String>,
    /// Machine-applicable repairs; empty when there is none.
    pub fixes: Vec<JsonFix>,
}

/// A [`Fix`] in the JSON report.
#[derive(Debug, Serialize)]
pub struct JsonFix {
    pub title: String,
    pub preferred: bool,
    pub edits: Vec<JsonEdit>,
}

/// An [`Edit`] in the JSON report: 1-based lines and columns (Unicode scalar values) as
/// for diagnostics, and the byte offsets of the same span in the file's UTF-8 text.
#[derive(Debug, Serialize)]
pub struct JsonEdit {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub start_byte: usize,
    pub end_byte: usize,
    pub replacement: String,
}

impl JsonFix {
    pub fn new(fix: &Fix, sources: &SourceSet) -> JsonFix {
        JsonFix {
            title: fix.title.clone(),
            preferred: fix.preferred,
            edits: fix
                .edits
                .iter()
                .map(|edit| {
                    let file = sources.file(edit.file);
                    let start = file.line_index.line_col(&file.text, edit.span.start);
                    let end = file.line_index.line_col(&file.text, edit.span.end);
                    JsonEdit {
                        file: file.path.clone(),
                        line: start.line,
                        column: start.column,
                        end_line: end.line,
                        end_column: end.column,
                        start_byte: edit.span.start,
                        end_byte: edit.span.end,
                        replacement: edit.replacement.clone(),
                    }
                })
                .collect(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub nodes: usize,
    pub edges: usize,
}

impl JsonDiagnostic {
    pub fn new(diagnostic: &Diagnostic, sources: &SourceSet) -> JsonDiagnostic {
        let file = sources.file(diagnostic.file);
        let start = file.line_index.line_col(&file.text, diagnostic.span.start);
        let end = file.line_index.line_col(&file.text, diagnostic.span.end);
        JsonDiagnostic {
            severity: diagnostic.severity,
            code: diagnostic.code.as_str(),
            message: diagnostic.message.clone(),
            file: file.path.clone(),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            help: diagnostic.help.clone(),
            fixes: diagnostic
                .fixes
                .iter()
                .map(|f| JsonFix::new(f, sources))
                .collect(),
        }
    }
}

impl JsonReport {
    pub fn new(diagnostics: &[Diagnostic], sources: &SourceSet, summary: Summary) -> JsonReport {
        JsonReport {
            diagnostics: diagnostics
                .iter()
                .map(|d| JsonDiagnostic::new(d, sources))
                .collect(),
            summary,
        }
    }
}

/// How [`render_human`] draws reports.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    pub color: bool,
    pub unicode: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            unicode: true,
            width: 100,
        }
    }
}

/// Renders one diagnostic as a miette report with source snippets.
pub fn render_human(diagnostic: &Diagnostic, sources: &SourceSet, opts: RenderOptions) -> String {
    let report = miette_adapter::Report::new(diagnostic, sources);
    let theme = match (opts.unicode, opts.color) {
        (true, true) => miette::GraphicalTheme::unicode(),
        (true, false) => miette::GraphicalTheme::unicode_nocolor(),
        (false, true) => miette::GraphicalTheme::ascii(),
        (false, false) => miette::GraphicalTheme::none(),
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        // Rendering into a String cannot fail in practice; fall back to a plain line.
        out = format!(
            "{}[{}]: {}\n",
            severity_word(diagnostic),
            diagnostic.code,
            diagnostic.message
        );
    }
    out
}

fn severity_word(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

mod miette_adapter {
    use std::fmt;

    use miette::{LabeledSpan, NamedSource, SourceSpan};

    use super::{Diagnostic, Severity};
    use crate::source::{SourceFile, SourceSet, Span};

    /// A diagnostic with its file's text attached, as miette wants it. Labels in other
    /// files than the primary one become related reports so each shows its own snippet.
    pub struct Report {
        code: &'static str,
        severity: Severity,
        message: String,
        help: Option<String>,
        /// `None` when a label lies too far into its line to draw (see [`MAX_DRAWN_COLUMN`]).
        source: Option<NamedSource<String>>,
        labels: Vec<(Span, Option<String>, bool)>,
        related: Vec<Report>,
        file: crate::source::FileId,
    }

    impl Report {
        pub fn new(d: &Diagnostic, sources: &SourceSet) -> Report {
            let file = sources.file(d.file);
            let mut labels = vec![(d.span.clone(), d.label.clone(), true)];
            let mut related: Vec<Report> = Vec::new();
            for label in &d.labels {
                if label.file == d.file {
                    labels.push((label.span.clone(), Some(label.message.clone()), false));
                } else if let Some(r) = related.iter_mut().find(|r| r.file == label.file) {
                    r.labels
                        .push((label.span.clone(), Some(label.message.clone()), false));
                } else {
                    let other = sources.file(label.file);
                    related.push(Report {
                        code: "",
                        severity: Severity::Warning,
                        message: format!("see {}", other.path),
                        help: None,
                        source: None,
                        labels: vec![(label.span.clone(), Some(label.message.clone()), false)],
                        related: Vec::new(),
                        file: label.file,
                    });
                }
            }
            let related = related
                .into_iter()
                .map(|r| {
                    let file = sources.file(r.file);
                    r.with_source(file)
                })
                .collect();
            Report {
                code: d.code.as_str(),
                severity: d.severity,
                message: d.message.clone(),
                help: d.help.clone(),
                source: None,
                labels,
                related,
                file: d.file,
            }
            .with_source(file)
        }

        /// Attaches the file's text, unless a label lies further into its line than
        /// miette can draw (it panics on columns past `u16::MAX`): then the message
        /// names the location instead of showing the snippet.
        fn with_source(mut self, file: &SourceFile) -> Report {
            let too_far = self.labels.iter().find_map(|(span, _, _)| {
                [span.start, span.end].into_iter().find_map(|at| {
                    let at = file.line_index.line_col(&file.text, at);
                    (at.column as usize > MAX_DRAWN_COLUMN).then_some(at)
                })
            });
            match too_far {
                None => self.source = Some(named(&file.path, &file.text)),
                Some(_) => {
                    let (span, _, _) = &self.labels[0];
                    let at = file.line_index.line_col(&file.text, span.start);
                    self.message = format!(
                        "{} (at {}:{}:{}, too far into a long line to show)",
                        self.message, file.path, at.line, at.column
                    );
                    self.labels.clear();
                }
            }
            self
        }
    }

    /// The furthest column a label is drawn at: miette pads with `{:width$}`, whose
    /// width must fit in a `u16`, and a tab or a wide character takes up to 4 columns.
    const MAX_DRAWN_COLUMN: usize = 10_000;

    fn named(path: &str, text: &str) -> NamedSource<String> {
        NamedSource::new(path, text.to_owned()).with_language(if path.ends_with(".sql") {
            "SQL"
        } else {
            "Python"
        })
    }

    impl fmt::Debug for Report {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl fmt::Display for Report {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl std::error::Error for Report {}

    impl miette::Diagnostic for Report {
        fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
            (!self.code.is_empty()).then(|| Box::new(self.code) as Box<dyn fmt::Display>)
        }

        fn severity(&self) -> Option<miette::Severity> {
            Some(match (self.severity, self.code.is_empty()) {
                (_, true) => miette::Severity::Advice,
                (Severity::Error, false) => miette::Severity::Error,
                (Severity::Warning, false) => miette::Severity::Warning,
            })
        }

        fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
            self.help
                .as_ref()
                .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
        }

        fn source_code(&self) -> Option<&dyn miette::SourceCode> {
            self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
        }

        fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
            Some(Box::new(self.labels.iter().map(|(span, text, primary)| {
                let span = SourceSpan::from(span.start..span.end.max(span.start));
                if *primary {
                    LabeledSpan::new_primary_with_span(text.clone(), span)
                } else {
                    LabeledSpan::new_with_span(text.clone(), span)
                }
            })))
        }

        fn related<'a>(
            &'a self,
        ) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
            if self.related.is_empty() {
                return None;
            }
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(10_000_000_000), "10,000,000,000");
    }
}
