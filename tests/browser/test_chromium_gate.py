"""Without Chromium the browser tests skip locally but fail in CI."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import conftest


def test_a_missing_chromium_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "CHROMIUM", Path(tmp_path / "no-chromium"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="need"):
        conftest.need_chromium()


def test_a_missing_chromium_skips_with_a_reason_elsewhere(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "CHROMIUM", Path(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="skipped locally"):
        conftest.need_chromium()
