"""Database housekeeping that set-based writes need."""

from __future__ import annotations

from django.db import connection, models


def refresh_planner_statistics(*tables: type[models.Model]) -> None:
    """ANALYZE tables after bulk writes: until autovacuum catches up, PostgreSQL plans with stale statistics, and
    with a customer table it believed empty it chose a nested loop that ran for hours on a million followers.
    ANALYZE samples a fixed number of rows, so it takes under a second whatever the size."""
    if connection.vendor != "postgresql":
        return
    names = ", ".join(connection.ops.quote_name(table._meta.db_table) for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {names}")
