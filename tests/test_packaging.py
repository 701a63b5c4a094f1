"""The project's shape: dependencies declared once, a light core import, the CI entry point."""

import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

from conftest import REPO


def _pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _environment_pip_requirements() -> set[str]:
    lines = (REPO / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    entries = [line.strip()[2:].strip() for line in lines[start + 1:] if line.startswith("      - ")]
    return {str(Requirement(entry)) for entry in entries if not entry.startswith("-e")}


def test_environment_yml_mirrors_pyproject_on_linux():
    project = _pyproject()["project"]
    declared = [Requirement(text) for text in
                project["dependencies"] + project["optional-dependencies"]["test"]]
    linux = {"sys_platform": "linux", "platform_machine": "x86_64"}
    for_linux = set()
    for requirement in declared:
        if requirement.marker is None or requirement.marker.evaluate(linux):
            requirement.marker = None
            for_linux.add(str(requirement))
    assert _environment_pip_requirements() == for_linux


def test_version_is_declared_once():
    import workbench

    assert _pyproject()["project"]["version"] == workbench.__version__


def test_core_imports_without_ui_or_tensorflow():
    code = ("import sys, workbench, workbench.cli, workbench.recipes, workbench.store;"
            "print(sorted(m for m in ('ipywidgets', 'voila', 'widgets', 'tensorflow') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"


def test_ci_calls_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make run" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
