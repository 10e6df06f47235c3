from __future__ import annotations

from llmline.models.predictor import length_chunks


def test_length_chunks_cover_every_text_once_in_batches_of_similar_length() -> None:
    texts = ["x" * n for n in (5, 200, 7, 40, 6, 44, 210, 8, 9, 41)]
    chunks = length_chunks(texts, max_size=3)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(texts)))
    assert all(len(chunk) <= 3 for chunk in chunks)
    for chunk in chunks:  # never a 5-character text padded to 200
        lengths = [len(texts[i]) for i in chunk]
        assert max(lengths) <= 1.25 * min(lengths) + 8
    assert [len(texts[i]) for i in chunks[0]] == [5, 6, 7]  # shortest first
