r"""Key scrubbing: the one place that keeps secrets out of everything the SDK hands back.

A hostile or buggy server may echo the API key (or a provider key sent in a write) in a body, a
header name or value, a redirect ``Location`` or an error message, and it controls the encoding:
the key may arrive percent-encoded (``%70k-...``), JSON-escaped (``\\u0070k``, ``pk\\/...``) or as
HTML entities. Every decoding step the SDK performs (URL, JSON, headers) could turn such a form
back into the key, so a text counts as holding a secret when any of its decoded *views* does.

The common case costs two substring scans: a text with no ``%``, ``\\`` or ``&`` has no other
view, so only the plain search runs on the hot path.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import unquote

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["REDACTED", "Scrubber", "UnderlyingError", "redact"]

REDACTED: Final = "[REDACTED]"
_REDACTED_BYTES: Final = REDACTED.encode()
# Secrets shorter than this are too likely to occur by chance in ordinary text to be redacted
# everywhere (a provider key of "x" would shred every message); real keys are far longer.
_MIN_SECRET_LENGTH: Final = 6
# Percent-decoding is applied this many times over: a server may encode twice, and a caller
# who decodes a URL once more must still not find a key.
_PERCENT_ROUNDS: Final = 3
_JSON_ESCAPE: Final = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_MAX_CHAIN: Final = 8
_JSON_SIMPLE: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def redact(text: str, secret: str) -> str:
    """Replace every occurrence of ``secret`` in ``text`` with ``[REDACTED]``."""
    return text.replace(secret, REDACTED) if secret and secret in text else text


def _json_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        if len(token) == 5:
            return chr(int(token[1:], 16))
        return _JSON_SIMPLE.get(token, token)

    return _JSON_ESCAPE.sub(one, text)


def _views(text: str) -> list[str]:
    """The texts ``text`` may turn into through the decodings a reader may apply."""
    views = [text]
    if "\\" in text:
        views.append(_json_unescape(text))
    if "&" in text:
        views += [html.unescape(view) for view in views]
    if "%" in text:
        for view in list(views):
            current = view
            for _ in range(_PERCENT_ROUNDS):
                decoded = unquote(current, errors="replace")
                if decoded == current:
                    break
                views.append(decoded)
                current = decoded
    return views


class Scrubber:
    """Finds and removes a fixed set of secrets (the API key, provider keys) in any form.

    Built once per client (and per write that carries a provider key); every method is safe to
    call with text that holds no secret at all, which is what nearly every call sees.
    """

    __slots__ = ("_bytes", "_first", "_secrets")

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET_LENGTH}
        # Longest first, so a secret containing another is replaced whole.
        self._secrets: tuple[str, ...] = tuple(sorted(unique, key=len, reverse=True))
        # The one secret most scrubbers have, for the inlined per-answer header test (with more
        # than one, every header takes the full test).
        self._first = self._secrets[0] if self._secrets else "\x00no secret\x00"
        self._bytes: tuple[bytes, ...] = tuple(
            s.encode("utf-8", "surrogatepass") for s in self._secrets
        )

    def with_secrets(self, secrets: Iterable[str]) -> Scrubber:
        """Return a scrubber for these secrets as well as this one's."""
        return Scrubber([*self._secrets, *secrets])

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"Scrubber({len(self._secrets)} secrets)"

    # -- tests ---------------------------------------------------------------------------------

    def found_in(self, text: str) -> bool:
        """Whether ``text``, or any decoded view of it, holds a secret."""
        return any(secret in view for view in _views(text) for secret in self._secrets)

    # -- text ----------------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """Return ``text`` with every secret replaced, in whatever form it was.

        A secret hidden in an encoded form is replaced in the decoded text, which is returned
        instead of the original: the encoding is lost, the secret with it.
        """
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if not ("%" in text or "\\" in text or "&" in text):
            return text
        for view in _views(text)[1:]:
            if any(secret in view for secret in self._secrets):
                cleaned = view
                for secret in self._secrets:
                    cleaned = cleaned.replace(secret, REDACTED)
                # The view may still hide a secret one decoding deeper; scrub it again.
                return self.text(cleaned) if self.found_in(cleaned) else cleaned
        return text

    def body(self, body: bytes) -> bytes:
        r"""Return a response body with every secret removed; the same object when it had none.

        A plain echo is replaced in place. A JSON-escaped one (the body has a ``\\``) is found in
        the unescaped text; the body is then decoded, scrubbed and written out again, or
        replaced by its scrubbed text if it is not JSON.
        """
        for raw in self._bytes:
            if raw in body:
                body = body.replace(raw, _REDACTED_BYTES)
        if not (b"\\" in body or b"%" in body or b"&" in body) or not self._secrets:
            return body
        text = body.decode("utf-8", errors="replace")
        if not self.found_in(text):
            return body
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return self.text(text).encode()
        return json.dumps(self.tree(data), ensure_ascii=False).encode()

    def tree(self, data: Any) -> Any:
        """Return decoded JSON ``data`` with every string (keys too) scrubbed."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {self.tree(k): self.tree(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.tree(item) for item in data]
        return data

    def headers(self, headers: CIMultiDictProxy[str]) -> CIMultiDictProxy[str]:
        """Return ``headers`` with secrets removed from names and values; the same when clean."""
        # Inlined tests, no call per header: this runs on every answer, and nearly every
        # answer's headers hold neither a secret nor anything that decodes into one.
        key = self._first
        several = len(self._secrets) > 1
        for name, value in headers.items():
            if (
                several
                or key in value
                or key in name
                or "%" in value
                or "\\" in value
                or "&" in value
                or "%" in name
                or "\\" in name
                or "&" in name
            ) and (self._dirty(name) or self._dirty(value)):
                break
        else:
            return headers
        return CIMultiDictProxy(
            CIMultiDict((self.text(name), self.text(value)) for name, value in headers.items())
        )

    def mapping(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Return a scrubbed plain-dict copy of any str mapping."""
        return {self.text(str(k)): self.text(str(v)) for k, v in headers.items()}

    def _dirty(self, text: str) -> bool:
        # The cheap plain test first; views only for text that has something to decode.
        for secret in self._secrets:
            if secret in text:
                return True
        return ("%" in text or "\\" in text or "&" in text) and self.found_in(text)

    # -- exceptions ----------------------------------------------------------------------------

    def exception(self, exc: BaseException) -> BaseException:
        """Make everything reachable from ``exc`` free of secrets; return ``exc``.

        Our own errors get their args and attributes scrubbed. A foreign exception in the
        ``__cause__``/``__context__`` chain (aiohttp's errors quote raw response bytes, which may
        echo the key) is replaced by an :class:`UnderlyingError` that keeps its type name and its
        scrubbed message, so ``traceback.format_exception`` still says what went wrong.
        """
        stack: list[BaseException] = [exc]
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            self._own(node)
            for attr in ("__cause__", "__context__"):
                link: BaseException | None = getattr(node, attr)
                if link is None:
                    continue
                if not isinstance(link, Exception) or type(link).__module__.split(".")[0] not in (
                    "portkey_vk",
                ):
                    link = UnderlyingError.of(link, self)
                    setattr(node, attr, link)
                stack.append(link)
        return exc

    def _own(self, exc: BaseException) -> None:
        if not self._secrets:
            return
        exc.args = tuple(self._value(arg) for arg in exc.args)
        for name, value in list(vars(exc).items()):
            cleaned = self._value(value)
            if cleaned is not value:
                # Plain attributes, set the same way the constructors set them.
                object.__setattr__(exc, name, cleaned)

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            cleaned = self.text(value)
            return value if cleaned == value else cleaned
        if isinstance(value, CIMultiDictProxy):
            return self.headers(value)
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            if (
                isinstance(value, dict)
                and not any(isinstance(v, dict | list) for v in value.values())
                and all(isinstance(v, str) for v in value.values())
            ):
                return self.mapping(value)
            return self.tree(dict(value))
        if isinstance(value, list | tuple):
            return self.tree(value)
        if isinstance(value, bytes):
            return self.body(value)
        return value


class UnderlyingError(Exception):
    """Stands in for a third-party exception in the cause chain of an SDK error.

    The original (an aiohttp or decoder error) may quote raw response bytes that echo a secret;
    this keeps what it said, scrubbed, and the name of its type.

    Attributes:
        type_name: the qualified name of the original exception's type.
    """

    type_name: str

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name

    @classmethod
    def of(cls, exc: BaseException, scrubber: Scrubber, depth: int = 0) -> UnderlyingError:
        """Build the stand-in of ``exc``, with its own chain replaced the same way."""
        kind = type(exc)
        name = (
            kind.__qualname__
            if kind.__module__ == "builtins"
            else (f"{kind.__module__}.{kind.__qualname__}")
        )
        try:
            message = str(exc)
        except Exception:  # a hostile __str__ must not break error reporting
            message = ""
        stand_in = cls(name, scrubber.text(message))
        stand_in.__suppress_context__ = exc.__suppress_context__
        stand_in.__traceback__ = None
        if depth >= _MAX_CHAIN:
            # A chain this long (or a cycle) says nothing more worth the risk of keeping it.
            return stand_in
        cause, context = exc.__cause__, exc.__context__
        if cause is not None:
            stand_in.__cause__ = cls.of(cause, scrubber, depth + 1)
        if context is not None and context is not cause:
            stand_in.__context__ = cls.of(context, scrubber, depth + 1)
        return stand_in
