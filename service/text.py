"""Free text (自由文本): the one rule every title, name, address, reason and note obeys.

Control characters (NUL and the rest of C0 and C1, DEL) and the bidirectional overrides and
isolates (U+202A–U+202E, U+2066–U+2069) are refused in every free-text field of the API and of
the web forms: PostgreSQL keeps no NUL in text, the others garble or disguise what other people
read. A multi-line field (a description, a reason, a comment) keeps the ordinary whitespace of a
text area: tab, line feed and carriage return. :func:`text` makes the field's type, so the rule is
in the type's pattern: msgspec checks it, and the OpenAPI document says it::

    title: Annotated[str, text(1, 100)]
    description: Annotated[str, text(max_length=2000, lines=True)] = ""
"""

from __future__ import annotations

import msgspec

from points import ONE_LINE

BIDI = r"\u202a-\u202e\u2066-\u2069"
LINE = ONE_LINE
"""One line of text: no control character at all (the library's pattern: its category names
carry it too)."""
LINES = rf"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f{BIDI}]*$"
"""Several lines: tab, line feed and carriage return allowed."""
REASON = "must not contain control characters"
REASON_ZH = "不能包含控制字符"
_REFUSED = tuple(f"Expected `str` matching regex {pattern!r}" for pattern in (LINE, LINES))


def text(
    min_length: int = 0, max_length: int | None = None, *, lines: bool = False
) -> msgspec.Meta:
    """The constraints of a free-text field, its length bounds and the rule's pattern."""
    return msgspec.Meta(
        min_length=min_length or None, max_length=max_length, pattern=LINES if lines else LINE
    )


def explain(message: str) -> str:
    """msgspec's message for a refused text, said plainly (the pattern means nothing to people)."""
    for refused in _REFUSED:
        message = message.replace(refused, REASON)
    return message
