"""`GET /metrics`: Prometheus text exposition, for a superadmin token.

It names workspaces, so it is not public: scrape it with
`authorization: credentials: <superadmin token>` (Prometheus' bearer auth).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from graphql_api.errors import Forbidden, RateLimited, Unauthenticated

if TYPE_CHECKING:
    from graphql_api.services.wiring import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def render(services: Services) -> str:
    lines = [
        "# HELP secret_rotation_due_count Active secrets past their rotation due date.",
        "# TYPE secret_rotation_due_count gauge",
    ]
    for workspace, count in sorted((await services.rotation.due_counts()).items()):
        lines.append(f'secret_rotation_due_count{{workspace="{_label(workspace)}"}} {count}')
    audit = services.audit
    lines += [
        "# HELP strongroom_audit_batches_total Group-commit batches of audit events committed.",
        "# TYPE strongroom_audit_batches_total counter",
        f"strongroom_audit_batches_total {audit.batches_committed}",
        "# HELP strongroom_audit_batched_events_total Audit events committed through group commit.",
        "# TYPE strongroom_audit_batched_events_total counter",
        f"strongroom_audit_batched_events_total {audit.batched_events_committed}",
        "# HELP strongroom_audit_sink_dropped_total Events a slow audit sink could not queue.",
        "# TYPE strongroom_audit_sink_dropped_total counter",
    ]
    for sink, dropped in sorted(services.sinks.dropped.items()):
        lines.append(f'strongroom_audit_sink_dropped_total{{sink="{_label(sink)}"}} {dropped}')
    lines += [
        "# HELP strongroom_audit_subscribers Live audit event subscriptions on this process.",
        "# TYPE strongroom_audit_subscribers gauge",
        f"strongroom_audit_subscribers {services.bus.subscriber_count}",
    ]
    return "\n".join(lines) + "\n"


async def metrics_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        identity = await services.authenticator.authenticate(
            request.headers.get("authorization"), request.client.host if request.client else None
        )
        services.authorizer.require_superadmin(identity, "read metrics")
    except (Unauthenticated, RateLimited) as exc:
        return PlainTextResponse(exc.message + "\n", status_code=401 if isinstance(exc, Unauthenticated) else 429)
    except Forbidden as exc:
        return PlainTextResponse(exc.message + "\n", status_code=403)
    return PlainTextResponse(await render(services), media_type=CONTENT_TYPE)
