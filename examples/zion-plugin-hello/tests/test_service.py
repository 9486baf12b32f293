from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

pytestmark = pytest.mark.anyio


async def test_service_greets_until_shutdown(
    hello_node: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="zion_plugin_hello")
    node = hello_node(sets=["hello.name=tester", "hello.interval=0.01"])
    service = node.registry("service").get("hello")
    exit_codes: list[int] = []

    async def serve(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        exit_codes.append(await node.serve(task_status=task_status))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(serve)  # returns once every service is ready
            assert service.running
            while service.greetings < 3:  # noqa: ASYNC110 - polls a plain counter
                await anyio.sleep(0.01)
            node.request_shutdown("test over")

    assert exit_codes == [0]
    assert not service.running
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("zion_plugin_hello")]
    assert messages[:3] == ["Hello, tester!"] * 3
    assert messages[-1] == "Goodbye, tester!"


async def test_shutdown_requested_before_serving(hello_node: Callable[..., Any]) -> None:
    node = hello_node()
    node.request_shutdown("not needed")
    with anyio.fail_after(10):
        assert await node.serve() == 0
    assert node.registry("service").get("hello").greetings == 0


def test_status_panel(hello_node: Callable[..., Any]) -> None:
    node = hello_node(sets=["hello.greeting=Hi"])
    panel = node.registry("status_panel").get("hello")
    assert panel.title == "Hello"
    assert panel.snapshot() == {
        "message": "Hi, miner!",
        "interval_seconds": 10.0,
        "greetings": 0,
        "running": False,
    }


def test_each_node_has_its_own_service(hello_node: Callable[..., Any]) -> None:
    first, second = hello_node(sets=["hello.name=one"]), hello_node(sets=["hello.name=two"])
    assert first.registry("status_panel").get("hello").snapshot()["message"] == "Hello, one!"
    assert second.registry("status_panel").get("hello").snapshot()["message"] == "Hello, two!"
