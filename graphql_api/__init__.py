"""Strongroom: a secret-management server with a GraphQL API."""

from __future__ import annotations

__version__ = "0.1.0"
