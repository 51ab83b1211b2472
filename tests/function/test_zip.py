"""`make function-zip`: the deployable zip holds what the Function needs and nothing else, runs on its
own (misp_bridge from the zip, not from the repository), and its requirements.txt covers every library
the zipped code imports, pinned as the repository pins it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import function_zip  # noqa: E402

# Top-level import -> the distribution that provides it.
DISTRIBUTIONS = {
    "azure.functions": "azure-functions",
    "azure.data.tables": "azure-data-tables",
    "azure.core": "azure-core",
    "azure.identity": "azure-identity",
    "azure.keyvault.secrets": "azure-keyvault-secrets",
    "pymisp": "pymisp",
    "requests": "requests",
    "urllib3": "requests",  # requests' own dependency: installed with it, at the version it pins
    "msal": "msal",
    "stix2patterns": "stix2-patterns",
    "tenacity": "tenacity",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return function_zip.build(tmp_path_factory.mktemp("zip") / "app.zip")


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_the_zip_has_the_app_at_its_root_and_nothing_else(built: Path) -> None:
    found = names(built)
    assert {"host.json", "function_app.py", "requirements.txt", "constants.py"} <= set(found)
    assert "misp_bridge/function/run.py" in found and "misp_bridge/sync/state/tables.py" in found
    unwanted = re.compile(
        r"(^|/)(tests|\.venv[^/]*|__pycache__|pandora|checkconfig)/|\.pyc$|local\.settings\.json"
    )
    assert [name for name in found if unwanted.search(name)] == []
    assert all(
        name.startswith("misp_bridge/")
        for name in found
        if name not in (*function_zip.APP_FILES, "constants.py")
    )


def test_the_same_sources_give_the_same_zip(built: Path, tmp_path: Path) -> None:
    again = function_zip.build(tmp_path / "again.zip")
    assert again.read_bytes() == built.read_bytes()


def test_the_zipped_app_loads_on_its_own_without_the_plugins_libraries(built: Path, tmp_path: Path) -> None:
    """Unzipped elsewhere, with the repository off sys.path and re2, tqdm and stix2 unimportable, the
    app still loads and declares its timer function (the host would index it the same way)."""
    pytest.importorskip("azure.functions", reason="azure-functions does not install on this Python")
    with zipfile.ZipFile(built) as archive:
        archive.extractall(tmp_path / "app")
    probe = textwrap.dedent(
        """
        import importlib.abc, json, sys
        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("re2", "tqdm", "stix2"):
                    raise ImportError(f"{name} must not be needed by the Function")
        sys.meta_path.insert(0, Refuse())
        import function_app, misp_bridge.function.run, misp_bridge.sync.state.tables
        [fn] = function_app.app.get_functions()
        print(json.dumps({"package": misp_bridge.function.run.__file__, "name": fn.get_function_name()}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path / "app", capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert '"name": "misp2sentinel"' in last
    assert str(tmp_path / "app" / "misp_bridge") in last


def _imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.split("#")[0].strip()
        if "==" in text:
            name, rest = text.split("==", 1)
            pins.setdefault(name.strip().lower(), rest.split(";")[0].strip())
    return pins


def test_requirements_cover_every_library_the_zip_imports_pinned_as_the_repository(built: Path) -> None:
    with zipfile.ZipFile(built) as archive:
        sources = [archive.read(n).decode() for n in archive.namelist() if n.endswith(".py")]
    imported = set().union(*(_imports(source) for source in sources))
    third_party = {
        dist
        for module in imported
        for prefix, dist in DISTRIBUTIONS.items()
        if module == prefix or module.startswith(prefix + ".")
    }
    # tqdm: script.py's progress bar, imported only when its stderr is a terminal (never in the Function).
    rest = {m.split(".")[0] for m in imported} - {p.split(".")[0] for p in DISTRIBUTIONS} - {"tqdm"}
    assert {m for m in rest if m not in sys.stdlib_module_names} == {"misp_bridge"}
    app_pins = _pins(REPO / "azure_function" / "requirements.txt")
    assert third_party <= set(app_pins)
    repo_pins = {
        **_pins(REPO / "requirements-plugin.txt"),  # requirements.txt includes it (-r)
        **_pins(REPO / "requirements.txt"),
        **_pins(REPO / "requirements-dev.txt"),
    }
    assert {name: app_pins[name] for name in app_pins} == {name: repo_pins[name] for name in app_pins}
