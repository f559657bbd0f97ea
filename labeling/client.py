"""The Argilla connection: from --api-url/--api-key or ARGILLA_API_URL/ARGILLA_API_KEY.

The key is a secret: it is never printed, logged, put in an error message or a manifest. Calls
that fail on the network are retried with exponential backoff (``retry``), then fail with a
message naming the URL and the operation.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from sluice.errors import MissingDependency, SluiceError

T = TypeVar("T")
DEFAULT_URL = "http://localhost:6900"


class ArgillaError(SluiceError):
    """Argilla could not be reached, refused a request, or holds something unexpected."""


def settings(api_url: str | None = None, api_key: str | None = None) -> tuple[str, str]:
    url = api_url or os.environ.get("ARGILLA_API_URL") or DEFAULT_URL
    key = api_key or os.environ.get("ARGILLA_API_KEY")
    if not key:
        raise ArgillaError("no Argilla API key given",
                           hint="pass --api-key or set ARGILLA_API_KEY (your key is on the Argilla "
                                "'My settings' page); it is never printed")
    return url.rstrip("/"), key


def connect(api_url: str | None = None, api_key: str | None = None, *, timeout: int = 60, attempts: int = 4):
    """An ``argilla.Argilla`` client, checked with one authenticated call (retried)."""
    try:
        import argilla as rg
    except ImportError as e:  # pragma: no cover - the extra is installed in dev
        raise MissingDependency("the Argilla client is not installed",
                                hint="pip install 'sluice[label]' (argilla>=2.8)") from e
    url, key = settings(api_url, api_key)
    client = retry(lambda: _make(rg, url, key, timeout), what=f"connect to Argilla at {url}", attempts=attempts)
    return client


def _make(rg, url: str, key: str, timeout: int):
    import logging

    logging.getLogger("argilla").setLevel(logging.ERROR)  # it logs request URLs and warnings per call
    client = rg.Argilla(api_url=url, api_key=key, timeout=timeout, retries=0)
    client.me  # noqa: B018 - one authenticated request: a wrong key or URL fails here
    return client


def _transient(e: BaseException) -> bool:
    import httpx

    if isinstance(e, (httpx.TransportError, ConnectionError, TimeoutError)):
        return True
    cause = e.__cause__ or e.__context__
    if cause is not None and cause is not e:
        return _transient(cause)
    status = getattr(getattr(e, "response", None), "status_code", None) or getattr(e, "status_code", None)
    return status in (502, 503, 504)


def retry(fn: Callable[[], T], *, what: str, attempts: int = 4, base_delay: float = 0.5) -> T:
    """Run ``fn``; on network errors retry with backoff (0.5 s, 1 s, 2 s …), then fail clearly."""
    for attempt in range(1, attempts + 1):
        try:
            with quiet():
                return fn()
        except SluiceError:
            raise
        except Exception as e:  # noqa: BLE001 - classified below
            if _transient(e) and attempt < attempts:
                time.sleep(base_delay * 2 ** (attempt - 1))
                continue
            if not (_transient(e) or _from_server(e)):
                raise  # a bug, not a server answer: keep the traceback
            raise ArgillaError(f"could not {what}: {_describe(e)}",
                               hint="check that the server is up and the URL is right "
                                    "(bash scripts/argilla-server.sh start for a local one)"
                               if _transient(e) else "check the API key and your role in the workspace") from None
    raise AssertionError("unreachable")


def _from_server(e: BaseException) -> bool:
    import httpx

    module = type(e).__module__ or ""
    return isinstance(e, httpx.HTTPError) or module.startswith("argilla")


def _describe(e: BaseException) -> str:
    # Never echo request headers: the message of an HTTP error may include them in some clients.
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    key = os.environ.get("ARGILLA_API_KEY")
    if key and key in text:
        text = text.replace(key, "***")
    return f"{type(e).__name__}: {text[:300]}"


@contextlib.contextmanager
def quiet():
    """Silence the client's per-batch tqdm bars and UserWarnings (the CLI shows its own progress)."""
    from argilla.records import _dataset_records as mod

    old = mod.tqdm
    mod.tqdm = lambda iterable=None, **_: iterable
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        mod.tqdm = old


def api(client) -> Any:
    """The client's HTTP session (httpx), for the few bulk calls done over plain REST."""
    return client.api.http_client
