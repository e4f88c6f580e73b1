import itertools
import random

import pytest

from deid.contract.subject_ids import (
    DEFAULT_TEMPLATE,
    SubjectIdTemplate,
    SubjectIdTemplateError,
    damm_check_digit,
    damm_is_valid,
    verhoeff_check_digit,
    verhoeff_is_valid,
)

ALGORITHMS = [
    (damm_check_digit, damm_is_valid),
    (verhoeff_check_digit, verhoeff_is_valid),
]


def _samples() -> list[str]:
    rng = random.Random(7)
    return ["0", "5", "72", "000", "572", "1234"] + [
        "".join(rng.choice("0123456789") for _ in range(rng.randint(2, 12))) for _ in range(300)
    ]


@pytest.mark.parametrize(("check", "valid"), ALGORITHMS)
def test_known_check_digits(check, valid):
    # Published worked examples: Damm("572") = 4, Verhoeff("236") = 3.
    if check is damm_check_digit:
        assert check("572") == "4"
    else:
        assert check("236") == "3"
    for sample in _samples():
        assert valid(sample + check(sample))


@pytest.mark.parametrize(("check", "valid"), ALGORITHMS)
def test_every_single_digit_error_is_caught(check, valid):
    for sample in _samples():
        good = sample + check(sample)
        for i, wrong in itertools.product(range(len(good)), "0123456789"):
            if good[i] != wrong:
                assert not valid(good[:i] + wrong + good[i + 1 :]), (good, i, wrong)


@pytest.mark.parametrize(("check", "valid"), ALGORITHMS)
def test_every_adjacent_transposition_is_caught(check, valid):
    for sample in _samples():
        good = sample + check(sample)
        for i in range(len(good) - 1):
            if good[i] != good[i + 1]:
                swapped = good[:i] + good[i + 1] + good[i] + good[i + 2 :]
                assert not valid(swapped), (good, i)


def test_default_template_renders_with_site_sequence_and_check():
    template = SubjectIdTemplate.parse(DEFAULT_TEMPLATE)
    sid = template.render("S01", 17)
    assert sid.startswith("S01-0017")
    assert len(sid) == len("S01-00174")
    assert template.is_valid(sid)
    assert not template.is_valid(sid[:-1] + str((int(sid[-1]) + 1) % 10))
    assert template.uses_sequence


def test_random_template_and_verhoeff():
    template = SubjectIdTemplate.parse("TRIAL-{site}-{rand:6}{check:verhoeff}")
    sid = template.render("B", 0)
    assert sid.startswith("TRIAL-B-") and len(sid) == len("TRIAL-B-") + 7
    assert template.is_valid(sid)
    assert template.random_digits == 6
    assert not template.uses_sequence


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{site}-{check}", "no {seq:N} or {rand:N}"),
        ("{site}-{seq:0}", "width N from 1 to 20"),
        ("{site}-{seq:4}{check}{check}", "more than one"),
        ("{check}{seq:4}", "must come last"),
        ("{site}-{seq:4}{check:luhn}", "unknown check digit"),
        ("{patient}-{seq:4}", "unknown placeholder"),
        ("{site}#{seq:4}", "literal text"),
    ],
)
def test_bad_templates_are_explained(text, message):
    with pytest.raises(SubjectIdTemplateError, match=message):
        SubjectIdTemplate.parse(text)


def test_sequence_overflow_is_refused():
    template = SubjectIdTemplate.parse("{site}{seq:2}")
    assert template.render("X", 99) == "X99"
    with pytest.raises(SubjectIdTemplateError, match="widen the template"):
        template.render("X", 100)
