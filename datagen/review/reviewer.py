"""Who is reviewing: the --reviewer flag, then DATAGEN_REVIEWER, then git's user.name, then the login name."""

from __future__ import annotations

import getpass
import os
import subprocess


def resolve_reviewer(flag: str | None = None) -> str:
    if flag and flag.strip():
        return flag.strip()
    env = os.environ.get("DATAGEN_REVIEWER", "").strip()
    if env:
        return env
    try:
        name = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        name = ""
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
