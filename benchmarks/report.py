"""Formats a results report (see run.py) as one plain-text table with numbered notes.

    >>> fmt_value(0.01234), fmt_value(12.345), fmt_value(1234.5), fmt_ratio(2345.6)
    ('0.0123', '12.3', '1,234', '2,346×')
"""

from __future__ import annotations

from typing import Any

from benchmarks.registry import PEERS


def fmt_value(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def fmt_ratio(r: float) -> str:
    return f"{r:,.0f}×" if r >= 10 else f"{r:.2f}×"


def format_table(report: dict[str, Any], engines: list[str]) -> str:
    notes: list[str] = []

    def footnote(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f" [{notes.index(text) + 1}]"

    def cell(c: dict[str, Any] | None) -> str:
        if not c:
            return "—"
        status = c.get("status")
        if status == "skip":  # the benchmark is not defined for this engine
            return "—"
        if status != "ok":
            return status + footnote(c.get("reason", ""))
        if "text" in c:
            out = c["text"]
        elif c.get("median") is None:
            out = "—"
        else:
            out = ("≈" if c.get("extrapolated") else "") + fmt_value(c["median"])
        if c.get("note"):
            out += footnote(c["note"])
        return out

    peers = [p for p in PEERS if p in engines]
    header = ["benchmark", "unit", *engines, *[f"{p}/nbtrack" for p in peers], "nbtrack target"]
    body = []
    for row in report["rows"]:
        target = row["target"]
        if "nbtrack_meets_target" in row:
            target += "  ✓" if row["nbtrack_meets_target"] else "  ✗ MISSED"
        ratios = []
        for p in peers:
            r = row["ratios"].get(f"{p}/nbtrack")
            approx = "≈" if row["engines"].get(p, {}).get("extrapolated") else ""
            ratios.append("—" if r is None else approx + fmt_ratio(r))
        body.append([row["title"], row["unit"], *[cell(row["engines"].get(e)) for e in engines],
                     *ratios, target])
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]

    def line(cols: list[str]) -> str:
        return " | ".join(
            str(c).ljust(w) if i == 0 or i == len(cols) - 1 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cols, widths))
        )

    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    out = [
        (f"nbtrack benchmarks — {report['date']} — {report['mode']} mode, median of "
         f"{report['repeat']} — {m['cpus']} CPUs, Python {m['python']}, {m['platform']}"),
        (f"versions: {versions or 'none available'}; ≈ = extrapolated (see notes); "
         "ratio = peer median / nbtrack median"),
        "",
        line(header),
        "-+-".join("-" * w for w in widths),
        *[line(b) for b in body],
    ]
    if notes:
        out.append("")
        out += [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(out)
