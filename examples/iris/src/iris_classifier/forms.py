"""The HTML form, generated from the schema: one control per field, in schema order."""

from dataclasses import dataclass

from .schema import TEXT_MAX_LENGTH, default_value


@dataclass(frozen=True)
class Control:
    """What the template needs to draw one field."""

    name: str
    label: str
    widget: str  # "number", "select", "checkbox" or "textarea"
    required: bool
    help: str
    minimum: str = ""
    maximum: str = ""
    step: str = ""
    options: tuple[str, ...] = ()
    max_length: str = ""  # characters, for a textarea


def number_text(value):
    """A number as a person reads it: 5.8, 0.0380759, 1234567, 0.0000075."""
    if isinstance(value, float):
        text = f"{value:.6g}"
        if "e+" in text:
            return f"{value:.0f}"  # 1234567, not 1.23457e+06
        if "e-" in text:  # 0.0000075, not 7.5e-06 (the OpenAPI CSV pattern has no exponent)
            return f"{float(text):.15f}".rstrip("0").rstrip(".")
        return text
    return "" if value is None else str(value)


def make_controls(schema):
    controls = []
    for field in schema.fields:
        help_text = f"Seen in training: {field.range_text()}" if field.minimum is not None else ""
        if field.kind == "text":
            help_text = f"Free text, up to {TEXT_MAX_LENGTH:,} characters"
        if not field.required and field.kind != "boolean":
            help_text = (help_text + ". " if help_text else "") + "Optional: leave empty if unknown"
        common = {"name": field.name, "label": field.label, "help": help_text}
        if field.kind == "category":
            control = Control(
                **common, widget="select", required=field.required, options=field.categories
            )
        elif field.kind == "boolean":
            control = Control(**common, widget="checkbox", required=False)
        elif field.kind == "text":
            control = Control(
                **common,
                widget="textarea",
                required=field.required,
                max_length=str(TEXT_MAX_LENGTH),
            )
        else:
            control = Control(
                **common,
                widget="number",
                required=field.required,
                # Exact values, not rounded ones, so the browser never flags a training value.
                minimum="" if field.minimum is None else repr(field.minimum),
                maximum="" if field.maximum is None else repr(field.maximum),
                step=field.step,
            )
        controls.append(control)
    return controls


def default_texts(schema):
    """The values the empty form starts with, as the strings a browser would send."""
    texts = {}
    for field in schema.fields:
        if field.kind == "boolean":
            texts[field.name] = "true" if field.default else "false"
        elif field.kind == "category":
            texts[field.name] = field.default or ""
        elif field.kind == "text":
            texts[field.name] = default_value(field)
        else:
            texts[field.name] = number_text(field.default)
    return texts


def read_form(schema, form):
    """A posted form -> {field name: text} for Schema.validate_text.

    A browser does not send an unchecked checkbox at all, so a missing box means false.
    It sends each new line of a textarea as "\r\n"; the text as typed has "\n", and
    that is what the textarea's maxlength counted.
    """
    texts = {}
    for field in schema.fields:
        if field.kind == "boolean":
            texts[field.name] = form.get(field.name) or "false"
        elif field.kind == "text":
            texts[field.name] = form.get(field.name, "").replace("\r\n", "\n")
        else:
            texts[field.name] = form.get(field.name, "")
    return texts


def result_view(prediction, warnings):
    """A prediction -> what the result panel shows (bars sorted from most to least likely)."""
    view = {
        "prediction": number_text(prediction["prediction"]),
        "warnings": warnings,
        "bars": [],
    }
    probabilities = prediction.get("probabilities", {})
    for name, probability in sorted(probabilities.items(), key=lambda item: -item[1]):
        percent = 100 * probability
        shown = "<0.1%" if 0 < percent < 0.1 else f"{percent:.1f}%"
        view["bars"].append({"label": str(name), "width": f"{percent:.1f}", "text": shown})
    return view


def describe_field(field):
    """The values a field takes, in words: "number, 4.3 to 7.9", "one of: a, b"."""
    if field.kind == "category":
        return "one of: " + ", ".join(field.categories)
    if field.kind == "boolean":
        return "true or false"
    if field.kind == "text":
        return f"free text, up to {TEXT_MAX_LENGTH:,} characters"
    kind = "whole number" if field.kind == "integer" else "number"
    return f"{kind}, {field.range_text()}" if field.minimum is not None else kind
