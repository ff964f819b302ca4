"""Turn metrics.json into the report's tables, then into self-contained HTML and Markdown.

Both formats are rendered from the same `Table` list, so index.html and report.md always show the
same figures. The HTML inlines its CSS and embeds every figure as a base64 PNG: it opens from
disk, e-mail or an archive with no server, no network and no JavaScript.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from analysis.calibration_report import before_after_rows
from analysis.held_out_blur import HELD_OUT_KEYS, HELD_OUT_TITLES, held_out_rows
from analysis.robustness import robustness_rows
from analysis.ood_report import ood_rows
from analysis.summary import pct
from features.png import png_data_uri


@dataclass
class Table:
    id: str
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class FigureRef:
    id: str
    title: str
    caption: str
    filename: str           # relative to the report dir, e.g. figures/confusion_matrix.png
    png: bytes


def rate(value: float | None, ci: list[float | None] | None = None) -> str:
    """'83.2 % [80.1–86.0]': a rate with its 95 % interval, in percent."""
    text = pct(value)
    if ci is not None and value is not None and None not in ci:
        text += f" [{ci[0] * 100:.1f}–{ci[1] * 100:.1f}]"
    return text


def gap(entry: dict[str, Any] | None) -> str:
    """'+4.1 pts [2.0 to 6.3]' with a star when the interval excludes 0."""
    if not entry or entry.get("points") is None:
        return "n/a"
    low, high = entry["ci_points"]
    star = " *" if entry["significant"] else ""
    bounds = "" if low is None else f" [{low:+.1f} to {high:+.1f}]"
    return f"{entry['points']:+.1f} pts{bounds}{star}"


def _gap_of(value: float | None, ci: list[float | None]) -> dict[str, Any]:
    lo, hi = ci
    return {"points": value, "ci_points": ci, "significant": lo is not None and hi is not None and (lo > 0 or hi < 0)}


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def build_tables(metrics: dict[str, Any]) -> list[Table]:
    """Every table of the report, in page order."""
    return [*_class_tables(metrics), *_blur_tables(metrics), _detection_table(metrics["blur_detection"]),
            _calibration_table(metrics["calibration"]), *_optional_tables(metrics)]


def _rate(entry: dict[str, Any], key: str) -> str:
    """`entry[key]` as a percentage with its interval `entry[key + "_ci"]`."""
    return rate(entry[key], entry[f"{key}_ci"])


def _class_tables(metrics: dict[str, Any]) -> list[Table]:
    """Overall, frequent vs rare, what rare classes are taken for, and per class."""
    per_class, overall, groups = metrics["per_class"], metrics["overall"], metrics["group"]
    rare_gap = metrics["gaps"].get("frequent_minus_rare_recall")
    confusion_rows = []
    for name, items in metrics["rare_confusions"].items():
        text = "; ".join(f"{it['class']} ({it['count']}, {pct(it['share'])})" for it in items) or "none"
        confusion_rows.append([name, _rate(per_class[name], "recall"), text])
    return [
        Table("overall-table", "Overall", ["metric", "value [95 % CI]"],
              [["images", str(overall["n_images"])],
               ["top-1 accuracy", _rate(overall, "top1")],
               ["balanced accuracy (mean per-class recall)", _rate(overall, "balanced_accuracy")],
               ["macro-F1", _rate(overall, "macro_f1")]]),
        Table("group-table", "Frequent vs rare classes", ["group", "classes", "images", "recall", "precision", "F1"],
              [[g, ", ".join(e["classes"]), str(e["n_images"]), _rate(e, "recall"), _rate(e, "precision"), _rate(e, "f1")]
               for g, e in groups.items()],
              note=("Group figures are means over the group's classes. Frequent − rare recall gap: "
                    f"{gap(rare_gap)} (* = 95 % interval excludes 0)." if rare_gap else "The data has no frequent/rare split.")),
        Table("rare-confusions", "What the rare classes are taken for",
              ["rare class", "recall", "most often predicted instead (images, share)"], confusion_rows),
        Table("per-class-table", "Per class",
              ["class", "group", "images (blurred)", "recall", "precision", "F1", "recall blurred", "recall sharp"],
              [[n, e["group"], f"{e['support']} ({e['n_blurred']})", _rate(e, "recall"), _rate(e, "precision"),
                _rate(e, "f1"), _rate(e, "recall_blurred"), _rate(e, "recall_sharp")]
               for n, e in ((n, per_class[n]) for n in metrics["class_names"])]),
    ]


def _blur_tables(metrics: dict[str, Any]) -> list[Table]:
    """Blurred vs sharp overall, by group, by blur kind and by blur strength."""
    blur = metrics["blur"]
    return [
        Table("blur-overall-table", "Blurred vs sharp", ["images", "count", "accuracy", "balanced accuracy"],
              [["sharp", str(blur["n_sharp"]), _rate(blur, "accuracy_sharp"), _rate(blur, "balanced_sharp")],
               ["blurred", str(blur["n_blurred"]), _rate(blur, "accuracy_blurred"), _rate(blur, "balanced_blurred")]],
              note=f"Sharp − blurred accuracy gap: {gap(metrics['gaps']['sharp_minus_blurred_accuracy'])}."),
        Table("blur-table", "Group × blurred/sharp (mean recall)", ["group", "sharp", "blurred", "sharp − blurred"],
              [[g, _rate(e, "recall_sharp"), _rate(e, "recall_blurred"),
                gap(_gap_of(e["blur_gap_points"], e["blur_gap_points_ci"]))] for g, e in metrics["group"].items()]),
        Table("blur-kind-table", "Accuracy per blur kind", ["blur kind", "images", "accuracy"],
              [[k, str(e["n"]), _rate(e, "accuracy")] for k, e in blur["per_kind"].items()]),
        Table("blur-strength-table", "Accuracy per blur strength (terciles of each kind's parameter)",
              ["blur kind", "strength", "images", "accuracy"],
              [[k, e["label"], str(e["n"]), _rate(e, "accuracy")]
               for k, buckets in blur["per_strength"].items() for e in buckets]),
    ]


def _detection_table(det: dict[str, Any]) -> Table:
    detectors = [("Laplacian variance, default threshold", det["laplacian_default"]),
                 ("Laplacian variance, fitted threshold", det["laplacian_fitted"])]
    if det["learned_head"] is not None:
        detectors.append(("learned blur head (p ≥ 0.5)", det["learned_head"]))
    return Table(
        "detection-table", "Blur detection against the manifest truth",
        ["detector", "threshold", "accuracy", "precision", "recall", "ROC AUC"],
        [[label, f"{d['threshold']:.4g}", pct(d["accuracy"]), pct(d["precision"]), pct(d["recall"]), _num(d["roc_auc"])]
         for label, d in detectors],
        note="The ROC AUC of the Laplacian score does not depend on the threshold."
        + ("" if det["learned_head"] is not None else " This model has no learned blur head."),
    )


def _calibration_table(cal: dict[str, Any]) -> Table:
    over = _gap_of(cal["overconfidence_points"], cal["overconfidence_points_ci"])
    return Table(
        "calibration-table", "Calibration", ["images", "expected calibration error", "mean confidence − accuracy"],
        [["all", _rate(cal, "ece"), gap(over)], ["rare classes", _rate(cal, "ece_rare"), ""]],
        note=f"ECE over {cal['n_bins']} equal-width bins of the top-1 probability.",
    )


def _optional_tables(metrics: dict[str, Any]) -> list[Table]:
    """Temperature scaling before/after, the robustness sweep and the unfamiliar-image table, when present."""
    tables = []
    scaling = metrics["calibration"].get("temperature_scaling")
    if scaling is not None:
        header, rows, note = before_after_rows(scaling)
        tables.append(Table("calibration-before-after", "Temperature scaling: ECE before and after", header, rows, note))
    if "robustness" in metrics:
        header, rows, note = robustness_rows(metrics["robustness"])
        tables.append(Table("robustness-table", "Accuracy under blur beyond training", header, rows, note))
    if "ood" in metrics:
        header, rows, note = ood_rows(metrics["ood"])
        tables.append(Table("ood-table", "Unfamiliar images: does the warning fire?", header, rows, note))
    for suite, key in HELD_OUT_KEYS.items():
        if key in metrics:
            header, rows, note = held_out_rows(metrics[key])
            tables.append(Table(f"{key.replace('_', '-')}-table", HELD_OUT_TITLES[suite] + ": accuracy and warnings",
                                header, rows, note))
    return tables


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 3rem;background:#fff}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#666;font-size:.85rem}
#summary{background:#f3f6fb;border-left:4px solid #4c72b0;padding:.8rem 1rem .8rem 2rem;margin:1rem 0}
#summary li{margin:.3rem 0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}
th,td{border:1px solid #ddd;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}tbody tr:nth-child(even){background:#fafafa}
.note{color:#555;font-size:.85rem;margin:.2rem 0 1rem}
figure{margin:1.2rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.85rem}
nav a{margin-right:.8rem;font-size:.85rem}
"""


def render_html(title: str, meta: list[str], summary: list[str], tables: list[Table], figures: list[FigureRef],
                sections: list[tuple[str, list[str]]]) -> str:
    """sections: (heading, [table or figure ids]) in page order."""
    by_id: dict[str, Table | FigureRef] = {t.id: t for t in tables}
    by_id.update({f.id: f for f in figures})
    esc = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>", "<main>",
        f"<h1>{esc(title)}</h1>",
    ]
    parts += [f'<p class="meta">{esc(line)}</p>' for line in meta]
    parts.append("<nav>" + "".join(f'<a href="#{_anchor(h)}">{esc(h)}</a>' for h, _ in sections) + "</nav>")
    parts.append('<h2 id="summary-heading">Summary</h2>')
    parts.append('<ul id="summary">' + "".join(f"<li>{esc(s)}</li>" for s in summary) + "</ul>")
    for heading, ids in sections:
        parts.append(f'<h2 id="{_anchor(heading)}">{esc(heading)}</h2>')
        for item_id in ids:
            item = by_id.get(item_id)
            if isinstance(item, Table):
                parts.append(_html_table(item, show_title=item.title != heading))
            elif isinstance(item, FigureRef):
                parts.append(f'<figure id="{esc(item.id)}"><img src="{png_data_uri(item.png)}" alt="{esc(item.title)}">'
                             f"<figcaption><b>{esc(item.title)}.</b> {esc(item.caption)}</figcaption></figure>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _html_table(table: Table, show_title: bool = True) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{esc(table.note)}</p>' if table.note else ""
    title = f"<h3>{esc(table.title)}</h3>" if show_title else ""
    return (f'{title}<table id="{esc(table.id)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>{note}")


def render_markdown(title: str, meta: list[str], summary: list[str], tables: list[Table], figures: list[FigureRef],
                    sections: list[tuple[str, list[str]]]) -> str:
    by_id: dict[str, Table | FigureRef] = {t.id: t for t in tables}
    by_id.update({f.id: f for f in figures})
    lines = [f"# {title}", ""] + [f"{line}  " for line in meta] + ["", "## Summary", ""]
    lines += [f"- {s}" for s in summary] + [""]
    for heading, ids in sections:
        lines += [f"## {heading}", ""]
        for item_id in ids:
            item = by_id.get(item_id)
            if isinstance(item, Table):
                lines += ([f"### {item.title}", ""] if item.title != heading else []) + [
                          "| " + " | ".join(item.header) + " |",
                          "| " + " | ".join("---" for _ in item.header) + " |"]
                lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in item.rows]
                lines += ["", item.note, ""] if item.note else [""]
            elif isinstance(item, FigureRef):
                lines += [f"![{item.title}]({item.filename})", "", f"*{item.title}.* {item.caption}", ""]
    return "\n".join(lines)


def _anchor(heading: str) -> str:
    return "sec-" + "".join(ch if ch.isalnum() else "-" for ch in heading.lower()).strip("-")
