"""Credentials for index hosts: from URLs' userinfo or ``~/.netrc``, never shown.

Credentials come from the URL's userinfo (remembered per host, so a file URL on the same host
as a credentialed index gets them too) or from ``~/.netrc`` (``NETRC`` overrides the path).
They are stripped from every URL before it is stored, reported, hashed into a cache key or
put into an exception; requests carry them only as an ``Authorization`` header.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from pyx_server.engine.config import strip_credentials


class Credentials:
    """The credentials one client has seen, by host (``host:port``)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self._by_host: dict[str, tuple[str, str]] = {}
        self._netrc: Any = None
        self._netrc_loaded = False

    def remember(self, url: str) -> str:
        """Keep the userinfo of ``url`` for its host and return the URL without it."""
        parts = urlsplit(url)
        if "@" in parts.netloc:
            userinfo = parts.netloc.rpartition("@")[0]
            user, _, password = userinfo.partition(":")
            self._by_host[host_key(url)] = (unquote(user), unquote(password))
        return strip_credentials(url)

    def auth_for(self, url: str) -> httpx.Auth | None:
        """Basic auth for ``url``'s host: remembered userinfo first, else ``~/.netrc``."""
        found = self._by_host.get(host_key(url))
        if found is None:
            found = self._netrc_credentials(urlsplit(url).hostname or "")
        return httpx.BasicAuth(*found) if found else None

    def _netrc_credentials(self, host: str) -> tuple[str, str] | None:
        if not self._netrc_loaded:
            self._netrc_loaded = True
            path = self.env.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
            if os.path.isfile(path):  # most machines have none: spare the import
                import netrc

                try:
                    self._netrc = netrc.netrc(path)
                except (OSError, netrc.NetrcParseError):
                    self._netrc = None  # as pip does: a netrc we cannot read gives no credentials
        if self._netrc is None or not host:
            return None
        entry = self._netrc.authenticators(host)
        if not entry:
            return None
        login, _account, password = entry
        return (login or "", password or "")

    def scrub(self, text: str) -> str:
        """Remove any credential that slipped into an exception's text (belt and braces)."""
        for secret in (s for pair in self._by_host.values() for s in pair if s):
            if len(secret) >= 3:
                text = text.replace(secret, "****")
        return text


def host_key(url: str) -> str:
    """``host:port`` of ``url`` (the default port filled in), what credentials are kept by."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{host}:{port}"
