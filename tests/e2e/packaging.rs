//! The wheel's packaging metadata (pyproject.toml at the repository root, built by
//! maturin) and the release profile, checked without the release build CI cannot afford
//! (.ci/run also builds the wheel from the debug build and installs it with pip): the
//! wheel must carry the `sluice` binary and the `sluice` Python package, and agree
//! with std-schemas/pyproject.toml, which builds the Python package alone.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ is inside the repository")
        .to_path_buf()
}

fn toml_at(path: &Path) -> toml::Table {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_wheel_carries_the_binary_and_the_python_package() {
    let root = root();
    let pyproject = toml_at(&root.join("pyproject.toml"));
    assert_eq!(
        pyproject["build-system"]["build-backend"].as_str(),
        Some("maturin")
    );
    let maturin = pyproject["tool"]["maturin"]
        .as_table()
        .expect("[tool.maturin]");
    assert_eq!(maturin["bindings"].as_str(), Some("bin"));
    assert_eq!(maturin["locked"].as_bool(), Some(true), "built --locked");

    // The crate maturin builds is the one whose binary is `sluice`.
    let manifest = root.join(maturin["manifest-path"].as_str().expect("manifest-path"));
    let cli = toml_at(&manifest);
    let bins = cli["bin"].as_array().expect("[[bin]]");
    assert!(
        bins.iter().any(|b| b["name"].as_str() == Some("sluice")),
        "{} builds no `sluice` binary",
        manifest.display()
    );

    // The Python package it bundles is std-schemas' `sluice` package.
    let source = root.join(maturin["python-source"].as_str().expect("python-source"));
    let packages = maturin["python-packages"]
        .as_array()
        .expect("python-packages");
    assert_eq!(packages.len(), 1);
    let package = source.join(packages[0].as_str().expect("a package name"));
    assert_eq!(package, root.join("std-schemas/src/sluice"));
    assert!(package.join("__init__.py").is_file());
    assert!(package.join("py.typed").is_file());

    // The version comes from Cargo (dynamic); name and extras agree with the Python
    // package's own pyproject.
    let project = pyproject["project"].as_table().expect("[project]");
    let dynamic = project["dynamic"].as_array().expect("dynamic");
    assert!(dynamic.iter().any(|d| d.as_str() == Some("version")));
    assert!(!project.contains_key("version"));
    let std_project = toml_at(&root.join("std-schemas/pyproject.toml"))["project"]
        .as_table()
        .expect("[project]")
        .clone();
    for key in [
        "name",
        "requires-python",
        "dependencies",
        "optional-dependencies",
    ] {
        assert_eq!(
            project.get(key),
            std_project.get(key),
            "pyproject.toml and std-schemas/pyproject.toml disagree on `{key}`"
        );
    }
    assert_eq!(
        std_project["version"].as_str(),
        toml_at(&root.join("Cargo.toml"))["workspace"]["package"]["version"].as_str(),
        "the Python package's version is the workspace's"
    );
}

#[test]
fn release_builds_are_stripped() {
    let cargo = toml_at(&root().join("Cargo.toml"));
    let release = cargo["profile"]["release"]
        .as_table()
        .expect("[profile.release]");
    assert_eq!(release.get("debug").and_then(|d| d.as_bool()), Some(false));
    assert_eq!(release.get("strip").and_then(|s| s.as_bool()), Some(true));
}
