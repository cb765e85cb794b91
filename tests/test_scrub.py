"""The scrubber's fast search around escapes finds exactly what the search of every view finds.

``Scrubber.found_in`` no longer decodes a whole body in every composition of decodings: it cuts
the text down to the runs around ``%``, ``\\``, ``&`` and NUL that are long enough to hold a
secret (``Scrubber._candidates``) and searches their views. These tests hold it to the
exhaustive search it replaces (``reference`` below: every view of the whole text, up to four
decodings deep), on texts built to hit the cut's edges, and check that an answer holding a
secret in any composition of encodings is still scrubbed.
"""

from __future__ import annotations

import html
import html.entities
import json
import re
from collections.abc import Callable
from urllib.parse import quote, unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from portkey_vk._scrub import _DECODABLE, Scrubber, _json_unescape, _views

SECRET = "pk-live-Zq7x9AbC"
PROVIDER = "sk-proj-AAAAbbbbCCCC1234"


def reference(scrubber: Scrubber, text: str) -> bool:
    """The search found_in() replaced: every view of the whole text."""
    secrets = scrubber._secrets
    return any(secret in view for view in _views(text) for secret in secrets)


# -- encodings of one character, and of a text -----------------------------------------------


def _percent(ch: str) -> str:
    return quote(ch, safe="") if ch != quote(ch, safe="") else f"%{ord(ch):02X}"


def _json_escape(ch: str) -> str:
    return f"\\u{ord(ch):04x}" if ch != "/" else "\\/"


def _entity(ch: str) -> str:
    return f"&#{ord(ch)};"


def _hex_entity(ch: str) -> str:
    return f"&#x{ord(ch):X};"


def _named(ch: str) -> str:
    names = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "-": "&#45;"}
    return names.get(ch, _entity(ch))


def _wide(ch: str) -> str:
    return ch + "\x00"


def _unquote(text: str) -> str:
    return unquote(text, errors="replace")


def _strip_nul(text: str) -> str:
    return text.replace("\x00", "")


# Each encoding with the decoding the scrubber applies to a whole text.
_ENCODERS: tuple[tuple[Callable[[str], str], Callable[[str], str]], ...] = (
    (_percent, _unquote),
    (_json_escape, _json_unescape),
    (_entity, html.unescape),
    (_hex_entity, html.unescape),
    (_named, html.unescape),
    (_wide, _strip_nul),
)


@st.composite
def encoded(draw: st.DrawFn, secret: str, layers: int) -> str:
    """``secret`` under up to ``layers`` encodings, each applied to a random choice of the
    characters of the text so far (so layers mix and reach into earlier layers' escapes).

    A layer is kept only when its decoding gives back the text before it: ``&#5&#50;;`` (the
    2 of ``&#52;`` encoded again) is no encoding of anything, html.unescape reads ``&#5``.
    """
    text = secret
    for _ in range(draw(st.integers(0, layers))):
        encoder, decoder = draw(st.sampled_from(_ENCODERS))
        mask = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
        # A NUL stays as it is: NUL stripping is applied to the text the other decodings give.
        layer = "".join(
            encoder(ch) if hit and ch != "\x00" else ch for ch, hit in zip(text, mask, strict=True)
        )
        if decoder(layer) == text:
            text = layer
    return text


# Tokens that sit next to an encoded secret in real bodies, and the ones that meet the cut's
# edges: barriers, a lone backslash, hex digits and entity pieces that could join an escape.
_FILLER = st.sampled_from(
    [
        '"',
        " ",
        ",",
        ":",
        "é",
        "日本",
        "🚀",
        "\n",
        "\\",
        "\\\\",
        "\\n",
        "\\u00e9",
        "%",
        "%25",
        "%5C",
        "%2",
        "&",
        "&amp;",
        "&amp",
        "&#",
        "&#x",
        ";",
        "#",
        "u",
        "x",
        "00",
        "7",
        "0",
        "a",
        "k",
        "-",
        "pk",
        "pk-live",
        "Zq7x9",
        "\x00",
        "R&D 100%",
    ]
)


@st.composite
def texts(draw: st.DrawFn) -> str:
    """Filler around pieces of the secrets, each piece plain or encoded."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        parts.append("".join(draw(st.lists(_FILLER, max_size=5))))
        secret = draw(st.sampled_from([SECRET, PROVIDER]))
        start = draw(st.integers(0, len(secret)))
        end = draw(st.integers(start, len(secret)))
        parts.append(draw(encoded(secret[start:end], 3)))
    parts.extend(draw(st.lists(_FILLER, max_size=5)))
    return "".join(parts)


# -- found_in() against the exhaustive search -------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(texts())
def test_found_in_agrees_with_every_view(text: str) -> None:
    scrubber = Scrubber([SECRET, PROVIDER])
    assert scrubber.found_in(text) == reference(scrubber, text)


@settings(max_examples=600, deadline=None)
@given(st.text(st.sampled_from('pk-liveZq7%\\&#;ux0259ACF\x00" é'), max_size=60))
def test_found_in_agrees_on_any_text_of_the_escape_alphabet(text: str) -> None:
    # A short secret over the same letters: the search must decide exactly as every view does.
    scrubber = Scrubber(["pk-liv"])
    assert scrubber.found_in(text) == reference(scrubber, text)


@settings(max_examples=600, deadline=None)
@given(
    secret=st.sampled_from([SECRET, PROVIDER]),
    layers=st.data(),
    before=st.text(st.sampled_from('ab9é"\\ &%\n-'), max_size=30),
    after=st.text(st.sampled_from('ab9é"\\ &%\n-'), max_size=30),
)
def test_a_secret_in_up_to_four_encodings_is_found(
    secret: str, layers: st.DataObject, before: str, after: str
) -> None:
    scrubber = Scrubber([SECRET, PROVIDER])
    hidden = layers.draw(encoded(secret, 4))
    # Against any neighbours, the same answer as every view ("\\" just before an escape
    # changes what it decodes to)...
    assert scrubber.found_in(before + hidden + after) == reference(
        scrubber, before + hidden + after
    )
    # ...and, set off by a quote as in a JSON string, always found.
    text = f'{before}"{hidden}"{after}'
    assert reference(scrubber, text)
    assert scrubber.found_in(text)


# -- whole answers ----------------------------------------------------------------------------

_NAMES = st.sampled_from(["Café & Co", "日本チーム", "R&D 🚀", "100% uptime", "Zoë", "a\nb"])


@settings(max_examples=500, deadline=None)
@given(
    names=st.lists(_NAMES, min_size=1, max_size=20),
    where=st.data(),
    ascii_only=st.booleans(),
)
def test_an_answer_with_an_encoded_secret_is_scrubbed(
    names: list[str], where: st.DataObject, ascii_only: bool
) -> None:
    """A page of real-looking keys, one field holding a secret under up to three encodings
    (the JSON text adds a fourth where it escapes a backslash)."""
    scrubber = Scrubber([SECRET, PROVIDER])
    secret = where.draw(st.sampled_from([SECRET, PROVIDER]))
    hidden = where.draw(encoded(secret, 3))
    items = [{"name": name, "note": f"{name}\nline 2 & 50%"} for name in names]
    index = where.draw(st.integers(0, len(items) - 1))
    field = where.draw(st.sampled_from(["name", "note", "extra"]))
    items[index][field] = where.draw(st.sampled_from(["", "x ", "Caf\u00e9 "])) + hidden
    body = json.dumps({"data": items, "total": len(items)}, ensure_ascii=ascii_only).encode()
    text = body.decode()
    assert reference(scrubber, text)
    assert scrubber.found_in(text)
    cleaned = scrubber.body(body)
    assert not reference(scrubber, cleaned.decode("utf-8", "replace"))


@settings(max_examples=300, deadline=None)
@given(names=st.lists(_NAMES, max_size=30), ascii_only=st.booleans())
def test_an_answer_without_a_secret_is_returned_as_is(names: list[str], ascii_only: bool) -> None:
    scrubber = Scrubber([SECRET, PROVIDER])
    items = [{"name": name, "note": f"{name}\n\\ &amp; %41"} for name in names]
    body = json.dumps({"data": items}, ensure_ascii=ascii_only).encode()
    assert scrubber.body(body) is body


# -- the cut's edges, by hand -----------------------------------------------------------------


def test_a_secret_begun_in_plain_text_and_ended_in_an_escape_is_found() -> None:
    scrubber = Scrubber([SECRET])
    # The run before the first escape is longer than the secret: only its end may count.
    text = '{"a":"' + "x" * 200 + SECRET[:-1] + f"\\u{ord(SECRET[-1]):04x}" + '"}'
    assert scrubber.found_in(text)
    assert SECRET not in scrubber.body(text.encode()).decode()


def test_a_backslash_ending_the_text_is_not_taken_as_escaping_a_barrier() -> None:
    # JSON unescaping turns "\\u0070k-liv\\" into "pk-liv\\" at the end of a text, but
    # `\\u0070k-liv\\"` into `pk-liv"`: a secret ending in a backslash is found only at the end.
    scrubber = Scrubber(["pk-liv\\"])
    assert scrubber.found_in("\\u0070k-liv\\") is reference(scrubber, "\\u0070k-liv\\") is True
    text = '"\\u0070k-liv\\"'
    assert scrubber.found_in(text) is reference(scrubber, text) is False


def test_the_same_run_in_the_middle_and_at_the_end_keeps_both_contexts() -> None:
    scrubber = Scrubber(["pk-liv\\"])
    text = '\\u0070k-liv\\" \\u0070k-liv\\'
    assert scrubber.found_in(text) is reference(scrubber, text) is True


def test_decodings_consume_only_the_characters_the_cut_treats_as_decodable() -> None:
    # The cut's proof rests on this: every HTML entity name is ASCII letters and digits, and
    # no entity is longer once decoded than its reference (so no decoding lengthens a run).
    for name, value in html.entities.html5.items():
        assert set(name.rstrip(";")) <= _DECODABLE, name
        assert len(value) <= len(name) + 1, name
    assert re.fullmatch(r"[0-9A-Za-z%\\&#;\x00]+", "".join(sorted(_DECODABLE)))
    assert html.unescape("&#1;") == ""  # a reference may vanish: the run only gets shorter


def test_a_secret_with_characters_outside_the_usual_alphabet() -> None:
    secret = "key/with+odd=chars"
    scrubber = Scrubber([secret])
    for text in (quote(secret, safe=""), secret.replace("/", "\\/"), html.escape(secret)):
        assert scrubber.found_in(f'{{"v":"{text}"}}') == reference(scrubber, f'{{"v":"{text}"}}')
        assert scrubber.found_in(f'{{"v":"{text}"}}')
