"""The LLM judge of the eval gate: PrometheusEval behind the privacy guard, failed judgments
counted (never scored 0), keys from the environment or a file, and calibration on human labels.

``RuleJudge`` is the one stand-in: a real distilabel ``LLM`` that answers PrometheusEval's prompt
with a rule (ROUGE-L of the response against the reference → 1-5), because no model that grades
meaningfully can run in a test. Everything around it — the task's prompt and parser, the backend,
the guard, the statistics — is the real code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sluice.privacy import NotRedacted
from sluice.synth.grader import MAX_DISAGREEMENT, calibrate_file, cohen_kappa, judge, load_labels
from sluice.synth.llm import Backend, LLMSpec, build_backend
from sluice.train.gate import rouge_l
from test_synth_run import ConnectRecorder, _redaction
from test_synth_serve import server  # noqa: F401 — the real `transformers serve` fixture

LABELS = Path(__file__).parents[1] / "examples" / "evalsets" / "judge-labels.jsonl"
REMOTE = "http://10.255.255.1:9/v1"  # never contacted: the guard refuses first


def rule_result(prompt: str) -> int | None:
    response = prompt.split("###Response to evaluate:")[1].split("###Reference Answer")[0].strip()
    reference = prompt.split("###Reference Answer (Score 5):")[1].split("###Score Rubrics")[0].strip()
    if response == "[garbled]":
        return None
    return 1 + round(4 * rouge_l(response, reference))


def rule_judge(constant: int | None = None) -> Backend:
    from distilabel.models.llms.base import LLM

    class RuleJudge(LLM):
        @property
        def model_name(self) -> str:
            return "rule-judge"

        def generate(self, inputs, num_generations=1, **kwargs):
            out = []
            for chat in inputs:
                assert chat[0]["role"] == "system" and "###Score Rubrics" in chat[1]["content"]  # PrometheusEval's
                result = constant if constant is not None else rule_result(chat[1]["content"])
                reply = f"Feedback: compared with the reference. [RESULT] {result}" if result else "I cannot grade."
                out.append({"generations": [reply], "statistics": {}})
            return out

    llm = RuleJudge()
    llm.load()
    return Backend(LLMSpec(backend="transformers", model="rule-judge"), llm)


def test_calibration_reports_agreement_and_kappa_on_a_labelled_sample():
    from sklearn.metrics import cohen_kappa_score

    spec = LLMSpec(backend="transformers", model="rule-judge")
    report = calibrate_file(LABELS, spec, rubric="factual-validity", backend=rule_judge())
    items, labels = load_labels(LABELS)
    judged = [rule_result(_prompt(it)) for it in items]
    pairs = [(h, j) for h, j in zip(labels, judged) if j is not None]
    assert report["items"] == 12 and report["judged"] == len(pairs) == 11
    assert report["errors"] == {"judge_unparseable": 1}  # the unparsable judgment is counted, not scored
    agreement = sum(h == j for h, j in pairs) / len(pairs)
    assert report["agreement"] == pytest.approx(agreement)
    assert report["kappa"] == pytest.approx(cohen_kappa_score([h for h, _ in pairs], [j for _, j in pairs]))
    assert ("warning" in report) == (1 - agreement > MAX_DISAGREEMENT)

    # a judge that gives everything a 5 agrees only on the 5-labelled items: warned
    flat = calibrate_file(LABELS, spec, backend=rule_judge(constant=5))
    assert flat["agreement"] == pytest.approx(labels.count(5) / 12) and flat["kappa"] == pytest.approx(0.0)
    assert "disagrees" in flat["warning"]


def _prompt(item) -> str:
    return (f"###Response to evaluate:\n{item['generation']}\n\n###Reference Answer (Score 5):\n{item['reference']}"
            "\n\n###Score Rubrics")


def test_cohen_kappa_matches_a_reference_implementation():
    from sklearn.metrics import cohen_kappa_score

    a, b = [1, 2, 3, 3, 5, 5, 4, 1], [1, 2, 3, 4, 5, 4, 4, 2]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa([True, False], [True, False]) == 1.0


def test_failed_judgments_are_left_out_and_reported_never_zero():
    from sluice.synth.grader import Judgments
    from sluice.train.config import GateRule
    from sluice.train.gate import decide

    judged = Judgments([5] * 10 + [None, 3])
    judged.errors["judge_unparseable"] += 1
    base = Judgments([3] * 12)
    out = decide({"judge": base.scores}, {"judge": judged.scores}, ["all"] * 12, GateRule(metric="judge"),
                 {"incumbent": base.report(), "candidate": judged.report()})
    gain = out["gains"]["judge"]
    assert gain["n"] == 11 and gain["candidate"] == pytest.approx((10 * 1.0 + 0.5) / 11)  # the failed one: not a 0
    assert judged.report()["errors"] == {"judge_unparseable": 1} and judged.report()["judged"] == 11
    assert any("1 candidate judgment(s) failed" in r for r in out["reasons"])


class _Endpoint:
    """A real HTTP server on 127.0.0.1 that answers every chat completion with one fixed reply."""

    def __init__(self, status: int, content: str = ""):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = ({"error": {"message": "prompt too long for this model", "type": "invalid_request_error"}}
                        if status >= 400 else
                        {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("status,content,says", [
    (200, "I would rather not grade this.", "12 judge_unparseable"),
    (400, "", "12 transport_error"),
])
def test_calibration_with_an_unusable_judge_fails_in_one_line(store, status, content, says):
    """Unparseable replies and an HTTP 400 both refuse calibration (exit 1), each named for what it is."""
    from typer.testing import CliRunner

    from sluice.cli import app

    endpoint = _Endpoint(status, content)
    try:
        r = CliRunner().invoke(app, ["train", "eval", "--calibrate", str(LABELS), "--judge-url", endpoint.url,
                                     "--judge-model", "m", "--root", str(store.root)])
    finally:
        endpoint.close()
    assert r.exit_code == 1, r.output
    assert "parsed for 0 of 12 labelled items (0%" in r.stderr and says in r.stderr
    assert "agreement needs at least 10 parsed items" in r.stderr and "kappa" not in r.output.lower()
    assert ("transport errors" in r.stderr) == (status == 400) and "Traceback" not in r.output


def test_calibration_refuses_agreement_on_too_few_parsed_items():
    from sluice.synth.grader import Judgments, calibrate

    report = calibrate([5] * 12, Judgments([5] + [None] * 11, errors={"judge_unparseable": 11}))
    assert report["agreement"] is None and report["kappa"] is None and report["parsed_fraction"] == pytest.approx(1 / 12)
    assert "parsed for 1 of 12" in report["warning"]


def test_judge_refuses_a_remote_endpoint_on_unredacted_data(store, tmp_path, monkeypatch):
    from train_helpers import conv_rows, publish

    from sluice.errors import RecipeError
    from sluice.recipe import Recipe
    from sluice.runner import run
    from sluice.train.gate import evaluate

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    publish(store, "golden", "conversation", conv_rows(["where is my order?"], ["it shipped."], "g"))
    spec = LLMSpec(model="judge", base_url=REMOTE)
    ConnectRecorder.hosts, ConnectRecorder.active = [], True
    try:
        with pytest.raises(NotRedacted) as err:  # before the adapter is even read
            evaluate(tmp_path / "no-adapter", "golden@v1", store, judge=spec)
        assert "golden@v1" in str(err.value) and "10.255.255.1" in str(err.value)
        with pytest.raises(NotRedacted):  # a labels file has no lineage at all
            calibrate_file(LABELS, spec, store)
    finally:
        ConnectRecorder.active = False
    assert ConnectRecorder.hosts == []

    # with redaction in the lineage the guard lets it through (and the missing adapter is next)
    run(Recipe(), _redaction(), store=store, input_ref="golden", output="golden-clean")
    with pytest.raises(RecipeError, match="not a sluice adapter folder"):
        evaluate(tmp_path / "no-adapter", "golden-clean@v1", store, judge=spec)
    # a loopback judge is this machine: no redaction needed
    with pytest.raises(RecipeError, match="not a sluice adapter folder"):
        evaluate(tmp_path / "no-adapter", "golden@v1", store, judge=LLMSpec(model="j", base_url="http://127.0.0.1:9/v1"))


def test_cli_calibrate_refuses_remote_and_reads_keys_from_the_environment(store, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sluice.cli import app
    from sluice.errors import SluiceError

    monkeypatch.delenv("SLUICE_TEST_JUDGE_KEY", raising=False)
    r = CliRunner().invoke(app, ["train", "eval", "--calibrate", str(LABELS), "--judge-url", REMOTE,
                                 "--judge-model", "m", "--judge-key-env", "SLUICE_TEST_JUDGE_KEY",
                                 "--root", str(store.root)])
    assert r.exit_code == 2 and "refusing" in r.output
    # a remote endpoint without a key is refused; the key comes from the variable or a key file
    remote = LLMSpec(model="m", base_url=REMOTE, api_key_env="SLUICE_TEST_JUDGE_KEY")
    with pytest.raises(SluiceError, match="no API key"):
        build_backend(remote)
    (tmp_path / "key").write_text("sk-from-file\n")
    assert remote.model_copy(update={"api_key_file": tmp_path / "key"}).api_key() == "sk-from-file"
    monkeypatch.setenv("SLUICE_TEST_JUDGE_KEY", "sk-from-env")
    assert remote.api_key() == "sk-from-env"


def test_judge_against_a_real_local_server(server):  # noqa: F811 — the fixture imported above
    """The tiny model on `transformers serve` writes random text: every judgment is an error."""
    model, base_url = server
    spec = LLMSpec(model=model, base_url=base_url, generation={"max_new_tokens": 8})
    out = judge([{"instruction": "q", "generation": "a", "reference": "r"}] * 3, spec)
    assert out.results == [None] * 3 and sum(out.errors.values()) == 3
    assert set(out.errors) <= {"judge_unparseable", "empty_generation"}
    assert not re.search(r"\bq\b", " ".join(out.details))  # causes never quote the prompt
