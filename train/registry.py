"""The model registry: which adapter is promoted in each lineage, and every gate result.

Layout inside the store (a hidden folder, so it can never collide with a dataset name)::

    <store>/.registry/models.jsonl         promote / rollback events, append-only
    <store>/.registry/eval_history.jsonl   every gate result of every adapter, append-only

An adapter folder keeps its own ``eval_history.jsonl`` too. Nothing here is ever rewritten: the
current state of a lineage is the replay of its events (a rollback is an event, not a deletion).

A *lineage* is a name for a line of adapters that replace one another in production; by default
the base model's folder or hub name (``--lineage NAME`` overrides it).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from sluice.errors import DataError, SluiceError

REGISTRY_DIR = ".registry"
MODELS_FILE = "models.jsonl"
HISTORY_FILE = "eval_history.jsonl"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


def registry_dir(store) -> Path:
    return Path(store.root) / REGISTRY_DIR


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line and fsync: history files only ever grow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def adapter_hash(folder: str | Path) -> str:
    """sha256 over the adapter's weight and config files (names and bytes), in name order."""
    folder = Path(folder)
    files = [folder / n for n in ADAPTER_FILES if (folder / n).is_file()]
    if not files:
        raise SluiceError(f"{folder} holds no adapter (adapter_config.json / adapter_model.safetensors)",
                          hint="pass the output folder of `sluice train sft|dpo|kto`")
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def lineage_of(info: dict, explicit: str | None = None) -> str:
    return explicit or Path(str(info["base_model"]).rstrip("/")).name


def events(store) -> list[dict]:
    return read_jsonl(registry_dir(store) / MODELS_FILE)


def promoted_stack(store, lineage: str) -> list[dict]:
    """The lineage's promotions still in force, oldest first (rollbacks pop them)."""
    stack: list[dict] = []
    for e in events(store):
        if e.get("lineage") != lineage:
            continue
        if e["event"] == "promote":
            stack.append(e)
        elif e["event"] == "rollback":
            while stack and stack[-1]["adapter_sha256"] != e["to_sha256"]:
                stack.pop()
            if e["to_sha256"] is None:
                stack.clear()
    return stack


def current(store, lineage: str, *, exclude_sha256: str | None = None) -> dict | None:
    """The promoted adapter of ``lineage`` (skipping ``exclude_sha256``: the candidate itself), or None."""
    for e in reversed(promoted_stack(store, lineage)):
        if e["adapter_sha256"] != exclude_sha256:
            return e
    return None


def record_eval(store, folder: str | Path, result: dict) -> None:
    """Keep a gate result: appended beside the adapter and to the store's history."""
    append_jsonl(Path(folder) / HISTORY_FILE, result)
    append_jsonl(registry_dir(store) / HISTORY_FILE, result)


# -- promotion ---------------------------------------------------------------------------------

PROMOTION_FILE = "promotion.json"


def promotion_record(folder: str | Path, lineage: str | None = None) -> dict:
    """The record of promoting ``folder``: only an adapter whose last gate result passed *on these
    exact bytes* may be promoted."""
    from .info import read_info

    folder = Path(folder)
    info = read_info(folder)
    ev = info.get("eval")
    sha = adapter_hash(folder)
    if not ev or "decision" not in ev or "adapter_sha256" not in ev:
        raise DataError(f"{folder} has no gate result to promote on",
                        hint=f"run `sluice train eval --adapter {folder} --golden REF` first")
    if not ev["decision"]["passed"]:
        raise DataError(f"{folder}: its last gate result failed ({ev['at']}); a failed adapter is never promoted",
                        hint="train a better candidate; every gate result stays in eval_history.jsonl")
    if ev["adapter_sha256"] != sha:
        raise DataError(f"{folder}: the adapter changed after its gate result (sha256 {sha[:16]}…, evaluated "
                        f"{ev['adapter_sha256'][:16]}…)", hint="evaluate it again before promoting")
    cal = ev.get("calibration")
    return {
        "event": "promote", "at": now(), "lineage": lineage_of(info, lineage),
        "adapter": str(folder.resolve()), "adapter_sha256": sha, "base_model": info["base_model"],
        "method": info["method"],
        "data": [{k: d[k] for k in ("ref", "role", "content_sha256") if k in d} for d in info["datasets"]],
        "golden": ev["golden"],
        "gate": {"at": ev["at"], "rule": ev["rule"], "incumbent": ev["incumbent"],
                 "gains": ev["decision"]["gains"], "by_category": ev["decision"]["by_category"],
                 "reasons": ev["decision"]["reasons"]},
        "judge_calibration": None if cal is None else {
            k: cal.get(k) for k in ("items", "judged", "parsed_fraction", "agreement", "kappa", "rubric", "judge")},
    }


def promote(store, folder: str | Path, lineage: str | None = None, key: str | Path | None = None) -> dict:
    """Record ``folder`` as the lineage's promoted adapter: the record is written beside the adapter,
    adapter and record are signed together (``model.sig``), and the event goes to the registry."""
    folder = Path(folder)
    record = promotion_record(folder, lineage)
    private, public = signing_keys(store, key)
    record["signature"] = {"file": SIGNATURE_FILE, "public_key": str(public), "public_key_sha256": _key_id(public),
                           "tool": "OpenSSF model-signing (elliptic-curve key)"}
    (folder / PROMOTION_FILE).write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    sign(folder, private)
    verify(folder, public)  # a record that does not verify is never registered
    append_jsonl(registry_dir(store) / MODELS_FILE, record)
    return record


def rollback(store, lineage: str, to_sha256: str | None = None) -> dict:
    """Put the previous promoted adapter of ``lineage`` back (or the one whose hash starts with
    ``to_sha256``; ``"base"``: none). An event, appended: the history stays whole."""
    stack = promoted_stack(store, lineage)
    if not stack:
        raise SluiceError(f"lineage {lineage!r} has no promoted adapter to roll back",
                          hint="`sluice models list` shows the lineages and what is promoted")
    if to_sha256 == "base":
        target = None
    elif to_sha256:
        target = next((e for e in stack[:-1] if e["adapter_sha256"].startswith(to_sha256)), None)
        if target is None:
            raise SluiceError(f"no earlier promotion of {lineage!r} has sha256 {to_sha256}…",
                              hint="pick one of `sluice models list --history`")
    else:
        target = stack[-2] if len(stack) > 1 else None
    event = {"event": "rollback", "at": now(), "lineage": lineage, "from_sha256": stack[-1]["adapter_sha256"],
             "to_sha256": target["adapter_sha256"] if target else None,
             "to": target["adapter"] if target else "base model"}
    if target is not None:
        verify_if_signed(target["adapter"], store)
    append_jsonl(registry_dir(store) / MODELS_FILE, event)
    return event


def lineages(store) -> dict[str, dict | None]:
    """Every lineage and its promoted adapter (None after a rollback to the base model)."""
    names = sorted({e["lineage"] for e in events(store)})
    return {n: current(store, n) for n in names}


# -- signing (OpenSSF model-signing, elliptic-curve key: offline) -------------------------------

SIGNATURE_FILE = "model.sig"
KEY_DIR = "keys"
# Files that change after promotion by design (the card and gate results are re-rendered, checkpoints
# are scratch); everything else in the folder — weights, adapter config, tokenizer, promotion.json —
# is signed.
UNSIGNED = ("README.md", "eval_results.json", HISTORY_FILE, "sluice_train.json", "checkpoints", SIGNATURE_FILE)


class SignatureError(DataError):
    """An adapter's signature does not verify: it was changed after it was signed."""


def _key_id(public: Path) -> str:
    return hashlib.sha256(Path(public).read_bytes()).hexdigest()


def signing_keys(store, key: str | Path | None = None) -> tuple[Path, Path]:
    """(private, public) PEM paths: ``key`` (with ``key``.pub beside it), else the store's own pair,
    made on first use (P-256, private key readable by the owner only)."""
    if key is not None:
        private = Path(key)
        public = private.with_name(private.name + ".pub")
        if not private.is_file() or not public.is_file():
            raise SluiceError(f"signing key {private} (and {public.name} beside it) not found",
                              hint="pass a PEM EC private key whose public key is KEY.pub")
        return private, public
    folder = registry_dir(store) / KEY_DIR
    private, public = folder / "signing-key.pem", folder / "signing-key.pem.pub"
    if not private.is_file():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        folder.mkdir(parents=True, exist_ok=True)
        k = ec.generate_private_key(ec.SECP256R1())
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        public.write_bytes(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _hashing():
    from model_signing import hashing

    return hashing.Config().set_ignored_paths(paths=list(UNSIGNED))


def sign(folder: str | Path, private: Path) -> Path:
    from model_signing import signing

    folder = Path(folder)
    signing.Config().use_elliptic_key_signer(private_key=private).set_hashing_config(_hashing()).sign(
        folder, folder / SIGNATURE_FILE)
    return folder / SIGNATURE_FILE


def verify(folder: str | Path, public: Path) -> None:
    """Raise SignatureError unless every signed file of ``folder`` is as signed with ``public``."""
    from model_signing import verifying

    folder = Path(folder)
    try:
        verifying.Config().use_elliptic_key_verifier(public_key=public).set_hashing_config(_hashing()).verify(
            folder, folder / SIGNATURE_FILE)
    except Exception as e:  # noqa: BLE001 — model-signing raises ValueError and others; all mean "no"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise SignatureError(f"{folder}: signature does not verify ({first})",
                             hint="the adapter or its promotion record changed after promotion: do not load it; "
                                  "roll back with `sluice models rollback` and re-promote a verified adapter") from None


def verify_if_signed(folder: str | Path, store=None) -> dict | None:
    """Before any load: a signed (promoted) adapter must verify against the trusted public key —
    ``$SLUICE_SIGNING_PUBKEY``, else the store's key, else the key file its record names (the store's,
    outside the folder).
    An adapter never promoted carries no signature and loads as before; a promotion record without
    its signature is refused."""
    folder = Path(folder)
    sig, record = folder / SIGNATURE_FILE, folder / PROMOTION_FILE
    if not sig.is_file():
        if record.is_file():
            raise SignatureError(f"{folder} has a promotion record but no {SIGNATURE_FILE}",
                                 hint="promoted adapters are signed; re-promote it with `sluice models promote`")
        return None
    rec = json.loads(record.read_text()) if record.is_file() else {}
    trusted = os.environ.get("SLUICE_SIGNING_PUBKEY")
    if trusted:
        public = Path(trusted)
    elif store is not None and (registry_dir(store) / KEY_DIR / "signing-key.pem.pub").is_file():
        public = registry_dir(store) / KEY_DIR / "signing-key.pem.pub"
    else:
        public = Path(rec.get("signature", {}).get("public_key", ""))
        if not public.is_file():
            raise SignatureError(f"{folder} is signed, but no trusted public key is at hand",
                                 hint="set SLUICE_SIGNING_PUBKEY to the signing key's .pub, or pass --root of "
                                      "the store that promoted it")
    verify(folder, public)
    return {"verified_with": str(public), "public_key_sha256": _key_id(public)}
