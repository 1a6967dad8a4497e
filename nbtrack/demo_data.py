"""Product reviews made here, labelled positive (1) or negative (0): the demo's text task.

Standard library only, so a script in another environment (the MLflow side of
tests/test_mlflow_dropin.py) can load this file by path without nbtrack installed.

Example:
    >>> reviews = make_reviews(100)
    >>> len(reviews.train_text), len(reviews.test_text)
    (75, 25)
"""

from __future__ import annotations

import random
from typing import NamedTuple

_GOOD = ("love", "perfect", "lovely", "great", "comfortable", "flattering", "soft", "beautiful",
         "recommend", "gorgeous", "happy", "cute")
_BAD = ("cheap", "ripped", "returning", "disappointed", "itchy", "poor", "awful", "tight",
        "faded", "broke", "refund", "boring")
_NEUTRAL = ("dress", "fit", "fabric", "size", "color", "wash", "sleeves", "order", "shipping",
            "top", "jeans", "length", "waist", "it", "the", "was", "and", "after", "this", "my")


class Reviews(NamedTuple):
    train_text: list[str]
    train_label: list[int]
    test_text: list[str]
    test_label: list[int]


def make_reviews(n: int = 3000, seed: int = 0) -> Reviews:
    """``n`` short reviews, a quarter held out for testing; some mixed, 5 % mislabelled, so
    models differ. The same ``seed`` gives the same reviews."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.random() < 0.5
        strong, weak = (_GOOD, _BAD) if label else (_BAD, _GOOD)
        words = rng.choices(_NEUTRAL, k=rng.randint(4, 9)) + rng.choices(strong, k=rng.randint(1, 2))
        if rng.random() < 0.35:  # a mixed review: the minority opinion appears too
            words += rng.choices(weak, k=1)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(int(label) if rng.random() > 0.05 else int(not label))  # 5 % label noise
    cut = n * 3 // 4
    return Reviews(texts[:cut], labels[:cut], texts[cut:], labels[cut:])
