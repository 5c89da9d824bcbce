"""Every setting is documented."""

from __future__ import annotations

from pathlib import Path

from bastion.config import SETTINGS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_is_in_the_configuration_reference() -> None:
    text = DOC.read_text()
    missing = [setting.key for setting in SETTINGS if f"`{setting.key}`" not in text]
    assert missing == []
