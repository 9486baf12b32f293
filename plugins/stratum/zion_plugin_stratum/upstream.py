"""Where the pool's block templates come from and where its blocks go: the node it runs
in, or a remote ZION node over its API (``[stratum] node``).

- :class:`InProcessSource`: templates from the ``chain`` service of the node the pool runs
  in (built under the service's lock, in a worker thread); new tips arrive as the node's
  ``block_connected`` events; blocks go to ``chain_service.submit_block``.
- :class:`RemoteSource`: templates from the remote node's ``get_block_template`` (paid to
  the pool's address, with room for the per-job extra nonce; the blob is parsed with the
  kernel's codec), blocks sent whole with ``submit_block`` (the node takes the
  transactions from its own pool). New tips arrive on the node's WebSocket event stream
  (``/ws?events=new_tip,reorg``, read with the kernel's
  :class:`~zion_core.NodeEventStream`); while the stream is down, ``/getheight`` is polled
  every :data:`POLL_SECONDS` and the stream is reconnected with a growing delay. One
  keep-alive HTTP client serves every call; a call that gets no answer is retried a few
  times with a growing delay, and the node going away or coming back is logged once.
- For the ``pool-accounting`` service over a remote node: :class:`RemoteChainView`, the
  main-chain check of a found block (``get_block_header_by_hash``'s ``orphan_status``)
  at the pool's current tip, with the coinbase maturity read from the template's miner
  transaction and the minimum fee from ``get_fee_estimate``; and
  :class:`RemoteWalletMethods`, the node's wallet methods (``transfer``,
  ``get_transfers``, ``get_balance``) called over JSON-RPC with the node's admin token,
  for the accounting's wallet client. Both are blocking (the accounting calls them in
  worker threads) and open one short HTTP connection per call.

Errors: :class:`UpstreamError` and its kinds: :class:`NodeUnavailableError` (no answer;
:class:`NodeBusyError`: the node is not synchronized and says why), :class:`NodeRpcError`
(a JSON-RPC error answer), :class:`NodeAnswerError` (an answer that makes no sense); a
block the remote node refuses raises :class:`BlockRefusedError`, a
:class:`~zion_core.ValidationError` like the in-process chain's own refusals.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, Self

import anyio
import anyio.to_thread
import attrs
import httpx

from zion_core import (
    EventStreamError,
    NodeEventStream,
    SerializationError,
    ValidationError,
    ZionError,
)
from zion_core.chain.address import Address
from zion_core.chain.block import Block
from zion_core.chain.transaction import Transaction

from .config import StratumConfig

logger = logging.getLogger(__name__)

TIMEOUT: Final = 10.0
"""Seconds one HTTP request to the remote node may take (``submit_block``: see below)."""
CONNECT_TIMEOUT: Final = 3.0
"""Seconds to open a connection to the remote node."""
BLOCKING_TIMEOUT: Final = 5.0
"""Seconds one request of the accounting may take (it holds the ledger meanwhile)."""
SUBMIT_TIMEOUT: Final = 30.0
"""Seconds a ``submit_block`` may take (the node verifies the proof of work)."""
ATTEMPTS: Final = 3
"""Tries of a call that gets no answer (the delay doubles from :data:`RETRY_DELAY`)."""
SUBMIT_ATTEMPTS: Final = 6
"""Tries of a found block's ``submit_block`` (about 8 s of retries in all)."""
RETRY_DELAY: Final = 0.25
POLL_SECONDS: Final = 1.0
"""How often ``/getheight`` is polled while the event stream is down."""
STREAM_RETRY_MIN: Final = 1.0
STREAM_RETRY_MAX: Final = 15.0
"""The delay before reconnecting the event stream doubles between these bounds."""
PING_SECONDS: Final = 20.0
"""A silent event stream is pinged after this long, and dropped after as long again."""
MAX_MESSAGE: Final = 1 << 20
"""The longest event message taken (characters of text)."""
STREAM_EVENTS: Final = "new_tip,reorg"

# JSON-RPC error codes of the node's API (docs/rpc.md)
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
UNAUTHORIZED: Final = -32003
WRONG_PARAM: Final = -1
INTERNAL: Final = -5
WRONG_BLOCKBLOB: Final = -6
BLOCK_NOT_ACCEPTED: Final = -7
CORE_BUSY: Final = -9
MAX_REASON: Final = 256
"""The longest busy reason taken from the node (it is sent on to the miners)."""

REFUSALS: Final = frozenset(
    {INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, UNAUTHORIZED, WRONG_PARAM}
)
"""Error codes of a wallet call refused before it ran (no token, no such method, bad
params) or by the wallet itself. Any other answer leaves a payment's outcome unknown."""


# -- errors ---------------------------------------------------------------------------------


class UpstreamError(ZionError):
    """The pool's node did not give what the pool asked for."""


class NodeUnavailableError(UpstreamError):
    """No answer from the remote node: connection refused or lost, timeout, HTTP 5xx or
    429, or a node still starting (``Core is busy``)."""


class NodeBusyError(NodeUnavailableError):
    """The remote node answered ``Core is busy`` with a reason (``data.reason``): it is
    not synchronized with its network, so it hands out no templates. ``reason`` is for
    the miners (``synchronizing: height 120 of 500 (3 peers)``); the node answered, so
    the call is not retried."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f"{method}: the node is busy ({reason})")
        self.reason = reason


class NodeAnswerError(UpstreamError):
    """The remote node answered something the pool cannot use."""


class NodeRpcError(UpstreamError):
    """The remote node answered a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        detail = f": {data}" if data is not None else ""
        super().__init__(f"{method}: {message} ({code}){detail}")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class BlockRefusedError(ValidationError):
    """The remote node refused a block of the pool (its reason is the message)."""


# -- the admin token ------------------------------------------------------------------------


class AdminToken:
    """The remote node's admin token: given, or read from a file (read again on demand,
    since a node without a fixed ``admin_token`` writes a new one at every start)."""

    def __init__(self, token: str = "", path: Path | None = None) -> None:
        self.path = path
        self._token = token.strip()
        self._lock = threading.Lock()
        if path is not None:
            self.reload()

    @classmethod
    def of(cls, config: StratumConfig) -> AdminToken:
        """The token of ``[stratum] node_token`` or ``node_token_file``."""
        path = Path(config.node_token_file).expanduser() if config.node_token_file else None
        return cls(config.node_token, path)

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer`` with the token, when there is one."""
        with self._lock:
            token = self._token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def reload(self) -> bool:
        """Read the token file again; True when the token changed."""
        if self.path is None:
            return False
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            logger.warning("pool: cannot read the node's admin token %s: %s", self.path, exc)
            token = ""
        with self._lock:
            changed, self._token = token != self._token, token
        return changed


# -- JSON-RPC over HTTP ---------------------------------------------------------------------


def _payload(method: str, params: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"jsonrpc": "2.0", "id": 0, "method": method}
    if params is not None:
        payload["params"] = params
    return payload


def _decode(what: str, response: httpx.Response) -> Any:
    """The JSON body of ``response``; NodeUnavailableError for an answer worth retrying."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise NodeUnavailableError(f"{what}: HTTP {status}")
    try:
        body = response.json()
    except ValueError:
        raise NodeAnswerError(f"{what}: HTTP {status}, not JSON (is this a ZION node?)") from None
    if status >= 400 and not isinstance(body, dict):
        raise NodeAnswerError(f"{what}: HTTP {status}")
    return body


def _rpc_result(method: str, response: httpx.Response) -> Any:
    body = _decode(method, response)
    if not isinstance(body, dict) or ("result" not in body and "error" not in body):
        raise NodeAnswerError(f"{method}: not a JSON-RPC answer")
    error = body.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise NodeAnswerError(f"{method}: a malformed JSON-RPC error")
        code, message = error.get("code"), str(error.get("message", ""))
        if not isinstance(code, int):
            raise NodeAnswerError(f"{method}: a JSON-RPC error without a code")
        if code == CORE_BUSY:
            data = error.get("data")
            reason = data.get("reason") if isinstance(data, dict) else None
            if isinstance(reason, str) and reason.strip():
                raise NodeBusyError(method, reason.strip()[:MAX_REASON])
            raise NodeUnavailableError(f"{method}: the node is busy ({message})")
        raise NodeRpcError(method, code, message, error.get("data"))
    return body["result"]


def _rest_result(path: str, response: httpx.Response) -> dict[str, Any]:
    body = _decode(path, response)
    if not isinstance(body, dict):
        raise NodeAnswerError(f"{path}: not a JSON object")
    status = body.get("status")
    if status == "BUSY":
        raise NodeUnavailableError(f"{path}: the node is busy")
    if status != "OK":
        raise NodeAnswerError(f"{path}: {body.get('reason') or status}")
    return body


def _unavailable(what: str, exc: httpx.TransportError) -> NodeUnavailableError:
    return NodeUnavailableError(f"{what}: {type(exc).__name__}: {exc}".rstrip(": "))


class _Reachability:
    """Logs the remote node going away and coming back, once each (thread-safe)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.down_since: float | None = None
        self._lock = threading.Lock()

    def failed(self, error: Exception) -> None:
        with self._lock:
            first, self.down_since = self.down_since is None, self.down_since or time.monotonic()
        if first:
            logger.warning("pool: node %s unreachable (%s); retrying", self.url, error)
        else:
            logger.debug("pool: node %s still unreachable (%s)", self.url, error)

    def answered(self) -> None:
        with self._lock:
            since, self.down_since = self.down_since, None
        if since is not None:
            logger.info(
                "pool: node %s answers again (after %.1f s)", self.url, time.monotonic() - since
            )


class NodeClient:
    """Calls to a remote node's API over one keep-alive HTTP client (an async context
    manager: the client lives inside ``async with``)."""

    def __init__(self, url: str, token: AdminToken | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token or AdminToken()
        self.reachability = _Reachability(self.url)
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        self._client = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(TIMEOUT, connect=CONNECT_TIMEOUT),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.aclose()

    async def call(
        self, method: str, params: Any = None, *, attempts: int = ATTEMPTS, seconds: float = TIMEOUT
    ) -> Any:
        """The ``result`` of JSON-RPC ``method`` (``seconds``: the request's time limit);
        retried when no answer comes."""

        async def once() -> Any:
            response = await self._send("POST", "/json_rpc", _payload(method, params), seconds)
            return _rpc_result(method, response)

        return await self._attempts(once, attempts)

    async def get(self, path: str, *, attempts: int = ATTEMPTS) -> dict[str, Any]:
        """The answer of REST endpoint ``path`` (``status: OK``); retried when none comes."""

        async def once() -> dict[str, Any]:
            return _rest_result(path, await self._send("GET", path, None, TIMEOUT))

        result: dict[str, Any] = await self._attempts(once, attempts)
        return result

    async def _send(self, verb: str, path: str, body: Any, seconds: float) -> httpx.Response:
        client = self._client
        if client is None:
            raise RuntimeError("the node client is not open (use async with)")
        try:
            return await client.request(
                verb, path, json=body, headers=self.token.headers(), timeout=seconds
            )
        except httpx.TransportError as exc:
            raise _unavailable(path, exc) from None

    async def _attempts(self, once: Callable[[], Awaitable[Any]], attempts: int) -> Any:
        error: NodeUnavailableError | None = None
        for attempt in range(max(1, attempts)):
            if attempt:
                await anyio.sleep(RETRY_DELAY * 2 ** (attempt - 1))
            try:
                try:
                    result = await once()
                except NodeRpcError as exc:
                    if exc.code != UNAUTHORIZED or not self.token.reload():
                        raise
                    result = await once()  # the token file holds a new token
            except NodeBusyError:
                self.reachability.answered()
                raise
            except NodeUnavailableError as exc:
                error = exc
                self.reachability.failed(exc)
                continue
            except UpstreamError:
                self.reachability.answered()
                raise
            self.reachability.answered()
            return result
        assert error is not None
        raise error


class BlockingNodeClient:
    """JSON-RPC calls to a remote node from a worker thread: one short connection per call
    (the accounting calls rarely; nothing to close), retried when no answer comes.
    ``seconds``: one request's time limit."""

    def __init__(
        self, url: str, token: AdminToken | None = None, *, seconds: float = BLOCKING_TIMEOUT
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token or AdminToken()
        self.reachability = _Reachability(self.url)
        self.timeout = httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))
        self._ssl = ssl.create_default_context()

    def _once(self, method: str, params: Any) -> Any:
        try:
            with httpx.Client(base_url=self.url, timeout=self.timeout, verify=self._ssl) as client:
                response = client.post(
                    "/json_rpc", json=_payload(method, params), headers=self.token.headers()
                )
        except httpx.TransportError as exc:
            raise _unavailable(method, exc) from None
        return _rpc_result(method, response)

    def call(self, method: str, params: Any = None, *, attempts: int = ATTEMPTS) -> Any:
        """The ``result`` of JSON-RPC ``method`` (blocking)."""
        error: NodeUnavailableError | None = None
        for attempt in range(max(1, attempts)):
            if attempt:
                time.sleep(RETRY_DELAY * 2 ** (attempt - 1))
            try:
                try:
                    result = self._once(method, params)
                except NodeRpcError as exc:
                    if exc.code != UNAUTHORIZED or not self.token.reload():
                        raise
                    result = self._once(method, params)
            except NodeUnavailableError as exc:
                error = exc
                self.reachability.failed(exc)
                continue
            except UpstreamError:
                self.reachability.answered()
                raise
            self.reachability.answered()
            return result
        assert error is not None
        raise error


# -- templates ------------------------------------------------------------------------------


@attrs.frozen
class TemplateParts:
    """A block template as a source hands it out (the server adds its serial number and
    the per-job blob maker)."""

    block: Block
    height: int
    difficulty: int
    seed_hash: bytes
    next_seed_hash: bytes | None
    txs: Mapping[bytes, Transaction]
    """The pooled transactions in the block, when the source has them (in process); a
    remote node takes them from its own pool."""


@attrs.frozen
class Submitted:
    """What became of a block handed to the node (``connected``, ``side``, ``known``)."""

    status: str
    height: int


class TemplateSource(Protocol):
    """Where templates come from and blocks go (an async context manager)."""

    @property
    def description(self) -> str:
        """The source in words, for logs."""
        ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def wait_ready(self) -> None:
        """Return once templates can be asked for."""
        ...

    async def follow(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (on the event loop) whenever the tip may have changed, until
        cancelled; may return at once when someone else does it."""
        ...

    async def template(self) -> TemplateParts:
        """A template on the current tip; UpstreamError when the node gives none."""
        ...

    async def submit(self, block: Block, txs: Mapping[bytes, Transaction]) -> Submitted:
        """Hand ``block`` to the node; ValidationError when the node refuses it."""
        ...


class ChainServiceLike(Protocol):
    """The ``chain`` service as the pool uses it."""

    @property
    def chain(self) -> Any: ...

    @property
    def mempool(self) -> Any: ...

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def submit_block(self, block: Block, txs: Mapping[bytes, Transaction] = ..., /) -> Any: ...


class InProcessSource:
    """Templates from the ``chain`` service of the node the pool runs in; the server hears
    of new tips from the node's ``block_connected`` events, so :meth:`follow` returns."""

    description = "the node's own chain"

    def __init__(
        self, service: ChainServiceLike, address: Address, *, reserve_size: int, room: int
    ) -> None:
        self.service = service
        self.address = address
        self.reserve_size = reserve_size
        self.room = room
        """Bytes of the maximum block size kept free of pooled transactions."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def wait_ready(self) -> None:
        while True:
            if self.service.chain is not None:
                return
            await anyio.sleep(0.1)

    async def follow(self, wake: Callable[[], None]) -> None:
        return None

    async def template(self) -> TemplateParts:
        return await anyio.to_thread.run_sync(self._build)

    def _build(self) -> TemplateParts:
        """A template on the current tip (worker thread, under the chain service's lock)."""
        service = self.service
        with service.lock:
            chain = service.chain
            txs: list[Transaction] = service.mempool.select(
                max(0, chain.params.max_block_size - self.room)
            )
            made = chain.template(
                self.address.spend_key,
                self.address.view_key,
                txs,
                reserve_size=self.reserve_size,
            )
            prev_id = made.block.header.prev_id
            upcoming: bytes = chain.seed_hash(made.height + chain.params.seed_lag, prev_id)
        return TemplateParts(
            block=made.block,
            height=made.height,
            difficulty=made.difficulty,
            seed_hash=made.seed_hash,
            next_seed_hash=upcoming if upcoming != made.seed_hash else None,
            txs={tx.txid: tx for tx in txs},
        )

    async def submit(self, block: Block, txs: Mapping[bytes, Transaction]) -> Submitted:
        result = await anyio.to_thread.run_sync(self.service.submit_block, block, txs)
        return Submitted(str(result.status), int(result.height))


def _hash32(value: Any, name: str) -> bytes:
    data = bytes.fromhex(value) if isinstance(value, str) else b""
    if len(data) != 32:
        raise ValueError(f"{name} is not a 32-byte hex hash")
    return data


def parse_template(result: Any, reserve_size: int) -> TemplateParts:
    """The :class:`TemplateParts` of a ``get_block_template`` result, checked against
    itself (hashing blob, reserved space, previous block); NodeAnswerError if they
    disagree."""
    try:
        if not isinstance(result, Mapping):
            raise ValueError("not an object")
        block = Block.from_bytes(bytes.fromhex(str(result["blocktemplate_blob"])))
        height, offset = int(result["height"]), int(result["reserved_offset"])
        wide = result.get("wide_difficulty")
        difficulty = (
            int(wide, 16)
            if isinstance(wide, str)
            else int(result["difficulty"]) | (int(result.get("difficulty_top64", 0)) << 64)
        )
        seed_hash = _hash32(result["seed_hash"], "seed_hash")
        upcoming = result.get("next_seed_hash") or ""
        next_seed_hash = _hash32(upcoming, "next_seed_hash") if upcoming else None
        if block.header.prev_id != _hash32(result["prev_hash"], "prev_hash"):
            raise ValueError("prev_hash is not the blob's previous block")
        if bytes.fromhex(str(result["blockhashing_blob"])) != block.hashing_blob():
            raise ValueError("blockhashing_blob is not the blob's hashing blob")
        reserved = block.miner_tx.extra_nonce
        if block.reserved_offset != offset or reserved is None or len(reserved) != reserve_size:
            raise ValueError(f"the blob has no {reserve_size} reserved bytes at {offset}")
        if difficulty < 1 or height < 1 or block.miner_tx.height != height:
            raise ValueError("the height or difficulty is out of range")
    except (KeyError, TypeError, ValueError, SerializationError) as exc:
        raise NodeAnswerError(f"get_block_template: an unusable template: {exc}") from None
    return TemplateParts(
        block=block,
        height=height,
        difficulty=difficulty,
        seed_hash=seed_hash,
        next_seed_hash=next_seed_hash if next_seed_hash != seed_hash else None,
        txs={},
    )


STREAM_ERRORS: Final = (EventStreamError,)
"""What ends an event stream: every failure of :class:`~zion_core.NodeEventStream` (no
connection, a refused handshake, the node closing it, a bad or oversized message, no
answer to a ping) is an :class:`~zion_core.EventStreamError`."""


class RemoteSource:
    """Templates from a remote ZION node's API (see the module's description)."""

    def __init__(
        self, client: NodeClient, address: Address, *, network: str, reserve_size: int
    ) -> None:
        self.client = client
        self.address = address
        self.network = network
        self.reserve_size = reserve_size
        self.tip: str | None = None
        """The previous block (hex) of the last template: the remote tip it was built on."""
        self.streaming = False
        """Whether the event stream is up."""
        self.stream_connects = 0
        """Times the event stream was opened."""
        self._stream_warned = False
        self._poll_failed = False

    @property
    def description(self) -> str:
        return f"node {self.client.url}"

    async def __aenter__(self) -> Self:
        await self.client.__aenter__()
        logger.info("pool: templates from node %s", self.client.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.__aexit__(exc_type, exc, tb)

    async def wait_ready(self) -> None:
        return None

    async def template(self) -> TemplateParts:
        result = await self.client.call(
            "get_block_template",
            {"wallet_address": str(self.address), "reserve_size": self.reserve_size},
        )
        parts = await anyio.to_thread.run_sync(parse_template, result, self.reserve_size)
        self.tip = parts.block.header.prev_id.hex()
        return parts

    async def submit(self, block: Block, txs: Mapping[bytes, Transaction]) -> Submitted:
        """Send ``block`` with ``submit_block``; a stopping pool still finishes it (for
        :data:`SUBMIT_TIMEOUT` at most)."""
        try:
            with anyio.CancelScope(shield=True) as scope:
                scope.deadline = anyio.current_time() + SUBMIT_TIMEOUT
                result = await self.client.call(
                    "submit_block",
                    [block.to_bytes().hex()],
                    attempts=SUBMIT_ATTEMPTS,
                    seconds=SUBMIT_TIMEOUT,
                )
            if scope.cancelled_caught:
                raise NodeUnavailableError(f"submit_block: no answer in {SUBMIT_TIMEOUT:.0f} s")
        except NodeRpcError as exc:
            if exc.code in (BLOCK_NOT_ACCEPTED, WRONG_BLOCKBLOB):
                reason = exc.data.get("reason") if isinstance(exc.data, dict) else None
                raise BlockRefusedError(str(reason or exc.message)) from None
            raise
        if not isinstance(result, Mapping) or not isinstance(result.get("block_status"), str):
            raise NodeAnswerError("submit_block: an answer without block_status")
        return Submitted(result["block_status"], block.miner_tx.height)

    # -- following the tip --------------------------------------------------------------

    async def follow(self, wake: Callable[[], None]) -> None:
        """Follow the event stream; poll ``/getheight`` while it is down (see the module)."""
        delay = STREAM_RETRY_MIN
        while True:
            try:
                stream = await NodeEventStream.connect(
                    self.client.url,
                    query=f"events={STREAM_EVENTS}",
                    headers=self.client.token.headers(),
                    timeout=CONNECT_TIMEOUT,
                    ping_seconds=PING_SECONDS,
                    max_message=MAX_MESSAGE,
                )
            except STREAM_ERRORS as exc:
                self._stream_failed(exc)
            else:
                delay = STREAM_RETRY_MIN
                try:
                    await self._stream(stream, wake)
                except STREAM_ERRORS as exc:
                    self._stream_failed(exc)
                finally:
                    self.streaming = False
                    await stream.aclose()
            await self._poll_for(delay, wake)
            delay = min(delay * 2, STREAM_RETRY_MAX)

    def _stream_failed(self, error: BaseException) -> None:
        reason = str(error) or type(error).__name__
        if self._stream_warned:
            logger.debug("pool: node %s's event stream is still down (%s)", self.client.url, reason)
            return
        self._stream_warned = True
        logger.warning(
            "pool: no event stream from node %s (%s); polling /getheight every %.0f s "
            "until it is back",
            self.client.url,
            reason,
            POLL_SECONDS,
        )

    async def _stream(self, stream: NodeEventStream, wake: Callable[[], None]) -> None:
        self.streaming = True
        self.stream_connects += 1
        logger.info(
            "pool: following node %s's new tips (/ws)%s",
            self.client.url,
            " again" if self._stream_warned else "",
        )
        self._stream_warned = False
        wake()  # the tip may have moved while no stream was up
        while True:
            message = await stream.receive()
            event, data = message.get("event"), message.get("data")
            if not isinstance(data, dict):
                continue
            if event == "hello":
                network = data.get("network")
                if network != self.network:
                    logger.error(
                        "pool: node %s runs %s, but this pool mines %s: its templates pay "
                        "an address of another network",
                        self.client.url,
                        network,
                        self.network,
                    )
            elif event == "reorg" or (event == "new_tip" and data.get("hash") != self.tip):
                wake()

    async def _poll_for(self, seconds: float, wake: Callable[[], None]) -> None:
        """Poll the node's height every :data:`POLL_SECONDS` for ``seconds``."""
        deadline = anyio.current_time() + seconds
        while True:
            await self._poll(wake)
            left = deadline - anyio.current_time()
            if left <= 0:
                return
            await anyio.sleep(min(POLL_SECONDS, left))

    async def _poll(self, wake: Callable[[], None]) -> None:
        try:
            answer = await self.client.get("/getheight", attempts=1)
        except UpstreamError:
            self._poll_failed = True
            return
        if self._poll_failed or answer.get("hash") != self.tip:
            wake()
        self._poll_failed = False


# -- accounting over a remote node ----------------------------------------------------------


class TipTemplate(Protocol):
    """The pool's current template as the remote chain view reads it."""

    @property
    def height(self) -> int: ...

    @property
    def block(self) -> Block: ...


def coinbase_maturity(block: Block) -> int:
    """The coinbase maturity of the chain ``block`` was made for: its miner transaction
    unlocks that many blocks after its own height (a consensus rule)."""
    return max(0, block.miner_tx.unlock_time - block.miner_tx.height)


class RemoteParams:
    """The chain parameters the accounting reads: the coinbase maturity (from a template)
    and the network's minimum fee (asked for when read: blocking)."""

    def __init__(self, client: BlockingNodeClient, coinbase_maturity: int) -> None:
        self.client = client
        self.coinbase_maturity = coinbase_maturity

    @property
    def min_fee(self) -> int:
        answer = self.client.call("get_fee_estimate")
        try:
            return int(answer["fee"])
        except (KeyError, TypeError, ValueError):
            raise NodeAnswerError("get_fee_estimate: no fee") from None


class RemoteChain:
    """The remote node's main chain as the accounting reads it, at one tip.

    The accounting asks while it holds its ledger, so each question is asked once, with
    no retry: a node that does not answer fails the settlement, which the next tip tries
    again.
    """

    def __init__(self, client: BlockingNodeClient, height: int, params: RemoteParams) -> None:
        self.client = client
        self.height = height
        self.params = params
        self._main: dict[bytes, bool] = {}

    def is_main(self, block_id: bytes) -> bool:
        """Whether the node has ``block_id`` on its main chain (blocking)."""
        known = self._main.get(block_id)
        if known is None:
            known = self._main[block_id] = self._is_main(block_id)
        return known

    def _is_main(self, block_id: bytes) -> bool:
        try:
            answer = self.client.call(
                "get_block_header_by_hash", {"hash": block_id.hex()}, attempts=1
            )
        except NodeRpcError as exc:
            if exc.code == INTERNAL:  # the node does not know the block
                return False
            raise
        try:
            return answer["block_header"]["orphan_status"] is False
        except (KeyError, TypeError):
            raise NodeAnswerError("get_block_header_by_hash: no orphan_status") from None

    def block(self, block_id: bytes) -> Block | None:
        """The block ``block_id`` if the node has it, on any branch (blocking)."""
        try:
            answer = self.client.call("get_block", {"hash": block_id.hex()}, attempts=1)
        except NodeRpcError as exc:
            if exc.code == INTERNAL:  # the node does not know the block
                return None
            raise
        try:
            return Block.from_bytes(bytes.fromhex(answer["blob"]))
        except (KeyError, TypeError, ValueError, SerializationError):
            raise NodeAnswerError("get_block: no usable blob") from None


class RemoteChainView:
    """The accounting's ``ChainServiceView`` over a remote node: its tip is the one the
    pool's template is built on (no chain until the first template), its maturity that of
    the template's miner transaction, the main-chain check an RPC call."""

    def __init__(
        self, client: BlockingNodeClient, template: Callable[[], TipTemplate | None]
    ) -> None:
        self.client = client
        self._template = template
        self._lock = threading.Lock()

    @classmethod
    def of(
        cls, config: StratumConfig, template: Callable[[], TipTemplate | None]
    ) -> RemoteChainView:
        """The view of ``[stratum] node``, with its admin token."""
        return cls(BlockingNodeClient(config.node, AdminToken.of(config)), template)

    @property
    def lock(self) -> AbstractContextManager[Any]:
        return self._lock

    @property
    def chain(self) -> RemoteChain | None:
        template = self._template()
        if template is None:
            return None
        params = RemoteParams(self.client, coinbase_maturity(template.block))
        return RemoteChain(self.client, template.height - 1, params)

    def wallet_methods(self) -> RemoteWalletMethods:
        """The remote node's wallet methods (the wallet's calls may take longer)."""
        client = self.client
        return RemoteWalletMethods(BlockingNodeClient(client.url, client.token, seconds=TIMEOUT))


class WalletRefusedError(ZionError):
    """The remote node refused a wallet call before or while it ran (an error code of
    :data:`REFUSALS`)."""


class WalletUnreachableError(ConnectionError):
    """No usable answer from the remote node's wallet: the call's outcome is unknown."""


class _RemoteMethod:
    def __init__(self, client: BlockingNodeClient, name: str) -> None:
        self.client = client
        self.name = name

    def handler(self, params: Any) -> Any:
        # a transfer is never sent twice here: its outcome, when unknown, is the payout
        # engine's to find (by its idempotency key)
        attempts = 1 if self.name == "transfer" else ATTEMPTS
        try:
            return self.client.call(self.name, params, attempts=attempts)
        except NodeRpcError as exc:
            if exc.code in REFUSALS:
                raise WalletRefusedError(str(exc)) from exc
            raise WalletUnreachableError(str(exc)) from exc
        except UpstreamError as exc:
            raise WalletUnreachableError(str(exc)) from exc


class RemoteWalletMethods:
    """A remote node's RPC methods as a method registry (``names``, ``get(name).handler``),
    for the accounting's wallet client: the wallet plugin's methods, served by that node.

    A handler's error answer in :data:`REFUSALS` raises :class:`WalletRefusedError` (a
    :class:`~zion_core.ZionError`, as the wallet's own refusals are); no answer, or any
    other answer, raises :class:`WalletUnreachableError` (the outcome is unknown). Blocking.
    """

    def __init__(self, client: BlockingNodeClient) -> None:
        self.client = client
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        """The node's method names (its API description, read once)."""
        if self._names is None:
            try:
                document = self.client.call("rpc.discover")
                self._names = sorted({str(m["name"]) for m in document["methods"]})
            except UpstreamError as exc:
                raise WalletUnreachableError(f"rpc.discover: {exc}") from exc
            except (KeyError, TypeError) as exc:
                raise WalletUnreachableError("rpc.discover: no method list") from exc
        return self._names

    def get(self, name: str) -> _RemoteMethod:
        return _RemoteMethod(self.client, name)


__all__ = [
    "AdminToken",
    "BlockRefusedError",
    "BlockingNodeClient",
    "ChainServiceLike",
    "InProcessSource",
    "NodeAnswerError",
    "NodeClient",
    "NodeRpcError",
    "NodeUnavailableError",
    "RemoteChain",
    "RemoteChainView",
    "RemoteParams",
    "RemoteSource",
    "RemoteWalletMethods",
    "Submitted",
    "TemplateParts",
    "TemplateSource",
    "TipTemplate",
    "UpstreamError",
    "WalletRefusedError",
    "WalletUnreachableError",
    "coinbase_maturity",
    "parse_template",
]
