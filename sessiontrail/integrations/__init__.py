"""Adapters that plug sessiontrail into agent frameworks, each behind its extra."""
