//! Run parameters: `sluice run --param key=value`, typed by the project's declarations
//! (`bauplan_project.yml` `parameters:`, carried by the plan), else their defaults.
//!
//! Resolved once, before a run is recorded: a value that does not parse as its declared
//! type, or a `bauplan.Parameter("key")` (or a `$key` in a `bauplan.Model(...,
//! filter=...)` or in a SQL node's query) that has neither a value nor a default, stops
//! the run before anything executes.

use std::collections::BTreeMap;

use serde_json::Value;
use sluice_compiler::analysis::TableKind;
use sluice_compiler::bauplan_project::{ProjectParameter, float_value};
use sluice_compiler::plan::{Plan, PythonNode};
use sluice_compiler::source::SourceSet;

/// Every run parameter's value, by key: `--param` values (converted to the declared
/// type) and the defaults of declared parameters that were not given.
///
/// Errors (one line each) name the parameter, and for a missing value the function
/// (or SQL node), file and line that reads it. `sources` holds the SQL nodes' queries.
pub fn resolve(
    plan: &Plan,
    given: &BTreeMap<String, String>,
    sources: &SourceSet,
) -> Result<BTreeMap<String, Value>, String> {
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    for (key, raw) in given {
        let value = match plan.parameters.get(key) {
            Some(declared) => match typed(&declared.ty, raw) {
                Some(v) => v,
                None => {
                    errors.push(format!(
                        "--param {key}={raw}: `{key}` is declared `{}` in bauplan_project.yml, and `{raw}` is not one",
                        declared.ty
                    ));
                    continue;
                }
            },
            None => untyped(raw),
        };
        values.insert(key.clone(), value);
    }
    for (key, declared) in &plan.parameters {
        if let (false, Some(default)) = (values.contains_key(key), &declared.default) {
            values.insert(key.clone(), default.clone());
        }
    }
    let functions = plan
        .nodes
        .iter()
        .filter_map(|n| Some((n.python.as_ref()?, n.file.as_str(), n.line)))
        .chain(
            plan.expectations
                .iter()
                .map(|e| (&e.python, e.file.as_str(), e.line)),
        );
    for (python, file, line) in functions {
        let reads = python_reads(python);
        let who = format!("`{}` ({file}:{line})", python.function);
        errors.extend(missing(&who, reads, &values, &plan.parameters));
    }
    // A SQL node's `$key` placeholders (`WHERE zone = $zone_id`).
    for node in plan.nodes.iter().filter(|n| n.kind == TableKind::Sql) {
        let Some((_, file)) = sources.files().find(|(_, f)| f.path == node.file) else {
            continue;
        };
        let reads = filter_parameters(&file.text)
            .into_iter()
            .map(|key| (format!("the query uses `${key}`, the run parameter"), key))
            .collect();
        let who = format!("`{}` ({}:{})", node.name, node.file, node.line);
        errors.extend(missing(&who, reads, &values, &plan.parameters));
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors.join("\n"))
    }
}

/// The run parameters a Python function reads, each with how it reads it: its
/// `Parameter("key")` parameters and the `$key`s of its inputs' filters.
fn python_reads(python: &PythonNode) -> Vec<(String, String)> {
    let read = python.run_params.iter().map(|r| {
        (
            format!("parameter `{}` reads the run parameter", r.param),
            r.key.clone(),
        )
    });
    let in_filters = python.params.iter().flat_map(|p| {
        let filter = p.filter.as_deref().unwrap_or_default();
        filter_parameters(filter).into_iter().map(move |key| {
            (
                format!(
                    "the filter of parameter `{}` (`{filter}`) uses `${key}`, the run parameter",
                    p.param
                ),
                key,
            )
        })
    });
    read.chain(in_filters).collect()
}

/// One error per run parameter `who` reads (`(how, key)`) that has no value.
fn missing(
    who: &str,
    reads: Vec<(String, String)>,
    values: &BTreeMap<String, Value>,
    declared: &BTreeMap<String, ProjectParameter>,
) -> Vec<String> {
    reads
        .into_iter()
        .filter(|(_, key)| !values.contains_key(key))
        .map(|(what, key)| {
            let why = match declared.get(&key) {
                Some(p) if p.ty == "secret" || p.ty == "vault" => format!(
                    "`{key}` is a {} parameter, whose stored value Bauplan encrypts: pass it with `--param {key}=VALUE`",
                    p.ty
                ),
                Some(_) => format!(
                    "`{key}` has no default in bauplan_project.yml: pass `--param {key}=VALUE`, or give it a `default:`"
                ),
                None => format!(
                    "pass `--param {key}=VALUE`, or declare it with a default under `parameters:` in bauplan_project.yml"
                ),
            };
            format!("{who}: {what} `{key}`, which has no value: {why}")
        })
        .collect()
}

/// The run parameters a filter names as `$key` (not `$1`: positions name nothing).
/// A filter that does not tokenize names none here; running it reports the error.
pub(crate) fn filter_parameters(filter: &str) -> Vec<String> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;
    let mut keys: Vec<String> = Tokenizer::new(&GenericDialect {}, filter)
        .tokenize()
        .unwrap_or_default()
        .iter()
        .filter_map(|t| sluice_compiler::syntax::sql::run_parameter(t).map(str::to_owned))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// `raw` as a value of the declared type; `None` when it is not one.
fn typed(ty: &str, raw: &str) -> Option<Value> {
    match ty {
        "int" => raw.trim().parse::<i64>().ok().map(Value::from),
        "float" => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(float_value),
        "bool" => match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => Some(Value::String(raw.to_owned())),
    }
}

/// An undeclared parameter: a JSON number or boolean when it reads as one, else the
/// string.
fn untyped(raw: &str) -> Value {
    serde_json::from_str::<Value>(raw)
        .ok()
        .filter(|v| v.is_number() || v.is_boolean())
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A checked project's plan and files.
    struct Project {
        plan: Plan,
        sources: SourceSet,
    }

    fn plan(project: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in project {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let sources = sluice_compiler::load_project(dir.path()).unwrap();
        let analysis = sluice_compiler::check(&sources);
        // The checker refuses an undeclared run parameter (E0804); the runtime's own
        // check must still hold for a plan made anyway.
        let errors: Vec<_> = analysis
            .diagnostics
            .iter()
            .filter(|d| d.severity == sluice_compiler::Severity::Error)
            .filter(|d| d.code != sluice_compiler::Code::RunParameter)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        Project {
            plan: sluice_compiler::plan::build(&analysis, &sources),
            sources,
        }
    }

    fn resolve_in(
        p: &Project,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, Value>, String> {
        resolve(&p.plan, given, &p.sources)
    }

    const YML: &str = "project:\n  name: p\nparameters:\n  min_miles:\n    type: float\n    default: 1\n  \
                       limit:\n    type: int\n  flag:\n    type: bool\n    default: false\n  token:\n    type: secret\n";
    const MODEL: &str = "import bauplan\n\n@bauplan.model()\n@bauplan.python('3.11')\n\
                         def trips(data=bauplan.Model('raw'), m=bauplan.Parameter('min_miles'), n=bauplan.Parameter('limit')):\n    return data\n";

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_typed_overrides() {
        let plan = plan(&[("bauplan_project.yml", YML), ("trips.py", MODEL)]);
        let values = resolve_in(
            &plan,
            &given(&[("limit", "5"), ("extra", "2.5"), ("s", "abc")]),
        )
        .unwrap();
        assert_eq!(values["min_miles"], json!(1.0));
        assert_eq!(values["limit"], json!(5));
        assert_eq!(values["flag"], json!(false));
        assert_eq!(values["extra"], json!(2.5));
        assert_eq!(values["s"], json!("abc"));
        assert!(!values.contains_key("token"));
        let values = resolve_in(
            &plan,
            &given(&[("limit", "5"), ("min_miles", "2"), ("flag", "True")]),
        )
        .unwrap();
        assert_eq!(values["min_miles"], json!(2.0));
        assert_eq!(values["flag"], json!(true));
    }

    #[test]
    fn a_missing_parameter_names_function_file_and_parameter() {
        let plan = plan(&[("bauplan_project.yml", YML), ("trips.py", MODEL)]);
        let err = resolve_in(&plan, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err,
            "`trips` (trips.py:5): parameter `n` reads the run parameter `limit`, which has no value: \
             `limit` has no default in bauplan_project.yml: pass `--param limit=VALUE`, or give it a `default:`"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused() {
        let plan = plan(&[("bauplan_project.yml", YML), ("trips.py", MODEL)]);
        let err = resolve_in(&plan, &given(&[("limit", "many"), ("flag", "yes")])).unwrap_err();
        assert!(
            err.contains("--param limit=many: `limit` is declared `int` in bauplan_project.yml, and `many` is not one")
                && err.contains("--param flag=yes"),
            "{err}"
        );
    }

    #[test]
    fn filters_name_their_parameters() {
        assert_eq!(
            filter_parameters("a > $min AND b = '$not' AND c < $max AND d = $1 AND e > $min"),
            ["max", "min"]
        );
        let model = MODEL.replace("Model('raw')", "Model('raw', filter='x > $floor')");
        let plan = plan(&[("bauplan_project.yml", YML), ("trips.py", &model)]);
        let err = resolve_in(&plan, &given(&[("limit", "1")])).unwrap_err();
        assert_eq!(
            err,
            "`trips` (trips.py:5): the filter of parameter `data` (`x > $floor`) uses `$floor`, the run \
             parameter `floor`, which has no value: pass `--param floor=VALUE`, or declare it with a \
             default under `parameters:` in bauplan_project.yml"
        );
        assert!(resolve_in(&plan, &given(&[("limit", "1"), ("floor", "0")])).is_ok());
    }

    #[test]
    fn sql_queries_name_their_parameters() {
        let sql = "SELECT x FROM raw WHERE x > $floor AND y <> '$not_one' -- and $nor_this\n";
        let project = plan(&[
            ("bauplan_project.yml", YML),
            ("trips.py", MODEL),
            ("above.sql", sql),
        ]);
        let err = resolve_in(&project, &given(&[("limit", "1")])).unwrap_err();
        assert_eq!(
            err,
            "`above` (above.sql:1): the query uses `$floor`, the run parameter `floor`, which has no \
             value: pass `--param floor=VALUE`, or declare it with a default under `parameters:` in \
             bauplan_project.yml"
        );
        let values = resolve_in(&project, &given(&[("limit", "1"), ("floor", "2")])).unwrap();
        assert_eq!(values["floor"], json!(2));
    }

    #[test]
    fn secrets_must_be_given() {
        let model = MODEL.replace("'limit'", "'token'");
        let plan = plan(&[("bauplan_project.yml", YML), ("trips.py", &model)]);
        let err = resolve_in(&plan, &BTreeMap::new()).unwrap_err();
        assert!(err.contains("`token` is a secret parameter"), "{err}");
        let values = resolve_in(&plan, &given(&[("token", "s3cr3t")])).unwrap();
        assert_eq!(values["token"], json!("s3cr3t"));
    }
}
