r"""Key scrubbing: the one place that keeps secrets out of everything the SDK hands back.

A hostile or buggy server may echo the API key (or a provider key sent in a write) in a body, a
header name or value, a redirect ``Location`` or an error message, and it controls the encoding:
the key may arrive percent-encoded (``%70k-...``), JSON-escaped (``\\u0070k``, ``pk\\/...``) or as
HTML entities. Every decoding step the SDK performs (URL, JSON, headers) could turn such a form
back into the key, so a text counts as holding a secret when any of its decoded *views* does.

The common case costs two substring scans: a text with no ``%``, ``\\`` or ``&`` has no other
view, so only the plain search runs on the hot path.

A text that has them (a ``\\n`` in a note, an ``&`` in a name: common in real answers) is first
cut down to its *candidate segments*, so that the views are computed on a few short strings
rather than on the whole body (see :meth:`Scrubber._candidates`, which says why that loses no
case).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import unquote

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["REDACTED", "Scrubber", "UnderlyingError", "redact"]

REDACTED: Final = "[REDACTED]"
_REDACTED_BYTES: Final = REDACTED.encode()
# Secrets shorter than this are too likely to occur by chance in ordinary text to be redacted
# everywhere (a provider key of "x" would shred every message); real keys are far longer.
_MIN_SECRET_LENGTH: Final = 6
# Decodings are applied on top of each other, in any order, up to this many times: a server may
# percent-encode twice, or JSON-escape a percent-encoded key, and a caller who decodes once more
# than the SDK did must still not find a key.
_DECODE_DEPTH: Final = 4
# A run of this many characters of a secret in a third-party error message is redacted: such a
# message quotes raw response bytes cut anywhere (aiohttp cuts a long header line at 100 bytes,
# and quotes only the part of a line that arrived in the last read).
_PIECE: Final = 8
_JSON_ESCAPE: Final = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_MAX_CHAIN: Final = 8
_JSON_SIMPLE: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# A Python bytes literal in an exception message, as written by repr() (b'...' or b"...") or by a
# repr() of such a message (b\'...\'): raw bytes of the response, dropped from foreign messages.
_RAW_QUOTE: Final = re.compile(r"""(?<![A-Za-z0-9_])b(\\*)(['"]).*?(?<!\\)\1\2""", re.DOTALL)
# Where a truncated body may be cut: bytes no encoded form of a secret contains (unless the
# secret itself does; see Scrubber.cut).
_SEPARATORS: Final = frozenset(b" \t\r\n\"'<>{}[](),:")
# How a JSON text in UTF-16 or UTF-32 begins (a BOM, or NULs around the first ASCII character):
# json.loads() of bytes decodes those, so the key must be looked for in them too.
_WIDE_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")
# Every character a decoding may consume (and so turn into something else, or drop): the
# characters that start an encoded form, NUL, and what follows them in one (hex digits, ``u``,
# ``#``, ``x``, ``;``, entity names, all ASCII letters and digits: checked by tests/test_scrub.py
# against html.entities.html5). Any other character is written out as itself by every decoding
# (``\\"`` gives ``"``), so it survives into every view.
_DECODABLE: Final = frozenset(
    "%\\&#;\x00abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)
_STARTS: Final = "%\\&\x00"


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


def _encoded(text: str) -> bool:
    """Whether ``text`` has anything a decoding would change (else its only view is itself)."""
    return "%" in text or "\\" in text or "&" in text or "\x00" in text


def _decodings(text: str) -> Iterator[str]:
    if "%" in text:
        yield unquote(text, errors="replace")
    if "\\" in text:
        yield _json_unescape(text)
    if "&" in text:
        yield html.unescape(text)
    if "\x00" in text:
        # UTF-16/32 read as UTF-8: every character followed by NULs, which a terminal hides.
        yield text.replace("\x00", "")


def _views(text: str) -> Iterator[str]:
    """``text``, then every text up to _DECODE_DEPTH decodings in any order turn it into.

    A generator, so that a search stops at the first view holding a secret; only hashes of the
    views seen are kept, never the views themselves (a body may be megabytes).
    """
    yield text
    if not _encoded(text):
        return
    seen = {hash(text)}
    frontier = [text]
    for _ in range(_DECODE_DEPTH):
        following = []
        for current in frontier:
            for decoded in _decodings(current):
                key = hash(decoded)
                if key not in seen:
                    seen.add(key)
                    yield decoded
                    if _encoded(decoded):
                        following.append(decoded)
        frontier = following


def _redact_runs(text: str, pieces: re.Pattern[str]) -> str:
    """Replace every stretch of ``text`` covered by overlapping matches of ``pieces``."""
    spans: list[list[int]] = []
    for match in pieces.finditer(text):
        start, end = match.start(), match.start() + len(match.group(1))
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return "".join(out)


def _wide_json(body: bytes) -> str | None:
    """``body`` decoded the way json.loads() would decode it, when that is UTF-16 or UTF-32."""
    encoding = json.detect_encoding(body)
    if not encoding.startswith("utf-16") and not encoding.startswith("utf-32"):
        return None
    return body.decode(encoding, errors="replace")


class Scrubber:
    """Finds and removes a fixed set of secrets (the API key, provider keys) in any form.

    Built once per client (and per write that carries a provider key); every method is safe to
    call with text that holds no secret at all, which is what nearly every call sees.
    """

    __slots__ = (
        "_barrier",
        "_before",
        "_bytes",
        "_first",
        "_left",
        "_pieces",
        "_secrets",
        "_segment",
        "_unsafe",
    )

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
        # Built on first use: only third-party error messages and cut bodies need them.
        self._pieces: re.Pattern[str] | None = None
        self._unsafe: frozenset[int] | None = None
        # What may take part in producing a secret: see _candidates().
        alphabet = _DECODABLE.union(*self._secrets)
        longest = len(self._secrets[0]) if self._secrets else 0
        shortest = min((len(s) for s in self._secrets), default=1)
        self._barrier = next(chr(c) for c in range(1, 0x110000) if chr(c) not in alphabet)
        inside = "".join(re.escape(c) for c in sorted(alphabet))
        starts = "".join(re.escape(c) for c in _STARTS)
        literal = "".join(re.escape(c) for c in sorted(alphabet.difference(_STARTS)))
        # From a character that starts an encoded form to the end of its run, when the run is
        # at least as long as the shortest secret (the lookbehind: its last characters are all
        # in the run). A charset first, so the regex engine skips the other positions in its
        # own loop, and only the few runs that could hold a secret reach Python. The lookahead
        # and backreference make the run atomic (3.10 has no `*+`): a short run fails at once
        # instead of backtracking through every shorter end.
        self._segment: re.Pattern[str] = re.compile(
            f"[{starts}](?=([{inside}]*))\\1(?<=[{inside}]{{{shortest}}})"
        )
        # The plain characters just before such a start, as many as a secret could begin
        # among (one fewer than the longest secret's length).
        self._before = max(longest - 1, 0)
        self._left: re.Pattern[str] = re.compile(f"[{literal}]*\\Z")

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
        secrets = self._secrets
        for secret in secrets:
            if secret in text:
                return True
        if not secrets or not _encoded(text):
            return False
        reduced = self._candidates(text)
        return reduced is not None and any(
            secret in view for view in _views(reduced) for secret in secrets
        )

    def _candidates(self, text: str) -> str | None:
        r"""The parts of ``text`` a secret could be decoded from, joined; None when none is.

        Call a character a *barrier* when it is in no secret and no decoding consumes it (not
        ``%``, ``\``, ``&``, ``#``, ``;``, NUL, an ASCII letter or digit): ``"``, ``,``, ``:``,
        a space, a newline, any non-ASCII letter in a JSON body. Every decoding (percent, JSON
        escapes, HTML entities, NUL stripping) writes a barrier out as itself, and no encoded
        form reaches across one (``\"`` ends at it; an entity name is letters and digits). So
        every view of ``text`` is, segment by segment, the views of the runs between barriers,
        with the barriers kept, and a secret (which holds no barrier) lies within one run's
        view. Which barrier it is changes nothing, so runs are joined with one chosen barrier.

        A run can be dropped when no decoding changes it (it holds no ``%``, ``\``, ``&`` or
        NUL: it is then its only view, and the plain search covers it), or when it is shorter
        than the shortest secret (no decoding lengthens a text). Of the plain characters that
        begin a run, before its first ``%``, ``\``, ``&`` or NUL, no decoding ever consumes
        one (an encoded form reaches only rightwards from where it starts), so only the last
        ones a secret could begin among are kept. What is left is a few short runs around the
        escapes of a body, and searching their views finds a secret exactly when searching the
        views of the whole text would.
        """
        left = self._left.search
        size = len(text)
        back = self._before
        # Distinct runs only (a page repeats its tags and names), the one that ends the text
        # apart: a trailing `\\` escapes the barrier after a run, but not the end of the text.
        runs: dict[str, None] = {}
        last = ""
        for match in self._segment.finditer(text):
            start, end = match.span()
            found = left(text, max(start - back, 0), start)
            run = text[found.start() if found else start : end]
            if end == size:
                last = run
            else:
                runs[run] = None
        if not runs and not last:
            return None
        barrier = self._barrier
        return "".join(run + barrier for run in runs) + last

    # -- text ----------------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """Return ``text`` with every secret replaced, in whatever form it was.

        A secret hidden in an encoded form is replaced in the decoded text, which is returned
        instead of the original: the encoding is lost, the secret with it.
        """
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        # found_in() first: it looks at the runs around escapes only, so a long error message
        # with a `\n` in it is not decoded whole in every composition when it holds no secret.
        if not _encoded(text) or not self._secrets or not self.found_in(text):
            return text
        views = _views(text)
        next(views)  # the text itself, already clean
        for view in views:
            if any(secret in view for secret in self._secrets):
                cleaned = view
                for secret in self._secrets:
                    cleaned = cleaned.replace(secret, REDACTED)
                # The view may still hide a secret one decoding deeper; scrub it again.
                return self.text(cleaned) if self.found_in(cleaned) else cleaned
        return text

    def foreign(self, text: str) -> str:
        """Scrub the message of a third-party exception (aiohttp's, a decoder's).

        Such a message may quote raw response bytes, and cut them anywhere: a long header line
        at 100 bytes, a line split across two reads at the read boundary. So quoted bytes
        literals are dropped, and any run of 8 characters of a secret is redacted as well as a
        whole one; a server splitting the key at will could otherwise get a different piece of
        it into each error.
        """
        if not self._secrets:
            return text
        text = self.text(_RAW_QUOTE.sub("b'...'", text))
        pieces = self._piece_pattern()
        for _ in range(_MAX_CHAIN):
            for view in _views(text):
                if pieces.search(view):
                    text = self.text(_redact_runs(view, pieces))
                    break
            else:
                return text
        return REDACTED

    def _piece_pattern(self) -> re.Pattern[str]:
        if self._pieces is None:
            grams = {
                secret[i : i + _PIECE]
                for secret in self._secrets
                for i in range(max(1, len(secret) - _PIECE + 1))
            }
            alternatives = "|".join(re.escape(g) for g in sorted(grams, key=len, reverse=True))
            # A lookahead, so overlapping runs are all found.
            self._pieces = re.compile(f"(?=({alternatives}))")
        return self._pieces

    def body(self, body: bytes) -> bytes:
        r"""Return a response body with every secret removed; the same object when it had none.

        A plain echo is replaced in place. An encoded one (the body has a ``%``, ``\``, ``&`` or
        NUL, or is JSON in UTF-16/32, which json.loads() also reads) is found in the decoded
        text; the body is then decoded, scrubbed and written out again as UTF-8 JSON, or
        replaced by its scrubbed text if it is not JSON.
        """
        # find(), not `in`: bytes.__contains__ first tries its argument as an int and raises
        # and clears a TypeError, which costs more than the search on a body of this size.
        for raw in self._bytes:
            if body.find(raw) != -1:
                body = body.replace(raw, _REDACTED_BYTES)
        find = body.find
        if (
            find(b"\\") == -1
            and find(b"%") == -1
            and find(b"&") == -1
            and find(b"\x00") == -1
            and not body.startswith(_WIDE_BOMS)
        ) or not self._secrets:
            return body
        text = _wide_json(body) or body.decode("utf-8", errors="replace")
        # found_in() searches only the runs around escapes: the cost of an answer whose names
        # and notes hold a `\n` or an `&` stays near that of a plain one.
        if not self.found_in(text):
            return body
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return self.text(text).encode()
        return json.dumps(self.tree(data), ensure_ascii=False).encode()

    def cut(self, body: bytes) -> bytes:
        """Return a prefix of a body truncated at a read limit, cut where no secret can straddle.

        The limit may fall inside an echoed secret, leaving a piece of it that no search for
        the whole secret would find. So the body is cut back to its last separator (space,
        quote, bracket, comma, colon...), which neither a secret nor any of its encoded forms
        contains; the rest, whole secrets only, is then scrubbed as usual.
        """
        if not self._secrets:
            return body
        if self._unsafe is None:
            self._unsafe = frozenset(b for raw in self._bytes for b in raw)
        last = max((body.rfind(bytes((b,))) for b in _SEPARATORS - self._unsafe), default=-1)
        return body[: last + 1]

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
        stand_in = cls(name, scrubber.foreign(message))
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
