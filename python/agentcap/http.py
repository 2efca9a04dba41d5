"""HTTP client authentication: the token as ``Authorization: Bearer``, and,
when the agent has a key, a holder proof on every request.

A holder proof (RFC 9421 message signature) covers the method, the
service's authority, the path, the query, the body's ``Content-Digest`` and
the ``Authorization`` header, with a fresh nonce: a service that requires
proofs (``agentcap serve --require-holder-proof``) refuses a stolen token,
and a replayed or altered call. The signature itself is made by the Rust
core (:meth:`agentcap.HolderProof.sign`); this module only reads the parts
of the request as they will be sent.

Neither ``httpx`` nor ``requests`` is a dependency of this package: each
class needs its library only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Generator, Optional, Tuple, Union
from urllib.parse import urlsplit

from ._agentcap import HolderProof, KeyPair, ProofRequest, Token

if TYPE_CHECKING:  # pragma: no cover
    import httpx
    import requests

__all__ = ["HttpxAuth", "RequestsAuth", "sign_request"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _token_text(token: Union[Token, str]) -> str:
    if isinstance(token, Token):
        return token.to_base64()
    if isinstance(token, str):
        return token.strip()
    raise TypeError("token must be an agentcap.Token or its base64 text")


def _authority(scheme: str, host: str, port: Optional[int]) -> str:
    """``host[:port]`` as the service sees it: lowercase host, the scheme's
    default port omitted, IPv6 literals in brackets."""
    host = host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if port is None or _DEFAULT_PORTS.get(scheme.lower()) == port:
        return host
    return f"{host}:{port}"


def _split_target(target: str) -> Tuple[str, Optional[str]]:
    """The path and query (without ``?``) of a request target as sent."""
    path, sep, query = target.partition("?")
    return (path or "/"), (query if sep else None)


def sign_request(
    holder: KeyPair,
    token: Union[Token, str],
    method: str,
    url: str,
    body: bytes = b"",
) -> Dict[str, str]:
    """The four headers (``Authorization``, ``Content-Digest``,
    ``Signature-Input``, ``Signature``) proving possession of ``holder``'s
    key for one request to ``url``, as ``agentcap prove`` prints them.

    ``url`` must be exactly what the client will send (path and query not
    re-encoded afterwards).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("only absolute http and https URLs can be signed")
    request = ProofRequest(
        method.upper(),
        _authority(parts.scheme, parts.hostname, parts.port),
        parts.path or "/",
        _token_text(token),
        query=parts.query if "?" in url.split("#", 1)[0] else None,
        body=bytes(body),
    )
    return HolderProof.sign(holder, request).as_dict()


def _bearer_only(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class _HolderAuthFlow:
    """The ``auth_flow`` of httpx-style clients (httpx, and httpx2, which
    the MCP SDK uses): the bearer token, and a holder proof when there is
    a holder key."""

    requires_request_body = True

    def __init__(self, token: Union[Token, str], holder: Optional[KeyPair] = None) -> None:
        self._token = _token_text(token)
        self._holder = holder

    def _headers(self, request: Any) -> Dict[str, str]:
        if self._holder is None:
            return _bearer_only(self._token)
        url = request.url
        path, query = _split_target(url.raw_path.decode("ascii"))
        proof = ProofRequest(
            request.method,
            # The host as sent in the Host header (IDNA-encoded, ASCII).
            _authority(url.scheme, url.raw_host.decode("ascii"), url.port),
            path,
            self._token,
            query=query,
            body=bytes(request.content),
        )
        return HolderProof.sign(self._holder, proof).as_dict()

    def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        """Adds the headers, then sends the request."""
        request.headers.update(self._headers(request))
        yield request


try:  # httpx is optional
    import httpx as _httpx

    _HttpxBase: Any = _httpx.Auth
except ImportError:  # pragma: no cover - exercised only without httpx
    _httpx = None
    _HttpxBase = object


class HttpxAuth(_HolderAuthFlow, _HttpxBase):  # type: ignore[misc]
    """An ``httpx.Auth`` that sends ``token`` as a bearer token and, when
    ``holder`` (the agent's key) is given, signs every request with it.

    Works with ``httpx.Client`` and ``httpx.AsyncClient``::

        client = httpx.Client(auth=HttpxAuth(token, holder=agent_key))
    """

    def __init__(self, token: Union[Token, str], holder: Optional[KeyPair] = None) -> None:
        if _httpx is None:  # pragma: no cover
            raise ImportError("agentcap.HttpxAuth needs httpx (pip install httpx)")
        super().__init__(token, holder)


try:  # requests is optional
    import requests as _requests

    _RequestsBase: Any = _requests.auth.AuthBase
except ImportError:  # pragma: no cover - exercised only without requests
    _requests = None
    _RequestsBase = object


class RequestsAuth(_RequestsBase):  # type: ignore[misc]
    """A ``requests`` auth that sends ``token`` as a bearer token and, when
    ``holder`` is given, signs every request with it::

        requests.post(url, json=..., auth=RequestsAuth(token, holder=agent_key))
    """

    def __init__(self, token: Union[Token, str], holder: Optional[KeyPair] = None) -> None:
        if _requests is None:  # pragma: no cover
            raise ImportError("agentcap.RequestsAuth needs requests (pip install requests)")
        self._token = _token_text(token)
        self._holder = holder

    def __call__(self, request: "requests.PreparedRequest") -> "requests.PreparedRequest":
        """Adds the headers to the prepared request."""
        if self._holder is None:
            request.headers.update(_bearer_only(self._token))
            return request
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, (bytes, bytearray)):
            raise TypeError("agentcap.RequestsAuth signs bytes bodies only, not streams")
        url = request.url or ""
        parts = urlsplit(url)
        if parts.hostname is None:
            raise ValueError("the request URL has no host")
        proof = ProofRequest(
            (request.method or "GET").upper(),
            _authority(parts.scheme, parts.hostname, parts.port),
            parts.path or "/",
            self._token,
            query=parts.query if "?" in url.split("#", 1)[0] else None,
            body=bytes(body),
        )
        request.headers.update(HolderProof.sign(self._holder, proof).as_dict())
        return request
