"""The on-disk schema, as ``sqlite_utils`` migrations. ``docs/schema.md`` is its user contract.

Each migration is append-only: a released migration is never edited, a change
is a new function. ``MIGRATION_NAMES`` lets ``database.open_store`` tell an
up-to-date store from an older one (migrate) or a newer one (refuse) without
importing sqlite_utils, which costs a third of a second (it pulls in pandas).

Example:
    >>> MIGRATION_NAMES[0]
    'm001_core'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database

MIGRATION_SET = "nbtrack"

# The name of the migration that adds run_columns (store/run_columns.py), in one place.
RUN_COLUMNS_MIGRATION = "m006_run_columns"

# Kept in step with the @migrations functions below (a test checks it).
MIGRATION_NAMES: tuple[str, ...] = ("m001_core", "m002_cell_lineage", "m003_model_registry",
                                    "m004_remote_sync", "m005_metric_blocks", RUN_COLUMNS_MIGRATION,
                                    "m007_server_tags")


def build_migrations():  # -> sqlite_utils.Migrations, imported lazily
    from sqlite_utils import Migrations

    migrations = Migrations(MIGRATION_SET)

    @migrations()
    def m001_core(db: Database) -> None:
        db.executescript(
            """
            CREATE TABLE experiments (
                experiment_id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                lifecycle_stage TEXT NOT NULL DEFAULT 'active',
                creation_time INTEGER NOT NULL,
                last_update_time INTEGER NOT NULL
            );
            CREATE TABLE experiment_tags (
                experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
                key TEXT NOT NULL,
                value TEXT,
                PRIMARY KEY (experiment_id, key)
            ) WITHOUT ROWID;
            CREATE TABLE runs (
                id INTEGER PRIMARY KEY,
                run_id TEXT NOT NULL UNIQUE,
                experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
                run_name TEXT NOT NULL,
                status TEXT NOT NULL,
                start_time INTEGER NOT NULL,
                end_time INTEGER,
                lifecycle_stage TEXT NOT NULL DEFAULT 'active',
                deleted_time INTEGER,
                user_id TEXT,
                parent_run_id TEXT,
                source TEXT,
                notebook_path TEXT,
                code TEXT,
                error_type TEXT,
                error_message TEXT,
                error_traceback TEXT,
                host TEXT,
                pid INTEGER,
                heartbeat_time INTEGER
            );
            CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time);
            CREATE INDEX runs_open ON runs(status) WHERE status IN ('RUNNING', 'SCHEDULED');
            CREATE TABLE params (
                run INTEGER NOT NULL REFERENCES runs(id),
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (run, key)
            ) WITHOUT ROWID;
            CREATE TABLE tags (
                run INTEGER NOT NULL REFERENCES runs(id),
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (run, key)
            ) WITHOUT ROWID;
            CREATE TABLE metric_history (
                run INTEGER NOT NULL REFERENCES runs(id),
                key TEXT NOT NULL,
                value REAL,
                step INTEGER NOT NULL,
                timestamp INTEGER NOT NULL
            );
            -- No secondary index on metric_history: it would double the cost of every
            -- insert. metric_chunks records, per flushed batch, the rowid range that holds
            -- a (run, key)'s points, so reading one series seeks those ranges only.
            CREATE TABLE metric_chunks (
                run INTEGER NOT NULL REFERENCES runs(id),
                key TEXT NOT NULL,
                first_rowid INTEGER NOT NULL,
                last_rowid INTEGER NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY (run, key, first_rowid)
            ) WITHOUT ROWID;
            CREATE TABLE metric_summaries (
                run INTEGER NOT NULL REFERENCES runs(id),
                key TEXT NOT NULL,
                last_value REAL,
                last_step INTEGER NOT NULL,
                last_timestamp INTEGER NOT NULL,
                min_value REAL,
                max_value REAL,
                count INTEGER NOT NULL,
                PRIMARY KEY (run, key)
            ) WITHOUT ROWID;
            CREATE TABLE inputs (
                run INTEGER NOT NULL REFERENCES runs(id),
                name TEXT NOT NULL,
                context TEXT NOT NULL DEFAULT '',
                digest TEXT NOT NULL,
                source TEXT NOT NULL,
                source_type TEXT NOT NULL,
                shape TEXT,
                schema TEXT,
                profile TEXT,
                PRIMARY KEY (run, name, context)
            ) WITHOUT ROWID;
            CREATE TABLE blobs (
                digest TEXT PRIMARY KEY,
                size INTEGER NOT NULL,
                created INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE artifacts (
                run INTEGER NOT NULL REFERENCES runs(id),
                path TEXT NOT NULL,
                digest TEXT NOT NULL REFERENCES blobs(digest),
                size INTEGER NOT NULL,
                PRIMARY KEY (run, path)
            ) WITHOUT ROWID;
            CREATE INDEX artifacts_by_digest ON artifacts(digest);
            """
        )

    @migrations()
    def m002_cell_lineage(db: Database) -> None:
        # Added when %%track arrived: which cell a run came from and the run it re-executes.
        db.executescript(
            """
            ALTER TABLE runs ADD COLUMN cell_id TEXT;
            ALTER TABLE runs ADD COLUMN execution_count INTEGER;
            ALTER TABLE runs ADD COLUMN previous_run_id TEXT;
            CREATE INDEX runs_by_cell ON runs(cell_id, start_time) WHERE cell_id IS NOT NULL;
            """
        )

    @migrations()
    def m003_model_registry(db: Database) -> None:
        # The model registry, with MLflow's table and column names (export maps 1:1), plus
        # model_id on versions and an append-only history of alias and stage moves, which
        # MLflow does not keep. Versions are soft-deleted (current_stage 'Deleted_Internal')
        # so a version number is never handed out twice.
        db.executescript(
            """
            CREATE TABLE registered_models (
                name TEXT PRIMARY KEY,
                creation_time INTEGER NOT NULL,
                last_updated_time INTEGER NOT NULL,
                description TEXT
            ) WITHOUT ROWID;
            CREATE TABLE registered_model_tags (
                name TEXT NOT NULL REFERENCES registered_models(name),
                key TEXT NOT NULL,
                value TEXT,
                PRIMARY KEY (name, key)
            ) WITHOUT ROWID;
            CREATE TABLE model_versions (
                name TEXT NOT NULL REFERENCES registered_models(name),
                version INTEGER NOT NULL,
                creation_time INTEGER NOT NULL,
                last_updated_time INTEGER NOT NULL,
                description TEXT,
                user_id TEXT,
                current_stage TEXT NOT NULL DEFAULT 'None',
                source TEXT,
                storage_location TEXT,
                run_id TEXT,
                run_link TEXT,
                status TEXT NOT NULL DEFAULT 'READY',
                status_message TEXT,
                model_id TEXT,
                PRIMARY KEY (name, version)
            ) WITHOUT ROWID;
            CREATE INDEX model_versions_by_run ON model_versions(run_id) WHERE run_id IS NOT NULL;
            CREATE TABLE model_version_tags (
                name TEXT NOT NULL,
                version INTEGER NOT NULL,
                key TEXT NOT NULL,
                value TEXT,
                PRIMARY KEY (name, version, key)
            ) WITHOUT ROWID;
            CREATE TABLE registered_model_aliases (
                name TEXT NOT NULL REFERENCES registered_models(name),
                alias TEXT NOT NULL,
                version INTEGER NOT NULL,
                PRIMARY KEY (name, alias)
            ) WITHOUT ROWID;
            CREATE TABLE registered_model_events (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                alias TEXT,
                version INTEGER,
                previous_version INTEGER,
                stage TEXT,
                previous_stage TEXT,
                time INTEGER NOT NULL,
                user_id TEXT
            );
            CREATE INDEX registered_model_events_by_name ON registered_model_events(name, time);
            CREATE TABLE logged_models (
                model_id TEXT PRIMARY KEY,
                run INTEGER NOT NULL REFERENCES runs(id),
                name TEXT NOT NULL,
                creation_time INTEGER NOT NULL,
                flavors TEXT NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX logged_models_by_run ON logged_models(run);
            """
        )

    @migrations()
    def m004_remote_sync(db: Database) -> None:
        # `nbtrack push` / `nbtrack pull`: which local object is which object of an MLflow
        # tracking store (``remote`` is its URI without credentials), and how far each pushed
        # run was sent, so a second push creates nothing and an interrupted one resumes.
        db.executescript(
            """
            CREATE TABLE remote_experiments (
                remote TEXT NOT NULL,
                experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
                remote_experiment_id TEXT NOT NULL,
                PRIMARY KEY (remote, experiment_id)
            ) WITHOUT ROWID;
            CREATE TABLE remote_runs (
                remote TEXT NOT NULL,
                run INTEGER NOT NULL REFERENCES runs(id),
                remote_run_id TEXT NOT NULL,
                direction TEXT NOT NULL,
                metric_rowid INTEGER NOT NULL DEFAULT 0,
                marker TEXT,
                synced_time INTEGER NOT NULL,
                PRIMARY KEY (remote, run)
            ) WITHOUT ROWID;
            CREATE UNIQUE INDEX remote_runs_by_remote_id ON remote_runs(remote, remote_run_id);
            CREATE TABLE remote_artifacts (
                remote TEXT NOT NULL,
                run INTEGER NOT NULL REFERENCES runs(id),
                path TEXT NOT NULL,
                digest TEXT NOT NULL,
                PRIMARY KEY (remote, run, path)
            ) WITHOUT ROWID;
            CREATE TABLE remote_model_versions (
                remote TEXT NOT NULL,
                name TEXT NOT NULL,
                version INTEGER NOT NULL,
                remote_version TEXT NOT NULL,
                direction TEXT NOT NULL,
                marker TEXT,
                PRIMARY KEY (remote, name, version)
            ) WITHOUT ROWID;
            """
        )

    @migrations()
    def m005_metric_blocks(db: Database) -> None:
        # Metric points as packed blocks (one row per flushed batch and series, three
        # little-endian arrays; see metric_blocks.py and docs/schema.md) instead of one row
        # per point: a million points cost ten INSERTs, not a million. Existing points are
        # rewritten as blocks in logging order, and a push's high-water mark, a
        # metric_history rowid until now, becomes a position naming the same points.
        from .metric_blocks import blocks_from_history

        db.executescript(
            """
            CREATE TABLE metric_blocks (
                id INTEGER PRIMARY KEY,
                run INTEGER NOT NULL REFERENCES runs(id),
                key TEXT NOT NULL,
                count INTEGER NOT NULL,
                steps BLOB NOT NULL,
                "values" BLOB NOT NULL,
                timestamps BLOB NOT NULL
            );
            CREATE INDEX metric_blocks_by_series ON metric_blocks(run, key, id);
            ALTER TABLE remote_runs RENAME COLUMN metric_rowid TO metric_position;
            """
        )
        conn = db.conn
        pushed = conn.execute(
            "SELECT remote, run, metric_position FROM remote_runs WHERE metric_position > 0").fetchall()
        positions = blocks_from_history(conn, "metric_history", [(run, mark) for _, run, mark in pushed])
        conn.executemany("UPDATE remote_runs SET metric_position = ? WHERE remote = ? AND run = ?",
                         [(positions.get((run, mark), 0), remote, run) for remote, run, mark in pushed])
        db.executescript("DROP TABLE metric_history; DROP TABLE metric_chunks;")

    @migrations(name=RUN_COLUMNS_MIGRATION)
    def run_columns(db: Database) -> None:
        # Each run's params, tags and last metric values as one precomputed row, so
        # search_runs reads 100,000 runs without pivoting (store/run_columns.py). A new run,
        # and any update or delete of what its row holds, marks it dirty by trigger, whoever
        # writes; nbtrack's handlers mark the runs they insert params, tags or metric
        # summaries into (run_columns.mark: once per command, where an insert trigger fired
        # once per row and cost a tenth of a short run's write); the writer
        # refreshes dirty rows before each commit and readers compute any left dirty. Every
        # run starts dirty here; open_store fills the rows right after migrating. (The triggers
        # test NOT EXISTS rather than INSERT OR IGNORE: a trigger's statements take the outer
        # statement's conflict policy, which an upsert or INSERT OR REPLACE overrides; and in
        # WHEN, the common case, a run already dirty, costs one lookup and no statement.)
        db.executescript(
            """
            CREATE TABLE run_keysets (
                id INTEGER PRIMARY KEY,
                keys TEXT NOT NULL UNIQUE
            );
            CREATE TABLE run_columns (
                run INTEGER PRIMARY KEY REFERENCES runs(id),
                keyset INTEGER REFERENCES run_keysets(id),
                texts TEXT,
                metrics BLOB
            );
            CREATE INDEX run_columns_by_keyset ON run_columns(keyset);
            CREATE TABLE run_columns_dirty (
                run INTEGER PRIMARY KEY
            );
            INSERT INTO run_columns_dirty (run) SELECT id FROM runs;
            CREATE TRIGGER runs_mark_insert AFTER INSERT ON runs
            WHEN NOT EXISTS (SELECT 1 FROM run_columns_dirty WHERE run = new.id) BEGIN
                INSERT INTO run_columns_dirty (run) VALUES (new.id);
            END;
            CREATE TRIGGER runs_forget_columns AFTER DELETE ON runs BEGIN
                DELETE FROM run_columns WHERE run = old.id;
                DELETE FROM run_columns_dirty WHERE run = old.id;
            END;
            -- A keyset no run uses any more is removed (when a run's row is deleted here;
            -- when it changes, by the refresh, once all rows of its batch are written).
            CREATE TRIGGER run_columns_forget_keyset AFTER DELETE ON run_columns
            WHEN old.keyset IS NOT NULL BEGIN
                DELETE FROM run_keysets WHERE id = old.keyset
                    AND NOT EXISTS (SELECT 1 FROM run_columns WHERE keyset = old.keyset);
            END;
            """
            + "".join(_mark_changes_trigger(table) for table in ("params", "tags", "metric_summaries"))
        )

    @migrations()
    def m007_server_tags(db: Database) -> None:
        # The run's tags as the MLflow store held them at the last push or pull (JSON): the
        # base a later pull compares with, so an edit made there is followed and one made
        # here is kept (interop/follow.py). NULL: not known yet, the next pull records it.
        # The same for a registered model's aliases (alias -> the server's version number).
        db.executescript(
            """
            ALTER TABLE remote_runs ADD COLUMN server_tags TEXT;
            CREATE TABLE remote_models (
                remote TEXT NOT NULL,
                name TEXT NOT NULL,
                server_aliases TEXT,
                PRIMARY KEY (remote, name)
            ) WITHOUT ROWID;
            """
        )

    return migrations


def _mark_changes_trigger(table: str) -> str:
    """The triggers that mark a run's search row stale when a row of ``table`` (params, tags,
    metric_summaries: keyed by ``run``) is updated or deleted, whoever writes. Inserts are
    marked by nbtrack's handlers (``run_columns.mark``), once per command."""
    return f"""
            CREATE TRIGGER {table}_mark_update AFTER UPDATE ON {table}
            WHEN NOT EXISTS (SELECT 1 FROM run_columns_dirty WHERE run = new.run)
                OR NOT EXISTS (SELECT 1 FROM run_columns_dirty WHERE run = old.run) BEGIN
                INSERT INTO run_columns_dirty (run) SELECT new.run
                    WHERE NOT EXISTS (SELECT 1 FROM run_columns_dirty WHERE run = new.run);
                INSERT INTO run_columns_dirty (run) SELECT old.run
                    WHERE NOT EXISTS (SELECT 1 FROM run_columns_dirty WHERE run = old.run);
            END;
            CREATE TRIGGER {table}_mark_delete AFTER DELETE ON {table}
            WHEN NOT EXISTS (SELECT 1 FROM run_columns_dirty WHERE run = old.run) BEGIN
                INSERT INTO run_columns_dirty (run) VALUES (old.run);
            END;
"""
