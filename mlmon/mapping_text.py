"""Mapping files as text, for ``mlmon mapping show``: a preset's shipped file, or mlmon's own shape written out.

mlmon's own shape is written from :data:`mlmon.logs.mapping.DEFAULT_MAPPING` itself, so the
text cannot drift from what mlmon reads; a test loads it back and compares.
"""

from __future__ import annotations

from mlmon.errors import UsageError
from mlmon.logs.mapping import CANONICAL_FIELDS, DEFAULT_MAPPING

_KINDS = {"time": "ISO-8601 text or epoch numbers (required)", "string": "text",
          "integer": "a whole number", "number": "a number"}


def known_presets() -> tuple[str, ...]:
    """The presets this mlmon ships, mlmon's own shape first."""
    try:
        from mlmon.logs.presets import OWN, PRESETS
    except ImportError:
        return ()
    return (OWN, *PRESETS)


def mapping_text(preset: str | None = None) -> str:
    """The YAML of ``preset``'s mapping, or of mlmon's own record shape; UsageError for an unknown preset."""
    if preset is None or preset == "mlmon":
        return own_mapping_text()
    known = known_presets()
    if preset not in known:
        from mlmon.yamlfile import did_you_mean

        listed = ", ".join(known) if known else "none ship with this version"
        raise UsageError(f"unknown preset {preset!r}{did_you_mean(preset, known)} (known presets: {listed})",
                         "Run 'mlmon mapping show' for mlmon's own mapping, or 'mlmon inspect LOGS' to see which fits.")
    from mlmon.logs.presets import preset_text

    return preset_text(preset)


def own_mapping_text() -> str:
    """mlmon's own record shape as a commented mapping file, to copy and adapt."""
    m = DEFAULT_MAPPING
    lines = [
        "# mlmon's own record shape as a mapping file (README \"Field mapping\").",
        "# Copy it, point each field at the dotted path where your records hold it,",
        "# and pass it with --mapping FILE. Fields you leave out keep these defaults.",
        "fields:",
    ]
    for name, kind in CANONICAL_FIELDS.items():
        lines.append(f"  {name + ': ' + '.'.join(m.fields[name]):<30}# {_KINDS[kind]}")
    lines += [
        f"{'inputs: ' + '.'.join(m.inputs):<32}# the object holding the inputs (input.x)",
        f"{'outputs: ' + '.'.join(m.outputs):<32}# the object holding the outputs (output.x)",
        f"{'latency_unit: ' + m.latency_unit:<32}# s, ms, us or ns",
        f"{'ts_unit: ' + m.ts_unit:<32}# auto, s, ms, us or ns, for epoch numbers",
        f"{'timezone: ' + m.timezone:<32}# the zone of times written without one",
        f"{'constants: {}':<32}# e.g. {{model: churn}} when the logs lack it",
        f"{'redact: []':<32}# more secret keys, e.g. [ssn, x-session]",
    ]
    return "\n".join(lines) + "\n"
