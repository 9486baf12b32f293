"""The ``[metrics]`` configuration section."""

from __future__ import annotations

import attrs


def _check_path(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.startswith("/") or value.endswith("/") or any(ch.isspace() for ch in value):
        raise ValueError(
            f"{attribute.name}: {value!r} must be an absolute URL path such as /metrics "
            "(no trailing slash, no spaces)"
        )


@attrs.frozen
class MetricsConfig:
    """``[metrics]``: the Prometheus endpoint on the node's HTTP server.

    - ``path``: the URL path of the endpoint on the ``jsonrpc`` plugin's server (``[rpc]
      bind``), ``/metrics`` by default.
    - ``process``: also export the process's own metrics: ``process_*`` (CPU time,
      memory, start time, file limit), ``python_gc_*`` and ``python_info``.
    """

    path: str = attrs.field(default="/metrics", validator=_check_path)
    process: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))


__all__ = ["MetricsConfig"]
