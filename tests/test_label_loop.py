"""push → two annotators → pull, against a REAL argilla-server (see tests/argilla_harness.py).

The server runs from its own virtualenv with SQLite and redis-server; the one replaced part is the
search engine (SQL-backed, registered through argilla-server's SearchEngine.register hook, since
Elasticsearch cannot be installed here). Annotators are real users submitting through REST.
"""

from __future__ import annotations

import json
import shutil

import argilla_harness as harness
import httpx
import pytest

from sluice.curate.ingest import ingest
from sluice.labeling.client import ArgillaError
from sluice.labeling.pull import fetch, pull
from sluice.labeling.push import push
from sluice.privacy import NotRedacted
from sluice.recipe import Recipe
from sluice.runner import run


GROUPS = ["content", "tool_results", "name", "tool_calls", "extra", "tools", "feedback", "metadata"]


def redacted(store, languages=None, name="clean"):
    """raw@latest → language → pii_detect → redact_pii (the real stages, default NER engine), then
    a child version NAME whose manifest records the redaction with the languages the test says it
    covers (``languages``, default: every language in the data), in the agreed ``redaction_of``
    form (class and version, engine, languages, fields) — so the guard's language decisions can be
    tested on data in several languages."""
    stages = Recipe(stages=[{"stage": "language"}, {"stage": "pii_detect"}, {"stage": "redact_pii"}]).build()
    base = run(Recipe(), stages, store=store, input_ref="raw", output=f"{name}-base").version
    table = base.read()
    langs = sorted({x for x in table.column("lang").to_pylist() if x}) if languages is None else list(languages)
    real = {r["name"]: r["info"] for r in base.manifest["stages"]}  # what the real stages recorded …
    detect = {**real["pii_detect"], "ner_languages": langs}  # … with the languages this test says NER covered
    redact = {**real["redact_pii"], "languages": langs}
    n = table.num_rows
    records = [{"name": stage, "index": i, "rows_in": n, "kept": n, "rejected": {}, "quarantined": {}, "info": info}
               for i, (stage, info) in enumerate([("pii_detect", detect), ("redact_pii", redact)])]
    with store.create(name, "conversation") as w:
        w.write(table)
        return w.publish({"rows_in": n, "kept": n, "rejected_total": 0, "quarantined_total": 0},
                         parents=[base.ref], stages=records)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    yield from harness.serving(tmp_path_factory.mktemp("argilla"))


@pytest.fixture
def argilla_env(server, monkeypatch):
    return harness.use(server, monkeypatch)


@pytest.fixture
def clean(store, sample_logs):
    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    return redacted(store)


def _final(messages):
    return [m for m in messages if m["role"] == "assistant"][-1]["content"]


def test_push_annotate_pull(argilla_env, store, clean):
    server = argilla_env
    first = push(clean.ref, "loop", store=store, n=12, seed=1, min_submitted=2)
    again = push(clean.ref, "loop", store=store, n=12, seed=1, min_submitted=2)
    assert first.created and not again.created and first.pushed == again.pushed
    assert first.record == again.record  # an identical push is recorded once
    ds, ids = harness.records_by_external_id(server, "loop")
    if "loop-compare" in harness.dataset_names(server):
        ids.update(harness.records_by_external_id(server, "loop-compare")[1])
    # re-push updated the same records (record ids are sluice ids); a refused row is counted, not sent
    # rows the redaction did not cover are refused (counted) before sampling; a sampled row in which the
    # payload scan still finds PII (here a generated town name the redactor missed) is refused, counted
    after_sampling = sum(first.refused.get("payload_pii", {}).values())
    assert len(ids) == first.pushed and first.pushed + after_sampling == 12 and first.pushed >= 10
    source = {r["id"]: r for r in clean.read(columns=["id", "messages"]).to_pylist()}
    assert set(ids) <= set(source)

    a, b = harness.Annotator(server, "ann-a"), harness.Annotator(server, "ann-b")
    a.join(ds["workspace_id"])
    b.join(ds["workspace_id"])
    rec = sorted(ids)
    # r0: both love it → KTO true; r1: both hate it → KTO false, and A writes a correction → DPO edit
    # r2: ratings 3/3 but verdict good/good → KTO true by label; r3: both discard → counted only
    # r4: split 5 vs 1 (mean 3) and verdicts tie → no KTO; r5..: not annotated
    plan = {
        rec[0]: ({"quality": 5, "verdict": "good"}, {"quality": 4, "verdict": "good"}),
        rec[1]: ({"quality": 1, "verdict": "bad", "corrected_answer": "A much better answer."},
                 {"quality": 2, "verdict": "bad"}),
        rec[2]: ({"quality": 3, "verdict": "good"}, {"quality": 3, "verdict": "good"}),
        rec[4]: ({"quality": 5, "verdict": "good"}, {"quality": 1, "verdict": "bad"}),
    }
    for sid, (va, vb) in plan.items():
        a.respond(ids[sid], va)
        b.respond(ids[sid], vb)
    a.respond(ids[rec[3]], None, status="discarded")
    b.respond(ids[rec[3]], None, status="discarded")

    thumbs = {r["id"]: (r["feedback"] or {}).get("thumb") for r in clean.read(columns=["id", "feedback"]).to_pylist()}
    for r in fetch("loop") + (fetch("loop-compare") if "loop-compare" in harness.dataset_names(server) else []):
        # only the questions marked as pre-filled get suggestions: the thumb's verdict; no quality
        # pre-fill from the uncalibrated heuristic (no scorer ran here at all)
        assert r["suggestions"] == ({"verdict": {1: "good", -1: "bad"}[thumbs[r["id"]]]}
                                    if thumbs[r["id"]] in (1, -1) else {})

    res = pull("loop", "round2", store=store)
    kto = {r["source_ids"][0]: r for r in res.kto.read().to_pylist()}
    dpo = res.dpo.read().to_pylist()
    assert set(kto) == {rec[0], rec[1], rec[2]}
    assert kto[rec[0]]["label"] is True and kto[rec[0]]["origin"] == "rating"
    assert kto[rec[1]]["label"] is False and kto[rec[1]]["origin"] == "rating"
    assert kto[rec[2]]["label"] is True and kto[rec[2]]["origin"] == "label"
    assert kto[rec[0]]["completion"][0]["content"] == _final(source[rec[0]]["messages"])
    assert len(dpo) == 1 and dpo[0]["origin"] == "edit" and dpo[0]["source_ids"] == [rec[1]]
    assert dpo[0]["chosen"][0]["content"] == "A much better answer."
    assert dpo[0]["rejected"][0]["content"] == _final(source[rec[1]]["messages"])
    meta = json.loads(dpo[0]["metadata"])
    assert meta["corrected_by"] == ["ann-a"] and meta["annotators"] == ["ann-a", "ann-b"]  # usernames
    rejected = res.kto.manifest["accounting"]["rejected"]["label_pull"]
    assert rejected == {"discarded": 1, "no_decisive_judgment": 1, "not_annotated": first.pushed - 5}
    for out in (res.kto, res.dpo):  # per output: rows in = records = kept + rejected + quarantined
        acc = out.manifest["accounting"]
        assert acc["rows_in"] == first.pushed == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"]
    assert res.kto.manifest["parents"] == [first.record]  # lineage back to the recorded push
    assert store.resolve(first.record).manifest["parents"] == [clean.ref]
    assert res.annotators == {"ann-a": 4, "ann-b": 4}
    alpha = res.agreement["quality_alpha_interval"]
    assert alpha is not None and -1 <= alpha < 1
    again = pull("loop", "round2", store=store)  # nothing new: nothing published
    assert again.unchanged and again.kto.ref == res.kto.ref and again.dpo.ref == res.dpo.ref
    assert [v.ref for v in store.versions("round2-kto")] == [res.kto.ref]
    a.respond(ids[rec[5]], {"quality": 5, "verdict": "good"})
    third = pull("loop", "round2", store=store)
    assert not third.unchanged and third.kto.ref != res.kto.ref


def test_ranking_becomes_a_pair(argilla_env, store, clean):
    server = argilla_env
    # a conversation whose end user edited the answer shows the edit as the alternative candidate
    import pyarrow.compute as pc

    table = clean.read()
    has_edit = pc.is_valid(pc.struct_field(table.column("feedback"), "edited"))
    few = table.filter(has_edit).slice(0, 3)
    with store.create("edited", "conversation") as w:  # a small child version: redaction is inherited
        w.write(few)
        small = w.publish({"rows_in": 3, "kept": 3, "rejected_total": 0, "quarantined_total": 0},
                          parents=[clean.ref])
    rows = few.select(["id", "feedback"]).to_pylist()
    edited = [r["id"] for r in rows]
    pushed = push(small.ref, "rank", store=store, min_submitted=1)
    assert pushed.datasets == {"rank-compare": 3}  # every record has an alternative: the ranking form
    ds, ids = harness.records_by_external_id(server, "rank-compare")
    a, b = harness.Annotator(server, "ann-a"), harness.Annotator(server, "ann-b")
    a.join(ds["workspace_id"])
    b.join(ds["workspace_id"])
    ranking = [{"value": "alternative", "rank": 1}, {"value": "answer", "rank": 2}]
    tied = [{"value": "alternative", "rank": 1}, {"value": "answer", "rank": 1}]
    for who in (a, b):
        who.respond(ids[edited[0]], {"quality": 2, "verdict": "bad", "preference": ranking})
        who.respond(ids[edited[1]], {"quality": 1, "verdict": "bad", "preference": tied})
    a.respond(ids[edited[2]], {"quality": 4, "verdict": "good", "personal_data": "yes"})
    b.respond(ids[edited[2]], {"quality": 4, "verdict": "good", "personal_data": "no"})
    res = pull("rank", "rank-fb", store=store)
    pairs = [p for p in res.dpo.read().to_pylist() if p["origin"] == "ranking"]
    fb = next(r for r in rows if r["id"] == edited[0])["feedback"]
    assert len(pairs) == 1 and pairs[0]["chosen"][0]["content"] == fb["edited"]
    assert pairs[0]["source_ids"] == [edited[0]]  # the tied ranking made no pair, and is counted
    assert res.dpo.manifest["accounting"]["rejected"]["label_pull"]["ranking_tied"] == 1
    for out in (res.kto, res.dpo):  # one report of personal data holds the record back, in both outputs
        assert out.manifest["accounting"]["quarantined"] == {"label_pull": {"personal_data_reported": 1}}
        assert edited[2] not in {r["source_ids"][0] for r in out.read().to_pylist()}
        assert "quarantined: personal_data_reported" in (out.path / "DATACARD.md").read_text()


def test_only_redacted_data_is_pushed(argilla_env, store, sample_logs):
    raw = ingest([str(sample_logs)], to="raw", store=store, workers=1).version
    with pytest.raises(NotRedacted):
        push(raw.ref, "unredacted", store=store, n=3)
    owner = httpx.Client(base_url=argilla_env.url, headers={"X-Argilla-Api-Key": argilla_env.owner_key})
    assert "unredacted" not in [d["name"] for d in owner.get("/api/v1/me/datasets").json()["items"]]


def test_mismatched_settings_name_what_is_missing(argilla_env, store, clean):
    import argilla as rg

    client = rg.Argilla(api_url=argilla_env.url, api_key=argilla_env.owner_key)
    ws = list(client.workspaces)[0]
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.RatingQuestion(name="score", values=[1, 2, 3])])
    rg.Dataset(name="foreign", workspace=ws, settings=settings, client=client).create()
    with pytest.raises(ArgillaError) as err:
        push(clean.ref, "foreign", store=store, n=2)
    problems = " ".join(err.value.problems)
    assert "field 'conversation' is missing" in problems and "question 'quality' is missing" in problems
    with pytest.raises(ArgillaError):
        pull("foreign", "x", store=store)
    assert not [n for n in store.names() if n.startswith("x-")]  # a failed pull publishes nothing


def test_unreachable_server_fails_clearly(store, clean, monkeypatch):
    import time

    monkeypatch.setenv("ARGILLA_API_KEY", "secret-key-never-shown")
    t = time.monotonic()
    with pytest.raises(ArgillaError) as err:
        pull("x", "y", store=store, api_url=f"http://127.0.0.1:{harness.free_port()}")
    assert time.monotonic() - t >= 0.5 * (1 + 2 + 4) * 0.9  # it retried with backoff
    assert "could not connect" in err.value.message and "secret-key-never-shown" not in str(err.value)


def test_push_refuses_what_the_redaction_did_not_cover(argilla_env, store, sample_logs, monkeypatch):
    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    clean = redacted(store, languages=["en"])
    langs = clean.read(columns=["lang"]).column("lang").to_pylist()
    not_en = sum(lang != "en" for lang in langs)
    assert not_en > 0  # the sample has other languages than the redaction covers
    res = push(clean.ref, "cover", store=store, min_submitted=1)
    refused = res.refused["language_not_covered"]
    assert sum(refused.values()) == not_en and "en" not in refused
    record = store.resolve(res.record)
    acc = record.manifest["accounting"]
    assert acc["rows_in"] == len(langs) == acc["kept"] + acc["rejected_total"]
    assert acc["rejected"]["label_push"]["language_not_covered"] == not_en
    assert record.manifest["overrides"] == {"allow_unredacted": False, "allow_uncovered": False}
    pushed = set(record.read(columns=["id"]).column("id").to_pylist())
    sent = set(harness.records_by_external_id(server := argilla_env, "cover")[1])
    if "cover-compare" in harness.dataset_names(server):
        sent |= set(harness.records_by_external_id(server, "cover-compare")[1])
    lang_of = dict(zip(clean.read(columns=["id"]).column("id").to_pylist(), langs))
    assert sent == pushed and {lang_of[i] for i in sent} == {"en"}
    from typer.testing import CliRunner

    from sluice.cli import app, common

    monkeypatch.setattr(common.console, "_width", 200)
    cli = CliRunner().invoke(app, ["label", "push", clean.ref, "--dataset", "cover-cli", "--sample", "5",
                                   "--strategy", "stratified", "--root", str(store.root)])
    assert cli.exit_code == 0, cli.output
    assert f"refused {not_en:,} row(s): language_not_covered" in cli.output and "--allow-uncovered" in cli.output
    over = push(clean.ref, "cover-all", store=store, min_submitted=1, allow_uncovered=True)
    manifest = store.resolve(over.record).manifest
    assert manifest["overrides"]["allow_uncovered"] is True
    assert sum(manifest["stages"][0]["info"]["overridden"]["language_not_covered"].values()) == not_en


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic", "--window-size=1400,1000"]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                           "chromium-driver)")
def test_annotator_sees_placeholders_and_submits_in_chromium(argilla_env, store, clean, tmp_path):
    """A real annotator session: sign in, read the record, rate, correct, submit — then pull converts it."""
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    server = argilla_env
    table = clean.read()
    finals = [_final(m) or "" for m in table.column("messages").to_pylist()]
    edited = [(fb or {}).get("edited") for fb in table.column("feedback").to_pylist()]
    with_placeholder = [i for i, t in enumerate(finals)
                        if ("<PERSON_1>" in t or "<EMAIL_ADDRESS_1>" in t) and not edited[i]]
    assert with_placeholder, "the redacted sample has an answer with a placeholder"
    one = table.take([with_placeholder[0]])
    stored = finals[with_placeholder[0]]
    placeholder = "[PERSON_1]" if "<PERSON_1>" in stored else "[EMAIL_ADDRESS_1]"
    with store.create("one", "conversation") as w:
        w.write(one)
        small = w.publish({"rows_in": 1, "kept": 1, "rejected_total": 0, "quarantined_total": 0}, parents=[clean.ref])
    res = push(small.ref, "ui", store=store, min_submitted=1)
    name = next(iter(res.datasets))
    ds, ids = harness.records_by_external_id(server, name)
    annotator = harness.Annotator(server, "ann-ui", password="ui-password-1")
    annotator.join(ds["workspace_id"])

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(f"{server.url}/sign-in")
        fields = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=text], input[type=password]"))
        fields[0].send_keys("ann-ui")
        fields[1].send_keys("ui-password-1")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "/sign-in" not in d.current_url)
        driver.get(f"{server.url}/dataset/{ds['id']}/annotation-mode")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "label[for=quality_2]")))
        page = driver.find_element(By.TAG_NAME, "body").text
        # The placeholder is visible as text in the rendered page (not swallowed as an HTML tag).
        assert placeholder in page, page[:2000]
        assert "Contains personal data?" in page and "Which answer is better?" not in page
        driver.find_element(By.CSS_SELECTOR, "label[for=quality_2]").click()
        driver.find_element(By.CSS_SELECTOR, "label[for=verdict_bad]").click()
        box = driver.find_element(By.CSS_SELECTOR, "[aria-label='Question: corrected_answer'] [contenteditable=true]")
        box.click()
        box.send_keys(f"Sorry, {placeholder}: here is the right answer.")
        driver.find_element(By.XPATH, "//button[.//span[normalize-space()='Submit']]").click()
        owner = httpx.Client(base_url=server.url, headers={"X-Argilla-Api-Key": server.owner_key}, timeout=30)
        record_id = next(iter(ids.values()))

        def submitted(_):
            r = owner.get(f"/api/v1/datasets/{ds['id']}/records", params={"include": "responses"}).json()
            return [x for item in r["items"] if item["id"] == record_id for x in item.get("responses") or []
                    if x["status"] == "submitted"]
        wait.until(submitted)
    finally:
        driver.quit()

    out = pull("ui", "ui-fb", store=store)
    kto, dpo = out.kto.read().to_pylist(), out.dpo.read().to_pylist()
    assert len(kto) == 1 and kto[0]["label"] is False  # rating 2 ≤ bad_at
    assert len(dpo) == 1 and dpo[0]["origin"] == "edit"
    stored_form = placeholder.replace("[", "<").replace("]", ">")
    assert dpo[0]["chosen"][0]["content"] == f"Sorry, {stored_form}: here is the right answer."  # mapped back
    assert dpo[0]["rejected"][0]["content"] == stored
    assert json.loads(dpo[0]["metadata"])["annotators"] == ["ann-ui"]


def test_tool_calls_and_results_are_shown_as_such(argilla_env, store, clean):
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = clean.read(columns=["id", "messages", "feedback"]).to_pylist()
    tools = [r["id"] for r in rows if any(m["role"] == "tool" for m in r["messages"][:-1])
             and not (r["feedback"] or {}).get("edited")][:2]
    assert tools, "the sample has conversations with tool calls"
    table = clean.read()
    few = table.filter(pc.is_in(table.column("id"), pa.array(tools)))
    with store.create("tools", "conversation") as w:
        w.write(few)
        small = w.publish({"rows_in": len(tools), "kept": len(tools), "rejected_total": 0, "quarantined_total": 0},
                          parents=[clean.ref])
    push(small.ref, "tools", store=store, min_submitted=1)
    owner = httpx.Client(base_url=argilla_env.url, headers={"X-Argilla-Api-Key": argilla_env.owner_key})
    ds, _ = harness.records_by_external_id(argilla_env, "tools")
    items = owner.get(f"/api/v1/datasets/{ds['id']}/records").json()["items"]
    by_id = {r["id"]: r for r in rows}
    for item in items:
        roles = [m["role"] for m in item["fields"]["conversation"]]
        source = by_id[item["external_id"]]["messages"][:-1]
        assert roles.count("tool result") == sum(m["role"] == "tool" for m in source)
        assert roles.count("tool call") == sum(bool(m.get("tool_calls")) for m in source)
        assert "tool" not in roles  # never an unnamed tool bubble, never an assistant bubble for a result


def test_payload_scan_refuses_a_record_with_residual_pii(argilla_env, store, clean):
    """The redaction record says the rows are covered, but one row still holds an e-mail address
    (as a missed finding would): the scan of the exact payload refuses it before anything is sent."""
    import pyarrow as pa

    rows = [r for r in clean.read().to_pylist() if not (r["feedback"] or {}).get("edited")][:3]
    leaked = rows[0]["id"]
    last = max(i for i, m in enumerate(rows[0]["messages"]) if m["role"] == "assistant")
    rows[0]["messages"][last]["content"] += " Write to jane.doe@example.com or call +1 415 555 0134."
    with store.create("leaky", "conversation") as w:
        w.write(pa.Table.from_pylist(rows, schema=clean.read().schema))
        leaky = w.publish({"rows_in": 3, "kept": 3, "rejected_total": 0, "quarantined_total": 0}, parents=[clean.ref])
    res = push(leaky.ref, "leaky", store=store, min_submitted=1)
    assert res.pushed == 2 and list(res.refused) == ["payload_pii"]
    assert "EMAIL_ADDRESS" in next(iter(res.refused["payload_pii"]))
    _, ids = harness.records_by_external_id(argilla_env, "leaky")
    assert leaked not in ids and len(ids) == 2
    manifest = store.resolve(res.record).manifest
    assert manifest["accounting"]["rejected"]["label_push"] == {"payload_pii": 1}
    assert "jane.doe" not in json.dumps(manifest)  # counts and entity types only, never the value
