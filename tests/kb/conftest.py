"""KB fixtures: a hashing stand-in encoder (no model load in the fast tier) and a small corpus."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from llmline.spec.kb import PrefixSpec


class HashEncoder:
    """Character-bigram hashing into 64 dims, L2-normalised: similar texts, similar vectors."""

    dim = 64

    def __init__(self) -> None:
        self.directory = Path("hash-encoder")
        self.prefixes = PrefixSpec()
        self.calls = 0  # texts embedded, so tests can see what was (not) re-embedded

    def _one(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        folded = text.casefold()
        for a, b in pairwise(folded):
            vector[zlib.crc32((a + b).encode()) % self.dim] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim))

    def encode_passages(self, texts: Sequence[str], *, progress: str | None = None) -> np.ndarray:
        self.calls += len(texts)
        return self.encode_queries(texts)


@pytest.fixture()
def encoder() -> HashEncoder:
    return HashEncoder()


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A folder of a Markdown guide, an HTML page, a TXT note and an FAQ table (zh + en)."""
    root = tmp_path / "docs"
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "lost-card.md").write_text(
        "# Lost card\n\nIf your credit card is lost, freeze it in the app at once. "
        "Then call the hotline.\n\n## Refunds\n\nRefunds take five working days.\n",
        encoding="utf-8",
    )
    (root / "transfer.html").write_text(
        "<html><head><title>x</title><script>var a=1;</script></head><body>"
        "<h1>Wire transfers</h1><p>International wire transfers arrive in two days.</p>"
        "</body></html>",
        encoding="utf-8",
    )
    (root / "贷款.txt").write_text(
        "房贷提前还款需要提前三十天预约。\n\n提前还款不收取违约金，请携带身份证到网点办理。",
        encoding="utf-8",
    )
    (root / "faq.csv").write_text(
        "id,question,answer,intent\n"
        "q1,信用卡丢了怎么办？,请立即在手机银行冻结信用卡，并拨打客服电话挂失。,lost_card\n"
        "q2,如何修改密码？,登录手机银行，在安全中心修改登录密码。,password\n"
        "q3,如何修改密码？,登录手机银行，在安全中心修改登录密码。,password\n"
        'q4,How do I reset my PIN?,"Open the app, go to Cards, choose Reset PIN.",pin\n',
        encoding="utf-8",
    )
    return root
