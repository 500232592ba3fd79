"""What sealed read models cost a read: the first list page and the latest 20
messages, with and without a master key, in one run.

    .venv/bin/python bench/sealed_reads.py [--sessions 1000] [--messages 40]
                                           [--backend sqlite|postgres|both]

Without a key the read models hold plaintext; with one, each title, preview and
message is opened with its owner's data key (cached per process) on read.
"""

from __future__ import annotations

from harness import Figures, main, median_ms, sibling, write_chats

import sessiontrail

PAGE = 50
LATEST = 20


def measure(url: str, sessions: int, messages: int) -> tuple[list[str], Figures]:
    lines, figures = [], {}
    for label, key in (("no key", None), ("key", sessiontrail.new_key())):
        schema_url = url if key is None else sibling(url, "keyed")
        with sessiontrail.connect(schema_url, key=key) as trail:
            write_chats(trail, sessions, messages, ", a sentence or two of text")
            page = median_ms(lambda: trail.sessions.list(limit=PAGE))
            latest = median_ms(
                lambda: trail.sessions.messages(
                    f"chat-{sessions // 2:06d}", last_n=LATEST
                )
            )
        figures[label] = {"first_page_ms": page, "latest_20_ms": latest}
        lines.append(
            f"  {label}: first list page ({PAGE}) {page:.3f} ms, "
            f"latest {LATEST} messages {latest:.3f} ms"
        )
    plain, sealed = figures["no key"], figures["key"]
    page_ratio = sealed["first_page_ms"] / plain["first_page_ms"]
    latest_ratio = sealed["latest_20_ms"] / plain["latest_20_ms"]
    lines.append(
        f"  with a key: list page x{page_ratio:.2f}, "
        f"latest messages x{latest_ratio:.2f}"
    )
    return lines, figures


if __name__ == "__main__":
    main(measure, sessions=1000, messages=40)
