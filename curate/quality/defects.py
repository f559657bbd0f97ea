"""Documented defects of instruction data, as polars expressions over a prompt and its answer.

Each rule needs positive evidence in the text; none fires on the absence of something (final
punctuation, a greeting). Precision was measured by reading every hit (or a random sample of
hits) on real data nobody here wrote: Alpaca ``random_9k`` (9,229 rows) and the format samples;
see BENCHMARKS.md "Curation filters" and ``benchmarks/bench_curation_filters.py``.

``defect_code`` gives the first matching code per row (null: none), in the order of ``DEFECTS``.
"""

from __future__ import annotations

import polars as pl

#: code → meaning. Order is precedence (the first matching code names the row).
DEFECTS: dict[str, str] = {
    # hand check: 17/17 Alpaca-9k hits are non-answers ("<No Output>", "N/A", "<logo>", "<sketch/drawing>")
    "placeholder_answer": "the answer is a placeholder (<no output>, N/A, a lone <...> tag that is not markup)",
    # 10/10 Alpaca-9k + 1/1 alpaca_en_demo hits carry the next task ("\n##\n18. Instruction: … 18. Output:")
    "merged_instructions": "the answer runs on into further numbered Instruction:/Input:/Output: tasks",
    # 29/29 Alpaca-9k + 2/2 alpaca_en_demo hits hold a literal <noinput> / <no input> / `<noinput>`
    "placeholder_input": "a literal <noinput>/<no input> placeholder in the prompt or answer",
    # 39/42 Alpaca-9k + 6/7 alpaca_en_demo: the answer describes a page, song or picture it never saw
    # (misses: a painting's name in its URL, "classify nytimes.com", a sketch described in words too)
    "unavailable_input": "the prompt's input is only a URL or an attached picture (<Picture Attached>, <image …>)",
    # 30/30 Alpaca-9k + 2/2 alpaca_en_demo hits are "Design a logo"/"Create a poster" answered in prose
    "image_request_text_answer": "the prompt asks for an image (draw, design a logo, …) and the answer is text",
}

# HTML/XML element names: a whole answer like "<html>" or "<br>" is markup, not a placeholder.
_MARKUP = (r"(?i)^<\s*/?\s*(?:!doctype|html|head|body|div|span|p|br|hr|h[1-6]|a|img|table|tr|td|th|ul|ol|li|form"
           r"|input|button|script|style|svg|audio|video|iframe|meta|link|title|label|select|option|textarea)\b")
_PLACEHOLDER = (r"(?i)^[\s\"'(\[]*(?:<\s*no[\s_-]*output[^>]*>|no output\.?|n/?a\.?|none\.?|null|<\s*(?:no[\s_-]*)?"
                r"(?:output|answer|response)\s*>)[\s\"')\].]*$")
_LONE_TAG = r"^<[^<>\n]{1,80}>$"
_NOT_PLACEHOLDER = r"^<!--|^<[A-Z][A-Z_]*_\d+>$"  # an HTML comment; a redaction placeholder (<PERSON_1>)
_MERGED = r"(?im)^\s*#*\s*\d{1,3}\s*\.\s*(?:Instruction|Input|Output)\s*:"
_NOINPUT = r"(?i)<\s*no[\s_-]*input\s*>"
# the input (Alpaca's second paragraph, or the whole prompt) is only a link / an image stand-in
_URL_ONLY = r"(?i)^[\s\w:]{0,20}[\[(<]?\s*(?:https?://|www\.)\S+\s*[\])>]?\s*$"
_ABOUT_URL = r"(?i)\b(?:url|domain)s?\b"  # the task is about the link's text itself ("identify the domain")
_PICTURE = (r"(?i)<\s*(?:picture|image|img|photo|photograph|screenshot|video|audio|file|attachment)\b[^>]*>"
            r"|!\[[^\]]*\]\([^)]*\)|\[\s*(?:picture|image|photo|attachment)s?\s*(?:attached)?\s*\]")
_IMAGE_REQUEST = (r"(?i)\b(?:draw|paint|sketch|illustrate|design|create|generate|make|produce)\s+(?:[\w'-]+\s+){0,3}?"
                  r"(?:image|picture|drawing|painting|illustration|logo|poster|cartoon|meme|icon|graphic|"
                  r"photo|photograph|artwork|comic)s?\b")
_NOT_IMAGE = (r"(?i)\bcharacter sketch|\bdescri(?:be|ption)|\bcode\b|\bhtml\b|\bsvg\b|\bcss\b|\bascii\b|\blist of\b"
              r"|\binstructions\b|\bsteps?\b|\bcaption|\bslogan|\bname\b|\btitle\b|\b(?:following|this|given|"
              r"the) (?:painting|image|picture|photo)|\bidea|\bconcept|\btext\b|\bwords?\b")
_ANSWER_IS_MEDIA = r"(?i)```|<\s*svg\b|<\s*img\b|!\[[^\]]*\]\(|https?://\S+\.(?:png|jpe?g|gif|svg|webp)\b"


def _input_part(user: pl.Expr) -> pl.Expr:
    """Alpaca's input: the prompt's last paragraph (the whole prompt when it has one)."""
    return user.str.split("\n\n").list.last().fill_null("").str.strip_chars()


def defect_code(user: pl.Expr, final: pl.Expr) -> pl.Expr:
    """The first documented defect of each row (null: none) from its user text and final answer."""
    answer = final.str.strip_chars()
    given = _input_part(user)
    task = user.str.split("\n\n").list.first().fill_null("")
    rules = {
        "placeholder_answer": answer.str.contains(_PLACEHOLDER)
        | (answer.str.contains(_LONE_TAG) & ~answer.str.contains(_MARKUP) & ~answer.str.contains(_NOT_PLACEHOLDER)),
        "merged_instructions": answer.str.contains(_MERGED),
        "placeholder_input": user.str.contains(_NOINPUT) | answer.str.contains(_NOINPUT),
        "unavailable_input": (given.str.contains(_URL_ONLY) & ~task.str.contains(_ABOUT_URL))
        | given.str.contains(_PICTURE),
        "image_request_text_answer": task.str.contains(_IMAGE_REQUEST) & ~task.str.contains(_NOT_IMAGE)
        & ~answer.str.contains(_ANSWER_IS_MEDIA) & (answer.str.len_chars() > 0),
    }
    code = pl.lit(None, pl.String)
    for name in reversed(DEFECTS):
        code = pl.when(rules[name].fill_null(False)).then(pl.lit(name)).otherwise(code)
    return code
