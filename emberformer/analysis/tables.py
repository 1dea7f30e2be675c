"""Used by the evaluate, predict and report commands (and `analysis.scoring`, which writes
metrics.md): the tables of an evaluation's metrics.json and a forecast's forecast.json, as rows
(header, cells) that a markdown table, a W&B table or the HTML report shows alike.
"""

from __future__ import annotations

import math

# The two pixel selections and two operating points every evaluation scores, named as the tables show them.
VIEWS = {"all": "all pixels", "newly_burned": "newly burned"}
OPERATING_POINTS = {"pred_thresh": "pred_thresh", "val_best": "best F1 on val"}


def format_score(value, digits: int = 3) -> str:
    """A metric with `digits` decimals; "n/a" for a missing or non-finite one."""
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def summary_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """The main table: one row per model, pixel selection and operating point."""
    header = ["model", "pixels", "threshold", "precision", "recall", "F1", "IoU", "accuracy", "AP", "ECE"]
    rows = []
    for name, per_model in results["models"].items():
        for view, view_label in VIEWS.items():
            scores = per_model[view]
            for point, point_label in OPERATING_POINTS.items():
                at = scores["at"][point]
                rows.append([name, view_label, f"{format_score(at['threshold'], 2)} ({point_label})",
                             *(format_score(at[k]) for k in ("prec", "rec", "f1", "iou", "acc")),
                             format_score(scores["ap"]), format_score(scores["ece"])])
    return header, rows


def history_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """F1 (val-best threshold) and AP per history length T, all valid pixels."""
    names = list(results["models"])
    header = ["T", "samples", *(f"{n} F1" for n in names), *(f"{n} AP" for n in names)]
    rows = []
    for length, entry in results["by_history_length"].items():
        rows.append([length, str(entry["samples"]), *(format_score(entry[n]["at"]["val_best"]["f1"]) for n in names),
                     *(format_score(entry[n]["ap"]) for n in names)])
    return header, rows


def rollout_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """F1 over all pixels and over the newly burned ones (not burning at the forecast's origin) per lead time."""
    names = list(results["rollouts"]["models"])
    header = ["lead", "forecasts", *(f"{n} F1" for n in names), *(f"{n} newly burned F1" for n in names)]
    per_model = [results["rollouts"]["models"][n] for n in names]
    rows = []
    for entries in zip(*per_model, strict=True):
        rows.append([str(entries[0]["lead"]), str(entries[0]["forecasts"]),
                     *(format_score(e["all"]["f1"]) for e in entries),
                     *(format_score(e["newly_burned"]["f1"]) for e in entries)])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(results: dict) -> str:
    thresholds = ", ".join(f"{n} {format_score(m['val_best_threshold'], 3)}" for n, m in results["models"].items())
    return "\n".join([
        f"# {results['model']} (epoch {results['epoch']}) on the {results['split']} split",
        "",
        f"{results['samples']} samples from sequences {', '.join(map(str, results['sequences']))}; "
        f"checkpoint `{results['checkpoint']}`.",
        f"Thresholds: pred_thresh {results['pred_thresh']:g}; best F1 on val ({results['val_samples']} samples): "
        f"{thresholds}. AP and ECE don't depend on the threshold (PR grid of {results['pr_thresholds']}, "
        f"{results['ece_bins']} calibration bins). Padded pixels never count. \"newly burned\" scores only the "
        "pixels not burning in the last observed frame: a positive there is new fire, which persistence "
        "never predicts.",
        "",
        markdown_table(*summary_rows(results)),
        "",
        "## By history length T (all pixels, best-on-val threshold)",
        "",
        markdown_table(*history_rows(results)),
        "",
        *_rollout_section(results),
    ])


def _rollout_section(results: dict) -> list[str]:
    rollouts = results.get("rollouts")
    if not rollouts:
        return []
    return [f"## Rollouts: each model fed its own output ({rollouts['feedback']}), from every origin of the split "
            "(each frame but the last; WildfireSpreadTS: the days before its test targets)",
            "", markdown_table(*rollout_rows(results)), ""]


def score_table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    header = ["step", "frame", "F1", "IoU", "precision", "recall", "growth F1", "persistence F1"]
    rows = [[str(s["step"]), str(s["frame"]),
             *(("n/a" if s[key] is None else f"{s[key]:.3f}")
               for key in ("f1", "iou", "prec", "rec", "growth_f1", "persistence_f1"))] for s in report["scores"]]
    return header, rows
