"""``export --push-to-hub OWNER/NAME``: upload an export folder as a Hugging Face Hub dataset repo.

Through ``huggingface_hub``: create the repo (``--private``; an existing repo is kept as it is), then one commit
holding every file of the folder (the card, the data files, the scan report). The token comes from ``HF_TOKEN`` or
``hf auth login``, the Hub's address from ``HF_ENDPOINT``, as for every Hugging Face tool. A folder whose secret
scan found something is not pushed unless it was exported with ``--redact``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagen.errors import DatagenError, InputError


def push_folder(folder: Path, repo_id: str, *, private: bool, message: str) -> str:
    """Create ``repo_id`` (a dataset repo) when it does not exist and commit the folder's files; returns the
    commit's URL."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    ops = [
        CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
        for p in files
    ]
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.create_commit(repo_id, ops, commit_message=message, repo_type="dataset")
    except OfflineModeIsEnabled as e:
        raise InputError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set") from e
    except LocalTokenNotFoundError as e:
        raise InputError(
            f"cannot push to {repo_id}: no Hugging Face token (set HF_TOKEN or run `hf auth login`)"
        ) from e
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        error = InputError if status in (401, 403) else DatagenError
        raise error(f"pushing to {repo_id} failed: {_first_line(e)}") from e
    return str(info.commit_url)


def check_pushable(scan: dict[str, Any], redacted: bool, repo_id: str) -> None:
    """Refuse to publish secrets or personal data the scan found and left in place."""
    if scan["findings"] and not redacted:
        raise InputError(
            f"not pushing to {repo_id}: the secret scan found {scan['findings']} match(es) {scan['by_kind']} in "
            f"{len(scan['records'])} record(s); export with --redact (or fix those records) first"
        )


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
