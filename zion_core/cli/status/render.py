"""How ``zion status`` draws a snapshot: rich panels and tables, fitted to the terminal.

:func:`render` lays the snapshot out in rows of panels: chain and pool, the last blocks,
the local miner and RandomX, then the plugins' panels. Given a height (the live view),
it keeps what fits, in this order of importance: chain and pool, three last blocks,
miner and RandomX, the plugins' panels, more last blocks; what is left out is named on
one line. Every row of every panel is one line (long values end in "…"), so heights are
known before drawing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ...chain.transaction import ATOMIC_UNITS_PER_ZION

__all__ = ["ViewState", "fmt_age", "fmt_bytes", "fmt_hashrate", "render"]

TWO_COLUMNS_MIN: Final = 60
"""Narrower than this, panels are stacked instead of side by side."""
WIDE: Final = 100
"""From this width on, the last blocks show their difficulty too."""
NARROW: Final = 70
"""Narrower than this, the last blocks leave out their size and transactions."""
MIN_BLOCK_ROWS: Final = 3
PANEL_MIN_WIDTH: Final = 36
DASH: Final = "—"
_CONTROLS: Final = {code: " " for code in [*range(32), 127]}


@attrs.define
class ViewState:
    """What the live view knows besides the snapshot: the connection and the events."""

    url: str
    connected: bool = False
    error: str | None = None
    attempts: int = 0
    events_live: bool = False
    updated_at: float | None = None
    interval: float = 2.0
    live: bool = True


# ----------------------------------------------------------------------------- formats


def fmt_int(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def fmt_hashrate(value: float | None) -> str:
    if value is None:
        return DASH
    for unit, scale in (("TH/s", 1e12), ("GH/s", 1e9), ("MH/s", 1e6), ("kH/s", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.1f} H/s" if value else "0 H/s"


def fmt_bytes(value: int | None) -> str:
    if value is None:
        return DASH
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" or size >= 100 else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover - the loop always returns


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} m {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} m"
    return f"{hours // 24} d {hours % 24} h"


def fmt_amount(atomic: int) -> str:
    whole, frac = divmod(atomic, ATOMIC_UNITS_PER_ZION)
    text = f"{whole:,}"
    if frac:
        text += f".{frac:012d}".rstrip("0")[:5]
    return text


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters as spaces."""
    return text.translate(_CONTROLS)


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def short(text: str, size: int = 12) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def fmt_value(value: Any) -> str:
    """A panel value on one line."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value) or DASH
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt_value(v)}" for k, v in value.items()) or DASH
    return str(value)


# ----------------------------------------------------------------------------- panels


def _rows_panel(title: str, rows: Sequence[tuple[str, str]], *, style: str = "cyan") -> Panel:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    for label, value in rows:
        grid.add_row(escape(one_line(label)), Text.from_markup(one_line(value)))
    title = f"[bold]{escape(one_line(title))}[/]"
    return Panel(grid, title=title, title_align="left", border_style=style)


def chain_rows(snapshot: Mapping[str, Any], now: float) -> list[tuple[str, str]]:
    chain = snapshot["chain"]
    mempool = snapshot["mempool"]
    peers = snapshot["peers"]
    last = chain["last_blocks"][0] if chain["last_blocks"] else None
    top = escape(one_line(short(chain["top_block_hash"], 13)))
    if last is not None:
        top += f"  {fmt_age(now - last['timestamp'])} ago"
    peers_text = (
        DASH
        if peers is None
        else f"{peers['incoming']} in · {peers['outgoing']} out · {peers['white']} known"
    )
    return [
        ("height", f"[bold]{fmt_int(chain['height'])}[/]"),
        ("difficulty", fmt_int(chain["difficulty"])),
        ("hashrate", f"{fmt_hashrate(chain['hashrate'])} (estimate)"),
        ("top block", top),
        ("mempool", f"{fmt_int(mempool['transactions'])} tx · {fmt_bytes(mempool['bytes'])}"),
        ("peers", peers_text),
    ]


def pool_rows(snapshot: Mapping[str, Any], now: float) -> list[tuple[str, str]]:
    pool = snapshot["pool"]
    if pool is None:
        return [("pool", "[dim]not running on this node[/]")]
    shares = pool["shares"]
    blocks = pool["blocks"]
    payouts = pool["payouts"]
    if not payouts["enabled"]:
        payout = "off"
    elif payouts["next_at"] is None:
        payout = "after the first block matures"
    else:
        payout = f"in {fmt_age(payouts['next_at'] - now)}"
    return [
        (
            "miners",
            f"[bold]{pool['miners']}[/] ({plural(pool['workers'], 'worker')}, "
            f"{plural(pool['connections'], 'connection')})",
        ),
        ("hashrate", f"[bold]{fmt_hashrate(pool['hashrate'])}[/]"),
        ("accepted", f"[bold green]{fmt_int(shares['accepted'])}[/] shares"),
        (
            "rejected",
            f"{fmt_int(shares['rejected'])} · stale {fmt_int(shares['stale'])}",
        ),
        (
            "blocks",
            f"[bold]{blocks['found']}[/] found ({blocks['pending']} pending · "
            f"{blocks['credited']} credited · {blocks['orphaned']} orphaned)",
        ),
        ("payout", payout),
        ("policy", f"{escape(pool['policy'])}, fee {pool['fee_bps'] / 100:.2f} %"),
    ]


def miner_rows(snapshot: Mapping[str, Any]) -> list[tuple[str, str]]:
    miner = snapshot["miner"]
    if miner is None:
        return [("miner", "[dim]not running on this node[/]")]
    state = (
        f"[green]mining[/] at height {fmt_int(miner['height'])}"
        if miner["active"]
        else "[yellow]waiting for work[/]"
    )
    return [
        ("status", state),
        (
            "hashrate",
            f"[bold]{fmt_hashrate(miner['hashrate'])}[/] · {plural(miner['threads'], 'thread')}"
            + (f" · {escape(str(miner['mode']))}" if miner["mode"] else ""),
        ),
        ("blocks found", fmt_int(miner["blocks_found"])),
        ("address", escape(short(miner["address"], 24))),
    ]


def _backend_text(backend: Mapping[str, Any]) -> str:
    text = (
        f"{escape(backend['mode'])} · {fmt_bytes(backend['memory_bytes'])} · "
        f"{plural(backend['keys'], 'key')} · {plural(backend['threads'], 'thread')}"
    )
    progress = backend["dataset_progress"]
    if progress is not None and progress["total"]:
        text += f" · [yellow]dataset {progress['done'] * 100 // progress['total']} %[/]"
    return text


def randomx_rows(snapshot: Mapping[str, Any]) -> list[tuple[str, str]]:
    randomx = snapshot["randomx"]
    if randomx is None:
        return [("RandomX", f"[dim]{DASH}[/]")]
    rows = []
    verifier, miner = randomx["verifier"], randomx["miner"]
    if verifier is not None:
        rows.append(("verifier", _backend_text(verifier)))
    if miner is not None:
        rows.append(("miner", _backend_text(miner)))
    flags = (verifier or miner or {}).get("flags") or []
    rows.append(("flags", escape(", ".join(flags)) or DASH))
    return rows


def blocks_table(snapshot: Mapping[str, Any], rows: int, now: float, width: int) -> RenderableType:
    table = Table(box=None, padding=(0, 1), expand=True, header_style="dim", show_edge=False)
    table.add_column("height", justify="right", no_wrap=True)
    table.add_column("hash", no_wrap=True)
    table.add_column("age", justify="right", no_wrap=True)
    narrow = width < NARROW
    if not narrow:
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("txs", justify="right", no_wrap=True)
    table.add_column("reward", justify="right", no_wrap=True)
    wide = width >= WIDE
    if wide:
        table.add_column("difficulty", justify="right", no_wrap=True)
    table.add_column("finder", no_wrap=True, overflow="ellipsis")
    for block in snapshot["chain"]["last_blocks"][:rows]:
        cells = [
            fmt_int(block["height"]),
            escape(one_line(short(block["hash"], 11))),
            fmt_age(now - block["timestamp"]),
        ]
        if not narrow:
            cells += [fmt_bytes(block["size"]), str(block["num_txes"])]
        cells.append(fmt_amount(block["reward"]))
        if wide:
            cells.append(fmt_int(block["difficulty"]))
        finder = block["finder"]
        cells.append(f"[bold green]{escape(one_line(finder))}[/]" if finder else f"[dim]{DASH}[/]")
        table.add_row(*cells)
    return Panel(table, title="[bold]Last blocks[/]", title_align="left", border_style="blue")


def plugin_panel(panel: Mapping[str, Any]) -> tuple[Panel, int]:
    """A plugin's panel and its height."""
    if panel["error"]:
        rows = [("error", f"[red]{escape(panel['error'])}[/]")]
    else:
        rows = [(str(k), escape(fmt_value(v))) for k, v in panel["rows"].items()] or [("", DASH)]
    return _rows_panel(panel["title"], rows, style="magenta"), len(rows) + 2


def _pair(left: Panel, right: Panel | None, rows: int, width: int) -> tuple[RenderableType, int]:
    """Two panels side by side (or stacked when narrow) and the height they take."""
    if right is None:
        left.height = rows + 2
        return left, rows + 2
    if width < TWO_COLUMNS_MIN:
        return Group(left, right), 0  # the caller measures stacked pairs
    left.height = right.height = rows + 2
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(left, right)
    return grid, rows + 2


# ----------------------------------------------------------------------------- the view


def header(snapshot: Mapping[str, Any] | None, state: ViewState | None, now: float) -> Table:
    grid = Table.grid(expand=True)
    grid.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    grid.add_column(justify="right", no_wrap=True)
    node = snapshot["node"] if snapshot is not None else None
    left = Text.assemble(("ZION", "bold cyan"), " ")
    if node is not None:
        left.append(f"{one_line(node['network'])} ", style="bold")
    if state is not None and state.live:
        if state.connected:
            left.append("● live  " if state.events_live else "● polling  ", style="green")
        elif state.attempts or state.error:
            left.append("◌ reconnecting…  ", style="bold yellow")
        else:
            left.append("○ connecting…  ", style="yellow")
    url = node["url"] if node is not None else (state.url if state else "")
    left.append(one_line(url), style="dim")
    right = Text()
    if node is not None and node["uptime_seconds"] is not None:
        right.append(f"up {fmt_age(node['uptime_seconds'])}  ", style="dim")
    right.append(time.strftime("%H:%M:%S", time.localtime(now)))
    grid.add_row(left, right)
    return grid


def footer(snapshot: Mapping[str, Any] | None, state: ViewState, now: float, hidden: str) -> Text:
    text = Text(style="dim", no_wrap=True, overflow="ellipsis")
    text.append("q", style="bold")
    text.append(" quit · ")
    text.append("r", style="bold")
    text.append(" refresh")
    if not state.connected and state.error:  # the URL is in the header already
        text.append(f" · {one_line(state.error.replace(f' at {state.url}', ''))}", style="yellow")
    if hidden:
        text.append(f" · {hidden}")
    text.append(f" · every {state.interval:g} s")
    if state.updated_at is not None:
        text.append(f" · updated {fmt_age(now - state.updated_at)} ago")
    if state.connected and snapshot is not None and snapshot["errors"]:
        missing = ", ".join(f"{k}: {v}" for k, v in snapshot["errors"].items())
        text.append(f" · not shown: {one_line(missing)}", style="yellow")
    return text


def _unreachable(state: ViewState | None) -> Panel:
    url = state.url if state else ""
    reason = state.error if state and state.error else "connecting…"
    body = Text.assemble(
        ("No node answers at ", ""),
        (url, "bold"),
        (f"\n{reason}\n", "yellow"),
        (
            "Retrying. Start a node with `zion run --network devnet --plugin jsonrpc` "
            "or give --node URL.",
            "dim",
        ),
    )
    return Panel(body, title="[bold]Node[/]", title_align="left", border_style="yellow")


def render(
    snapshot: Mapping[str, Any] | None,
    state: ViewState | None = None,
    *,
    width: int = 80,
    height: int | None = None,
    now: float | None = None,
) -> RenderableType:
    """The whole view; ``height`` None: everything, with no fitting (``--once``)."""
    now = time.time() if now is None else now
    parts: list[RenderableType] = [header(snapshot, state, now)]
    if snapshot is None:
        parts.append(_unreachable(state))
        if state is not None and height is not None:
            parts.append(footer(snapshot, state, now, ""))
        return Group(*parts)
    budget = None if height is None else max(0, height - 2)  # header and footer lines
    stacked = width < TWO_COLUMNS_MIN

    def fits(lines: int) -> bool:
        return budget is None or lines <= budget

    def take(lines: int) -> None:
        nonlocal budget
        if budget is not None:
            budget -= lines

    hidden: list[str] = []
    # 1. chain and pool
    chain, pool = chain_rows(snapshot, now), pool_rows(snapshot, now)
    top_rows = max(len(chain), len(pool))
    top, top_height = _pair(_rows_panel("Chain", chain), _rows_panel("Pool", pool), top_rows, width)
    if stacked:
        top_height = len(chain) + len(pool) + 4
    parts.append(top)
    take(top_height)
    # 2. the last blocks (at least a few), 3. miner and RandomX, 4. plugin panels
    last_blocks = snapshot["chain"]["last_blocks"]
    block_rows = min(MIN_BLOCK_ROWS, len(last_blocks))
    show_blocks = bool(last_blocks) and fits(block_rows + 3)
    if show_blocks:
        take(block_rows + 3)  # border and column names
    elif last_blocks:
        hidden.append("last blocks")
    miner, randomx = miner_rows(snapshot), randomx_rows(snapshot)
    pair_rows = max(len(miner), len(randomx))
    pair_height = len(miner) + len(randomx) + 4 if stacked else pair_rows + 2
    show_pair = fits(pair_height)
    if show_pair:
        take(pair_height)
    else:
        hidden.append("miner, RandomX")
    plugin_rows: list[RenderableType] = []
    panels = [plugin_panel(p) for p in snapshot["panels"]]
    per_row = 1 if stacked else max(1, min(3, width // PANEL_MIN_WIDTH))
    index = 0
    while index < len(panels):
        group = panels[index : index + per_row]
        rows_height = max(h for _, h in group)
        if not fits(rows_height):
            break
        take(rows_height)
        grid = Table.grid(expand=True)
        for _ in range(per_row):
            grid.add_column(ratio=1)
        for panel, _ in group:
            panel.height = rows_height
        grid.add_row(*[p for p, _ in group], *([""] * (per_row - len(group))))
        plugin_rows.append(grid)
        index += per_row
    if index < len(panels):
        hidden.append(f"{len(panels) - index} panel(s)")
    if show_blocks:
        extra = len(last_blocks) - block_rows
        if budget is not None:
            extra = max(0, min(extra, budget))
        take(extra)
        parts.append(blocks_table(snapshot, block_rows + extra, now, width))
    if show_pair:
        pair, _ = _pair(
            _rows_panel("Miner", miner), _rows_panel("RandomX", randomx), pair_rows, width
        )
        parts.append(pair)
    parts.extend(plugin_rows)
    if state is not None and height is not None:
        more = f"too small for: {', '.join(hidden)}" if hidden else ""
        parts.append(footer(snapshot, state, now, more))
    elif snapshot["errors"]:
        missing = ", ".join(f"{k}: {v}" for k, v in snapshot["errors"].items())
        parts.append(
            Text(
                f"not shown: {one_line(missing)}",
                style="yellow",
                no_wrap=True,
                overflow="ellipsis",
            )
        )
    return Group(*parts)
