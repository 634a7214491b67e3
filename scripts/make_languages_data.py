"""Rebuild the languages data set that template/data/ ships from the chatterbot-corpus package (BSD-3-Clause).

    pip install chatterbot-corpus==1.3.3 pyyaml
    python scripts/make_languages_data.py

The corpus holds short dialogue lines in many languages, one folder a language. Each row of
languages.csv is one line of at least three words and its language, for ten languages
written in the Latin alphabet, at most PER_LANGUAGE lines each. Not run by the tests.
"""

import csv
import random
from pathlib import Path

import chatterbot_corpus
import yaml

LANGUAGES = [
    "dutch", "english", "french", "german", "indonesian",
    "italian", "portuguese", "spanish", "swedish", "turkish",
]  # fmt: skip
PER_LANGUAGE = 200
DATA = Path(__file__).resolve().parents[1] / "template" / "data"
OUTPUT = DATA / "{% if dataset == 'languages' %}languages.csv{% endif %}"


def lines_of(folder):
    found = set()
    for path in sorted(folder.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conversation in document.get("conversations") or []:
            for text in conversation:
                if isinstance(text, str):
                    text = " ".join(text.split())
                    if 3 <= len(text.split()) <= 40:
                        found.add(text)
    return found


def main():
    data = Path(chatterbot_corpus.__file__).parent / "data"
    by_language = {language: lines_of(data / language) for language in LANGUAGES}
    # A line found under two languages (a name, a bit of code) says nothing about either.
    seen = {}
    for language, texts in by_language.items():
        for text in texts:
            seen.setdefault(text.lower(), set()).add(language)
    rows = []
    for language, texts in by_language.items():
        unique = sorted(t for t in texts if len(seen[t.lower()]) == 1)
        random.Random(language).shuffle(unique)
        rows += [(text, language) for text in unique[:PER_LANGUAGE]]
    random.Random(0).shuffle(rows)
    with open(OUTPUT, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "language"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUTPUT}")


if __name__ == "__main__":
    main()
