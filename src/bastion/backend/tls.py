"""The TLS context for an `https://` engine, from the `bastion.backend.ssl.*` settings.

`verification_mode` has Elasticsearch's meaning: `full` checks the chain and that the certificate
names the host of the URL, `certificate` checks the chain only, `none` checks nothing. Relative
paths are resolved against the config directory, as Elasticsearch resolves its `ssl` paths.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from bastion.config import settings as s
from bastion.config.settings import Settings


class BackendSSLError(Exception):
    """A `bastion.backend.ssl.*` file that cannot be used; the message names the setting."""


def engine_ssl_context(settings: Settings, config_dir: Path) -> ssl.SSLContext | None:
    """None when no engine URL is `https://` (reads files: call it at start-up, not per request)."""
    if not any(url.startswith("https://") for url in settings.get(s.BACKEND_HOSTS)):
        return None
    authorities = settings.get(s.BACKEND_SSL_CERTIFICATE_AUTHORITIES)
    # With configured CAs, only they are trusted (not the system's), as in Elasticsearch.
    context = (
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if authorities else ssl.create_default_context()
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if authorities:
        for name in authorities:
            path = config_dir / name
            try:
                context.load_verify_locations(cafile=str(path))
            except (OSError, ssl.SSLError) as error:
                raise BackendSSLError(
                    f"cannot read [{path}] of bastion.backend.ssl.certificate_authorities: "
                    f"{_reason(error)}"
                ) from None
    mode = settings.get(s.BACKEND_SSL_VERIFICATION_MODE)
    if mode != "full":
        context.check_hostname = False
        if mode == "none":
            context.verify_mode = ssl.CERT_NONE
    _load_client_certificate(context, settings, config_dir)
    return context


def _load_client_certificate(context: ssl.SSLContext, settings: Settings, config_dir: Path) -> None:
    certificate, key = settings.get(s.BACKEND_SSL_CERTIFICATE), settings.get(s.BACKEND_SSL_KEY)
    if not certificate and not key:
        return
    if not certificate or not key:
        raise BackendSSLError(
            "bastion.backend.ssl.certificate and bastion.backend.ssl.key must be set together"
        )
    passphrase = settings.get(s.BACKEND_SSL_KEY_PASSPHRASE)
    try:
        # A callable, never None: None would make OpenSSL prompt on the terminal.
        context.load_cert_chain(
            str(config_dir / certificate), str(config_dir / key), lambda: passphrase
        )
    except (OSError, ssl.SSLError) as error:
        # The reason never contains the passphrase; OpenSSL names the file problem only.
        raise BackendSSLError(
            "cannot load bastion.backend.ssl.certificate and bastion.backend.ssl.key "
            f"([{config_dir / certificate}], [{config_dir / key}]): {_reason(error)}"
        ) from None


def _reason(error: OSError | ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error)
    return error.strerror or str(error)
