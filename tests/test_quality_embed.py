"""The one embedding loader: static models distilled once and cached by the source's content hash,
transformers with a per-embedder token cap that never leaks, normalized vectors, identities for
the manifest. A tiny transformer built at test time stands in for all-MiniLM-L6-v2."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from embed_helpers import build_tiny_sentence_transformer

from sluice.curate.quality import embed as embed_mod
from sluice.curate.quality.embed import Embed, content_hash, embed_texts, load_model, model_identity


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny-st"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def _batch(texts):
    return pl.DataFrame({"messages": [[{"role": "user", "content": t}, {"role": "assistant", "content": "ok"}]
                                      for t in texts]})


def test_static_model_is_distilled_once_and_keyed_by_the_source_content(tiny, cache, monkeypatch):
    model = load_model("static", source=tiny)
    ident = model_identity(model)
    assert ident["kind"] == "static" and ident["source"] == {"model": tiny, "sha256": content_hash(tiny)}
    assert ident["path"].startswith(str(cache)) and content_hash(tiny)[:16] in ident["path"]
    vectors = embed_texts(model, ["how do i reset my password", "what is the capital of france", ""])
    assert vectors.dtype == np.float32 and vectors.shape == (3, model.dim)
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1, atol=1e-5)

    import model2vec.distill

    def no_second_distillation(*a, **k):
        raise AssertionError("the cached static model was distilled again")

    monkeypatch.setattr(model2vec.distill, "distill", no_second_distillation)
    monkeypatch.setattr(embed_mod, "_BACKENDS", {})  # a new process: nothing loaded, the cache on disk
    again = load_model("static", source=tiny)
    assert model_identity(again)["sha256"] == ident["sha256"]
    assert np.allclose(embed_texts(again, ["how do i reset my password"]), vectors[:1], atol=1e-6)


def test_a_changed_source_model_gets_its_own_static_model(tiny, cache, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny, other)
    (other / "README.md").write_text("changed\n")
    assert content_hash(other) != content_hash(tiny)
    first = model_identity(load_model("static", source=tiny))["path"]
    second = model_identity(load_model("static", source=str(other)))["path"]
    assert first != second and sorted(p.name for p in cache.iterdir()) == sorted([first.split("/")[-1],
                                                                                  second.split("/")[-1]])


def test_token_cap_of_one_embedder_never_leaks_into_another(tiny):
    long_text = "how do i reset my password " * 10
    capped = Embed(model=tiny, text="user", max_tokens=4)
    full = Embed(model=tiny, text="user")
    capped.setup()
    full.setup()
    assert capped.model.backend is full.model.backend  # one loaded model, shared
    a = np.stack(capped.score(_batch([long_text]))["embedding"].to_numpy())
    b = np.stack(full.score(_batch([long_text]))["embedding"].to_numpy())
    assert not np.allclose(a, b, atol=1e-4)  # the cap did not carry over to the uncapped stage
    # beyond the cap the text no longer matters: only the first 4 tokens are read
    head = np.stack(capped.score(_batch(["how do i reset my password please help"]))["embedding"].to_numpy())
    assert np.allclose(a, head, atol=1e-5)
    assert full.model.backend.max_seq_length == 128 and model_identity(full.model)["max_tokens"] == 128


def test_embed_stage_records_both_identities(tiny, cache):
    stage = Embed(model="static", source=tiny)
    out = stage.score(_batch(["write a poem about autumn leaves", "tell me the capital of spain"]))
    # the vector is the model's, plus the agent-signature block (zero for rows without tools or calls)
    assert out["embedding"].dtype == pl.Array(pl.Float32, stage.model.dim + embed_mod.SIGNATURE_DIMS)
    info = stage.describe()["model"]
    assert info["kind"] == "static" and info["source"]["sha256"] == content_hash(tiny) and len(info["sha256"]) == 64


def test_a_missing_source_model_is_a_clear_error(cache):
    from sluice.errors import RecipeError

    with pytest.raises(RecipeError, match="not a folder"):
        load_model("static", source="/nonexistent/model")


@pytest.mark.slow
def test_default_static_model_ranks_paraphrases_above_unrelated_prompts():
    model = load_model("static")  # distilled from the embedded all-MiniLM-L6-v2 (cached after the first run)
    v = embed_texts(model, ["How do I reset my password?", "I forgot my password, how can I reset it?",
                            "Write a haiku about autumn leaves."])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_static_stage_vectors_equal_model2vec_encode_bit_for_bit(tiny, cache):
    """The stage encodes each distinct text once and scatters it back; every row must still be exactly
    what model2vec's own encode gives for it (normalized in float32), repeats and agent rows included."""
    texts = ["how do i reset my password", "what is the capital of france", "how do i reset my password", "",
             "write a poem about autumn leaves " * 30, "what is the capital of france", "tell me tips to sleep better"]
    batch = _batch(texts)
    call = [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "paris"}'}}]
    msgs = batch["messages"].to_list()
    msgs[1] = [{"role": "user", "content": texts[1]}, {"role": "assistant", "content": None, "tool_calls": call}]
    fn = pl.Struct({"name": pl.String, "arguments": pl.String})
    message = pl.Struct({"role": pl.String, "content": pl.String,
                         "tool_calls": pl.List(pl.Struct({"id": pl.String, "type": pl.String, "function": fn}))})
    batch = pl.DataFrame({"messages": msgs}, schema={"messages": pl.List(message)})
    stage = Embed(model="static", source=tiny, text="user")
    got = np.stack(stage.score(batch)["embedding"].to_numpy())
    dim = stage.model.dim
    ref = np.asarray(stage.model.backend.encode(texts, show_progress_bar=False, use_multiprocessing=False),
                     dtype=np.float32)
    ref = ref / np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
    plain = [i for i in range(len(texts)) if i != 1]
    assert np.array_equal(got[plain, :dim], ref[plain]) and not got[plain, dim:].any()
    # the agent row: the same text vector scaled down, plus its signature block; the row stays a unit vector
    scale = np.float32(np.sqrt(1 - embed_mod.SIGNATURE_WEIGHT ** 2))
    assert np.array_equal(got[1, :dim], ref[1] * scale) and got[1, dim:].any()
    assert np.isclose(np.linalg.norm(got[1]), 1, atol=1e-5)
    tools_off = np.stack(Embed(model="static", source=tiny, text="user", tools=False).score(batch)["embedding"]
                         .to_numpy())
    assert np.array_equal(tools_off, ref)
