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


# Identifiers written straight against Chinese, before sentence punctuation, full-width, in
# brackets, JSON and URLs: `\b` does not fall between CJK characters and digits.
NO_SPACES = [
    ("请通过13756838140联系我，谢谢", "PHONE", "13756838140"),
    ("退款请打到卡号DE84432269682902090782。", "IBAN", "DE84432269682902090782"),
    ("call me if urgent, 82.221.215.41.", "IP_ADDRESS", "82.221.215.41"),
    ("手机１３８１２３４５６７８。", "PHONE", "１３８１２３４５６７８"),
    ("邮箱ｌｉ．ｗｅｉ＠ｑｑ．ｃｏｍ，", "EMAIL", "ｌｉ．ｗｅｉ＠ｑｑ．ｃｏｍ"),
    ("客户邮箱li.wei@163.com联系", "EMAIL", "li.wei@163.com"),
    ("服务器地址：2001:db8::8c34、", "IP_ADDRESS", "2001:db8::8c34"),
    ("地址：::ffff:87.160.242.216】", "IP_ADDRESS", "::ffff:87.160.242.216"),
    ("refund to fe80::1e47:88fc:", "IP_ADDRESS", "fe80::1e47:88fc"),
    ("IPv6：2408:8207:24a6:5650::1f，请检查防火墙", "IP_ADDRESS", "2408:8207:24a6:5650::1f"),
    ("身份证号码11010519491231002x」", "CN_ID", "11010519491231002x"),
    ("转账至4111111111111111！", "CREDIT_CARD", "4111111111111111"),
    (
        "链接：https://bob:pw1@db.example.org/x。",
        "URL_CREDENTIALS",
        "https://bob:pw1@db.example.org/x",
    ),
    ('{"联系方式": "0755-12345678", "ok": true}', "PHONE", "0755-12345678"),
    ("（+86 138 1234 5678）", "PHONE", "+86 138 1234 5678"),
    ("电话(010)88886666？", "PHONE", "(010)88886666"),
    ("ssn：123-45-6789，", "US_SSN", "123-45-6789"),
    ("https://example.com/u?tel=13812345678&page=2", "PHONE", "13812345678"),
    ("身份证110105 19491231 002X。", "CN_ID", "110105 19491231 002X"),
    ("护照号码：E12345678，", "PASSPORT", "E12345678"),
    ("Passport no. G1234567.", "PASSPORT", "G1234567"),
]


@pytest.mark.parametrize(("text", "kind", "value"), NO_SPACES)
def test_identifiers_glued_to_chinese_and_punctuation(text: str, kind: str, value: str) -> None:
    findings = find_pii(text)
    assert [(f.kind, f.value) for f in findings] == [(kind, value)]
    redacted, _ = redact_text(text)
    assert value not in redacted and redacted.count(f"<{kind}>") == 1


@pytest.mark.parametrize(
    "text",
    [
        "订单号4539578763621486已发货",  # Luhn-valid by chance, but said to be an order number
        "version 1.2.3.4 released",
        "升级到版本1.2.3.4。",
        "1.2.3.4.5是章节号",
        "价格¥13,999.00，时间2024-01-02 10:30:00",
        "快递单号SF1234567890123",
        "时间戳1700000000123",
        "ISBN 978-7-111-12345-6",
        "MAC 00:1A:2B:3C:4D:5E",
        "5138-0759-6370-7473 fails Luhn",  # no phone number inside a dashed card look-alike
        "IBAN FR61 7189 6498 2307 1374 9440 954。",  # bad checksum, no IBAN when trimmed either
        "a::b and std::vector",
        "身份证110105194912310021",
        "型号E12345678的手机",  # a passport-shaped code with no "passport" before it
        "IBAN GB11 NQYO 3345 5504 9617 61。",  # no card inside a failed IBAN
    ],
)
def test_look_alikes_in_both_languages_are_left_alone(text: str) -> None:
    assert redact_text(text) == (text, {})


def test_chinese_names_are_redacted_with_the_names_switch() -> None:
    pytest.importorskip("jieba")
    text = "患者张三在北京协和医院确诊糖尿病，欧阳娜娜女士陪同，请联系王小明先生。"
    redacted, counts = redact_text(text, names=True)
    assert counts == {"PERSON": 3}
    assert (
        redacted == "患者<PERSON>在北京协和医院确诊糖尿病，<PERSON>女士陪同，请联系<PERSON>先生。"
    )
    assert redact_text(text) == (text, {})  # names stay unless asked for


@pytest.mark.parametrize(
    "text",
    ["张家界的风景非常美", "我明白你的意思了", "2013年4月至今任金龙机电股份有限公司董事",
     "谢谢您的耐心等待", "石家庄到北京的高铁很快", "李子和桃子哪个更甜"],
)  # fmt: skip
def test_places_and_words_that_start_with_a_surname_are_not_names(text: str) -> None:
    pytest.importorskip("jieba")
    assert redact_text(text, names=True) == (text, {})


def test_names_found_before_a_title_or_a_sex_marker() -> None:
    pytest.importorskip("jieba")
    from llmline.data.pii_names import chinese_names

    assert [f.value for f in chinese_names("赵国民先生，高级工程师")] == ["赵国民"]
    assert [f.value for f in chinese_names("方琳：女，中共党员")] == ["方琳"]
    assert [f.value for f in chinese_names("感谢张先生")] == []  # a surname alone is no name


def test_the_redact_step_redacts_chinese_names_with_the_same_switch() -> None:
    pytest.importorskip("jieba")
    from llmline.data.record import DATA_STEPS, Record

    step = DATA_STEPS.get("redact").build({"names": True})
    record = Record(text="客户陈静反映信用卡被盗刷，请回电13812345678", label="a", row=0)
    record.meta["agent"] = "经理赵建国"
    [out] = list(step([record]))
    assert out.text == "客户<PERSON>反映信用卡被盗刷，请回电<PHONE>"
    assert out.meta["agent"] == "经理<PERSON>"
    assert step.summary["pii_by_type"] == {"PERSON": 2, "PHONE": 1}
