"""Trial subject IDs: per-trial templates with a check digit.

A template is text with placeholders::

    {site}          the site's ID, e.g. ``S01``
    {seq:N}         the site's next enrollment number, zero-padded to N digits
    {rand:N}        N random digits
    {check}         a Damm check digit over every digit rendered before it
    {check:verhoeff}  the same with the Verhoeff algorithm

The default, ``{site}-{seq:4}{check}``, gives ``S01-00017``-style IDs. Both check
digit algorithms detect every single-digit error and every transposition of
adjacent digits, so a coordinator who mistypes a subject ID is told at once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from deid.contract.errors import UsageError

DEFAULT_TEMPLATE = "{site}-{seq:4}{check}"
MAX_SUBJECT_ID_LENGTH = 64  # PatientID and Clinical Trial Subject ID are LO

# Damm's totally anti-symmetric quasigroup of order 10.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def _digits(text: str) -> list[int]:
    if not text.isdigit():
        raise ValueError("check digits are computed over decimal digits only")
    return [int(c) for c in text]


def damm_check_digit(digits: str) -> str:
    """The Damm check digit of a string of decimal digits."""
    interim = 0
    for d in _digits(digits):
        interim = _DAMM[interim][d]
    return str(interim)


def damm_is_valid(digits_with_check: str) -> bool:
    """True when the last digit is the Damm check digit of the others."""
    interim = 0
    for d in _digits(digits_with_check):
        interim = _DAMM[interim][d]
    return interim == 0


def verhoeff_check_digit(digits: str) -> str:
    """The Verhoeff check digit of a string of decimal digits."""
    c = 0
    for i, d in enumerate(reversed(_digits(digits))):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][d]]
    return str(_VERHOEFF_INV[c])


def verhoeff_is_valid(digits_with_check: str) -> bool:
    """True when the last digit is the Verhoeff check digit of the others."""
    c = 0
    for i, d in enumerate(reversed(_digits(digits_with_check))):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][d]]
    return c == 0


_CHECKERS = {
    "damm": (damm_check_digit, damm_is_valid),
    "verhoeff": (verhoeff_check_digit, verhoeff_is_valid),
}

_PLACEHOLDER = re.compile(r"\{([a-z]+)(?::([a-z0-9]+))?\}")
_LITERAL_OK = re.compile(r"^[A-Za-z0-9_\-./ ]*$")


class SubjectIdTemplateError(UsageError, ValueError):
    """A subject ID template that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class _Part:
    kind: str  # "literal", "site", "seq", "rand", "check"
    arg: str = ""
    width: int = 0


@dataclass(frozen=True)
class SubjectIdTemplate:
    """A parsed subject ID template."""

    text: str
    parts: tuple[_Part, ...]

    @classmethod
    def parse(cls, text: str) -> SubjectIdTemplate:
        """Parse ``text``; raise :class:`SubjectIdTemplateError` naming the problem."""
        parts: list[_Part] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(text):
            literal = text[pos : m.start()]
            if literal:
                parts.append(_literal(literal, text))
            name, arg = m.group(1), m.group(2) or ""
            parts.append(_placeholder(name, arg, text))
            pos = m.end()
        if text[pos:]:
            parts.append(_literal(text[pos:], text))
        kinds = [p.kind for p in parts]
        if "seq" not in kinds and "rand" not in kinds:
            raise SubjectIdTemplateError(
                f"subject ID template {text!r} has no {{seq:N}} or {{rand:N}}: "
                "every subject would get the same ID"
            )
        if kinds.count("check") > 1:
            raise SubjectIdTemplateError(
                f"subject ID template {text!r} has more than one {{check}}"
            )
        if "check" in kinds and kinds.index("check") != len(kinds) - 1:
            raise SubjectIdTemplateError(
                f"subject ID template {text!r}: {{check}} must come last so it covers every digit"
            )
        return cls(text=text, parts=tuple(parts))

    @property
    def uses_sequence(self) -> bool:
        """True when IDs draw on the site's enrollment counter."""
        return any(p.kind == "seq" for p in self.parts)

    @property
    def random_digits(self) -> int:
        """How many random digits each ID carries."""
        return sum(p.width for p in self.parts if p.kind == "rand")

    def render(self, site_id: str, sequence: int) -> str:
        """The subject ID for the ``sequence``-th enrollment at ``site_id``.

        Random digits come from :mod:`secrets`; a caller that must avoid duplicate
        IDs (templates with ``{rand:N}``) retries on a uniqueness conflict.
        """
        out: list[str] = []
        for part in self.parts:
            if part.kind == "literal":
                out.append(part.arg)
            elif part.kind == "site":
                out.append(site_id)
            elif part.kind == "seq":
                number = str(sequence).zfill(part.width)
                if len(number) > part.width:
                    raise SubjectIdTemplateError(
                        f"site {site_id} has enrolled more subjects than {{seq:{part.width}}} "
                        "can number; widen the template"
                    )
                out.append(number)
            elif part.kind == "rand":
                out.append("".join(str(secrets.randbelow(10)) for _ in range(part.width)))
            else:  # check
                digits = "".join(c for c in "".join(out) if c.isdigit())
                out.append(_CHECKERS[part.arg][0](digits))
        subject_id = "".join(out)
        if len(subject_id) > MAX_SUBJECT_ID_LENGTH:
            raise SubjectIdTemplateError(
                f"subject IDs from {self.text!r} would exceed {MAX_SUBJECT_ID_LENGTH} characters"
            )
        return subject_id

    def is_valid(self, subject_id: str) -> bool:
        """True when ``subject_id``'s check digit is right (always True without one)."""
        check = next((p for p in self.parts if p.kind == "check"), None)
        if check is None:
            return True
        digits = "".join(c for c in subject_id if c.isdigit())
        return len(digits) >= 2 and _CHECKERS[check.arg][1](digits)


def _literal(text: str, template: str) -> _Part:
    if "{" in text or "}" in text:
        raise SubjectIdTemplateError(
            f"subject ID template {template!r}: unknown placeholder near {text!r}; "
            "use {site}, {seq:N}, {rand:N} or {check}"
        )
    if not _LITERAL_OK.match(text):
        raise SubjectIdTemplateError(
            f"subject ID template {template!r}: literal text {text!r} may hold only letters, "
            "digits and - _ . / or space"
        )
    return _Part("literal", text)


def _placeholder(name: str, arg: str, template: str) -> _Part:
    if name == "site" and not arg:
        return _Part("site")
    if name in ("seq", "rand"):
        if not arg.isdigit() or not 1 <= int(arg) <= 20:
            raise SubjectIdTemplateError(
                f"subject ID template {template!r}: {{{name}:N}} needs a width N from 1 to 20"
            )
        return _Part(name, width=int(arg))
    if name == "check":
        algorithm = arg or "damm"
        if algorithm not in _CHECKERS:
            raise SubjectIdTemplateError(
                f"subject ID template {template!r}: unknown check digit {algorithm!r}; "
                f"use one of {sorted(_CHECKERS)}"
            )
        return _Part("check", algorithm)
    raise SubjectIdTemplateError(
        f"subject ID template {template!r}: unknown placeholder {{{name}}}; "
        "use {site}, {seq:N}, {rand:N} or {check}"
    )
