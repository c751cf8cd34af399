//! `bauplan_project.yml` / `.yaml`: the project file of a project written for Bauplan's
//! SDK. sluice reads its `parameters:` section, the run parameters models read with
//! `bauplan.Parameter("name")`, and their defaults:
//!
//! ```yaml
//! project:
//!   id: 2d1f1c8e-5f0e-4b38-9a53-0c1f9f3e7d11
//!   name: taxi_pipeline
//! parameters:
//!   min_miles:
//!     type: float
//!     default: 1.0
//! ```
//!
//! Every other key is Bauplan's and is ignored. A file that is not valid YAML, or a
//! `parameters:` section of the wrong shape, yields no parameters and a located
//! diagnostic (`E0006`).

use std::collections::{BTreeMap, HashMap};

use saphyr::{MarkedYaml, Scalar, ScanError, YamlData, YamlLoader};
use saphyr_parser::{Event, SpannedEventReceiver};
use serde::Serialize;

use crate::diagnostic::{Code, Diagnostic};
use crate::limits::{MAX_NESTING, too_deep};
use crate::source::{FileId, Span};

/// The parameter types of Bauplan's project file.
pub const PARAMETER_TYPES: &[&str] = &["int", "float", "bool", "str", "secret", "vault"];

/// One declared run parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProjectParameter {
    /// `int`, `float`, `bool`, `str` (given, or inferred from the default; `str` when
    /// neither is given), or `secret`/`vault`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The default value, typed (`float` defaults are JSON numbers with a fraction or
    /// exponent, never integers); `None` without a default. Secrets carry none: their
    /// stored value is encrypted by Bauplan and not usable by sluice.
    pub default: Option<serde_json::Value>,
}

/// Parses the project file: its parameters by name, and at most one diagnostic (the
/// first problem found; parameters before it are kept).
pub fn parse(file: FileId, text: &str) -> (BTreeMap<String, ProjectParameter>, Option<Diagnostic>) {
    let mut params = BTreeMap::new();
    let error = |span: Span, message: String, help: &str| {
        let label = if span.is_empty() { "here" } else { "invalid" };
        Some(
            Diagnostic::new(
                Code::BauplanProject,
                file,
                span,
                format!("invalid bauplan_project.yml: {message}"),
            )
            .with_label(label)
            .with_help(help.to_owned()),
        )
    };
    let docs = match load(text) {
        Ok(docs) => docs,
        Err(Unread::TooDeep(at)) => {
            let at = byte_offset(text, at);
            let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            let construct = "this YAML value";
            return (
                params,
                Some(too_deep(file, at..end, construct, MAX_NESTING)),
            );
        }
        Err(Unread::Invalid(e)) => {
            let at = byte_offset(text, e.marker().index());
            return (
                params,
                error(
                    at..at,
                    e.info().to_owned(),
                    "the file must be valid YAML (a mapping with `project:` and `parameters:` keys)",
                ),
            );
        }
    };
    let Some(root) = docs.first() else {
        return (params, None);
    };
    let root_map = match &root.data {
        YamlData::Mapping(m) => m,
        YamlData::Value(Scalar::Null) => return (params, None),
        _ => {
            return (
                params,
                error(
                    span_of(text, root),
                    "the document is not a mapping".into(),
                    "the file is a mapping with keys such as `project:` and `parameters:`",
                ),
            );
        }
    };
    let Some((_, section)) = root_map
        .iter()
        .find(|(k, _)| key_str(k) == Some("parameters"))
    else {
        return (params, None);
    };
    let entries = match &section.data {
        YamlData::Mapping(m) => m,
        YamlData::Value(Scalar::Null) => return (params, None),
        _ => {
            return (
                params,
                error(
                    span_of(text, section),
                    "`parameters` is not a mapping".into(),
                    "`parameters:` maps each parameter name to its `type` and `default`",
                ),
            );
        }
    };
    const ENTRY_HELP: &str =
        "declare a parameter as `name:` with `type: int|float|bool|str` and `default: VALUE`";
    for (key, value) in entries {
        let Some(name) = key_str(key) else {
            return (
                params,
                error(
                    span_of(text, key),
                    "a parameter name is not a string".into(),
                    ENTRY_HELP,
                ),
            );
        };
        let fields = match &value.data {
            YamlData::Mapping(m) => Some(m),
            YamlData::Value(Scalar::Null) => None,
            _ => {
                return (
                    params,
                    error(
                        span_of(text, value),
                        format!("parameter `{name}` is not a mapping with `type` and `default`"),
                        ENTRY_HELP,
                    ),
                );
            }
        };
        let field =
            |wanted: &str| fields.and_then(|m| m.iter().find(|(k, _)| key_str(k) == Some(wanted)));
        let ty = match field("type").map(|(_, v)| v) {
            None => None,
            Some(v) => match scalar_str(v) {
                Some(t) if PARAMETER_TYPES.contains(&t) => Some((t.to_owned(), v)),
                Some(t) => {
                    return (
                        params,
                        error(
                            span_of(text, v),
                            format!(
                                "parameter `{name}` has unknown type `{t}`: expected one of {}",
                                PARAMETER_TYPES.join(", ")
                            ),
                            ENTRY_HELP,
                        ),
                    );
                }
                None => {
                    return (
                        params,
                        error(
                            span_of(text, v),
                            format!("the type of parameter `{name}` is not a string"),
                            ENTRY_HELP,
                        ),
                    );
                }
            },
        };
        let default_node = field("default").map(|(_, v)| v);
        let default = match default_node.map(|v| (v, scalar_value(v))) {
            None | Some((_, Some(serde_json::Value::Null))) => None,
            Some((_, Some(v))) => Some(v),
            Some((node, None)) => {
                return (
                    params,
                    error(
                        span_of(text, node),
                        format!("the default of parameter `{name}` is not a single value"),
                        ENTRY_HELP,
                    ),
                );
            }
        };
        let parameter = match (ty, default) {
            (Some((t, _)), _) if t == "secret" || t == "vault" => ProjectParameter {
                ty: t,
                default: None,
            },
            (Some((t, _)), None) => ProjectParameter {
                ty: t,
                default: None,
            },
            (Some((t, _)), Some(d)) => match typed_default(&t, d) {
                Some(d) => ProjectParameter {
                    ty: t,
                    default: Some(d),
                },
                None => {
                    let node = default_node.unwrap_or(value);
                    let shown = &text[span_of(text, node)];
                    let help = if t == "str" {
                        format!("quote it to make it a string: `default: '{shown}'`")
                    } else {
                        format!("give it a default of type `{t}`, or change its type")
                    };
                    return (
                        params,
                        error(
                            span_of(text, node),
                            format!(
                                "the default of parameter `{name}` (`{shown}`) is not of type `{t}`"
                            ),
                            &help,
                        ),
                    );
                }
            },
            (None, Some(d)) => ProjectParameter {
                ty: inferred_type(&d).to_owned(),
                default: Some(d),
            },
            (None, None) => ProjectParameter {
                ty: "str".into(),
                default: None,
            },
        };
        params.insert(name.to_owned(), parameter);
    }
    (params, None)
}

/// Why [`load`] read no documents.
enum Unread {
    /// A collection nests more than [`MAX_NESTING`] levels deep (aliases expanded), at
    /// this character index.
    TooDeep(usize),
    /// Not YAML, or aliases that copy more than saphyr's budget (100,000 values: an
    /// alias copies its anchor's whole value, the "billion laughs").
    Invalid(ScanError),
}

/// One collection being read: its anchor and the height of its deepest child.
struct Open {
    anchor: usize,
    height: usize,
}

/// The file's documents, loaded without recursion on their depth.
///
/// `MarkedYaml::load_from_str` drives saphyr's parser recursively, one set of frames per
/// nesting level (a 2 MiB stack overflows at about a thousand levels). Here the parser's
/// events (it keeps its own stack on the heap) are fed to saphyr's loader one by one,
/// and collections nested more than [`MAX_NESTING`] deep are refused before the loader
/// builds them: the tree it builds is hashed (mapping keys), copied (aliases) and dropped
/// recursively.
fn load(text: &str) -> Result<Vec<MarkedYaml<'_>>, Unread> {
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let mut loader: YamlLoader<MarkedYaml> = YamlLoader::default();
    let mut open: Vec<Open> = Vec::new();
    // The height (collection levels) of each anchor's value.
    let mut anchors: HashMap<usize, usize> = HashMap::new();
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(Unread::Invalid)?;
        // A finished value: its anchor and height.
        let finished = match &event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_NESTING {
                    return Err(Unread::TooDeep(span.start.index()));
                }
                open.push(Open {
                    anchor: *anchor,
                    height: 0,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => open.pop().map(|o| (o.anchor, o.height + 1)),
            Event::Scalar(_, _, anchor, _) => Some((*anchor, 0)),
            Event::Alias(id) => {
                let height = anchors.get(id).copied().unwrap_or(0);
                if open.len() + height > MAX_NESTING {
                    return Err(Unread::TooDeep(span.start.index()));
                }
                Some((0, height))
            }
            _ => None,
        };
        if let Some((anchor, height)) = finished {
            if anchor > 0 {
                anchors.insert(anchor, height);
            }
            if let Some(parent) = open.last_mut() {
                parent.height = parent.height.max(height);
            }
        }
        loader.on_event(event, span);
        if let Some(e) = loader.error() {
            return Err(Unread::Invalid(e.clone()));
        }
    }
    Ok(loader.into_documents())
}

/// The default converted to `ty`, or `None` when it is not one (an integer is a float).
fn typed_default(ty: &str, value: serde_json::Value) -> Option<serde_json::Value> {
    use serde_json::Value;
    match (ty, &value) {
        ("int", Value::Number(n)) if n.is_i64() => Some(value),
        ("float", Value::Number(n)) => n.as_f64().and_then(float_value),
        ("bool", Value::Bool(_)) | ("str", Value::String(_)) => Some(value),
        _ => None,
    }
}

fn inferred_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int",
        Value::Number(_) => "float",
        _ => "str",
    }
}

/// A float as a JSON number that stays a float (`1.0`, not `1`).
pub fn float_value(f: f64) -> Option<serde_json::Value> {
    serde_json::Number::from_f64(f).map(serde_json::Value::Number)
}

/// A scalar as JSON; `None` for collections and anything else.
fn scalar_value(node: &MarkedYaml) -> Option<serde_json::Value> {
    use serde_json::Value;
    match &node.data {
        YamlData::Value(Scalar::Null) => Some(Value::Null),
        YamlData::Value(Scalar::Boolean(b)) => Some(Value::Bool(*b)),
        YamlData::Value(Scalar::Integer(i)) => Some(Value::from(*i)),
        YamlData::Value(Scalar::FloatingPoint(f)) => float_value(f.into_inner()),
        YamlData::Value(Scalar::String(s)) => Some(Value::String(s.to_string())),
        YamlData::Tagged(_, inner) => scalar_value(inner),
        _ => None,
    }
}

fn scalar_str<'a>(node: &'a MarkedYaml) -> Option<&'a str> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s),
        _ => None,
    }
}

/// A mapping key as a string (`1:` is not a name).
fn key_str<'a>(node: &'a MarkedYaml) -> Option<&'a str> {
    scalar_str(node)
}

/// The byte range of a node (saphyr's markers count characters).
fn span_of(text: &str, node: &MarkedYaml) -> Span {
    let start = byte_offset(text, node.span.start.index());
    let end = byte_offset(text, node.span.end.index()).max(start);
    // Block collections end after their trailing line break: stop at the last token.
    let end = start + text[start..end].trim_end().len();
    start..end
}

fn byte_offset(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(byte, _)| byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(text: &str) -> BTreeMap<String, ProjectParameter> {
        let (params, diag) = parse(FileId(0), text);
        assert!(diag.is_none(), "{diag:?}");
        params
    }

    fn err(text: &str) -> (String, String) {
        let (_, diag) = parse(FileId(0), text);
        let diag = diag.expect("a diagnostic");
        assert_eq!(diag.code, Code::BauplanProject);
        (diag.message.clone(), text[diag.span.clone()].to_owned())
    }

    #[test]
    fn typed_and_inferred_parameters() {
        let params = ok(
            "project:\n  id: x\n  name: taxi\nparameters:\n  min_miles:\n    type: float\n    default: 1\n  \
             limit:\n    default: 10\n  flag:\n    type: bool\n    default: True\n  label:\n    type: str\n    \
             default: 'hello'\n  token:\n    type: secret\n    default: kUg6q41\n    key: awskms:///arn\n  \
             bare:\n",
        );
        let get = |n: &str| (params[n].ty.as_str(), params[n].default.clone());
        assert_eq!(get("min_miles"), ("float", Some(json!(1.0))));
        assert_eq!(get("limit"), ("int", Some(json!(10))));
        assert_eq!(get("flag"), ("bool", Some(json!(true))));
        assert_eq!(get("label"), ("str", Some(json!("hello"))));
        assert_eq!(get("token"), ("secret", None));
        assert_eq!(get("bare"), ("str", None));
        // Float defaults stay floats in JSON.
        assert_eq!(
            serde_json::to_string(&params["min_miles"]).unwrap(),
            r#"{"type":"float","default":1.0}"#
        );
    }

    #[test]
    fn no_parameters() {
        assert!(ok("").is_empty());
        assert!(ok("project:\n  name: x\n").is_empty());
        assert!(ok("parameters:\n").is_empty());
    }

    #[test]
    fn malformed_files_are_located() {
        let (message, _) = err("parameters:\n  a: [1,\n");
        assert!(
            message.starts_with("invalid bauplan_project.yml: "),
            "{message}"
        );
        let (message, at) = err("parameters:\n  n:\n    type: int\n    default: 1.5\n");
        assert_eq!(
            message,
            "invalid bauplan_project.yml: the default of parameter `n` (`1.5`) is not of type `int`"
        );
        assert_eq!(at, "1.5");
        let (message, at) = err("parameters:\n  n:\n    type: flaot\n");
        assert!(message.contains("unknown type `flaot`"), "{message}");
        assert_eq!(at, "flaot");
        let (message, at) = err("parameters:\n  n: 3\n");
        assert!(message.contains("`n` is not a mapping"), "{message}");
        assert_eq!(at, "3");
        let (message, _) = err("parameters: [a, b]\n");
        assert!(
            message.contains("`parameters` is not a mapping"),
            "{message}"
        );
        let (_, at) = err("parameters:\n  é:\n    type: str\n    default: 5\n");
        assert_eq!(at, "5");
    }
}
