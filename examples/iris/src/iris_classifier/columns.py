"""Decide what each training column is, from its values, and say why.

Every column becomes one of these kinds:

- number, integer, boolean: read as they are;
- category: a few distinct values, offered as a list in the form;
- text: free text (long, many distinct values, words with spaces), read by TF-IDF;
- date: a column of dates, used as three numbers (year, month, day of week);
- identifier: unique or nearly unique values (ids, e-mails, names, dates as codes).
  An identifier is LEFT OUT: it cannot help a model predict new rows, and its values
  must not be published on the form or in the API.

COLUMN_KINDS in config.py overrides the decision for a column; then run `make train`.
The reasons never quote a value from the data: they are printed and saved in model.json.
"""

import re
from dataclasses import dataclass

import pandas as pd

from .schema import MISSING_WORDS, Field, derive_field

KINDS = ("number", "integer", "boolean", "category", "text", "date", "identifier")
MAX_CATEGORIES = 50  # more distinct values than this, and a column is not a category
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ID_WORDS = {"id", "uuid", "guid", "key", "code"}  # words of a column name that mean "an id"
DATE_LIKE = re.compile(
    r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"  # the date: 2024-03-31, 31/03/2024, 31.3.2024
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"  # a time, a time zone
)
# The ways a date is written, tried in this order (the first that reads the most rows wins,
# so 03/04/2024 is the 3rd of April unless a value such as 12/31/2024 says month first).
DATE_FORMATS = {
    "ISO8601": "year-month-day",
    "%d/%m/%Y": "day/month/year",
    "%m/%d/%Y": "month/day/year",
    "%d.%m.%Y": "day.month.year",
    "%d-%m-%Y": "day-month-year",
    "%m-%d-%Y": "month-day-year",
    "%Y/%m/%d": "year/month/day",
}
# 1,200 / $1,200.50 / 12% / (300) / 4.5 €: numbers written for people, not for a program.
DRESSED_NUMBER = re.compile(r"^[-+(]?\s*[$€£¥]?\s*[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s*[%$€£¥)]?$")
NO_VALUES = "no values at all"
DRESSED = "numbers written with a currency sign, thousands separators or %"
DATE_PARTS = {"year": "year", "month": "month", "day of week": "day_of_week"}


@dataclass(frozen=True)
class Decision:
    column: str  # the original column name
    kind: str  # one of KINDS
    reason: str  # why, in words, without quoting any value

    def to_dict(self):
        return {"column": self.column, "kind": self.kind, "reason": self.reason}


def decide(series, overrides=None):
    """One column of training data -> Decision (COLUMN_KINDS wins over the data)."""
    column = str(series.name)
    wanted = (overrides or {}).get(column)
    if wanted is not None:
        if wanted not in KINDS:
            raise ValueError(
                f"COLUMN_KINDS[{column!r}] = {wanted!r}: use one of {', '.join(KINDS)}"
            )
        return Decision(column, wanted, "set in COLUMN_KINDS (config.py)")
    present = series.dropna()
    n, distinct = len(present), present.nunique()
    if n == 0:
        return Decision(column, "identifier", NO_VALUES)
    if distinct == 2 and _two_valued_boolean(present):
        return Decision(column, "boolean", "two values, yes/no or 0/1")
    if present.dtype.kind == "b":
        return Decision(column, "boolean", "true/false values")
    if distinct == 1 and n == len(series):
        return Decision(column, "identifier", "the same value in every row: nothing to learn")
    if present.dtype.kind in "iuf":
        whole = bool((present == present.round()).all())
        unique = whole and n >= 20 and distinct == n
        if unique and (_id_name(column) or _counts_up(present) or _same_long_length(present)):
            return Decision(column, "identifier", f"{n} different whole numbers, one per row")
        if whole:
            return Decision(column, "integer", "whole numbers")
        return Decision(column, "number", "numbers")
    text = present.astype(str).str.strip()
    numbers, unreadable = read_numbers(text)
    if numbers.notna().any() and not unreadable:
        # Numbers, and "-" or "?" for a missing one: decided as numbers, those are gaps.
        return decide(numbers.reindex(series.index).rename(column))
    dressed = text.str.match(DRESSED_NUMBER)
    if dressed.mean() > 0.9 and text[dressed].str.contains(r"[,$€£¥%()]").any():
        return Decision(column, "identifier", DRESSED)
    if text.str.match(EMAIL).mean() > 0.5:
        return Decision(column, "identifier", "looks like e-mail addresses")
    if text.str.match(DATE_LIKE).mean() > 0.9:
        date_format = _date_format(text)
        if date_format is not None:
            written = DATE_FORMATS[date_format]
            return Decision(
                column, "date", f"dates ({written}): used as year, month and day of week"
            )
    words = text.str.split().str.len()
    # Free text is words with spaces between them: a long code (a UUID, a hash) is not.
    wordy = words.mean() >= 4 or (words.mean() >= 2 and text.str.len().mean() >= 30)
    if distinct > 0.5 * n and wordy:
        return Decision(column, "text", f"free text, {words.mean():.0f} words a row on average")
    if (n >= 20 and distinct >= 0.9 * n) or (n >= 5 and distinct == n):
        return Decision(column, "identifier", f"{distinct} different values in {n} rows")
    if distinct > MAX_CATEGORIES:
        return Decision(
            column, "identifier", f"{distinct} different values: too many for a category"
        )
    return Decision(column, "category", f"{distinct} different values")


def _two_valued_boolean(present):
    words = set(present.astype(str).str.strip().str.lower())
    pairs = ({"0", "1"}, {"0.0", "1.0"}, {"true", "false"}, {"yes", "no"})
    return any(words == pair for pair in pairs)


def _id_name(column):
    """Whether a column's name says it is an id: customer_id, CustomerID, user-uuid."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", column)
    return any(word.lower() in ID_WORDS for word in words)


def _counts_up(values):
    """1, 2, 3... or any steadily increasing sequence: a row number."""
    return bool(values.is_monotonic_increasing)


def _same_long_length(values):
    """Whole numbers all of 7 or more digits, all as long: phone or account numbers."""
    lengths = values.abs().astype("int64").astype(str).str.len()
    return lengths.nunique() == 1 and int(lengths.iloc[0]) >= 7


def _date_format(text):
    """The format (a key of DATE_FORMATS) that reads more than 90% of the values, or None."""
    best, best_count = None, 0
    for date_format in DATE_FORMATS:
        count = int(_parse_dates(text, date_format).notna().sum())
        if count > best_count:
            best, best_count = date_format, count
    return best if best_count > 0.9 * len(text) else None


def _parse_dates(text, date_format):
    """Strings -> datetimes (NaT where unreadable). Only the date counts: a time is dropped."""
    if date_format != "ISO8601":
        text = text.str.split(r"[ T]", n=1, regex=True).str[0]
    dates = pd.to_datetime(text, errors="coerce", format=date_format, utc=True)
    return dates.dt.tz_localize(None)


def how_to_include(decision):
    """The line a user reads when a column is left out."""
    if decision.reason == NO_VALUES:
        return f"left out: {NO_VALUES}."
    if decision.reason == DRESSED:
        return (
            f"left out: {DRESSED}. To use it, write its values as plain numbers in the CSV "
            "(1200.5 for $1,200.50, 12 for 12%), then run `make train`."
        )
    return (
        f"left out: {decision.reason}. To use it, set COLUMN_KINDS[{decision.column!r}] "
        '= "category" (or "text") in config.py, then run `make train`.'
    )


def expand(frame, overrides=None):
    """-> (frame of model inputs, decisions, kinds by input column): identifiers dropped,
    dates made into numbers, overridden columns converted to their kind."""
    decisions = [decide(frame[column].rename(column), overrides) for column in frame.columns]
    columns, kinds = {}, {}
    for decision, column in zip(decisions, frame.columns, strict=True):
        series = frame[column]
        if decision.kind == "identifier":
            continue
        if decision.kind == "date":
            text = series.astype("string").str.strip()
            dates = _parse_dates(text, _date_format(text.dropna()) or "ISO8601")
            for part, attribute in DATE_PARTS.items():
                columns[f"{column} ({part})"] = getattr(dates.dt, attribute).astype("Float64")
                kinds[f"{column} ({part})"] = "integer"
            continue
        if decision.kind in ("category", "text") and series.dtype.kind in "iufb":
            series = series.astype("string").astype(object).where(series.notna(), None)
        elif decision.kind in ("number", "integer") and series.dtype.kind not in "iuf":
            series = as_numbers(series, decision)
        if decision.kind == "integer":
            series = series.round()
        columns[column], kinds[column] = series, decision.kind
    return pd.DataFrame(columns, index=frame.index), decisions, kinds


def read_numbers(series):
    """Text -> (the numbers, NaN elsewhere; how many values are neither a number nor a word
    for a gap such as "-" or "N/A")."""
    numbers = pd.to_numeric(series, errors="coerce")
    text = series[numbers.isna() & series.notna()].astype(str).str.strip().str.lower()
    return numbers, int((~text.isin(MISSING_WORDS)).sum())


def as_numbers(series, decision):
    """A column of text read as numbers; ValueError if some of its values are not numbers
    (COLUMN_KINDS says number for a column of "$1,200"): no value silently becomes a gap."""
    numbers, unreadable = read_numbers(series)
    if unreadable:
        raise ValueError(
            f"column {decision.column!r} is a {decision.kind} ({decision.reason}), but "
            f"{unreadable} of its {int(series.notna().sum())} values are not plain numbers: "
            "write them as plain numbers in the CSV (1200.5 for $1,200.50), or give the "
            "column another kind in COLUMN_KINDS"
        )
    return numbers


def make_field(name, label, series, kind):
    """A schema Field of the decided kind."""
    if label.endswith(" (day of week)"):  # a part of a date (expand): say what the numbers are
        label = label[:-1] + ": 0 = Monday to 6 = Sunday)"
    if kind == "text":
        # No default and no list of values: text from the data is never published.
        return Field(name, label, "text", bool(series.notna().all()))
    field = derive_field(name, label, series, words_as_booleans=kind != "category")
    if kind in ("number", "integer") and field.kind not in ("number", "integer"):
        present = series.dropna().astype(float)  # a 0/1 column that COLUMN_KINDS calls a number
        cast = int if kind == "integer" else float
        return Field(
            name,
            label,
            kind,
            field.required,
            cast(present.min()),
            cast(present.max()),
            cast(present.median()),
        )
    return field


def report(decisions):
    """Lines saying what each column became and why (printed by `make train`)."""
    lines = []
    width = max((len(d.column) for d in decisions), default=0)
    for decision in decisions:
        if decision.kind == "identifier":
            detail = how_to_include(decision)
        elif decision.kind == "date":
            detail = f"date -> {', '.join(f'{decision.column} ({p})' for p in DATE_PARTS)}"
        else:
            detail = f"{decision.kind}: {decision.reason}"
        lines.append(f"  {decision.column:<{width}}  {detail}")
    return lines
