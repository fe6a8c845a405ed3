"""Scalars whose input Strongroom reads more strictly than Strawberry's.

DateTime: ISO 8601; a time without an offset is UTC; every value is brought
to UTC here, so a far-future time with a negative offset (9999-12-31T23:00
-05:00, past the last representable instant) is a BAD_USER_INPUT at the
boundary instead of an OverflowError deep in a service.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dateutil.parser
from strawberry.types.scalar import ScalarDefinition


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a DateTime is an ISO 8601 string")
    try:
        moment = dateutil.parser.isoparse(value)
    except (ValueError, OverflowError):
        raise ValueError("not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("outside the representable range of times") from None


def serialize_datetime(value: datetime) -> str:
    return value.isoformat()


DATETIME = ScalarDefinition(
    name="DateTime",
    description="Date with time (ISO 8601); without an offset it is UTC",
    specified_by_url=None,
    serialize=serialize_datetime,
    parse_value=parse_datetime,
    parse_literal=None,
    origin=datetime,
)
