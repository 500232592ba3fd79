"""The installed distribution: one `sessiontrail` namespace, typed, with a CLI."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_everything_under_sessiontrail(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("sessiontrail-*.whl")
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
