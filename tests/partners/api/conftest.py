"""The API fixtures (app, users, cheap password hashing) on the product bundle."""

from __future__ import annotations

import pytest

from retention_flow.services.platform.context import AppContext
from tests.api.conftest import add_user, client, settings  # noqa: F401  (fixtures)


@pytest.fixture
def ctx(pctx: AppContext) -> AppContext:  # the API fixtures build on ``ctx``
    return pctx
