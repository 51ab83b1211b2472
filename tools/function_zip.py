"""Build the Azure Function's deployable zip (`make function-zip`): what the app needs, and nothing else.

    python tools/function_zip.py [--out dist/misp2sentinel-function.zip] [--bundle --python 3.11]

The zip's root is the app's root, as the Functions host wants it: function_app.py, host.json,
requirements.txt (azure_function/), constants.py (edit it before building to change the tables), and the
misp_bridge package without the plugin (pandora/), check-config (checkconfig/) and delete-from-azure's
command line, which the Function never imports. No tests, no .venv, no __pycache__, no
local.settings.json (nor .funcignore, which only Core Tools reads when it publishes a folder).

By default the dependencies are left to Azure's remote build (`az functionapp deployment source
config-zip ... --build-remote true`, the way Flex Consumption recommends). `--bundle` installs them into
.python_packages/lib/site-packages for Linux and the given Python instead (deploy with --build-remote
false, or run from a package URL): for a Python the remote build refuses, or when the app must not
reach PyPI. Entries are sorted and dated 1980-01-01, so the same sources give the same zip.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "azure_function"
APP_FILES = ("function_app.py", "host.json", "requirements.txt")
LEFT_OUT = ("pandora", "checkconfig")  # packages of misp_bridge the Function never imports
LEFT_OUT_FILES = ("sync/delete_cli.py",)  # delete-from-azure.py's command line
DEFAULT_OUT = ROOT / "dist" / "misp2sentinel-function.zip"
STAMP = (1980, 1, 1, 0, 0, 0)


def app_files() -> Iterator[tuple[Path, str]]:
    """(source file, name in the zip) for everything but the bundled libraries."""
    for name in APP_FILES:
        yield APP / name, name
    yield ROOT / "constants.py", "constants.py"
    package = ROOT / "misp_bridge"
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in LEFT_OUT or "__pycache__" in relative.parts:
            continue
        if relative.as_posix() in LEFT_OUT_FILES:
            continue
        yield path, f"misp_bridge/{relative.as_posix()}"


def bundle(python: str, target: Path) -> None:
    """Linux wheels of requirements.txt for CPython `python` (e.g. 3.11) into target."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(target), "--requirement", str(APP / "requirements.txt"),
            "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", python,
            "--only-binary=:all:",
        ],
        check=True,
    )  # fmt: skip


def write_zip(out: Path, files: list[tuple[Path, str]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for source, name in sorted(files, key=lambda pair: pair[1]):
            info = zipfile.ZipInfo(name, date_time=STAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes())
    partial.replace(out)


def build(out: Path = DEFAULT_OUT, python: str | None = None) -> Path:
    files = list(app_files())
    with tempfile.TemporaryDirectory() as scratch:
        if python is not None:
            site = Path(scratch) / ".python_packages" / "lib" / "site-packages"
            bundle(python, site)
            files += [
                (path, path.relative_to(scratch).as_posix())
                for path in site.rglob("*")
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
            ]
        write_zip(out, files)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="function_zip.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT.relative_to(ROOT)}"
    )
    parser.add_argument("--bundle", action="store_true", help="bundle Linux wheels in .python_packages")
    parser.add_argument("--python", default="3.11", help="the app's Python for --bundle (default 3.11)")
    args = parser.parse_args(argv)
    out = build(args.out, args.python if args.bundle else None)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    size = out.stat().st_size
    print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {len(names)} files, {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
