"""A tool guard usable from any framework: before a tool runs, check the
agent's token locally for that tool (defence in depth: the service checks
again).

A tool named ``NAME`` is the resource ``tools/NAME`` with the operation
``call``, as the MCP gateway maps ``tools/call`` (``docs/mcp.md``); its
numeric arguments are the request's quantities (a fraction rounded up, as
the gateway does), so caps such as ``tools/book_flight:call:max_price<=500``
hold before the call leaves the agent::

    guard = ToolGuard(token, root_public_key)

    @guard.tool
    def book_flight(flight: str, max_price: int) -> str: ...

    book_flight("TP123", max_price=900)   # raises ToolDenied, the tool never runs
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from typing import Any, Callable, Dict, Mapping, Optional, TypeVar, Union

from ._agentcap import Denied, PublicKey, Token

__all__ = ["ToolDenied", "ToolGuard", "tool_quantities"]

F = TypeVar("F", bound=Callable[..., Any])

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


class ToolDenied(Denied):
    """The agent's token does not allow this tool call. ``tool`` names it;
    ``reason`` and ``explanation`` say why, as for :class:`agentcap.Denied`."""

    def __init__(self, tool: str, reason: str, explanation: str) -> None:
        super().__init__(f"tool {tool!r} refused: {explanation}")
        self.tool = tool
        self.reason = reason
        self.explanation = explanation


def tool_quantities(arguments: Mapping[str, Any]) -> Dict[str, int]:
    """The quantities a tool call states: its top-level numeric arguments
    (booleans excluded), fractions rounded up. A number outside the 64-bit
    range is refused with ``ValueError``."""
    out: Dict[str, int] = {}
    for name, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        if isinstance(value, numbers.Integral):
            number = int(value)
        else:
            as_float = float(value)
            if not math.isfinite(as_float):
                raise ValueError(f"argument {name!r} is not a finite number")
            number = math.ceil(as_float)
        if not _I64_MIN <= number <= _I64_MAX:
            raise ValueError(f"argument {name!r} is out of the 64-bit range")
        out[str(name)] = number
    return out


TokenSource = Union[Token, str, Callable[[], Union[Token, str]]]


class ToolGuard:
    """Checks an agent's token before each tool call.

    ``token`` is a :class:`agentcap.Token`, its base64 text, or a callable
    returning either (read at every call, so a refreshed token is used).
    ``root`` is the issuer's root public key. ``audience`` is the resource
    identifier of the service the tools belong to, when tokens name
    audiences.
    """

    def __init__(
        self,
        token: TokenSource,
        root: Union[PublicKey, str],
        *,
        audience: Optional[str] = None,
        resource_prefix: str = "tools/",
        operation: str = "call",
    ) -> None:
        self._token = token
        self._root = root if isinstance(root, PublicKey) else PublicKey.parse(root)
        self._audience = audience
        self._prefix = resource_prefix
        self._operation = operation
        self._parsed: Optional[Token] = None
        self._parsed_from: Optional[str] = None

    def _current_token(self) -> Token:
        source = self._token() if callable(self._token) else self._token
        if isinstance(source, Token):
            return source
        if not isinstance(source, str):
            raise TypeError("the token must be an agentcap.Token or its base64 text")
        if self._parsed is None or self._parsed_from != source:
            self._parsed = Token.from_base64(source)
            self._parsed_from = source
        return self._parsed

    def check(self, tool: str, arguments: Optional[Mapping[str, Any]] = None) -> None:
        """Raises :class:`ToolDenied` unless the token allows calling ``tool``
        with ``arguments``; other agentcap errors (an invalid token, a bad
        tool name) propagate as they are."""
        quantities = tool_quantities(arguments or {})
        token = self._current_token()
        try:
            token.check(
                self._root,
                f"{self._prefix}{tool}",
                self._operation,
                audience=self._audience,
                **quantities,
            )
        except Denied as denied:
            raise ToolDenied(tool, denied.reason, denied.explanation) from denied

    def allows(self, tool: str, arguments: Optional[Mapping[str, Any]] = None) -> bool:
        """Whether :meth:`check` would pass."""
        try:
            self.check(tool, arguments)
        except ToolDenied:
            return False
        return True

    def tool(self, func: Optional[F] = None, *, name: Optional[str] = None) -> Any:
        """Decorates a function (sync or async) so that every call is checked
        first, with the call's arguments bound to the function's parameters.
        ``name`` defaults to the function's name."""

        def decorate(fn: F) -> F:
            tool_name = name or fn.__name__
            signature = inspect.signature(fn)

            def arguments_of(args: Any, kwargs: Any) -> Dict[str, Any]:
                bound = signature.bind_partial(*args, **kwargs)
                bound.apply_defaults()
                out: Dict[str, Any] = {}
                for param, value in bound.arguments.items():
                    kind = signature.parameters[param].kind
                    if kind is inspect.Parameter.VAR_KEYWORD:
                        out.update(value)
                    elif kind is not inspect.Parameter.VAR_POSITIONAL:
                        out[param] = value
                return out

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                    self.check(tool_name, arguments_of(args, kwargs))
                    return await fn(*args, **kwargs)

                return guarded_async  # type: ignore[return-value]

            @functools.wraps(fn)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                self.check(tool_name, arguments_of(args, kwargs))
                return fn(*args, **kwargs)

            return guarded  # type: ignore[return-value]

        return decorate(func) if func is not None else decorate
