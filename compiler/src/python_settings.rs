//! Static checks of what a Python node's `@python(...)` decorator asks for, so `check`
//! catches before any run what would otherwise fail mid-run or silently fall back: pip
//! requirements (PEP 508 names, PEP 440 versions and specifiers, as uv reads them) and
//! the dataframe library.

use pep440_rs::{Version, VersionSpecifiers};
use thiserror::Error;

use crate::diagnostic::{Code, Diagnostic};
use crate::source::FileId;
use crate::suggest::did_you_mean;
use crate::syntax::python::BodyExpr;

/// The dataframe libraries a Python node may ask for (`dataframe="..."`).
pub const DATAFRAMES: [&str; 3] = ["polars", "pyarrow", "pandas"];

/// Why a `pip={name: version}` entry is not a requirement.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequirementError {
    #[error(
        "`{0}` is not a package name: letters, digits, `.`, `-` and `_`, optionally with [extras]"
    )]
    Name(String),
    #[error("`{version}` is not a version or a version specifier: {reason}")]
    Version { version: String, reason: String },
}

/// The pip requirement for `name` at `version`:
///
/// - `""` (or `"*"`): any version, `name`;
/// - a PEP 440 version (`"1.0"`, `"2.0.0rc1"`, `"1.0.*"`): exactly that, `name==1.0`;
/// - PEP 440 specifiers (`">=1.0,<2"`, `"~=1.2"`, `"!=1.3"`): `name>=1.0,<2`.
///
/// Names may carry extras (`"polars[pyarrow]"`). Anything else (`"latest"`, URLs,
/// markers) is an error.
pub fn requirement(name: &str, version: &str) -> Result<String, RequirementError> {
    if !valid_name(name) {
        return Err(RequirementError::Name(name.to_owned()));
    }
    let version = version.trim();
    if version.is_empty() || version == "*" {
        return Ok(name.to_owned());
    }
    let invalid = |reason: String| RequirementError::Version {
        version: version.to_owned(),
        reason,
    };
    if version.starts_with(['=', '<', '>', '!', '~']) {
        let specifiers: VersionSpecifiers = version
            .parse()
            .map_err(|e: pep440_rs::VersionSpecifiersParseError| invalid(first_line(&e)))?;
        let canonical: Vec<String> = specifiers.iter().map(ToString::to_string).collect();
        return Ok(format!("{name}{}", canonical.join(",")));
    }
    if let Some(prefix) = version.strip_suffix(".*") {
        prefix
            .parse::<Version>()
            .map_err(|e| invalid(first_line(&e)))?;
    } else {
        version.parse::<Version>().map_err(|_| {
            invalid("write a version like \"1.0\" or a specifier like \">=1.0,<2\"".to_owned())
        })?;
    }
    Ok(format!("{name}=={version}"))
}

/// pep440_rs' messages end with the input and a caret line: the diagnostic's span
/// already shows where.
fn first_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default().trim_end();
    line.strip_suffix(':').unwrap_or(line).to_owned()
}

fn valid_name(name: &str) -> bool {
    let (base, extras) = match name.split_once('[') {
        Some((base, rest)) => match rest.strip_suffix(']') {
            Some(extras) => (base, Some(extras)),
            None => return false,
        },
        None => (name, None),
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    word(base) && extras.is_none_or(|e| e.split(',').all(|x| word(x.trim())))
}

/// Reports, for the decorators of one function, every `pip=` entry that is not a
/// requirement (E0801, at the entry) and a `dataframe=` that names no library sluice
/// hands nodes (E0802, with a did-you-mean).
pub(crate) fn check_decorators(
    file: FileId,
    decorators: &[BodyExpr],
    diagnostics: &mut Vec<Diagnostic>,
) {
    for d in decorators {
        let BodyExpr::Call { func, kwargs, .. } = d else {
            continue;
        };
        let is_python = match func.as_ref() {
            BodyExpr::Name(i) => i.text == "python",
            BodyExpr::Attr { attr, .. } => attr.text == "python",
            _ => false,
        };
        if !is_python {
            continue;
        }
        for (key, value) in kwargs {
            match (key.text.as_str(), value) {
                ("pip", BodyExpr::Dict(pairs, _)) => {
                    for (k, v) in pairs {
                        let (BodyExpr::Str(name, name_span), BodyExpr::Str(version, version_span)) =
                            (k, v)
                        else {
                            diagnostics.push(
                                Diagnostic::new(
                                    Code::PipRequirement,
                                    file,
                                    k.span().start..v.span().end,
                                    "a `pip=` entry must map a package name to a version, both strings",
                                )
                                .with_label("not two strings")
                                .with_help("write `\"polars\": \"1.0\"` (or `\">=1.0,<2\"`, or `\"\"` for any version)"),
                            );
                            continue;
                        };
                        match requirement(name, version) {
                            Ok(_) => {}
                            Err(e @ RequirementError::Name(_)) => diagnostics.push(
                                Diagnostic::new(Code::PipRequirement, file, name_span.clone(), format!("invalid pip requirement: {e}"))
                                    .with_label("not a package name"),
                            ),
                            Err(e @ RequirementError::Version { .. }) => diagnostics.push(
                                Diagnostic::new(Code::PipRequirement, file, version_span.clone(), format!("invalid pip requirement for `{name}`: {e}"))
                                    .with_label("not a PEP 440 version or specifier")
                                    .with_help(format!(
                                        "pin a version (`\"{name}\": \"1.0\"`), give a range (`\">=1.0,<2\"`), or write `\"\"` for any version"
                                    )),
                            ),
                        }
                    }
                }
                ("pip", other) => diagnostics.push(
                    Diagnostic::new(
                        Code::PipRequirement,
                        file,
                        other.span(),
                        "`pip=` must be a dict of package names to versions",
                    )
                    .with_label("not a dict literal")
                    .with_help("write `pip={\"polars\": \"1.0\"}`"),
                ),
                ("dataframe", BodyExpr::Str(lib, span)) if !DATAFRAMES.contains(&lib.as_str()) => {
                    let help = match did_you_mean(lib, DATAFRAMES) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "the dataframe libraries are {}",
                            DATAFRAMES.map(|d| format!("`{d}`")).join(", ")
                        ),
                    };
                    diagnostics.push(
                        Diagnostic::new(
                            Code::UnknownDataframe,
                            file,
                            span.clone(),
                            format!("unknown dataframe library `{lib}`"),
                        )
                        .with_label("not polars, pyarrow or pandas")
                        .with_help(help),
                    );
                }
                ("dataframe", other) if !matches!(other, BodyExpr::Str(..)) => diagnostics.push(
                    Diagnostic::new(
                        Code::UnknownDataframe,
                        file,
                        other.span(),
                        "`dataframe=` must be a string literal",
                    )
                    .with_label("not a string")
                    .with_help("write `dataframe=\"polars\"`, `\"pyarrow\"` or `\"pandas\"`"),
                ),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_specifiers_become_requirements() {
        let ok = |n: &str, v: &str| requirement(n, v).unwrap();
        assert_eq!(ok("polars", "1.0"), "polars==1.0");
        assert_eq!(ok("polars", " 2.1.0 "), "polars==2.1.0");
        assert_eq!(ok("polars", "1.0.*"), "polars==1.0.*");
        assert_eq!(ok("polars", "2.0.0rc1"), "polars==2.0.0rc1");
        assert_eq!(ok("polars", ""), "polars");
        assert_eq!(ok("polars", "*"), "polars");
        assert_eq!(ok("polars", ">=1.0, <2"), "polars>=1.0,<2");
        assert_eq!(ok("polars", "~=1.2"), "polars~=1.2");
        assert_eq!(ok("polars", "==1.3"), "polars==1.3");
        assert_eq!(ok("polars[pyarrow]", "1.0"), "polars[pyarrow]==1.0");
    }

    #[test]
    fn what_pip_would_refuse_is_an_error() {
        for (n, v) in [
            ("polars", "latest"),
            ("polars", ">=abc"),
            ("polars", ">=1.0,,<2"),
            ("polars", "~=1"),
            ("polars", "1.0; python_version<'3.9'"),
            ("polars", "@ https://x"),
            ("pol ars", "1.0"),
            ("", "1.0"),
            ("polars[", "1.0"),
            ("-polars", "1.0"),
        ] {
            assert!(requirement(n, v).is_err(), "{n:?} {v:?}");
        }
    }
}
