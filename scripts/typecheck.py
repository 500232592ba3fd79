"""Type-check the installed layout: mypy cannot follow setuptools' editable finder.

Builds .typecheck/sessiontrail as a tree of symlinks mirroring the package-dir
mapping in pyproject.toml (sessiontrail.domain -> domain/, ...) and runs mypy
(strict, per pyproject.toml) on it, on the typed usage files in tests/typed/
(calls a user writes, whose types the check must see) and on the benchmarks in
bench/. Usage: python scripts/typecheck.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".typecheck"
TYPED_USAGE = ROOT / "tests" / "typed"
BENCH = ROOT / "bench"
BENCH_IMPORTS = [BENCH, BENCH / "peer_harness", ROOT / "tests"]
"""Where the benchmarks' imports are found as they run: each other, the peer
harness and the tests' helpers (each puts the folder it needs on sys.path)."""


def build_tree() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    package = TREE / "sessiontrail"
    package.mkdir(parents=True)
    for entry in (ROOT / mapping["sessiontrail"]).iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in mapping.items():
        if name != "sessiontrail":
            (TREE / name.replace(".", "/")).symlink_to(ROOT / folder)


def main() -> int:
    build_tree()
    mypy = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    usage = [str(path) for path in sorted(TYPED_USAGE.glob("*.py"))]
    bench = [str(path) for path in sorted(BENCH.glob("*.py"))]
    search = os.pathsep.join(str(folder) for folder in [TREE, *BENCH_IMPORTS])
    bench_env = {**os.environ, "MYPYPATH": search}
    failed = 0
    for target, env in (
        (["-p", "sessiontrail"], None),
        (usage, None),
        (bench, bench_env),
    ):
        run = subprocess.run([*mypy, *target], cwd=TREE, env=env, check=False)
        failed |= run.returncode
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
