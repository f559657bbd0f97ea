"""The review form: fields and questions that fit the record, each question described.

Two forms, two Argilla datasets, because Argilla has no conditional questions:

- ``single`` (dataset ``NAME``): the conversation and its final answer;
- ``compare`` (dataset ``NAME-compare``, only when some record has an alternative — the rejected
  side of a preference row, or the end user's edit): the same plus the ``alternative`` field and
  the ``preference`` ranking. A record without an alternative never shows a ranking.

Questions: ``quality`` (rating 1–5), ``verdict`` (good/bad), ``personal_data`` (no/yes: an
annotator who still sees personal data says so; ``label pull`` quarantines the record),
``corrected_answer`` (text), and on the compare form ``preference`` (ranking; a tie is allowed
and yields no pair). Only the questions in ``PREFILLED`` ever get a suggestion, and their
descriptions say so. Text is shown with markdown off: it reads exactly as stored, and
placeholders show as ``[PERSON_1]`` (see ``render.py``).
"""

from __future__ import annotations

from sluice.errors import SluiceError

SINGLE, COMPARE = "single", "compare"
FIELDS = {SINGLE: ("conversation", "answer"), COMPARE: ("conversation", "answer", "alternative")}
QUESTIONS = {SINGLE: ("quality", "verdict", "personal_data", "corrected_answer"),
             COMPARE: ("quality", "verdict", "personal_data", "corrected_answer", "preference")}
PREFILLED = ("quality", "verdict")  # the only questions a suggestion may pre-fill
PERSONAL_YES = "yes"
TERMS_METADATA = ("source", "lang", "sluice_ref", "reason", "user_thumb")

GUIDELINES = """\
Review the assistant's **final answer** to the conversation.

- **quality**: 1 = wrong, harmful or useless … 5 = correct, complete and well written.
- **verdict**: would you want the model to answer like this? good / bad.
- **personal data**: answer *yes* if you can still read personal data (a name, e-mail address,
  phone number, street address, ID or account number …) that is not a placeholder. The record
  is then held back from the training data.
- **corrected answer**: if the answer can be fixed, write the answer it should have given.
- **preference** (only when an alternative is shown): rank the two candidates, best first; give
  both the same rank when neither is better.

Personal data was replaced by placeholders such as `[PERSON_1]` or `[EMAIL_ADDRESS_1]` before
this dataset was pushed: keep them exactly as they are in your corrections.

Pre-filled answers are machine or end-user suggestions (the source is shown next to them): check
them, do not just accept them. Discard a record you cannot judge (unreadable, not a real request).
"""

DESCRIPTIONS = {
    "quality": "1 = wrong, harmful or useless … 5 = correct, complete and well written. May be pre-filled "
               "by a calibrated quality scorer (its name is shown): check it.",
    "verdict": "Would you want the model to answer like this? May be pre-filled from the end user's "
               "thumb (shown as its source): check it.",
    "personal_data": "Yes if you still see personal data that is not a [PLACEHOLDER] (name, e-mail, phone, "
                     "address, ID …): the record is held back from training data.",
    "corrected_answer": "Optional: the answer it should have given. Keep placeholders like [PERSON_1] as they are.",
    "preference": "Rank the candidates, best first. Same rank for both when neither is better (no pair is made).",
}


def dataset_names(name: str) -> dict[str, str]:
    return {SINGLE: name, COMPARE: f"{name}-compare"}


def build_settings(rg, form: str, *, vector_dims: int | None, float_metadata: list[str], min_submitted: int):
    meta = [rg.TermsMetadataProperty(name) for name in TERMS_METADATA]
    meta += [rg.FloatMetadataProperty(name) for name in float_metadata]
    vectors = [rg.VectorField(name="embedding", dimensions=vector_dims)] if vector_dims else []
    fields = [rg.ChatField(name="conversation", title="Conversation (prompt)", required=True, use_markdown=False),
              rg.TextField(name="answer", title="Final answer under review", required=True, use_markdown=False)]
    d = DESCRIPTIONS
    questions = [
        rg.RatingQuestion(name="quality", title="Quality of the final answer", values=[1, 2, 3, 4, 5],
                          required=True, description=d["quality"]),
        rg.LabelQuestion(name="verdict", title="Verdict", labels=["good", "bad"], required=True,
                         description=d["verdict"]),
        rg.LabelQuestion(name="personal_data", title="Contains personal data?", labels=["no", PERSONAL_YES],
                         required=False, description=d["personal_data"]),
        rg.TextQuestion(name="corrected_answer", title="Corrected final answer", required=False,
                        use_markdown=False, description=d["corrected_answer"]),
    ]
    if form == COMPARE:
        fields.append(rg.TextField(name="alternative", title="Alternative answer", required=True, use_markdown=False))
        questions.append(rg.RankingQuestion(name="preference", title="Which answer is better?",
                                            values=["answer", "alternative"], required=False,
                                            description=d["preference"]))
    return rg.Settings(guidelines=GUIDELINES, fields=fields, questions=questions, metadata=meta, vectors=vectors,
                       distribution=rg.TaskDistribution(min_submitted=min_submitted))


def check_settings(dataset, form: str) -> None:
    """Raise ArgillaError naming every field/question sluice needs that the dataset lacks."""
    from .client import ArgillaError

    have_f = {f.name for f in dataset.settings.fields}
    have_q = {q.name for q in dataset.settings.questions}
    problems = [f"field {n!r} is missing" for n in FIELDS[form] if n not in have_f]
    problems += [f"question {n!r} is missing" for n in QUESTIONS[form] if n not in have_q]
    if problems:
        raise ArgillaError(f"Argilla dataset {dataset.name!r} does not have the settings sluice expects",
                           problems=problems + [f"it has fields {sorted(have_f)} and questions {sorted(have_q)}"],
                           hint="push into a new dataset name (sluice label push REF --dataset NEW), or restore "
                                "the renamed fields/questions")


def check_suggestions(questions: list[str]) -> None:
    """A suggestion on a question not marked as pre-filled is a bug, not a choice."""
    wrong = sorted(set(questions) - set(PREFILLED))
    if wrong:
        raise SluiceError(f"suggestions for questions not marked as pre-filled: {wrong}")
