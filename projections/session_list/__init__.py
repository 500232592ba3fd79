"""Session lists and transcript pages, read from the `sessions` read model: the
cursor codec (`cursor.py`), the keyset SQL (`keyset.py`) and the reader
(`reader.py`, `SessionIndex`)."""
