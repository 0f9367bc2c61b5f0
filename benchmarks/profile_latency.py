"""Where single-text latency goes: normalization, tokenization, the forward pass, the whole call.

The shipped model runs on its CPU default engine (ONNX int8, or fp32 where its card says why not).

    python benchmarks/profile_latency.py
"""

import time

import numpy as np

from emotionkit import EmotionClassifier
from emotionkit.data import load_dataset
from emotionkit.textnorm import normalize

texts = [e.text for e in load_dataset("../shared/data/emotion").split("test")][:300]
clf = EmotionClassifier.load()
clf(texts[:20])  # warm-up


def per_text_ms(fn) -> float:
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return (time.perf_counter() - start) / len(texts) * 1000


encoded = [clf.tokenizer([t], return_tensors="np") for t in texts]


def forward_ms() -> float:
    start = time.perf_counter()
    for e in encoded:
        clf.engine.logits(e["input_ids"].astype(np.int64), e["attention_mask"].astype(np.int64))
    return (time.perf_counter() - start) / len(encoded) * 1000


print("normalize (emoji) ms/text", round(per_text_ms(lambda t: normalize(t, ("emoji",))), 4))
print("tokenize ms/text", round(per_text_ms(lambda t: clf.tokenizer([t], truncation=True, max_length=128)), 4))
print(f"{clf.engine.name} forward ms/text", round(forward_ms(), 3))
print("full clf(text) ms/text", round(per_text_ms(clf), 3))
print("mean tokens", float(np.mean([e["input_ids"].shape[1] for e in encoded])))
