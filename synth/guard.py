"""Egress control: during a synth run, only the configured endpoints are contacted.

Two layers, both fail closed:

1. distilabel's own network side effects are switched off. Its ``Distiset`` creation, at the
   end of ``Pipeline.run()``, fetches BibTeX for every arXiv reference in the steps' docstrings
   from ``arxiv2bibtex.org`` (``distilabel.distiset._grab_citations`` → ``utils.docstring.get_bibtex``)
   and ``DAG.draw`` renders through ``mermaid.ink``. sluice does not use distilabel's pipeline
   executor, and ``disable_distilabel_network`` replaces those functions anyway, so no code path
   can reach them. Hugging Face hub telemetry is disabled by environment.
2. ``egress_guard(hosts)`` is a process audit hook (PEP 578): while active, a DNS lookup of any
   other host name or a connection to any non-loopback address outside the resolved endpoints
   raises ``EgressBlocked`` before a packet leaves — whatever library tries it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import warnings
from collections.abc import Iterator

from sluice.errors import SluiceError
from sluice.privacy import is_loopback_host

_state = threading.local()
_active: list[set[str]] = []  # stack of allowed host/IP sets (the hook is process-wide)
_hook_installed = False
_patched = False


class EgressBlocked(SluiceError):
    """Something tried to contact a host that is not a configured endpoint."""


def disable_distilabel_network() -> None:
    """Make distilabel's citation lookup and diagram rendering unreachable (idempotent)."""
    global _patched
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DISABLE_TELEMETRY", "1")
    if _patched:
        return
    # distilabel's own models declare Field(default=None) on union members; pydantic warns about
    # that at import, on every command that loads distilabel. It is not the user's to fix.
    from pydantic.warnings import UnsupportedFieldAttributeWarning

    warnings.filterwarnings("ignore", category=UnsupportedFieldAttributeWarning)
    import distilabel.distiset as distiset
    import distilabel.pipeline._dag as dag
    import distilabel.utils.docstring as docstring

    def no_bibtex(ref: str) -> str:
        raise EgressBlocked("distilabel tried to fetch a citation from arxiv2bibtex.org; sluice blocks it")

    def no_citations(dag_) -> list[str]:
        return []  # citations of steps are never fetched from the network

    def no_mermaid(graph: str) -> str:
        raise EgressBlocked("distilabel tried to render a diagram through mermaid.ink; sluice blocks it")

    docstring.get_bibtex = no_bibtex
    distiset.get_bibtex = no_bibtex
    distiset._grab_citations = no_citations
    dag._to_mermaid_image = no_mermaid
    _patched = True


def quiet_distilabel() -> None:
    """Apply the network switches and keep distilabel's rich logging out of sluice's output."""
    disable_distilabel_network()
    for name in ("distilabel", "distilabel.llm", "httpx", "httpx2", "openai"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _allowed(host: str, allowed: set[str]) -> bool:
    return host in allowed or is_loopback_host(host)


def _hook(event: str, args) -> None:
    if not _active or getattr(_state, "inside", False):
        return
    allowed = _active[-1]
    if event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if host and not _allowed(str(host), allowed):
            raise EgressBlocked(f"blocked a DNS lookup of {host!r}: it is not a configured endpoint",
                                hint="only the hosts in the --llm file are contacted during a synth run")
    elif event == "socket.connect":
        sock, address = args
        if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return
        host = address[0] if isinstance(address, tuple) else str(address)
        if not _allowed(host, allowed):
            raise EgressBlocked(f"blocked a connection to {host}: it is not a configured endpoint",
                                hint="only the hosts in the --llm file are contacted during a synth run")


@contextlib.contextmanager
def egress_guard(hosts: list[str]) -> Iterator[set[str]]:
    """Allow only ``hosts`` (and loopback) while the block runs; yields the allowed set."""
    global _hook_installed
    allowed: set[str] = set()
    _state.inside = True  # our own resolution of the endpoints is not egress
    try:
        for host in hosts:
            allowed.add(host)
            try:
                allowed.update(info[4][0] for info in socket.getaddrinfo(host, None))
            except OSError:
                pass  # unresolvable now: the client will fail and report it
    finally:
        _state.inside = False
    if not _hook_installed:
        sys.addaudithook(_hook)  # cannot be removed; inert while no guard is active
        _hook_installed = True
    _active.append(allowed)
    try:
        yield allowed
    finally:
        _active.pop()
