"""The `sessiontrail` command line (`main`, the console script's entry point)."""

from .main import app, main

__all__ = ["app", "main"]
