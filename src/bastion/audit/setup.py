"""Builds a worker's audit trail from its settings."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket
from pathlib import Path

from bastion.audit.chain import load_or_create_key
from bastion.audit.index_output import IndexShipper
from bastion.audit.logfile import LogFileOutput, audit_log_path
from bastion.audit.stats import INDEX_SUFFIX, StatsFile
from bastion.audit.trail import AuditTrail, NodeInfo
from bastion.backend.client import EngineClient
from bastion.config import settings as s
from bastion.config.settings import Settings, SettingsError
from bastion.keystore import SecureSettings

NODE_ID_FILE = "node.id"
SIGNING_KEY_SETTING = "bastion.audit.signing_key"


def node_id(data_dir: Path) -> str:
    """A persistent random id, as Elasticsearch's `node.id` (kept in `<home>/data/node.id`)."""
    path = data_dir / NODE_ID_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="ascii").strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    candidate = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker won the race
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w") as out:
        out.write(candidate + "\n")
    return candidate


def signing_key(config_dir: Path, secure: SecureSettings) -> bytes:
    """The keystore's `bastion.audit.signing_key` when set (at least 32 characters), else the
    key file `<config>/audit_signing.key`, created on first use."""
    if SIGNING_KEY_SETTING in secure:
        key = secure.get_string(SIGNING_KEY_SETTING).encode()
        if len(key) < 32:
            raise SettingsError(f"secure setting [{SIGNING_KEY_SETTING}] must have 32 characters")
        return key
    return load_or_create_key(config_dir)


def build_audit_trail(
    settings: Settings, config_dir: Path, secure: SecureSettings, engine: EngineClient
) -> AuditTrail:
    """The home is the parent of the config folder: logs go to `<home>/logs/`. With audit
    disabled nothing is written (not even the node id)."""
    home = config_dir.parent
    enabled = settings.get(s.AUDIT_ENABLED)
    node = NodeInfo(
        id=node_id(home / "data") if enabled else "",
        name=settings.get(s.NODE_NAME),
        host_name=socket.gethostname(),
        host_ip=settings.get(s.HTTP_HOST),
    )
    output = None
    if enabled:
        output = LogFileOutput(
            audit_log_path(home / "logs", settings.get(s.CLUSTER_NAME)),
            signing_key(config_dir, secure),
            max_size=settings.get(s.AUDIT_LOGFILE_MAX_SIZE),
            checkpoint_interval=settings.get(s.AUDIT_CHECKPOINT_INTERVAL),
            queue_size=settings.get(s.AUDIT_QUEUE_SIZE),
            stats=StatsFile(home / "logs"),
        )
    shipper = None
    if output is not None and settings.get(s.AUDIT_INDEX_ENABLED):
        shipper = IndexShipper(
            output.path,
            engine,
            batch_size=settings.get(s.AUDIT_INDEX_BATCH_SIZE),
            interval=settings.get(s.AUDIT_INDEX_FLUSH_INTERVAL),
            stats=StatsFile(home / "logs", INDEX_SUFFIX),
        )
    return AuditTrail(settings.values, node, output, shipper)
