"""A seeded probe of identifiers in English and Chinese text written without spaces.

Each line carries one identifier (with its gold span) or one look-alike that is no identifier.
The shapes are the ones that defeat `\\b` word boundaries: identifiers glued to CJK characters
("请通过13756838140联系我"), followed by sentence punctuation (。，、！？.,;:)」』 and quotes),
inside brackets, in full-width forms (１３８…, ＠), inside URLs and JSON. Negatives are numbers
a rule could mistake for one: order and tracking numbers (failing Luhn or not), timestamps,
version strings (1.2.3.4 after "version"/"版本"), prices, dates, ISBNs, MAC addresses, IDs and
IBANs with a wrong checksum.

    .venv/bin/python benchmarks/pii_probe.py [--lines 1200] [--seed 0] [--show 5]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable

Span = tuple[str, int, int]
Probe = tuple[str, list[Span]]
Rng = random.Random

ZH_LEFT = ["请通过", "联系电话", "我的手机是", "退款请打到卡号", "客户邮箱", "登录IP为",
           "服务器地址", "身份证号码", "他说", "备注：", "请拨打", "地址：", "用户", "“", "（",
           "【", "「", "『", "：", "数据库连接串", "转账至", "已记录"]  # fmt: skip
ZH_RIGHT = ["联系我，谢谢", "。", "，", "、", "！", "？", "）", "」", "』", "”", "】",
            "；", "：", "就行", "是我的", "（工作日）", "，请尽快处理。", "里面有钱", "",
            "…"]  # fmt: skip
EN_LEFT = ["Please call ", "reach me at ", "refund to ", "my card is ", "login from ", "(",
           "\"", "[", "email: ", "ID ", "contact ", "server ", "'", "see ",
           "if urgent, "]  # fmt: skip
EN_RIGHT = [".", ",", ";", ":", ")", "]", "\"", "'", "!", "?", " today.", " - thanks", "",
            "), ok?", "."]  # fmt: skip
PUNCT_TAIL = ["。", "，", "、", "！", "？", ".", ",", ";", ":", ")", "」", "』", '"', "”", "'"]


def _digits(rng: Rng, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def luhn_complete(prefix: str, length: int, rng: Rng) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        if _luhn_sum(body + check) % 10 == 0:
            return body + check
    raise AssertionError


def _luhn_sum(number: str) -> int:
    digits = [int(d) for d in number]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
               for i, d in enumerate(reversed(digits)))  # fmt: skip


def _group(value: str, sep: str, size: int = 4) -> str:
    return sep.join(value[i : i + size] for i in range(0, len(value), size)) if sep else value


def card(rng: Rng) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("37", 15), ("6011", 16), ("62", 16),
                                 ("62", 19)])  # fmt: skip
    return _group(luhn_complete(prefix, length, rng), rng.choice(["", "", " ", "-"]))


def iban(rng: Rng, valid: bool = True) -> str:
    country, length = rng.choice([("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24)])
    bban = "".join(rng.choice("0123456789") for _ in range(length - 4))
    if country in ("GB", "NL"):
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + bban[4:]
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(numeric) % 97 if valid else (98 - int(numeric) % 97 + 1) % 97 + 2
    return _group(f"{country}{check:02d}{bban}", rng.choice(["", "", " "]))


def cn_id(rng: Rng, valid: bool = True) -> str:
    weights, checks = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), "10X98765432"
    area = rng.choice(["110105", "310101", "440305", "510104", "330106", "420111"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = f"{area}{birth}{rng.randint(0, 999):03d}"
    check = checks[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    if not valid:
        check = checks[(checks.index(check) + 1) % 11]
    value = body + check
    if valid and rng.random() < 0.15:  # also written 6-8-4
        return f"{value[:6]} {value[6:14]} {value[14:]}"
    return value


def cn_mobile(rng: Rng) -> str:
    number = f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"
    return rng.choice([number, number, f"{number[:3]} {number[3:7]} {number[7:]}",
                       f"{number[:3]}-{number[3:7]}-{number[7:]}", f"+86 {number}",
                       f"+86-{number}", f"0086{number}", f"(+86){number}"])  # fmt: skip


def phone(rng: Rng) -> str:
    return rng.choice([
        cn_mobile(rng), cn_mobile(rng),
        f"0{rng.choice(['10', '21', '755', '571'])}-{rng.randint(2000000, 89999999)}",
        f"(0{rng.choice(['10', '20', '28'])}){rng.randint(20000000, 89999999)}",
        f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
        f"{rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
        f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        f"+49 30 {rng.randint(100000, 999999)}", f"+1-415-{_digits(rng, 3)}-{_digits(rng, 4)}",
    ])  # fmt: skip


def ip(rng: Rng) -> str:
    return rng.choice([
        ".".join(str(rng.randint(1, 254)) for _ in range(4)),
        ".".join(str(rng.randint(1, 254)) for _ in range(4)),
        ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8)),
        f"2001:db8::{rng.randint(1, 65535):x}",
        f"fe80::{rng.randint(1, 65535):x}:{rng.randint(1, 65535):x}",
        "::ffff:" + ".".join(str(rng.randint(1, 254)) for _ in range(4)),
    ])  # fmt: skip


def email(rng: Rng) -> str:
    user = rng.choice(["jm", "anna.k", "zz_top", "li.wei", "wang-fang", "x+tag", "13812345"])
    domain = rng.choice(["example.com", "mail.co.uk", "qq.com", "163.com", "uni-x.edu.cn"])
    return f"{user}{rng.randrange(99)}@{domain}"


def url_credentials(rng: Rng) -> str:
    scheme = rng.choice(["https", "ftp", "postgresql", "redis"])
    user = rng.choice(["admin", "bob", "root"])
    password = rng.choice(["s3cret", "P@ss", "pw"]) + str(rng.randrange(10**4))
    host = rng.choice(["db", "ftp", "git", "10.0.0.7"]) + rng.choice([".example.org", "", ":5432"])
    return f"{scheme}://{user}:{password}@{host}{rng.choice(['/x', '/repo.git', '', '/db?ssl=1'])}"


def ssn(rng: Rng) -> str:
    return f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def passport(rng: Rng) -> str:
    return rng.choice(["E", "G", "EA", "P", "K"]) + _digits(rng, rng.choice([7, 8, 8, 9]))


GENERATORS: dict[str, Callable[[Rng], str]] = {
    "PHONE": phone, "EMAIL": email, "CREDIT_CARD": card, "IBAN": iban, "IP_ADDRESS": ip,
    "URL_CREDENTIALS": url_credentials, "CN_ID": cn_id, "US_SSN": ssn, "PASSPORT": passport,
}  # fmt: skip
# A passport number is a letter-and-digits code like any other: it needs its word in front.
PASSPORT_LEFT = [
    "护照号码",
    "护照号：",
    "他的护照",
    "Passport no. ",
    "passport: ",
    "旅行证件（护照）",
]


def _bad_luhn(rng: Rng) -> str:
    number = luhn_complete(rng.choice(["4", "5", "6", "3"]), rng.choice([15, 16, 18, 19]), rng)
    return number[:-1] + str((int(number[-1]) + rng.randint(1, 9)) % 10)


NEGATIVES: list[Callable[[Rng], str]] = [
    lambda r: f"订单号{r.randint(10**11, 10**12)}{r.randint(10**5, 10**6)}",
    lambda r: f"order #{r.randint(10**6, 10**9)}",
    lambda r: f"快递单号SF{r.randint(10**11, 10**12)}",
    lambda r: f"tracking {_bad_luhn(r)}",
    lambda r: f"运单{_bad_luhn(r)}",
    lambda r: f"订单{luhn_complete('4', 16, r)}",  # Luhn-valid by chance, said to be an order
    lambda r: f"{r.randint(2000, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} "
              f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
    lambda r: f"时间戳{r.randint(1_500_000_000, 1_800_000_000)}{r.randint(100, 999)}",
    lambda r: f"{r.randint(2000, 2025)}年{r.randint(1, 12)}月{r.randint(1, 28)}日"
              f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
    lambda r: f"version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)}.{_digits(r, 3)}",
    lambda r: f"版本{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}.{r.randint(0, 99)}",
    lambda r: f"v{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
    lambda r: ".".join(str(r.randint(1, 9)) for _ in range(5)),
    lambda r: f"¥{r.randint(1, 99)},{r.randint(0, 999):03d}.{r.randint(0, 99):02d}",
    lambda r: f"${r.randint(1, 999)},{r.randint(0, 999):03d},{r.randint(0, 999):03d}.00",
    lambda r: f"价格{r.randint(100, 99999)}元",
    lambda r: f"ISBN 978-7-{r.randint(100, 999)}-{r.randint(10000, 99999)}-{r.randint(0, 9)}",
    lambda r: ":".join(f"{r.randint(0, 255):02X}" for _ in range(6)),
    lambda r: f"身份证{cn_id(r, valid=False)}",
    lambda r: f"IBAN {iban(r, valid=False)}",
    lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
    lambda r: f"第{r.randint(1, 30)}.{r.randint(1, 9)}.{r.randint(1, 9)}节",
    lambda r: f"ssn-like 000-{r.randint(10, 99)}-{r.randint(1000, 9999)}",
    lambda r: f"工号{r.randint(10**9, 10**10)}",
    lambda r: f"{r.randint(10, 99)}:{r.randint(10, 99)}比分",
    lambda r: f"型号{r.choice('EGKP')}{_digits(r, 8)}",
    lambda r: f"part no. {r.choice(['E', 'AB'])}{_digits(r, 8)}",
]  # fmt: skip


def full_width(value: str) -> str:
    """ASCII letters, digits and punctuation as their full-width forms (１３８…, ＠)."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in value)


def _wrap(value: str, kind: str, rng: Rng) -> tuple[str, str, str]:
    """(left, value, right): the identifier in one of the shapes that break `\\b`."""
    shape = rng.randrange(8)
    if shape == 0:  # glued to Chinese on both sides
        return rng.choice(ZH_LEFT), value, rng.choice(ZH_RIGHT)
    if shape == 1:  # Chinese, full-width digits and punctuation
        return rng.choice(ZH_LEFT), full_width(value), rng.choice(ZH_RIGHT)
    if shape == 2:  # English, sentence punctuation right after it
        return rng.choice(EN_LEFT), value, rng.choice(EN_RIGHT)
    if shape == 3:  # inside JSON
        key = rng.choice(["phone", "ip", "value", "联系方式", "id"])
        return f'{{"{key}": "', value, '", "ok": true}'
    if shape == 4 and kind in ("EMAIL", "PHONE", "CN_ID", "IP_ADDRESS"):  # in a URL query
        return f"https://example.com/u?{rng.choice(['q', 'tel', 'id', 'ip'])}=", value, "&page=2"
    if shape == 5:  # brackets of either width
        left, right = rng.choice([("（", "）"), ("(", ")"), ("【", "】"), ("「", "」"), ("[", "]")])
        return rng.choice(ZH_LEFT) + left, value, right + rng.choice(PUNCT_TAIL)
    return rng.choice(ZH_LEFT + EN_LEFT), value, rng.choice(PUNCT_TAIL)


def generate(lines: int = 1200, seed: int = 0) -> list[Probe]:
    """`lines` probes: about three in four carry one identifier, the rest a look-alike."""
    rng = random.Random(seed)
    kinds = list(GENERATORS)
    probes: list[Probe] = []
    for index in range(lines):
        if index % 4 == 3:
            left, right = rng.choice(ZH_LEFT + EN_LEFT), rng.choice(ZH_RIGHT + EN_RIGHT)
            negative = NEGATIVES[(index // 4) % len(NEGATIVES)](rng)
            probes.append((f"{left}{negative}{right}", []))
            continue
        kind = kinds[(index - index // 4) % len(kinds)]
        left, value, right = _wrap(GENERATORS[kind](rng), kind, rng)
        if kind == "PASSPORT":
            left = rng.choice(PASSPORT_LEFT)
        probes.append((left + value + right, [(kind, len(left), len(left) + len(value))]))
    return probes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=5, help="Lines to print as examples.")
    args = parser.parse_args()
    probes = generate(args.lines, args.seed)
    for text, gold in probes[: args.show]:
        print(text, gold)


if __name__ == "__main__":
    main()
