"""The installed distribution: one `sessiontrail` namespace, typed, with a CLI."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Built:
    """The wheel pip built from this checkout, and everything the build printed."""

    wheel: Path
    output: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(folder), ROOT],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (wheel,) = folder.glob("sessiontrail-*.whl")
    return Built(wheel, result.stdout + result.stderr)


def test_the_build_prints_no_deprecation_warning(built: Built) -> None:
    warned = [line for line in built.output.splitlines() if "deprecat" in line.lower()]
    assert warned == []


def test_the_wheel_installs_everything_under_sessiontrail(built: Built) -> None:
    wheel = built.wheel
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"sessiontrail", wheel.name.split("-py3")[0] + ".dist-info"}
    for package in ("", "domain/", "infrastructure/", "projections/"):
        assert f"sessiontrail/{package}__init__.py" in names
        assert f"sessiontrail/{package}py.typed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "sessiontrail = sessiontrail.cli:main"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_every_folder_of_code_is_a_package_the_wheel_lists() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]
    found = {
        ".".join([name, *init.parent.relative_to(ROOT / folder).parts])
        for name, folder in setuptools["package-dir"].items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found == set(setuptools["packages"])
