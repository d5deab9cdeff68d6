"""Hub fixtures: API keys of the world's regions and an NGSI-LD client helper."""

from __future__ import annotations

from typing import Any

import pytest
from hubdata import make_key
from sqlalchemy.orm import Session


@pytest.fixture
def hub_key(db: Session, world: dict[str, Any]) -> str:
    return make_key(db, world)


@pytest.fixture
def ngsi(client: Any, hub_key: str) -> Any:
    """The test client with the Jember key and tenant on every request."""

    class Ngsi:
        def __init__(self) -> None:
            self.client = client
            self.headers = {"Authorization": f"Bearer {hub_key}", "NGSILD-Tenant": "35.09"}

        def request(self, method: str, path: str, **kwargs: Any) -> Any:
            headers = {**self.headers, **(kwargs.pop("headers", None) or {})}
            return self.client.request(method, "/ngsi-ld/v1" + path, headers=headers, **kwargs)

        def get(self, path: str, **kwargs: Any) -> Any:
            return self.request("GET", path, **kwargs)

        def post(self, path: str, **kwargs: Any) -> Any:
            return self.request("POST", path, **kwargs)

        def patch(self, path: str, **kwargs: Any) -> Any:
            return self.request("PATCH", path, **kwargs)

        def put(self, path: str, **kwargs: Any) -> Any:
            return self.request("PUT", path, **kwargs)

        def delete(self, path: str, **kwargs: Any) -> Any:
            return self.request("DELETE", path, **kwargs)

    return Ngsi()
