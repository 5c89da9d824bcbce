"""Scrolls belong to the user who started them, as in Elasticsearch.

The engine does not know users, so Bastion never hands out the engine's scroll ids: it gives the
client a sealed id, `bsc1_<payload>.<mac>`, whose payload names the owner and the engine's id and
whose HMAC-SHA256 is keyed with a secret that every gateway of the cluster shares (kept in the
security index). Continuing or clearing a scroll opens the id again; an id that is not Bastion's,
was altered or belongs to another user answers like an expired scroll (404
`search_context_missing_exception`), so that nothing is revealed about other users' scrolls.
Stateless: any gateway can continue any scroll, and nothing is stored per scroll.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

import orjson

from bastion.authc.user import Authentication
from bastion.rest.errors import ElasticsearchError, parse_error
from bastion.store.security_index import SecurityIndex, VersionConflict

PREFIX = "bsc1_"
MAC_BYTES = 16
SCROLL = "indices:data/read/scroll"
CLEAR_SCROLL = "indices:data/read/scroll/clear"
CLEAR_ALL_SCROLLS = "cluster:admin/indices/scroll/clear_all"
# OpenSearch writes `_scroll_id` first in a search response; only the head is searched, so a
# document field of that name further down is never touched.
_RESPONSE_ID = re.compile(rb'"_scroll_id"\s*:\s*"([^"\\]+)"')
RESPONSE_HEAD = 4096
KEY_DOC_ID = "scroll-seal-key"


def owner_of(authentication: Authentication) -> str:
    """Who owns a scroll: the effective user and the realm that found it."""
    return f"{authentication.lookup_realm.name}\x00{authentication.user.username}"


def missing(scroll_id: str) -> ElasticsearchError:
    return ElasticsearchError(
        404,
        "search_context_missing_exception",
        f"No search context found for id [{scroll_id[:64]}]",
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ScrollSeal:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "ScrollSeal(key=<hidden>)"

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:MAC_BYTES]

    def seal(self, engine_id: str, owner: str) -> str:
        payload = f"{owner}\n{engine_id}".encode()
        return f"{PREFIX}{_b64(payload)}.{_b64(self._mac(payload))}"

    def open(self, sealed: str, owner: str) -> str:
        """The engine's id behind a sealed id of `owner`; raises the 404 otherwise."""
        body, dot, mac = sealed.removeprefix(PREFIX).partition(".")
        if not sealed.startswith(PREFIX) or not dot:
            raise missing(sealed)
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            raise missing(sealed) from None
        if not hmac.compare_digest(self._mac(payload), given):
            raise missing(sealed)
        stored_owner, _, engine_id = payload.decode("utf-8", "replace").partition("\n")
        if not hmac.compare_digest(stored_owner.encode(), owner.encode()):
            raise missing(sealed)
        return engine_id

    def seal_response(self, raw: bytes, owner: str) -> bytes:
        """The engine's answer with its scroll id sealed (unchanged when it carries none)."""
        found = _RESPONSE_ID.search(raw, 0, RESPONSE_HEAD)
        if found is None:
            return raw
        sealed = self.seal(found.group(1).decode("ascii"), owner).encode()
        return raw[: found.start(1)] + sealed + raw[found.end(1) :]

    def open_request(
        self,
        *,
        path: str,
        query: Mapping[str, str],
        raw_query: str,
        body: bytes | None,
        owner: str,
    ) -> tuple[str, bytes | None, bool]:
        """A scroll or clear-scroll request with every id opened: (path with query, body,
        whether it clears all scrolls). Raises the 404 for an id that is not the owner's."""
        segments = path.split("/")
        clear_all = False
        if len(segments) == 4 and segments[3]:  # /_search/scroll/<ids>
            ids = [unquote(part) for part in segments[3].split(",")]
            if ids == ["_all"]:
                clear_all = True
            else:
                opened = [quote(self.open(one, owner), safe="") for one in ids]
                segments[3] = ",".join(opened)
        if "scroll_id" in query:
            opened_query = self.open(query["scroll_id"], owner)
            raw_query = re.sub(
                r"(^|&)scroll_id=[^&]*",
                lambda m: f"{m.group(1)}scroll_id={quote(opened_query, safe='')}",
                raw_query,
            )
        if body and body.strip():
            body, clear_all_body = self._open_body(body, owner)
            clear_all = clear_all or clear_all_body
        path_qs = "/".join(segments) + (f"?{raw_query}" if raw_query else "")
        return path_qs, body, clear_all

    def _open_body(self, body: bytes, owner: str) -> tuple[bytes, bool]:
        try:
            parsed: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise parse_error("request body must be a JSON object with [scroll_id]") from None
        if not isinstance(parsed, dict):
            raise parse_error("request body must be a JSON object with [scroll_id]")
        ids = parsed.get("scroll_id")
        if ids is None:
            return body, False
        if ids in ("_all", ["_all"]):
            return body, True
        if isinstance(ids, str):
            parsed["scroll_id"] = self.open(ids, owner)
        elif isinstance(ids, list) and all(isinstance(one, str) for one in ids):
            parsed["scroll_id"] = [self.open(one, owner) for one in ids]
        else:
            raise parse_error("[scroll_id] must be a string or an array of strings")
        return orjson.dumps(parsed), False


async def load_seal(index: SecurityIndex) -> ScrollSeal:
    """The cluster's sealing key: read, or created by the first gateway that needs it."""
    await index.ensure()
    doc = await index.get(KEY_DOC_ID)
    if doc is None:
        # Create only: when another gateway created it first, theirs is used.
        with contextlib.suppress(VersionConflict):
            await index.put(
                KEY_DOC_ID,
                {"doc_type": "scroll_seal_key", "secret": secrets.token_hex(32)},
                expect=None,
            )
        doc = await index.get(KEY_DOC_ID)
    if doc is None or not isinstance(doc.source.get("secret"), str):
        raise ElasticsearchError(500, "security_exception", "the scroll sealing key is missing")
    return ScrollSeal(bytes.fromhex(doc.source["secret"]))
