"""Passwords in URLs never reach a screen, a log, a ``--json`` answer or a stored run config.

``masked(text)`` replaces the password of every URL in ``text`` with ``***`` (as SQLAlchemy's
``URL.render_as_string(hide_password=True)`` does): ``scheme://user:secret@host`` and a ``password=`` query
parameter. It works on any string, so it also cleans an error message that quotes a URL. ``masked_data``
does the same through nested dicts and lists (a resolved config). Everything that prints or stores a URL goes
through these two; the real URL stays in memory only where a connection needs it.
"""

from __future__ import annotations

import re
from typing import Any

HIDDEN = "***"

# scheme://user:password@ (the password runs to the last "@" before any whitespace, as SQLAlchemy reads it)
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^\s]*)(?=@)")
# ...?password=secret&... (libpq and SQLAlchemy both read it)
_QUERY = re.compile(r"(?P<head>[?&](?:password|pass|pwd)=)(?P<pw>[^&#\s]+)", re.IGNORECASE)


def masked(text: str) -> str:
    """``text`` with the password of every URL in it shown as ``***``."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: m["head"] + HIDDEN if m["pw"] else m[0], text)
    return _QUERY.sub(lambda m: m["head"] + HIDDEN, text)


def masked_data(data: Any) -> Any:
    """``data`` (dicts, lists, strings, numbers) with every string ``masked``; keys are kept as they are."""
    if isinstance(data, str):
        return masked(data)
    if isinstance(data, dict):
        return {k: masked_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [masked_data(v) for v in data]
    return data


def masked_log_records() -> None:
    """Make every log record created from now on carry its message with URL passwords masked (a record
    factory, so it holds for every handler: the console, a ``--log-json`` file, a test's ``caplog``)."""
    import logging

    make = logging.getLogRecordFactory()
    if getattr(make, "masks_urls", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        message = record.getMessage()
        shown = masked(message)
        if shown != message:
            record.msg, record.args = shown, None
        return record

    factory.masks_urls = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
