"""Fuzzing the pool's line parser and dispatcher (``StratumServer.handle_line``) of a
served devnet pool: arbitrary bytes, JSON of any shape, and requests of every method with
params of any shape (some with a real address, session and job id so that deeper checks
are reached).

Invariants: handling a line never raises; every reply is one JSON line with an echoed
``id`` and exactly one of ``result`` or an ``error`` whose message is a string; a request
that is not a JSON object with a string method closes the connection; the chain, the
template and the other miners are untouched, and nothing but counters changes.

Hypothesis runs in a worker thread and hands each line to the event loop, derandomized so
that every run tries the same examples.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stratum_testkit import MINER_ADDRESS, served_pool

from zion_plugin_stratum.server import Session

pytestmark = pytest.mark.anyio

SETS = ["stratum.ban_score=0", "chain.initial_difficulty=1000000000"]

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
hexes = st.sampled_from(["00000000", "zz", "0" * 64, "f" * 64, "", "1" * 7, "A" * 64])


def requests(session_id: str, job_id: str) -> st.SearchStrategy[Any]:
    logins = st.fixed_dictionaries(
        {"login": st.sampled_from([MINER_ADDRESS, f"{MINER_ADDRESS}.w+9", "x", ""]) | st.text()},
        optional={
            "pass": json_values,
            "algo": json_values | st.just(["rx/0"]),
            "rigid": json_values,
        },
    )
    submits = st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from([session_id]) | json_values,
            "job_id": st.sampled_from([job_id]) | json_values,
            "nonce": hexes | json_values,
            "result": hexes | json_values,
        },
    )
    return st.fixed_dictionaries(
        {"method": st.sampled_from(["login", "submit", "keepalived", "job", "x"]) | json_values},
        optional={
            "id": json_values,
            "jsonrpc": json_values,
            "params": logins | submits | json_values,
        },
    )


async def test_lines_never_break_the_server(make_node: Callable[..., Any]) -> None:
    async with served_pool(make_node, SETS) as pool:
        server = pool.server
        miner = await pool.connect()
        await miner.login()
        assert miner.session is not None and miner.job is not None
        template, height = server.template, pool.chain_service.chain.height
        others = dict(server.miners)

        async def one_line(line: bytes) -> tuple[bool, list[bytes], Session]:
            sent: list[bytes] = []

            async def send(data: bytes) -> None:
                sent.append(data)

            session = Session("192.0.2.1", send)
            server.sessions.add(session)
            server._per_ip[session.ip] += 1
            try:
                keep = await server.handle_line(session, line)
            finally:
                server._forget(session)
            return keep, sent, session

        def check(line: bytes) -> None:
            keep, sent, session = anyio.from_thread.run(one_line, line)
            for data in sent:
                assert data.endswith(b"\n") and data.count(b"\n") == 1
                message = json.loads(data)
                if "method" in message:
                    assert message["method"] == "job" and "id" not in message
                    continue
                assert ("result" in message and message["error"] is None) or isinstance(
                    message["error"]["message"], str
                )
            try:
                decoded = json.loads(line)
            except (ValueError, RecursionError):
                decoded = None
            malformed = not isinstance(decoded, dict) or not isinstance(decoded.get("method"), str)
            if malformed and line.strip():
                assert not keep
            if session.logged_in:
                server.miners.pop(str(session.id), None)

        @settings(
            max_examples=300,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            st.binary(max_size=200)
            | json_values.map(lambda v: json.dumps(v).encode())
            | requests(miner.session, miner.job["job_id"]).map(lambda v: json.dumps(v).encode())
        )
        def fuzz(line: bytes) -> None:
            check(line)

        await anyio.to_thread.run_sync(fuzz)
        for regression in (b"[" * 100_000, b'{"method":"login","params":' + b"[" * 5000 + b"\n"):
            await anyio.to_thread.run_sync(check, regression)
        assert server.template is template
        assert pool.chain_service.chain.height == height
        assert server.miners == others
        assert server.stats()["shares_accepted"] == 0
        assert server.stats()["blocks_found"] == 0
