"""Settings: `bastion.yml` with Elasticsearch-style keys, environment overrides, validation."""

from bastion.config.settings import SETTINGS, Setting, Settings, SettingsError, load_settings

__all__ = ["SETTINGS", "Setting", "Settings", "SettingsError", "load_settings"]
