"""Make every insert into the audit table fail (a trigger), and undo it."""

from __future__ import annotations

from tortoise import connections


async def _sql(statement: str) -> None:
    await connections.all()[0].execute_script(statement)


async def block_audit_inserts(dialect: str) -> None:
    if dialect == "sqlite":
        await _sql(
            "CREATE TRIGGER block_audit BEFORE INSERT ON secret_audit BEGIN SELECT RAISE(ABORT, 'audit blocked'); END;"
        )
    else:
        await _sql(
            "CREATE FUNCTION block_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit blocked'; END $$ LANGUAGE plpgsql;"
            "CREATE TRIGGER block_audit BEFORE INSERT ON secret_audit FOR EACH ROW EXECUTE FUNCTION block_audit();"
        )


async def unblock_audit_inserts(dialect: str) -> None:
    if dialect == "sqlite":
        await _sql("DROP TRIGGER block_audit;")
    else:
        await _sql("DROP TRIGGER block_audit ON secret_audit; DROP FUNCTION block_audit();")
