"""Public word lists the detector and the second-opinion scan read (never a test generator's lists):

* ``first_names``: US-census first names (public domain, the ``names`` package);
* ``surnames``: the most frequent US-census surnames (same source), ranked by frequency;
* ``common_words``: English verbs, adjectives and adverbs (WordNet's lemma index as the embedded
  spaCy model ships it). Nouns are left out on purpose: WordNet lists places and people as nouns
  ("boston", "einstein"), but no name is only a verb or an adjective ("iterate", "digital");
* ``public_places``: country, territory and continent names in English, German, French and
  Spanish (Unicode CLDR, through ``babel``): not personal data by themselves (BENCHMARKS.md, "PII
  round three").

Each is empty when its source is not installed: the rules that read them then drop nothing (the
detector fails towards redacting more).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

# census surnames kept as names even when they are also English words (Brown, Young); chosen on the
# measured curve (BENCHMARKS.md, "PII round three (issue #27)"): flat, the most recall at 10,000
SURNAMES_TOP = 10000


def _names_folder() -> Path | None:
    try:
        import names
    except ImportError:
        return None
    return Path(names.__file__).parent


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """Census first names, lower case (empty without the ``names`` package)."""
    folder = _names_folder()
    out: set[str] = set()
    for file in ("dist.male.first", "dist.female.first"):
        if folder is not None and (folder / file).is_file():
            out |= {line.split()[0].lower() for line in (folder / file).read_text(encoding="ascii").splitlines()
                    if line.strip()}
    return frozenset(out)


@lru_cache(maxsize=1)
def surnames(top: int = SURNAMES_TOP) -> frozenset[str]:
    """The ``top`` most frequent census surnames, lower case."""
    folder = _names_folder()
    if folder is None or not (folder / "dist.all.last").is_file():
        return frozenset()
    lines = [line for line in (folder / "dist.all.last").read_text(encoding="ascii").splitlines() if line.strip()]
    return frozenset(line.split()[0].lower() for line in lines[:top])


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """English verbs, adjectives and adverbs that are neither a census first name nor a frequent surname."""
    try:
        import spacy

        from .nlp import embedded_path

        path = embedded_path()
        if path is None:
            return frozenset()
        lemmatizer = spacy.load(path, exclude=["tok2vec", "tagger", "parser", "ner", "attribute_ruler",
                                               "senter"]).get_pipe("lemmatizer")
        index = lemmatizer.lookups.get_table("lemma_index")
        words = {w.lower() for pos in ("verb", "adj", "adv") for w in index.get(pos, ()) if "_" not in w}
    except (ImportError, OSError, KeyError, ValueError):
        return frozenset()
    return frozenset(words - first_names() - surnames())


@lru_cache(maxsize=1)
def dictionary() -> frozenset[str]:
    """English dictionary words, every part of speech (WordNet's lemma index as the embedded spaCy
    model ships it, and spaCy's stop words), lower case; empty without the model."""
    try:
        import spacy
        from spacy.lang.en.stop_words import STOP_WORDS

        from .nlp import embedded_path

        words = set(STOP_WORDS)
        path = embedded_path()
        if path is not None:
            lemmatizer = spacy.load(path, exclude=["tok2vec", "tagger", "parser", "ner", "attribute_ruler",
                                                   "senter"]).get_pipe("lemmatizer")
            index = lemmatizer.lookups.get_table("lemma_index")
            words |= {w.lower() for v in index.values() for w in v if "_" not in w}
    except (ImportError, OSError, KeyError, ValueError):
        return frozenset()
    return frozenset(words)


@lru_cache(maxsize=1)
def public_places() -> frozenset[str]:
    """Country, territory and continent names (CLDR, en/de/fr/es) and common abbreviations, lower case."""
    try:
        from babel import Locale
    except ImportError:
        return frozenset()
    out = {"u.s.", "u.s.a.", "usa", "us", "uk", "u.k.", "eu", "e.u.", "uae", "ussr", "america"}
    for lang in ("en", "de", "fr", "es"):
        out |= {v.lower() for v in Locale(lang).territories.values()}
    return frozenset(out - {"world", "welt", "monde", "mundo"})  # ordinary words, never a finding to drop by name


@lru_cache(maxsize=1)
def major_cities() -> frozenset[str]:
    """The cities that name the tz database's time zones (CLDR through ``babel``: "paris", "new york",
    447 of them), lower case: a place list from a public source, not a test generator's."""
    try:
        from babel.core import get_global
    except ImportError:
        return frozenset()
    return frozenset(k.rsplit("/", 1)[-1].replace("_", " ").lower() for k in get_global("zone_territories") if "/" in k)


@lru_cache(maxsize=1)
def inflections() -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    """(irregular inflected forms: "took", "hotter", "mice"; the suffix rules that undo regular
    ones: ("ing", "e"), ("est", "")), from the embedded spaCy model's English lemmatizer tables;
    empty without the model."""
    try:
        import spacy

        from .nlp import embedded_path

        path = embedded_path()
        if path is None:
            return frozenset(), ()
        lookups = spacy.load(path, exclude=["tok2vec", "tagger", "parser", "ner", "attribute_ruler",
                                            "senter"]).get_pipe("lemmatizer").lookups
        forms = {w.lower() for table in lookups.get_table("lemma_exc").values() for w in table}
        rules = {(a, b) for table in lookups.get_table("lemma_rules").values() for a, b in table if a}
    except (ImportError, OSError, KeyError, ValueError):
        return frozenset(), ()
    return frozenset(forms), tuple(sorted(rules))


def english_word(word: str) -> bool:
    """``in_dictionary``, or an inflected form of a dictionary word the lemmatizer knows
    ("analyzing", "chasing", "smallest", "took"): what the lower-case informal-name rules
    (``names.INFORMAL_LEVEL`` 5 and up) must never take for an unknown word."""
    if in_dictionary(word):
        return True
    w = word.lower().replace("’", "'")
    forms, rules = inflections()
    d = dictionary()
    return w in forms or any(w.endswith(a) and w[:len(w) - len(a)] + b in d for a, b in rules)


def in_dictionary(word: str) -> bool:
    """``word`` or its stem (plural, -'s, -ing, -ed) is an English dictionary word."""
    w = word.lower().replace("’", "'")
    d = dictionary()
    return w in d or any(w.endswith(end) and w[:-len(end)] in d for end in ("s", "es", "'s", "ing", "ed", "d")) \
        or (w.endswith("ies") and w[:-3] + "y" in d)


# What NER tags as a place, organisation or person in LLM traffic and is never personal data: the
# most frequent such findings on Alpaca 9k ("As an AI language model" made "AI" a LOCATION 292
# times there). Exact text, case-sensitive (BENCHMARKS.md, "PII redaction", over-redaction).
NOT_AN_ENTITY = frozenset("""AI A.I. AGI GPT GPT-2 GPT-3 GPT-3.5 GPT-4 ChatGPT LLM LLMs NLP ML IoT API APIs HTML CSS SQL
JSON XML URL HTTP HTTPS PDF CSV Java JavaScript TypeScript Python Blockchain COVID-19 COVID Earth Mars Jupiter Venus
Saturn Neptune Uranus Pluto""".split()) | {"Machine Learning", "Artificial Intelligence", "Deep Learning",
                                           "Natural Language Processing", "the Milky Way", "Milky Way", "the Moon"}
# Technical vocabulary that NER tags as a person, place or organisation in software talk ("connect
# to PostgreSQL" → LOCATION): languages, frameworks, databases, tools and platforms (a general list,
# not read off any test set). Exact words, case-sensitive; a person cue before them keeps the finding.
TECH_WORDS = frozenset("""Python Java JavaScript TypeScript Rust Go Golang Rails Perl PHP Swift Kotlin Scala Haskell
Elixir Erlang Clojure Lua Dart Flutter Bash Zsh PowerShell Shell Fortran COBOL MATLAB Django Flask FastAPI
Starlette Pydantic SQLAlchemy Alembic Celery React Redux Angular Vue Svelte Next.js Node Node.js Deno Express Spring
Hibernate Laravel Symfony NumPy Pandas SciPy Matplotlib PyTorch TensorFlow Keras Jupyter Spark Hadoop Kafka Airflow
PostgreSQL Postgres MySQL MariaDB SQLite MongoDB Redis Elasticsearch Cassandra DynamoDB Snowflake BigQuery Oracle
Docker Kubernetes Helm Terraform Ansible Jenkins Nginx Git GitHub GitLab Bitbucket npm pip Conda Homebrew Linux
Ubuntu Debian Fedora CentOS macOS Windows Android iOS AWS Azure GCP Lambda Heroku Vercel Netlify Cloudflare Slack
Jira Confluence Trello Notion Figma Excel Word PowerPoint Outlook Chrome Firefox Safari Edge VSCode Vim Emacs
IntelliJ Xcode Gradle Maven Webpack Vite Babel ESLint Prettier Pytest JUnit Selenium Playwright Stripe PayPal
Shopify WordPress OAuth JWT GraphQL REST gRPC WebSocket YAML TOML Markdown LaTeX Regex
Google Microsoft Apple Amazon Meta Facebook Twitter Instagram YouTube Netflix Tesla IBM Intel Nvidia NVIDIA AMD
Samsung OpenAI Anthropic Uber Airbnb Spotify LinkedIn WhatsApp TikTok Reddit Wikipedia Zoom Dropbox Adobe SAP
Salesforce""".split())
# Labels of user interfaces ("go to Account Settings, then Subscriptions"): a finding made only of
# these words is no entity.
UI_WORDS = frozenset("""account settings setting subscriptions subscription billing dashboard profile preferences
notifications privacy security home orders order history payments payment methods method cart checkout help
support center inbox messages sign log in out up login logout password reset plan plans my wallet""".split())
# Greetings and openers that NER takes for a place or a name at the start of a prompt, by language.
OPENERS = frozenset("""hola buenos buenas días tardes noches bonjour bonsoir salut coucou hallo guten tag morgen abend
servus moin ciao buongiorno buonasera olá oi привет здравствуйте добрый день hello hi hey dear gracias merci danke
por favor bitte""".split())
