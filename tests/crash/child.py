"""Crash-test writer: saves user/assistant pairs in a loop, acknowledging each save.

Usage: python child.py URL FIRST_NUMBER. Prints "ready", then one line
"SESSION NUMBER" after each save returned. It runs until it is killed.
"""

from __future__ import annotations

import sys

import sessiontrail

SESSIONS = ("crash-a", "crash-b", "crash-c")


def main(url: str, number: int) -> None:
    with sessiontrail.connect(url) as trail:
        print("ready", flush=True)
        while True:
            session_id = SESSIONS[number % len(SESSIONS)]
            session = trail.sessions.load_or_create(session_id)
            session.append_message(role="user", content=f"q{number}", id=f"u{number}")
            session.append_message(
                role="assistant", content=f"a{number}", id=f"a{number}"
            )
            trail.sessions.save(session)
            print(f"{session_id} {number}", flush=True)
            number += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
