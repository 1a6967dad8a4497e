"""The second process of the visibility benchmark: ``python -m benchmarks.probe DB SQL``.

It opens the store read-only, prints ``ready``, then polls ``SQL`` (a count)
every ``POLL_S`` until it is non-zero and prints ``seen <time.monotonic()>``.
``time.monotonic`` is CLOCK_MONOTONIC on Linux, one clock for all processes,
so the writer can subtract its own timestamp from ours.
"""

from __future__ import annotations

import sqlite3
import sys
import time

POLL_S = 0.001
GIVE_UP_S = 30.0


def main(db: str, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    print("ready", flush=True)
    deadline = time.monotonic() + GIVE_UP_S
    while time.monotonic() < deadline:
        try:
            if conn.execute(sql).fetchone()[0]:
                print(f"seen {time.monotonic()!r}", flush=True)
                return 0
        except sqlite3.OperationalError:  # locked mid-checkpoint: try again
            pass
        time.sleep(POLL_S)
    print("timeout", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
