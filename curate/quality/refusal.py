"""refusal / refusal_filter — assistant turns that decline, half-decline or lecture.

``heuristics`` flags boilerplate refusals and AI disclaimers with a short pattern list (GPT-4
style). This stage tells three kinds apart, per assistant turn, with first-person patterns that
also cover Llama-2-chat and Mistral phrasings ("I cannot provide…", "I cannot fulfill your
request…", "It is not appropriate…", "As an AI language model, I do not have…", an apology
followed by a lecture) and their usual forms in de/fr/es/it/pt/zh/ja/ru:

``refusal``          the turn declines the request: a refusal cue, and what follows it is short,
                     or is itself more refusal, a lecture or a pointer elsewhere ("I recommend
                     visiting the official website"); or a turn of at most ``short_lecture_words``
                     words that only lectures ("That's illegal, and you should know better.").
``partial_refusal``  a refusal cue followed by a substantial answer (at least ``partial_words``
                     words after the refusal's sentence, with no further refusal or lecture):
                     "As an AI I cannot paint; here is a written reinterpretation: …".
``moralizing``       no refusal, but the turn lectures (``It is important to remember that …
                     respect``, ``I must point out``, ``please seek professional help``).

``refusal`` (score) adds ``refusal_kind`` (the worst kind over the assistant turns: refusal >
partial_refusal > moralizing; null for none) and ``refusal_cue`` (the name of the pattern that
decided: ``en3``, ``fr``, ``moral1`` — never the matched text, which may quote the conversation). ``refusal_filter`` (decide) drops the kinds listed in ``drop`` (default: refusal,
partial_refusal) with the kind as reason code. Precision/recall on hand-labelled real turns
(hh-rlhf, UltraFeedback via LLaMA-Factory's demo sets, Alpaca): BENCHMARKS.md, "Curation round
two (issue #32)"; ``benchmarks/bench_refusal.py`` reproduces them.

A row with tools whose answer explains what its functions can do is left alone, as in
``heuristics`` (an agent declining out-of-scope work is answering).
"""

from __future__ import annotations

import re

import polars as pl
from pydantic import Field, field_validator

from sluice.stage import Filter, Scorer, StageConfig

from .text import known_codes

KINDS: dict[str, str] = {
    "refusal": "an assistant turn declines the request (a refusal with at most a lecture or a pointer elsewhere)",
    "partial_refusal": "an assistant turn refuses part of the request, then answers at length",
    "moralizing": "an assistant turn lectures (ethics, legality, respect, seek professional help) without refusing",
}
_RANK = {"refusal": 3, "partial_refusal": 2, "moralizing": 1}

# what a refusal declines: verbs of doing the task ("I can't help but feel", "I can't wait" are not refusals)
_TASK = (r"(?:help|assist|answer|advise|provide|fulfil+|comply|generate|create|give|share|write|translate|engage"
         r"|discuss|talk about|tell(?! (?:if|whether|anyone|anybody))|locate|find|produce|offer|recommend|determine|describe|access|browse|manipulate"
         r"|edit|draw|paint|support|participate|respond|reply|perform|complete|promote|encourage|condone|endorse"
         r"|facilitate|speculate|predict|express|see|view|open|read|listen|hear|process|display|show|send|search"
         r"|retrieve|verify|guarantee|identify|sing|play|pretend|make|do|go into|work with|continue|assume"
         r"|diagnose|prescribe|look up|check|confirm|estimate|speak to|comment on|rate|evaluate)")
# the pronoun, capitalised ("in", "it" and a title's "We Cannot See" are not it), not in a condition or a
# clause about something else ("if I cannot provide a factual answer", "a website where I am unable to")
_I = r"(?<!\bif )(?<!\bwhen )(?<!\bwhere )(?<!\bunless )(?<!\bbecause )(?-i:\bI)"
# first person, present tense: a narrated "I couldn't deliver" or "I was unable" is not this turn declining
_NEG = (r"(?:\s(?:can(?:no|')t|can not|won't|will not|refuse to|decline to)"
        r"|(?:\sam|'m) (?:not |un)(?:able|allowed|permitted|going|comfortable|programmed|in a position)(?: to)?"
        r"|(?:\sam|'m) (?:not (?:capable|designed|equipped|programmed|built)|incapable) (?:of|to|for))")
_NEG_FULL = (r"(?:\sdo(?:n't| not) have (?:the )?(?:ability|capability|capacity|means|access)"
             r"|\sdo(?:n't| not) have (?:enough|sufficient) information to (?:respond|answer|help|provide)"
             r"|\sdo(?:n't| not) have (?:a |any |the )?(?:\w+ ){0,2}(?:address|phone number|contact (?:info|information"
             r"|details)|personal (?:info|information|details)) (?:for|of|on)\b"
             r"|(?:\sam|'m) not (?:designed|programmed|built) (?:for|to)\b"
             r"|(?:\sam|'m) going to stop (?:answering|here|responding)"
             r"|\sdo(?:n't| not) (?:feel comfortable|want to (?:do|help|answer|talk|discuss)"
             r"|know how to (?:help|do (?:this|that)))|\smust (?:respectfully )?(?:decline|refuse))\b")
_CUES_EN = (
    rf"{_I}(?: really| simply| just)?{_NEG}(?: \w+){{0,3}}? {_TASK}\b(?! but\b)",
    rf"{_I}{_NEG_FULL}",
    rf"{_I} (?:can(?:no|')t|won't|will not)(?: (?:do|answer|help with|say|share|discuss|provide|advise on))?"
    r"(?: (?:that|this|it|so|you))?\s*(?:[.!]|$)",
    r"\bas an? (?:ai|artificial intelligence|language model|large language model|digital assistant|virtual assistant)"
    r"(?: language model| model| assistant| chatbot)?\b[^.!?\n]{0,80}?\b(?:not|cannot|can't|unable|don't|no)\b",
    r"\bI(?:'m| am) (?:just |only |merely )?(?:an? )?(?:ai|language model|large language model|chatbot)"
    r"\b[^.!?\n]{0,80}?\b(?:not|cannot|can't|unable|don't|no)\b",
    r"\b(?:it(?:'s| is)|that(?:'s| is)) not (?:appropriate|ethical|possible for me|something I can)\b(?:[^.!?\n]{0,30}?"
    r"\bfor me\b|[^.!?\n]{0,40}?\b(?:to (?:provide|discuss|ask|share|make|promote|create|write|speculate|answer"
    r"|(?:try to )?(?:overstate|exaggerate|spread|convince|suggest|seek to|replicate|deny|glorify|make (?:assumptions|generali[sz]ations)))"
    r"|or (?:ethical|safe|legal)))",
    r"\bcannot fulfil+ (?:your|this|that) request\b|\bunable to (?:fulfil+|comply with) (?:your|this|that) request\b",
    r"\bagainst my (?:programming|guidelines|principles|ethical guidelines|policies)\b"
    r"|\bmy programming (?:won't|does not|doesn't) (?:let|allow)\b",
    r"\bI(?:'m| am) not (?:sure )?(?:that(?:'s| is) )?(?:a topic|something) (?:that )?I(?:'m| am)? ?(?:can|able|comfortable"
    r"|allowed)|\bnot comfortable (?:answering|discussing|helping|providing|sharing|recommending|giving|doing|talking|with (?:this|that))\b"
    r"|\btoo (?:difficult|hard) for me to (?:help|answer)\b",
    r"\bsorry,? (?:if |that )?I could(?:n't| not) (?:help|be (?:of )?(?:more )?help)|\brefuse to (?:help|answer|assist|continue)\b"
    r"|\boutside (?:of )?my (?:scope|capabilities|expertise|abilities)\b|\b(?:not|don't think I'm|not sure I'm) the right (?:source|person|place) (?:of|for|to)\b"
    r"|(?:is|that's|this is|isn't|is not) (?:not )?(?:something |the (?:type|kind) of (?:\w+ )?)(?:that )?I(?:'m| am)? ?(?:can(?:'t| not|not)?"
    r" help|(?:am |'m )?(?:not )?(?:prepared|able|allowed|comfortable))",
    r"\bit(?:'s| is) (?:impossible|not possible) (?:for me )?to (?:accurately |precisely |reliably )?(?:predict|determine"
    r"|provide|answer|generate|create)\b|\b(?:GPT|language) models? (?:is|are) (?:unable|not able) to\b"
    r"|\b(?:the (?:GPT )?model|we) cannot (?:perform|complete|do) (?:such|this|these|the|that)\b",
)
_CUES_EN = (*_CUES_EN,
    r"^\W{0,3}(?:I (?:don't|do not) think (?:that's|that is|it's|it is) (?:a )?(?:valid|appropriate|accurate)(?: or (?:a )?"
    r"(?:respectful|appropriate|accurate|valid))? (?:question|thing|to (?:ask|say))"
    r"|it(?:'s| is) not (?:accurate|appropriate) or (?:respectful|appropriate|accurate) to (?:say|make|ask|generali[sz]e|assume)"
    r"|(?:I must clarify that )?it(?:'s| is) never (?:appropriate|acceptable|okay|ok) to)\b",
)
_CUES_OTHER = (
    r"\bals (?:ki|künstliche intelligenz|sprachmodell|ki-sprachmodell)\b[^.!?\n]{0,60}?\b(?:nicht|kein)",
    r"\b(?:ich kann|das kann ich) (?:ihnen |dir )?(?:dabei |damit |hierbei )?(?:leider )?nicht (?:helfen|beantworten|erfüllen"
    r"|bereitstellen|geben|erstellen)|\bes tut mir leid, aber ich kann\b|\bist nicht angemessen\b",
    r"\ben tant qu'(?:ia|intelligence artificielle|assistant)\b[^.!?\n]{0,60}?\bne\b|\ben tant que modèle de langage\b"
    r"|\bje ne (?:peux|suis pas en mesure de) pas? ?(?:vous |t')?(?:aider|fournir|répondre|donner|créer)"
    r"|\bje suis désolée?,? mais je ne (?:peux|suis)\b|\bil n'est pas approprié\b",
    r"\bcomo (?:ia|inteligencia artificial|modelo de lenguaje|asistente)\b[^.!?\n]{0,60}?\bno\b"
    r"|\bno puedo (?:ayudarte|ayudarle|proporcionar|responder|dar|crear|cumplir)|\blo siento,? pero no puedo\b"
    r"|\bno es apropiado\b",
    r"\bcome (?:ia|intelligenza artificiale|modello linguistico)\b[^.!?\n]{0,60}?\bnon\b|\bnon posso (?:aiutarti|fornire"
    r"|rispondere)|\bmi dispiace,? ma non posso\b",
    r"\bcomo (?:uma )?(?:ia|inteligência artificial|modelo de linguagem)\b[^.!?\n]{0,60}?\bnão\b|\bnão posso (?:ajudar"
    r"|fornecer|responder)|\bdesculpe,? mas não posso\b",
    r"(?:作为|由于我是|我是)一?个?(?:文字型 ?|文本|大型)?(?:人工智能|AI|ai|语言模型|聊天机器人|机器人)(?:语言模型|助手|程序|系统|机器人)?"
    r"[^。！？\n]{0,40}?(?:不能|无法|不具备|没有(?:办法|能力|权限|实体|个人))"
    r"|我(?:不能|无法|不具备)[^。！？\n，,]{0,12}?(?:帮助|提供|回答|满足|协助|生成|创建|制作|访问|看到|获取|完成|给出|评估|确定"
    r"|判断|选出|建议|使用|录制|拿取|执行|体验|描述|找到|写出|改述|分类|做出|能力)"
    r"|(?:很)?抱歉，?(?:但)?我(?:不能|无法)|(?:所以|因此)无法(?:回答|为您|为你|提供|给出)",
    r"AI(?:言語モデル|アシスタント)として[^。！？\n]{0,30}?(?:できません|ありません)|(?:お応え|お答え|提供|お手伝い)(?:することは)?できません"
    r"|申し訳(?:ありません|ございません)が[^。！？\n]{0,30}?できません",
    r"\bкак (?:языковая модель|ии|искусственный интеллект)\b[^.!?\n]{0,60}?\bне\b|\bне могу (?:помочь|предоставить"
    r"|ответить|выполнить)|\bизвините,? но я не могу\b",
)
_MORAL = (
    r"\bI must (?:respectfully )?(?:point out|remind you|caution you|advise you to seek)\b",
    r"\b(?:it(?:'s| is)|is) (?:very |also |always |really |extremely )?(?:important|essential|crucial) to (?:remember|note"
    r"|recogni[sz]e|respect|consider|prioriti[sz]e|treat|approach|be (?:respectful|mindful|kind))"
    r"[^.!?\n]{0,120}?\b(?:respect|ethic|illegal|the law|harm|consent|dignity|boundar|privacy|offensive|discriminat)",
    r"\b(?:that(?:'s| is)|this is(?: becoming)?) (?:very |really |highly |extremely |also |morally )?(?:illegal|unethical"
    r"|immoral|inappropriate|morally wrong|not (?:ok|okay|legal|ethical|appropriate|nice|right))\b",
    r"\byou should (?:know better|be ashamed)\b|\bmorally (?:bad|wrong)\b|\bplease (?:rethink|reconsider)\b"
    r"|\bit(?:'s| is) (?:best|better) not to\b",
    r"\bplease (?:seek|consult|contact|reach out to|talk to)\b[^.!?\n]{0,40}?\b(?:professional|counselor|therapist|police"
    r"|authorities|hotline)|\bI must advise you\b",
    r"\bI (?:must|would|strongly) (?:advise|urge|encourage|recommend) (?:you )?(?:against|not to|to seek)\b",
    r"\b(?:I )?(?:don't|do not) think (?:(?:[\w']+ ){0,2}(?:is|are)|that's|it's|this is) (?:a (?:good|healthy)|an appropriate|appropriate"
    r"|ethical|right)\b|\bis this an ethical\b|\bcould get (?:you|me) in trouble\b",
    # lectures that, alone in a short turn, are still a lecture and not a refusal
    r"\bit(?:'s| is) (?:best|better) to be respectful\b|\bdo you agree that it(?:'s| is) best to be\b"
    r"|\bisn't a (?:great|good) (?:plan|idea)\b|\b(?:is|be) (?:very |highly |also )?(?:an )?(?:illegal|unethical)\b(?! or)",
)
#: moralizing patterns that do not make a short turn a refusal (an Alpaca answer "… is considered to be unethical")
_LECTURE_ONLY = {f"moral{len(_MORAL) - 1}"}
# "I recommend visiting the official website", "there are many online tools": pointing elsewhere is not answering
_REDIRECT = (r"(?i)\b(?:I (?:would )?(?:recommend|suggest) (?:visiting|checking|consulting|contacting|reaching out|using"
             r"|searching|looking|that you (?:visit|check|consult|contact|reach|search|use))|you (?:can|could|may) (?:find"
             r"|try|use|check|consult|visit|search|look|ask)|there are (?:many|several|various|plenty of) (?:online |free )?"
             r"(?:tools|resources|websites|software|apps|programs|sources)|(?:talk|speak) to (?:a|the|your) (?:professional"
             r"|counselor|therapist|police|doctor|lawyer)|contact the police)")
#: pattern names, in the order of the alternatives of the compiled regexes: what ``refusal_cue`` reports (never
#: the matched text, which may quote the conversation)
CUE_NAMES = (*(f"en{i}" for i in range(len(_CUES_EN))),
             *("de", "de", "fr", "es", "it", "pt", "zh", "ja", "ru"))
MORAL_NAMES = tuple(f"moral{i}" for i in range(len(_MORAL)))
assert len(CUE_NAMES) == len(_CUES_EN) + len(_CUES_OTHER)
_CUE = re.compile("|".join(f"({p})" for p in (*_CUES_EN, *_CUES_OTHER)), re.I)
_MORAL_RE = re.compile("|".join(f"({p})" for p in _MORAL), re.I)
_REDIRECT_RE = re.compile(_REDIRECT)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]|\n")
_WORDS = re.compile(r"[^\s\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _words(text: str) -> int:
    """Whitespace words, with two CJK characters counted as one word (they are not space-separated)."""
    return len(_WORDS.findall(text)) + len(_CJK.findall(text)) // 2
_TOOL_SCOPE = re.compile(r"(?i)\b(?:functions?|capabilit\w*|tools?|external tasks?)\b")
# a refusal cue this late in a long turn is quoted or narrated, not the turn's stance
_CUE_WINDOW = 400
_MORAL_WINDOW = 1500  # lectures open or close short turns; a long answer is read this far


def classify(text: str, *, partial_words: int = 40, short_lecture_words: int = 25) -> tuple[str | None, str | None]:
    """(kind, cue name) of one assistant turn: kind is refusal / partial_refusal / moralizing / None."""
    text = (text or "").strip().replace("\u2019", "'")
    if not text:
        return None, None
    cue = _CUE.search(text[:_CUE_WINDOW])
    # a cue in the first sentences of the turn; "I can't help but feel" and friends are not refusals
    if cue:
        end = _SENTENCE_END.search(text, cue.end())
        rest = text[end.end():] if end else ""
        rest_words = _words(rest)
        more = _CUE.search(rest[:_CUE_WINDOW]) or _MORAL_RE.search(rest[:_MORAL_WINDOW]) \
            or _REDIRECT_RE.search(rest[:_MORAL_WINDOW])
        if rest_words >= partial_words and not more:
            return "partial_refusal", CUE_NAMES[cue.lastindex - 1]
        return "refusal", CUE_NAMES[cue.lastindex - 1]
    moral = _MORAL_RE.search(text[:_MORAL_WINDOW])
    if moral:
        name = MORAL_NAMES[moral.lastindex - 1]
        if _words(text) <= short_lecture_words and name not in _LECTURE_ONLY:
            return "refusal", name
        return "moralizing", name
    return None, None


class RefusalConfig(StageConfig):
    partial_words: int = Field(40, ge=1, description="words after the refusal's sentence that make it a partial refusal "
                                                      "(when they hold no further refusal, lecture or pointer elsewhere)")
    short_lecture_words: int = Field(25, ge=0, description="a turn of at most this many words that only lectures is a refusal")


class Refusal(Scorer):
    name = "refusal"
    Config = RefusalConfig
    reads = ("messages", "tools")
    adds = ("refusal_kind", "refusal_cue")
    version = 1

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        kinds: list[str | None] = []
        cues: list[str | None] = []
        tools = batch["tools"].to_list() if "tools" in batch.columns else [None] * batch.height
        for msgs, tool in zip(batch["messages"].to_list(), tools):
            best: tuple[str | None, str | None] = (None, None)
            for m in msgs or ():
                if m.get("role") != "assistant" or not m.get("content"):
                    continue
                if tool and _TOOL_SCOPE.search(m["content"]):
                    continue
                kind, cue = classify(m["content"], partial_words=c.partial_words,
                                     short_lecture_words=c.short_lecture_words)
                if kind and _RANK[kind] > _RANK.get(best[0] or "", 0):
                    best = (kind, cue)
            kinds.append(best[0])
            cues.append(best[1])
        return pl.DataFrame({"refusal_kind": pl.Series(kinds, dtype=pl.String),
                             "refusal_cue": pl.Series(cues, dtype=pl.String)})


class RefusalFilterConfig(StageConfig):
    drop: list[str] = Field(default_factory=lambda: ["refusal", "partial_refusal"],
                            description=f"refusal kinds to drop (any of {', '.join(KINDS)})")

    @field_validator("drop")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return known_codes(v, KINDS, "refusal kinds")


class RefusalFilter(Filter):
    name = "refusal_filter"
    Config = RefusalFilterConfig
    reads = Refusal.adds
    reasons = dict(KINDS)

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        kind = pl.col("refusal_kind")
        hit = kind.is_in(self.config.drop).fill_null(False)
        return batch.select(pl.when(hit).then(kind).otherwise(None).alias("reason"),
                            pl.when(hit).then(pl.format("cue={}", pl.col("refusal_cue"))).otherwise(None).alias("detail"))
