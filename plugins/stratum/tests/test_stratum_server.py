"""Conformance of the ``stratum`` service with the dialect XMRig 6.16 speaks, against a
served devnet node on 127.0.0.1, with a scripted client: login and its result, the job
object, integer ids echoed, submit replies and error strings, keepalived, failed logins
closing the connection, malformed and oversized lines, mining a block through the pool,
stale and duplicate shares, fixed difficulty from the login, limits and bans, draining."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from stratum_testkit import (
    MAINNET_ADDRESS,
    MINER_ADDRESS,
    POOL_KEYS,
    served_pool,
)

from zion_hookspecs import hookimpl
from zion_plugin_stratum.protocol import target_hex

pytestmark = pytest.mark.anyio

HIGH = ["chain.initial_difficulty=1000000000", "stratum.start_difficulty=5000"]
"""A network difficulty no test reaches: shares never make blocks."""


class Events:
    """Records the pool's events."""

    def __init__(self) -> None:
        self.shares: list[Any] = []
        self.blocks: list[tuple[Any, int]] = []

    @hookimpl
    def zion_share_accepted(self, share: Any) -> None:
        self.shares.append(share)

    @hookimpl
    def zion_block_found(self, block: Any, height: int) -> None:
        self.blocks.append((block, height))


def _is_hex(value: object, size: int) -> bool:
    return isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{2 * size}}}", value) is not None


async def test_login_result_job_keepalived_and_ids(make_node: Callable[..., Any]) -> None:
    async with served_pool(make_node) as pool:
        client = await pool.connect()
        reply = await client.login(f"{MINER_ADDRESS}.rig1", agent="XMRig/6.16.0")
        assert reply["id"] == 1 and reply["jsonrpc"] == "2.0" and reply["error"] is None
        result = reply["result"]
        assert isinstance(result["id"], str) and result["id"]
        assert result["status"] == "OK"
        assert set(result["extensions"]) == {"algo", "keepalive", "nicehash"}
        job = result["job"]
        assert isinstance(job["job_id"], str) and job["job_id"]
        blob = bytes.fromhex(job["blob"])
        assert 43 <= len(blob) <= 407 and blob[39:43] == bytes(4)
        assert job["target"] == "ffffffff"
        assert job["algo"] == "rx/0" and job["height"] == 1
        assert _is_hex(job["seed_hash"], 32)
        big = 12345678901234
        pong = await client.call(big, "keepalived", {"id": client.session})
        assert pong == {
            "id": big,
            "jsonrpc": "2.0",
            "error": None,
            "result": {"status": "KEEPALIVED"},
        }
        unknown = await client.call(9, "getwork", {})
        assert unknown["id"] == 9 and isinstance(unknown["error"]["message"], str)
        assert (await client.call(10, "keepalived", {}))["result"] == {"status": "KEEPALIVED"}
        assert pool.server.stats()["miners"] == 1
        await client.aclose()


async def test_failed_logins_get_an_error_and_are_closed(make_node: Callable[..., Any]) -> None:
    async with served_pool(make_node) as pool:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"login": "not-an-address"}, "Invalid address"),
            ({"login": MAINNET_ADDRESS}, "Invalid address"),
            ({"login": MINER_ADDRESS, "algo": ["cn/r", "rx/wow"]}, "Unsupported algorithm"),
            ({"login": f"{MINER_ADDRESS}+abc"}, "Invalid login"),
            ({"pass": "x"}, "Invalid params"),
        ]
        for params, message in cases:
            client = await pool.connect()
            reply = await client.call(1, "login", params)
            assert reply["id"] == 1 and reply["error"]["message"].startswith(message), reply
            assert "result" not in reply or reply.get("result") is None
            assert await client.closed(), params
        client = await pool.connect()
        reply = await client.call(3, "submit", {"id": "x", "job_id": "1", "nonce": "00000000"})
        assert reply["error"]["message"] == "Unauthenticated"
        assert pool.server.stats()["miners"] == 0


async def test_malformed_oversized_and_non_object_lines_close(
    make_node: Callable[..., Any],
) -> None:
    async with served_pool(make_node, ["stratum.max_line_bytes=1024"]) as pool:
        for raw in (b"{not json\n", b"[1,2,3]\n", b'{"id":1,"params":{}}\n', b"\xff\xfe\n"):
            client = await pool.connect()
            await client.send_raw(raw)
            reply = await client.receive()
            assert isinstance(reply["error"]["message"], str), raw
            assert await client.closed(), raw
        client = await pool.connect()
        await client.send_raw(b'{"id":1,"method":"login","params":{"login":"' + b"a" * 2000)
        reply = await client.receive()
        assert reply["error"]["message"] == "Line too long"
        assert await client.closed()
        assert pool.server.stats()["malformed"] == 5


async def test_mining_a_block_through_the_pool(make_node: Callable[..., Any]) -> None:
    events = Events()
    async with served_pool(make_node, ["stratum.stale_grace_seconds=0"]) as pool:
        unsubscribe = pool.node.subscribe(events, name="test-events")
        one, two = await pool.connect(), await pool.connect()
        await one.login(f"{MINER_ADDRESS}.one")
        await two.login(f"{MINER_ADDRESS}.two")
        assert one.job is not None and two.job is not None
        assert one.job["blob"] != two.job["blob"]
        assert one.job["job_id"] != two.job["job_id"]
        job, first_two = one.job, two.job
        good = await pool.pow_hash(job, 5)
        wrong = await one.submit(2, job, 6, good)
        assert wrong["error"]["message"] == "Invalid share"
        accepted = await one.submit(4, job, 5, good)
        assert accepted == {"id": 4, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}
        duplicate = await one.submit(5, job, 5, good)
        assert duplicate["error"]["message"] == "Duplicate share"
        new_one = await one.next_job()
        new_two = await two.next_job()
        assert new_one["height"] == new_two["height"] == 2
        assert new_one["blob"] != new_two["blob"]
        chain = pool.chain_service.chain
        assert chain.height == 1
        block = chain.block_at(1)
        assert block.miner_tx.key == POOL_KEYS.spend.public_key
        assert block.miner_tx.tx_public_key == POOL_KEYS.view.public_key
        stale = await two.submit(6, first_two, 1, good)
        assert stale["error"]["message"] == "Block expired"
        old = await one.submit(7, job, 8, await pool.pow_hash(job, 8))
        assert old["error"]["message"] == "Block expired"
        bad_nonce = await one.call(
            8,
            "submit",
            {"id": one.session, "job_id": new_one["job_id"], "nonce": "xyz", "result": good.hex()},
        )
        assert bad_nonce["error"]["message"] == "Invalid nonce"
        unknown = await one.submit(9, {"job_id": "nope"}, 1, good)
        assert unknown["error"]["message"] == "Invalid job id"
        with anyio.fail_after(10):
            while not events.blocks:
                await anyio.sleep(0.02)
        assert events.blocks[0][1] == 1
        assert len(events.shares) == 1
        share = events.shares[0]
        assert (share.address, share.worker, share.difficulty) == (MINER_ADDRESS, "one", 1)
        stats = pool.server.stats()
        assert stats["shares_accepted"] == 1 and stats["blocks_found"] == 1
        assert stats["shares_rejected"]["Duplicate share"] == 1
        assert stats["shares_rejected"]["Block expired"] >= 1
        assert f"{MINER_ADDRESS}.one" in stats["workers"]
        unsubscribe()
        await one.aclose()
        await two.aclose()


async def test_fixed_difficulty_from_login_and_password(make_node: Callable[..., Any]) -> None:
    async with served_pool(make_node, HIGH) as pool:
        a = await pool.connect()
        await a.login(f"{MINER_ADDRESS}.rig+7000")
        b = await pool.connect()
        await b.login(MINER_ADDRESS, **{"pass": "d=9000"})
        c = await pool.connect()
        await c.login(MINER_ADDRESS, rigid="farm-3")
        assert a.job is not None and b.job is not None and c.job is not None
        assert a.job["target"] == target_hex(7000)
        assert b.job["target"] == target_hex(9000)
        assert c.job["target"] == target_hex(5000)
        low = await a.submit(2, a.job, 7, "ff" * 32)
        assert low["error"]["message"] == "Low difficulty share"
        workers = {s.worker for s in pool.server.miners.values()}
        assert workers == {"rig", "", "farm-3"}
        assert {s.fixed for s in pool.server.miners.values()} == {True, False}
        for client in (a, b, c):
            await client.aclose()


async def test_login_timeout_connection_limits_and_bans(make_node: Callable[..., Any]) -> None:
    sets = [
        "stratum.login_timeout=0.5",
        "stratum.max_connections_per_ip=3",
        "stratum.ban_score=2",
        "stratum.ban_seconds=60",
    ]
    async with served_pool(make_node, sets) as pool:
        idle = await pool.connect()
        assert await idle.closed(5)
        held = [await pool.connect() for _ in range(3)]
        for client in held:
            await client.login()
        extra = await pool.connect()
        assert await extra.closed(5)
        for client in held:
            await client.aclose()
        with anyio.fail_after(5):
            while pool.server.stats()["connections"]:
                await anyio.sleep(0.02)
        for _ in range(2):
            bad = await pool.connect()
            await bad.send_raw(b"{garbage\n")
            assert await bad.closed(5)
        refused = await pool.connect()
        assert await refused.closed(5)
        stats = pool.server.stats()
        assert stats["banned"] == 1 and stats["connections_refused"] >= 2


async def test_drain_closes_miners(make_node: Callable[..., Any]) -> None:
    async with served_pool(make_node) as pool:
        client = await pool.connect()
        await client.login()
        with anyio.fail_after(10):
            await pool.server.drain()
        assert await client.closed(5)
        with pytest.raises(OSError, match=r"."):
            await anyio.connect_tcp("127.0.0.1", pool.port)


async def test_shares_of_the_replaced_tip_count_within_the_grace(
    make_node: Callable[..., Any],
) -> None:
    async with served_pool(make_node, ["stratum.stale_grace_seconds=30"]) as pool:
        miner = await pool.connect()
        await miner.login(f"{MINER_ADDRESS}.late")
        assert miner.job is not None
        job = miner.job
        found = await miner.submit(2, job, 5, await pool.pow_hash(job, 5))
        assert found["result"] == {"status": "OK"}
        await miner.next_job()  # the block moved the tip: a new job
        chain = pool.chain_service.chain
        assert chain.height == 1
        # found before the miner saw the new job: credited, but not a block (difficulty 1:
        # it would otherwise be one, on the old tip)
        late = await miner.submit(3, job, 8, await pool.pow_hash(job, 8))
        assert late["result"] == {"status": "OK"}
        await anyio.sleep(0.5)
        assert chain.height == 1
        stats = pool.server.stats()
        assert stats["shares_accepted"] == 2 and stats["blocks_found"] == 1
        assert pool.server.counters["accepted_stale"] == 1
        await miner.aclose()
