"""Gradient attributions through captum, summed back onto the words of the original text.

The model reads the text built by :func:`emotionkit.explain.model_text` (each word normalized on its
own, so its span is known); the tokenizer's ``offset_mapping`` gives each piece's span in it, and a
word's weight is the sum, over its pieces and the hidden dimensions, of the attributions at the
word-embedding layer. Pieces past the model's window get nothing (their words weigh 0).

>>> from emotionkit.explain import explain
>>> explain(clf, "so happy", method="integrated-gradients").words[1].weight > 0   # doctest: +SKIP
True
"""

from __future__ import annotations

import bisect

import numpy as np

from emotionkit.explain import IG_STEPS, model_text


def _captum():
    try:
        import captum.attr  # noqa: PLC0415
    except ImportError:
        raise ImportError("gradient explanations need captum: pip install 'emotionkit[explain]'") from None
    return captum.attr


def gradient_weights(model, clf, texts: list[str], words: list[list[tuple[str, int, int]]], targets: list[int],
                     method: str, steps: int = IG_STEPS) -> list[np.ndarray]:
    """One weight per word for each text: ``integrated-gradients`` or ``gradient-x-input``."""
    import torch  # noqa: PLC0415

    attr = _captum()
    multi = clf.decision.multi_label

    def forward(input_ids, attention_mask):
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        # The score the classifier reports: per-label sigmoid, or softmax over the labels.
        return torch.sigmoid(logits) if multi else torch.softmax(logits, dim=-1)

    layer = model.get_input_embeddings()
    if method == "integrated-gradients":
        explainer = attr.LayerIntegratedGradients(forward, layer)
    elif method == "gradient-x-input":
        explainer = attr.LayerGradientXActivation(forward, layer)
    else:
        raise ValueError(f"method must be integrated-gradients or gradient-x-input, got {method!r}")
    device = next(model.parameters()).device
    pad = clf.tokenizer.pad_token_id or 0
    out = []
    for text, ws, target in zip(texts, words, targets, strict=True):
        if not ws:
            out.append(np.zeros(0))
            continue
        seen, spans = model_text(text, ws, clf.normalize_steps)
        enc = clf.tokenizer(seen, truncation=True, max_length=clf.max_length, return_offsets_mapping=True,
                            return_special_tokens_mask=True)
        ids = torch.tensor([enc["input_ids"]], device=device)
        mask = torch.ones_like(ids)
        special = torch.tensor([enc["special_tokens_mask"]], device=device).bool()
        if method == "integrated-gradients":
            # Baseline: the same special tokens around pads, so only the words' content is integrated away.
            baseline = torch.where(special, ids, torch.full_like(ids, pad))
            pieces = explainer.attribute(ids, baselines=baseline, target=target, additional_forward_args=(mask,),
                                         n_steps=steps, internal_batch_size=steps)
        else:
            pieces = explainer.attribute(ids, target=target, additional_forward_args=(mask,))
        per_piece = pieces.sum(dim=-1)[0].detach().cpu().numpy()  # [pieces]
        out.append(_to_words(per_piece, enc["offset_mapping"], enc["special_tokens_mask"], spans))
    return out


def _to_words(per_piece: np.ndarray, offsets: list[tuple[int, int]], special: list[int],
              spans: list[tuple[int, int]]) -> np.ndarray:
    """Sum piece weights into the word whose span holds each piece's first character.

    >>> _to_words(np.array([9.0, 1.0, 2.0, 4.0, 9.0]), [(0, 0), (0, 2), (2, 4), (5, 6), (0, 0)], [1, 0, 0, 0, 1],
    ...           [(0, 4), (5, 6)]).tolist()
    [3.0, 4.0]
    """
    starts = [s for s, _ in spans]
    weights = np.zeros(len(spans))
    for value, (s, e), is_special in zip(per_piece, offsets, special, strict=True):
        if is_special or e <= s:
            continue
        j = bisect.bisect_right(starts, s) - 1
        if j >= 0 and s < spans[j][1]:
            weights[j] += value
    return weights
