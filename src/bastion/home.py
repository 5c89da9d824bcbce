"""Where Bastion keeps its files: the home (config, data, logs) and the engine cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SETTINGS_FILE = """\
# Bastion settings. Keys follow Elasticsearch's names where one exists; nested YAML works too.
# Every setting is listed in docs/configuration.md. Examples:
#
# cluster.name: bastion
# http.port: 9200
# http.max_content_length: 100mb
# bastion.engine.heap.max: 1g
# bastion.backend.hosts: ["http://10.0.0.5:9200"]   # an external cluster, no managed engine
"""


@dataclass(frozen=True, slots=True)
class BastionHome:
    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "bastion.yml"

    def create(self) -> None:
        """Make the folders (private to the user) and a commented settings file, once."""
        for folder in (self.root, self.config_dir, self.data_dir, self.logs_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.settings_file.exists():
            self.settings_file.write_text(DEFAULT_SETTINGS_FILE)


def resolve_home(path: str | None = None) -> BastionHome:
    """`--home`, else `$BASTION_HOME`, else `~/.bastion`."""
    chosen = path or os.environ.get("BASTION_HOME") or "~/.bastion"
    return BastionHome(Path(chosen).expanduser().resolve())


def engine_cache_root() -> Path:
    """`$BASTION_ENGINE_CACHE`, else `$XDG_CACHE_HOME/bastion/engine`, else `~/.cache/…`."""
    if explicit := os.environ.get("BASTION_ENGINE_CACHE"):
        return Path(explicit).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser().resolve() / "bastion" / "engine"
