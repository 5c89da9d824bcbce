"""Zip archives of certificates and keys, laid out as `elasticsearch-certutil` writes them.

The archive is built in memory and written once, complete, with mode 0600 (it holds private
keys); entries holding a key carry mode 0600 too so that `unzip` restores them private.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from bastion.tls.pki import KEY_FILE_MODE, write_new_file

_PUBLIC_ENTRY_MODE = 0o644
_DIRECTORY_MODE = 0o755


class ZipBundle:
    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._zip = zipfile.ZipFile(self._buffer, "w", zipfile.ZIP_DEFLATED)
        self._stamp = time.localtime()[:6]

    def directory(self, name: str) -> None:
        entry = zipfile.ZipInfo(name.rstrip("/") + "/", self._stamp)
        entry.external_attr = (0o040000 | _DIRECTORY_MODE) << 16
        self._zip.writestr(entry, b"")

    def add(self, name: str, data: bytes, *, secret: bool = False) -> None:
        entry = zipfile.ZipInfo(name, self._stamp)
        entry.compress_type = zipfile.ZIP_DEFLATED
        mode = KEY_FILE_MODE if secret else _PUBLIC_ENTRY_MODE
        entry.external_attr = (0o100000 | mode) << 16
        self._zip.writestr(entry, data)

    def write(self, path: Path) -> None:
        """Create `path`; `FileExistsError` if something is already there."""
        self._zip.close()
        write_new_file(path, self._buffer.getvalue(), KEY_FILE_MODE)
