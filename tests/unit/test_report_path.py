"""`--report FILE` is checked before a run starts: a session of hours must not end in an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from coinswarm.cli._shared import UsageError, report_path


def test_no_report_and_a_writable_file_pass(tmp_path: Path) -> None:
    assert report_path(None) is None
    target = tmp_path / "report.html"
    assert report_path(target) == target
    target.write_text("an older report")
    assert report_path(target) == target  # overwritten when the run ends


def test_a_folder_is_refused_and_a_file_name_suggested(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--report: .* is a folder; name the report file"):
        report_path(tmp_path)


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        report_path(tmp_path / "nowhere" / "report.html")
