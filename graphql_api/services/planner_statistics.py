"""PostgreSQL's planner statistics, kept fresh by Strongroom itself.

Why: the plans of a keyset page (`secrets(first: 50)`) and of the name
lookups an import makes depend on how many rows a workspace holds. A table
never analyzed since a bulk import looks nearly empty to the planner, which
then reads the whole workspace and sorts it: measured, a first page took 49
ms at 100,000 secrets instead of 6, and a 100,000-line import slowed from 2
s to 30 s per 10,000 lines as the workspace grew. Autovacuum's analyze comes
too late after a bulk load, and some servers run with it off. So the tables
Strongroom fills in bulk are analyzed after an import that changed many
rows, and the audit trail (which grows with every read) on a slow interval.
SQLite plans these queries from its indexes alone and needs nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

from graphql_api.sql import Sql

logger = logging.getLogger("strongroom.database")

SECRET_TABLES = ('"secret"', '"secret_version"', '"secret_tag"')
ALL_TABLES = (*SECRET_TABLES, '"secret_audit"')
# Rows changed (created or given new versions) after which the secret
# tables are analyzed again.
CHANGED_ROWS_THRESHOLD = 1_000


class PlannerStatistics:
    def __init__(self, sql: Sql, threshold: int = CHANGED_ROWS_THRESHOLD) -> None:
        self._sql = sql
        self._threshold = threshold
        self._changed = 0
        self._running: asyncio.Task[None] | None = None
        self._again = False

    @property
    def applies(self) -> bool:
        return self._sql.dialect.name == "postgres"

    async def after_bulk_change(self, rows: int) -> None:
        """`rows` secrets were created or given versions in one go.

        The ANALYZE runs in the background: the import that changed the rows
        does not wait for it (about 0.4 s at 100,000 secrets here, a tenth of
        a 10,000-line import's answer). Changes while one runs make one more
        afterwards, never several at once."""
        if not self.applies:
            return
        self._changed += rows
        if self._changed < self._threshold:
            return
        self._changed = 0
        if self._running is not None and not self._running.done():
            self._again = True
            return
        # In a context of its own: never inside the caller's ORM transaction.
        self._running = asyncio.get_running_loop().create_task(
            self._analyze_secret_tables(), name="planner-statistics", context=contextvars.Context()
        )

    async def _analyze_secret_tables(self) -> None:
        while True:
            self._again = False
            await self._analyze(SECRET_TABLES)
            if not self._again:
                return

    async def settled(self) -> None:
        """Wait for a background ANALYZE (shutdown, tests)."""
        while self._running is not None and not self._running.done():
            await asyncio.shield(self._running)

    async def refresh(self) -> None:
        """Every table Strongroom fills (the periodic job)."""
        if self.applies:
            await self._analyze(ALL_TABLES)

    async def _analyze(self, tables: tuple[str, ...]) -> None:
        try:
            await self._sql.execute(f"ANALYZE {', '.join(tables)}")
        except Exception as exc:  # statistics are an optimisation: never fail the import for them
            logger.warning("could not analyze %s: %s", ", ".join(tables), type(exc).__name__)
