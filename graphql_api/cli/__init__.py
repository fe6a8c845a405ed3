"""The `strongroom` command line (typer + rich), one module per concern:

    app         the command tree, global options, the single error exit
    server      serve, migrate, schema, token bootstrap, rotation run-once (server side)
    access      workspace, principal, token, role
    secrets     secrets list/get/set/rotate/rollback/delete/restore/history
    transfer    import, export (formats: formats)
    diff        diff W1 W2
    run         run (supervisor: the child process; watch: --watch; fallback: --fallback)
    audit       audit verify/checkpoint/tail
    keys        keys generate/rotate/health

Client commands go through graphql_api.client and never import the server.
"""

from __future__ import annotations

from graphql_api.cli.app import app, main

__all__ = ["app", "main"]
