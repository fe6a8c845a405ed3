"""`python -m graphql_api.cli`: the `strongroom` command."""

from __future__ import annotations

import sys

from graphql_api.cli.app import main

sys.exit(main())
