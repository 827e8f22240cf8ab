"""ClientPool closes what no object uses: a rotated key or a changed URL moves each object to a new client on
its next pass, and the old client (its connection pool) is closed once no object uses it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ecr_privacy_operator.guardrails.credentials import Credentials
from ecr_privacy_operator.reconcile.clients import ClientPool

pytestmark = pytest.mark.unit


def keys(secret: str, url: str = "https://acme.cloud.turbot.com") -> Credentials:
    return Credentials(access_key="AK", secret_key=SecretStr(secret), workspace=url)


async def test_a_client_is_closed_once_no_object_uses_it() -> None:
    pool = ClientPool()
    old = pool.get(keys("s1"), user="a")
    assert pool.get(keys("s1"), user="b") is old  # shared by both objects
    new = pool.get(keys("s2"), user="a")  # the key is rotated; object a moves first
    assert await pool.close_unused() == 0  # b still uses the old one
    assert not old.is_closed
    assert pool.get(keys("s2"), user="b") is new
    assert await pool.close_unused() == 1
    assert old.is_closed
    assert not new.is_closed
    assert len(pool) == 1
    await pool.aclose()


async def test_a_changed_url_and_a_deleted_object_release_their_clients() -> None:
    pool = ClientPool()
    first = pool.get(keys("s1"), user="a")
    moved = pool.get(keys("s1", url="https://other.cloud.turbot.com"), user="a")
    assert moved is not first
    await pool.close_unused()
    assert first.is_closed
    await pool.release("a")
    assert moved.is_closed
    assert len(pool) == 0


async def test_a_client_got_without_a_user_is_kept_until_the_pool_closes() -> None:
    pool = ClientPool()
    kept = pool.get(keys("s1"))
    assert await pool.close_unused() == 0
    assert not kept.is_closed
    await pool.aclose()
    assert kept.is_closed


async def test_a_client_left_by_one_object_and_taken_by_another_stays_open() -> None:
    pool = ClientPool()
    first = pool.get(keys("s1"), user="a")
    pool.get(keys("s2"), user="a")  # a leaves the first client ...
    assert pool.get(keys("s1"), user="b") is first  # ... and b takes it before the next close_unused
    assert await pool.close_unused() == 0
    assert not first.is_closed
    pool.forget_user("b")
    pool.get(keys("s2"), user="a")  # a use that changes nothing counts nothing
    assert await pool.close_unused() == 1
    assert first.is_closed
    await pool.aclose()
