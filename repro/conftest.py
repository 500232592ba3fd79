"""The repros use the tests' fixtures and support modules (tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(_TESTS))
_spec = importlib.util.spec_from_file_location("tests_conftest", _TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)
globals().update(
    {
        name: value
        for name, value in vars(_conftest).items()
        if not name.startswith("__")
    }
)
