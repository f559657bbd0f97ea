"""Every synth recipe end to end with a tiny local model built at test time (distilabel's
transformers backend): structure, counts, lineage, resume, the privacy guard, egress.

The tiny model writes random text, so a real judge cannot be simulated with it; the pair
building path is driven by ``ScriptedJudge`` — a real distilabel ``LLM`` subclass that
replays fixed judge replies (well-formed, markdown, malformed, wrong count, tie). That is the
one stand-in here, because no model that rates answers meaningfully can run in a test.
"""

from __future__ import annotations

import socket
import sys
from collections import Counter

import pytest

from sluice.curate.ingest import ingest
from sluice.privacy import NotRedacted
from sluice.recipe import Recipe as CurationRecipe
from sluice.runner import run as run_curation
from sluice.synth.guard import EgressBlocked, egress_guard
from sluice.synth.llm import Backend, LLMSpec, build_backend
from sluice.synth.runner import LLMFile, SynthesisFailed, synthesize

GEN = {"max_new_tokens": 8}
_T = "distilabel.steps.tasks."
_ANSWER = {_T + "text_generation.TextGeneration", _T + "text_generation.ChatGeneration"}
TASKS = {  # the distilabel task classes each recipe runs through
    "evol_instruct": {_T + "evol_instruct.base.EvolInstruct", _T + "text_generation.TextGeneration"},
    "self_instruct": {_T + "self_instruct.SelfInstruct", _T + "text_generation.TextGeneration"},
    "critique_revise": _ANSWER,
    "ultrafeedback": _ANSWER | {_T + "ultrafeedback.UltraFeedback"},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from sluice.tiny import build_tiny_chat_model

    return str(build_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def local_backend(tiny):
    backend = build_backend(LLMSpec(backend="transformers", model=tiny, generation=GEN))
    yield backend
    backend.close()


@pytest.fixture
def raw(store, sample_logs):
    return ingest([str(sample_logs)], to="raw", store=store, workers=1).version


def local_file(tiny, **extra) -> LLMFile:
    return LLMFile(llm={"backend": "transformers", "model": tiny, "generation": GEN, **extra})


def source_ids(version) -> set[str]:
    return set(version.read(columns=["id"]).column("id").to_pylist())


def check_lineage(out, raw, n_source_rows):
    m = out.manifest
    assert m["parents"] == [raw.ref]
    acc = m["accounting"]
    assert acc["rows_in"] == acc["kept"] + acc["rejected_total"]
    table = out.read()
    assert table.num_rows == acc["kept"]
    allowed = set(raw.read(columns=["id"]).column("id").to_pylist()[:n_source_rows])
    rejected = out.read("rejected")
    lineage = table.column("source_ids").to_pylist()
    lineage += rejected.column("source_ids").to_pylist() if rejected.num_rows else []
    for ids in lineage:
        assert ids and set(ids) <= allowed
    return table


class ConnectRecorder:
    """Records every socket connection the process makes while active (audit hook)."""

    hosts: list[str] = []
    active = False

    @classmethod
    def hook(cls, event, args):
        if cls.active and event == "socket.connect" and isinstance(args[1], tuple):
            cls.hosts.append(str(args[1][0]))


sys.addaudithook(ConnectRecorder.hook)


def test_every_recipe_with_a_local_transformers_model(store, raw, tiny, local_backend):
    ConnectRecorder.hosts, ConnectRecorder.active = [], True
    try:
        # responses builds its backend through distilabel's TransformersLLM from the LLM file
        res = synthesize("responses", source="raw", to="sft", llm=local_file(tiny), store=store, limit=6)
        out = res.versions[0]
        assert out.ref == "sft@v1" and out.kind == "conversation"
        table = check_lineage(out, raw, 6)
        acc = out.manifest["accounting"]
        assert acc["rows_in"] == 6 and res.calls == acc["kept"]
        for msgs in table.column("messages").to_pylist():
            assert msgs[-1]["role"] == "assistant" and msgs[-1]["content"]
            assert msgs[-2]["role"] == "user"
        synth = out.manifest["synth"]
        assert synth["models"]["llm"]["model"] == tiny and synth["models"]["llm"]["generation"] == GEN
        usage = next(iter(synth["usage"].values()))
        assert usage["calls"] == res.calls and usage["input_tokens"] > 0 and usage["output_tokens"] > 0

        assert synth["tasks"]["answer"] == "distilabel.steps.tasks.text_generation.TextGeneration"

        # a random judge rates nothing: the run fails loudly, naming the reason, and publishes nothing
        with pytest.raises(SynthesisFailed) as err:
            synthesize("ultrafeedback", source="raw", to="uf", llm=local_file(tiny), store=store, limit=3,
                       settings={"n": 2}, backends={"llm": local_backend})
        assert "judge_unparseable" in str(err.value) and store.versions("uf") == []

        ready = {"llm": local_backend}
        for recipe, settings, outputs in [
            ("evol_instruct", {"rounds": 2}, ["evol@v1"]),
            ("self_instruct", {"num_instructions": 3}, ["selfi@v1"]),
            ("critique_revise", {}, ["cr@v1", "cr-sft@v1"]),
            ("ultrafeedback", {"n": 2}, ["uf@v1"]),
        ]:
            name = outputs[0].split("@")[0]
            res = synthesize(recipe, source="raw", to=name, llm=local_file(tiny), store=store, limit=3,
                             settings=settings, backends=dict(ready), allow_empty=recipe == "ultrafeedback")
            assert [v.ref for v in res.versions] == outputs
            for v in res.versions:
                check_lineage(v, raw, 3)
                assert v.manifest["synth"]["templates"], recipe  # prompt template versions recorded
                assert set(v.manifest["synth"]["tasks"].values()) == TASKS[recipe]  # distilabel formats and parses
            if recipe == "critique_revise":
                pref, sft = res.versions
                assert pref.kind == "preference" and sft.kind == "conversation"
                assert set(pref.read().column("origin").to_pylist()) <= {"synthetic"}
                assert res.calls == 3 * 3
            if recipe == "ultrafeedback":
                # random text from the judge: every prompt is dropped with a judge reason, none silently
                rej = res.versions[0].read("rejected").column("reason").to_pylist()
                assert len(rej) == 3 and set(rej) <= {"judge_unparseable", "judge_wrong_count", "judge_out_of_range"}
                assert res.versions[0].manifest["synth"]["failed_generations"]
    finally:
        ConnectRecorder.active = False
    assert all(h.startswith("127.") or h == "::1" for h in ConnectRecorder.hosts), ConnectRecorder.hosts


class ScriptedJudge:
    """A distilabel LLM replaying judge replies in order (see the module docstring)."""

    REPLIES = [
        "#### Output for Text 1\nRating: 2\nRationale: weak\n\n#### Output for Text 2\nRating: 5\nRationale: good"
        "\n\n#### Output for Text 3\nRating: 4\nRationale: ok",
        "**Rating**: 5\nRationale: a\n\n**Rating**: 1\nRationale: b\n\n**Rating**: 3\nRationale: c",
        "I cannot rate these texts.",  # malformed
        "Rating: 4\nRationale: only one text rated",  # wrong count
        "Rating: 3\nRating: 3\nRating: 3",  # tie
        "Rating: 4\nRating: 3.5\nRating: 4",  # below the margin of 1
    ]

    @staticmethod
    def make():
        from distilabel.models.llms.base import LLM

        class _Judge(LLM):
            calls: int = 0

            def load(self):
                super().load()

            @property
            def model_name(self) -> str:
                return "scripted-judge"

            def generate(self, inputs, num_generations=1, **kwargs):
                out = []
                for chat in inputs:  # a batch: one reply per chat, in order
                    text = "\n".join(m["content"] for m in chat)
                    assert "Rating:" in text and "<text 3>" in text  # the UltraFeedback rubric with 3 texts
                    out.append({"generations": [ScriptedJudge.REPLIES[self.calls % len(ScriptedJudge.REPLIES)]],
                                "statistics": {}})
                    self.calls += 1
                return out

        judge = _Judge()
        judge.load()
        return judge


def test_ultrafeedback_pairs_and_drop_reasons(store, raw, tiny, local_backend):
    judge = Backend(LLMSpec(backend="transformers", model="scripted-judge"), ScriptedJudge.make())
    res = synthesize("ultrafeedback", source="raw", to="prefs", llm=local_file(tiny), store=store,
                     settings={"n": 3, "min_margin": 1}, backends={"llm": local_backend, "judge": judge}, limit=7)
    prefs = res.versions[0]
    acc = prefs.manifest["accounting"]
    n_items = 7 - acc["rejected"].get("synth.source", {}).get("has_tool_calls", 0)
    assert judge.llm.calls == n_items >= 6
    outcomes = ["pair", "pair", "judge_unparseable", "judge_wrong_count", "tie", "below_margin"]
    expected = Counter(outcomes[i % 6] for i in range(n_items))
    table = prefs.read().to_pylist()
    assert len(table) == expected.pop("pair") == acc["kept"]
    assert [(r["score_chosen"], r["score_rejected"]) for r in table][:2] == [(5.0, 2.0), (5.0, 1.0)]
    for r in table:
        assert r["origin"] == "synthetic" and r["chosen"][0]["role"] == "assistant"
        assert r["prompt"][-1]["role"] == "user" and len(r["source_ids"]) == 1
    reasons = acc["rejected"]["synth.ultrafeedback"]
    assert reasons == dict(expected)
    assert prefs.manifest["synth"]["models"]["judge"]["model"] == tiny  # spec of the judge role
    assert prefs.manifest["synth"]["failed_generations"] == reasons


def test_resume_after_interruption_skips_finished_items(store, raw, tiny, local_backend):
    class Interrupt(Exception):
        pass

    def stop_after_two(done, total):
        if done == 2:
            raise Interrupt

    llm = local_file(tiny, batch_size=2)  # two items in flight: the interruption leaves three to do
    before = local_backend.usage.calls
    with pytest.raises(Interrupt):
        synthesize("critique_revise", source="raw", to="cr", llm=llm, store=store, limit=5,
                   backends={"llm": local_backend}, on_item=stop_after_two)
    assert store.versions("cr") == []  # nothing published by the interrupted run
    first_calls = local_backend.usage.calls - before
    assert first_calls >= 2 * 3

    res = synthesize("critique_revise", source="raw", to="cr", llm=llm, store=store, limit=5,
                     backends={"llm": local_backend})
    pref = res.versions[0]
    n_items = 5 - pref.manifest["accounting"]["rejected"].get("synth.source", {}).get("has_tool_calls", 0)
    assert res.resumed == 2 and res.calls == (n_items - 2) * 3  # finished items were not called again
    assert pref.manifest["synth"]["resumed_items"] == 2
    usage = next(iter(pref.manifest["synth"]["usage"].values()))
    assert usage["calls"] >= n_items * 3  # the interrupted session's calls are counted too
    assert pref.manifest["accounting"]["kept"] + pref.manifest["accounting"]["rejected_total"] == 5
    assert not list((store.root / ".synth").glob("cr-*.jsonl"))  # journal removed once published

    again = synthesize("critique_revise", source="raw", to="cr", llm=llm, store=store, limit=5,
                       backends={"llm": local_backend})
    assert again.reused and again.calls == 0 and again.versions[0].ref == "cr@v1"


def _redaction():
    """The real PII stages (NER engine): the guard certifies what ran, not a stage's name."""
    from sluice.curate.pii.stage import PiiDetect, RedactPii

    return [PiiDetect(), RedactPii()]


REMOTE = {"backend": "openai", "model": "m", "base_url": "http://10.255.255.1:9/v1", "generation": GEN}


def test_privacy_guard_refuses_unredacted_data_for_remote_endpoints(store, raw, local_backend, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    ConnectRecorder.hosts, ConnectRecorder.active = [], True
    try:
        with pytest.raises(NotRedacted) as err:
            synthesize("responses", source="raw", to="out", llm=LLMFile(llm=REMOTE), store=store, limit=2)
    finally:
        ConnectRecorder.active = False
    assert "raw@v1" in str(err.value) and "10.255.255.1" in str(err.value)
    assert ConnectRecorder.hosts == []  # refused before any connection
    assert store.versions("out") == []

    # redaction in the lineage lets it through (the model itself is local here: no packet leaves)
    clean = run_curation(CurationRecipe(), _redaction(), store=store, input_ref="raw", output="clean").version
    res = synthesize("responses", source="clean", to="out", llm=LLMFile(llm=REMOTE), store=store, limit=2,
                     backends={"llm": local_backend})
    privacy = res.versions[0].manifest["synth"]["privacy"]
    assert privacy["redaction_verified_by"] == clean.ref and privacy["override"] is False

    # the explicit override works and is recorded loudly
    res = synthesize("responses", source="raw", to="forced", llm=LLMFile(llm=REMOTE), store=store, limit=2,
                     backends={"llm": local_backend}, allow_unredacted=True)
    privacy = res.versions[0].manifest["synth"]["privacy"]
    assert privacy["override"] is True and "UNREDACTED" in privacy["warning"]


def test_egress_guard_and_distilabel_network_switches():
    from sluice.synth.guard import disable_distilabel_network

    disable_distilabel_network()
    import distilabel.distiset as distiset
    import distilabel.utils.docstring as docstring

    with pytest.raises(EgressBlocked):
        docstring.get_bibtex("https://arxiv.org/abs/2310.01377")  # arxiv2bibtex.org is never contacted
    assert distiset._grab_citations(None) == []
    with egress_guard(["127.0.0.1"]):
        with pytest.raises(EgressBlocked):
            socket.getaddrinfo("arxiv2bibtex.org", 443)
        s = socket.socket()
        try:
            with pytest.raises(EgressBlocked):
                s.connect(("10.255.255.1", 9))
        finally:
            s.close()
    # outside a run the hook is inert
    s = socket.socket()
    s.settimeout(0.01)
    try:
        s.connect(("127.0.0.1", 9))
    except OSError:
        pass
    finally:
        s.close()


def test_cli_synth(store, raw, tiny, tmp_path):
    from typer.testing import CliRunner

    from sluice.cli import app

    llm = tmp_path / "llm.yaml"
    llm.write_text(f"llm: {{backend: transformers, model: {tiny}, generation: {{max_new_tokens: 4}}}}\n")
    result = CliRunner().invoke(app, ["synth", "self-instruct", "--from", "raw", "--to", "si", "--llm", str(llm),
                                      "--set", "num_instructions=2", "--set", "answer=false", "--limit", "2",
                                      "--root", str(store.root), "--json"])
    assert result.exit_code == 0, result.output
    assert '"si@v1"' in result.stdout
    # nothing kept (a random judge): exit 1, naming the reason; nothing published
    empty = CliRunner().invoke(app, ["synth", "ultrafeedback", "--from", "raw", "--to", "uf", "--llm", str(llm),
                                     "--set", "n=2", "--limit", "2", "--root", str(store.root)])
    assert empty.exit_code == 1 and "produced no rows" in empty.output and "judge_" in empty.output
    assert store.versions("uf") == []
    bad = CliRunner().invoke(app, ["synth", "nope", "--from", "raw", "--to", "x", "--llm", str(llm),
                                   "--root", str(store.root)])
    assert bad.exit_code == 2 and "unknown synth recipe" in bad.output
