"""Nothing litters: ``filter`` writes its histogram PNG in the run's output folder (``outputs/filter/<run id>/``)
or where ``--png`` says, nothing loose in the working directory; ``export --out`` to a place that cannot be
written is exit 2 with one line and nothing half-written (also as root, where permission bits do not stop a
write: a path under a regular file, an immutable folder, a failing write)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_export import _dataset


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory; the database lives elsewhere (DATAGEN_DB, set by conftest)."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    data = tmp_path / "a.jsonl"
    rows = [
        {"instruction": f"Name colour number {i} of the rainbow.", "output": "Red, I think."}
        for i in range(3)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return here


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_filter_writes_its_png_in_the_runs_output_folder(cwd: Path, run_cli) -> None:
    assert run_cli("import", str(cwd.parent / "a.jsonl")).exit_code == 0
    r = run_cli("filter", "--only", "heuristics")
    assert r.exit_code == 0, r.output
    png = cwd / "outputs" / "filter" / "2" / "histograms.png"
    assert f"histograms: {png}\n" in r.stdout
    assert _files(cwd) == ["outputs", "outputs/filter", "outputs/filter/2", "outputs/filter/2/histograms.png"]
    assert png.read_bytes().startswith(b"\x89PNG")


def test_filter_with_nothing_to_score_writes_no_png(cwd: Path, run_cli) -> None:
    r = run_cli("filter", "--only", "heuristics", "--json")
    assert (r.exit_code, json.loads(r.stdout)["records"]) == (0, 0), r.output
    assert "histogram_png" not in json.loads(r.stdout) and _files(cwd) == []


@pytest.mark.parametrize(
    ("flags", "written"),
    [
        (["--png", "{elsewhere}/h.png"], "{elsewhere}/h.png"),
        (["--png", "{elsewhere}/deep/run-{{run_id}}.png"], "{elsewhere}/deep/run-2.png"),
        (["--no-png"], None),
    ],
)
def test_filter_with_png_or_no_png_leaves_the_working_directory_empty(
    flags: list[str], written: str | None, cwd: Path, run_cli
) -> None:
    elsewhere = cwd.parent / "elsewhere"
    assert run_cli("import", str(cwd.parent / "a.jsonl")).exit_code == 0
    r = run_cli("filter", "--only", "heuristics", *[f.format(elsewhere=elsewhere) for f in flags], "--json")
    assert r.exit_code == 0, r.output
    assert _files(cwd) == []
    summary = json.loads(r.stdout)
    if written is None:
        assert "histogram_png" not in summary and not elsewhere.exists()
    else:
        assert summary["histogram_png"] == written.format(elsewhere=elsewhere)
        assert Path(summary["histogram_png"]).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("png", "error"),
    [
        (
            "afile/h.png",
            "cannot write the histogram PNG's folder afile: {cwd}/afile is not a writable folder",
        ),
        ("adir", "the histogram PNG adir is a folder: name a file in it (adir/histograms.png)"),
    ],
)
def test_filter_refuses_a_png_with_nowhere_to_go_before_scoring(
    png: str, error: str, cwd: Path, run_cli
) -> None:
    assert run_cli("import", str(cwd.parent / "a.jsonl")).exit_code == 0
    (cwd / "afile").write_text("x")
    (cwd / "adir").mkdir()
    r = run_cli("filter", "--only", "heuristics", "--png", png)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"error: {error.format(cwd=cwd)}\n")
    assert [x["kind"] for x in json.loads(run_cli("runs", "--json").stdout)] == ["import"]  # no filter run


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot write in: read-only by its mode, or, for root (whom modes do not stop),
    immutable (``chattr +i``); skipped where neither holds."""
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0o555)
    immutable = False
    if os.access(d, os.W_OK):
        immutable = (
            shutil.which("chattr") is not None and subprocess.run(["chattr", "+i", str(d)]).returncode == 0
        )
        if not immutable:
            pytest.skip("running as root without chattr +i: no folder is unwritable here")
    yield d
    if immutable:
        subprocess.run(["chattr", "-i", str(d)], check=True)
    d.chmod(0o755)


def _export_failed(r, out: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    assert (r.exit_code, r.stdout, r.stderr) == (
        2,
        "",
        f"error: cannot write the export folder {out}: {reason}\n",
    )


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("afile/out", "{tmp}/afile is not a writable folder"),
        ("afile/deeper/out", "{tmp}/afile is not a writable folder"),
    ],
)
def test_export_under_a_file_is_exit_2_and_writes_nothing(
    out: str, reason: str, store, run_cli, tmp_path
) -> None:
    (name, version), _ = _dataset(store)
    (tmp_path / "afile").write_text("a regular file\n")
    runs = run_cli("runs", "--json").stdout
    r = run_cli("export", f"{name}@{version}", "--format", "jsonl", "--out", out)
    _export_failed(r, out, reason.format(tmp=tmp_path))
    assert (tmp_path / "afile").read_text() == "a regular file\n"
    assert run_cli("runs", "--json").stdout == runs  # refused before the run started


def test_export_into_a_file_is_exit_2(store, run_cli, tmp_path) -> None:
    (name, version), _ = _dataset(store)
    (tmp_path / "afile").write_text("x")
    r = run_cli("export", f"{name}@{version}", "--format", "jsonl", "--out", "afile")
    assert (r.exit_code, r.stderr) == (2, "error: afile exists and is not a folder\n")


def test_export_into_an_unwritable_folder_is_exit_2(unwritable_dir: Path, store, run_cli) -> None:
    (name, version), _ = _dataset(store)
    out = str(unwritable_dir / "out")
    r = run_cli("export", f"{name}@{version}", "--format", "jsonl", "--out", out)
    _export_failed(r, out, f"{unwritable_dir} is not a writable folder")
    assert list(unwritable_dir.iterdir()) == []


@pytest.mark.parametrize("fmt", ["jsonl", "chatml", "hf"])
def test_a_write_that_fails_midway_leaves_nothing(fmt: str, store, run_cli, tmp_path, monkeypatch) -> None:
    """The disk fills up while the card is written (after the data files): no folder is left behind, the run
    is failed with the reason."""
    (name, version), _ = _dataset(store)
    real = Path.write_text

    def full_disk(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.name == "README.md":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    out = "new/nested/out"
    r = run_cli("export", f"{name}@{version}", "--format", fmt, "--out", out)
    _export_failed(r, out, "No space left on device; nothing was written")
    assert not (tmp_path / "new").exists()
    last = json.loads(run_cli("runs", "--json").stdout)[0]
    assert (last["kind"], last["status"]) == ("export", "failed")
