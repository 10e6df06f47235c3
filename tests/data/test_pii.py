from __future__ import annotations

import itertools

import pytest

from llmline.data.pii import find_pii, redact_text

CASES = [
    ("write to jane.doe+x@mail.example.co.uk today", "EMAIL", "jane.doe+x@mail.example.co.uk"),
    ("card 4111 1111 1111 1111 expires", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("IBAN GB82 WEST 1234 5698 7654 32 ok", "IBAN", "GB82 WEST 1234 5698 7654 32"),
    ("身份证 11010519491231002X 号", "CN_ID", "11010519491231002X"),
    ("手机 13812345678 联系", "PHONE", "13812345678"),
    ("call +44 20 7946 0958 now", "PHONE", "+44 20 7946 0958"),
    ("call (415) 555-2671 now", "PHONE", "(415) 555-2671"),
    ("ssn 123-45-6789.", "US_SSN", "123-45-6789"),
    ("from 192.168.10.20 via", "IP_ADDRESS", "192.168.10.20"),
    ("v6 2001:db8:85a3::8a2e:370:7334 here", "IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
    (
        "see https://bob:s3cret@db.example.com/x.",
        "URL_CREDENTIALS",
        "https://bob:s3cret@db.example.com/x",
    ),
]


@pytest.mark.parametrize(("text", "kind", "value"), CASES)
def test_each_type_is_found_and_removed(text: str, kind: str, value: str) -> None:
    redacted, counts = redact_text(text)
    assert counts == {kind: 1}
    assert value not in redacted
    assert f"<{kind}>" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "id 110105194912310021 has a bad checksum",
        "GB82 WEST 1234 5698 7654 33 bad mod-97",
        "version 1.2.3 on 2024-01-02 at 10:30:00",
        "ssn-like 000-12-3456 is invalid",
        "loopback 127.0.0.1 is not personal",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert redact_text(text) == (text, {})


def test_pseudonyms_are_consistent_within_a_text() -> None:
    text = "a@x.org wrote to b@y.org, then a@x.org again"
    redacted, counts = redact_text(text, mode="pseudonym")
    assert redacted == "<EMAIL_1> wrote to <EMAIL_2>, then <EMAIL_1> again"
    assert counts == {"EMAIL": 3}


def test_hash_mode_depends_on_salt() -> None:
    one, _ = redact_text("mail a@x.org", mode="hash", salt="s1")
    two, _ = redact_text("mail a@x.org", mode="hash", salt="s1")
    other, _ = redact_text("mail a@x.org", mode="hash", salt="s2")
    assert one == two != other
    assert "a@x.org" not in one and one.startswith("mail <EMAIL:")


def test_unknown_mode_is_a_spec_error() -> None:
    from llmline.errors import SpecError

    with pytest.raises(SpecError, match="redaction mode"):
        redact_text("x", mode="shred")


def test_findings_do_not_overlap() -> None:
    findings = find_pii("x https://u:p@h.example.com/a?mail=me@ex.org 4111111111111111")
    spans = [(f.start, f.end) for f in findings]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert [f.kind for f in findings] == ["URL_CREDENTIALS", "CREDIT_CARD"]


@pytest.mark.integration
@pytest.mark.slow
def test_person_names_with_spacy() -> None:
    pytest.importorskip("spacy")
    redacted, counts = redact_text("Yesterday John Smith emailed mary@example.org.", names=True)
    assert counts.get("PERSON") == 1 and "John Smith" not in redacted
