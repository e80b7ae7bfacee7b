"""The history database's schema: a contract for ETL and BI tools (docs/history.md).

Tables per grain (``minutes``, ``hours``, ``days``) for interfaces, hosts and protocols,
times as integer Unix seconds UTC at the start of the period; ``conversations`` has the
columns of conversations.csv (:data:`tuimon.sinks.csv.CONVERSATION_COLUMNS`), times as
Unix seconds. ``PRAGMA user_version`` is the schema's version; :func:`migrate` brings an
older database up to :data:`VERSION` step by step, never discarding it.
"""

from __future__ import annotations

import sqlite3

from tuimon.sinks.csv import CONVERSATION_COLUMNS

VERSION = 3  # 2: counter_minutes, counter_hours, counter_days (named counters);
#               3: an index on the conversations' addresses (a conversation's History)
GRAINS = {"minutes": 60, "hours": 3600, "days": 86400}

# kind -> (key columns after the period, value columns added up)
KINDS = {
    "interface": (("interface",), ("packets", "bytes", "in_packets", "in_bytes",
                                   "out_packets", "out_bytes")),
    "host": (("address",), ("packets", "bytes", "tx_packets", "tx_bytes",
                            "rx_packets", "rx_bytes")),
    "protocol": (("layer", "protocol"), ("packets", "bytes")),
    # a named counter's frames and frame bytes (total since the session started: a reset
    # in the app does not take anything back from the history)
    "counter": (("name",), ("packets", "bytes")),
}
PERIOD = {"minutes": "minute", "hours": "hour", "days": "day"}

_INTEGER = {"port_a", "port_b", "packets_a_to_b", "bytes_a_to_b", "packets_b_to_a",
            "bytes_b_to_a"}
_REAL = {"first_seen", "last_seen"}


def table(kind: str, grain: str) -> str:
    return f"{kind}_{grain}"


def conversation_columns() -> list[tuple[str, str]]:
    """conversations.csv's columns with their SQL types."""
    return [(c, "INTEGER" if c in _INTEGER else "REAL" if c in _REAL else "TEXT")
            for c in CONVERSATION_COLUMNS]


def _create_kinds(db: sqlite3.Connection, kinds: tuple[str, ...]) -> None:
    for kind in kinds:
        keys, values = KINDS[kind]
        for grain, period in PERIOD.items():
            cols = [f"{period} INTEGER NOT NULL"] + [f"{k} TEXT NOT NULL" for k in keys]
            cols += [f"{v} INTEGER NOT NULL DEFAULT 0" for v in values]
            pk = ", ".join((period, *keys))
            db.execute(f"CREATE TABLE IF NOT EXISTS {table(kind, grain)} "
                       f"({', '.join(cols)}, PRIMARY KEY ({pk})) WITHOUT ROWID")


def _create_v1(db: sqlite3.Connection) -> None:
    _create_kinds(db, ("interface", "host", "protocol"))
    cols = ", ".join(f"{name} {kind}" for name, kind in conversation_columns())
    db.execute(f"CREATE TABLE IF NOT EXISTS conversations ({cols})")
    db.execute("CREATE INDEX IF NOT EXISTS conversations_last ON conversations (last_seen)")


def _create_v2(db: sqlite3.Connection) -> None:
    """The named counters (``--counter``) per minute, hour and day."""
    _create_kinds(db, ("counter",))


def _create_v3(db: sqlite3.Connection) -> None:
    """A conversation's rows found by its addresses (the History view of a conversation)."""
    db.execute("CREATE INDEX IF NOT EXISTS conversations_ends "
               "ON conversations (address_a, address_b)")


# version reached -> the step from the version before it
MIGRATIONS = {1: _create_v1, 2: _create_v2, 3: _create_v3}


def migrate(db: sqlite3.Connection) -> int:
    """Bring ``db`` to :data:`VERSION` (a new file starts at 0); return the version it had.
    Each step runs in a transaction with the version bump: a step that fails leaves the
    database as it was. A database newer than this tuimon is refused (ValueError)."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > VERSION:
        raise ValueError(f"it was written by a newer tuimon (schema {found}, this one "
                         f"knows {VERSION})")
    for version in range(found + 1, VERSION + 1):
        db.execute("BEGIN IMMEDIATE")  # the connection is in autocommit (isolation_level None)
        try:
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return found
