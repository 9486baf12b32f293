"""Solo mining with stock XMRig 6.16 in daemon mode (``xmrig --daemon``) against a devnet
node's RPC on 127.0.0.1: XMRig fetches templates, polls ``/getheight`` and submits blocks
that the node accepts.

Template fetches are counted by height. XMRig fetches a template at start, after every
``submit_block`` answer, and whenever ``/getheight`` disagrees with its template (height
or previous block's id). The first two are XMRig's own; the test checks that the third
never happens, i.e. that a height is fetched no more often than blocks were submitted
for the height before it. One extra fetch in the run is allowed for the one race the node
cannot close: a ``/getheight`` poll answered between the node connecting a block and
XMRig reading the ``submit_block`` answer.

XMRig runs only against loopback with the safe flags, in light mode on one thread, and is
killed after at most a minute and a half.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from zion_core.chain.keys import WalletKeys

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.xmrig import XmrigUnavailableError, ensure_xmrig, run_xmrig, xmrig_command  # noqa: E402

RUN_LIMIT_S = 75.0
BLOCKS = 5
DIFFICULTY = 100
"""About a second per block for XMRig on one thread in light mode: realistic enough
that XMRig rarely finds a second solution before its next template arrives."""
KEYS = WalletKeys.from_seed(bytes([42]) * 32)


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@pytest.mark.slow
@pytest.mark.xmrig
@pytest.mark.anyio
async def test_xmrig_daemon_mode_mines_devnet_blocks(
    make_node: Callable[..., Any], tmp_path: Path
) -> None:
    try:
        binary = ensure_xmrig()
    except XmrigUnavailableError as exc:
        pytest.fail(f"XMRig unavailable (tools/xmrig.py fetches it with npm): {exc}")
    node = make_node(
        installed=["consensus", "sqlite", "randomx", "jsonrpc"],
        sets=[
            f"chain.initial_difficulty={DIFFICULTY}",
            "rpc.bind=127.0.0.1:0",
            "randomx.threads=1",
        ],
    )
    services = node.registry("service")
    chain_service, rpc_service = services.get("chain"), services.get("rpc")
    address = str(KEYS.address("devnet"))
    log = tmp_path / "xmrig.log"
    async with anyio.create_task_group() as tg:
        await tg.start(chain_service.run)
        await tg.start(rpc_service.run)
        chain = chain_service.chain
        fetches: Counter[int] = Counter()
        submissions: Counter[int] = Counter()
        build, submit = chain.template, chain_service.submit_block

        def counting_template(*args: Any, **kwargs: Any) -> Any:
            template = build(*args, **kwargs)
            fetches[template.height] += 1
            return template

        def counting_submit(block: Any, *args: Any) -> Any:
            submissions[block.miner_tx.height] += 1
            return submit(block, *args)

        chain.template = counting_template
        chain_service.submit_block = counting_submit
        argv = xmrig_command(
            binary,
            url=f"127.0.0.1:{rpc_service.port}",
            user=address,
            threads=1,
            daemon=True,
            extra=["--randomx-mode=light", f"--log-file={log}"],
            print_time=5,
        )
        with run_xmrig(argv, workdir=tmp_path, output=tmp_path / "stdout.txt") as proc:
            try:
                with anyio.fail_after(RUN_LIMIT_S):
                    while chain.height < BLOCKS:
                        assert proc.poll() is None, f"XMRig exited\n{tail(log)}"
                        await anyio.sleep(0.5)
            except TimeoutError:
                pytest.fail(
                    f"the node reached height {chain.height}, not {BLOCKS}, within "
                    f"{RUN_LIMIT_S} s of XMRig daemon mining\n{tail(log)}"
                )
        for height in range(1, BLOCKS + 1):
            block = chain.block_at(height)
            assert block is not None
            assert block.miner_tx.key == KEYS.spend.public_key  # paid to the mining address
            assert block.miner_tx.tx_public_key == KEYS.view.public_key
        with anyio.fail_after(10):
            await rpc_service.drain()
        tg.cancel_scope.cancel()
    report = f"fetches by height {dict(fetches)}, submissions {dict(submissions)}"
    assert fetches[1] == 1, report
    extra = sum(
        max(0, fetches[height] - submissions[height - 1]) for height in range(2, BLOCKS + 1)
    )
    assert extra <= 1, report
    text = log.read_text(errors="replace")
    assert "accepted" in text, tail(log)
