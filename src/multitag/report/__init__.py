"""Reports: a saved model evaluated on labelled data, as PNG plots, Markdown and HTML.

    from multitag.report import build_report
    result = build_report(ModelBundle.load("model"), multitag.data.load("test.arff"), "out")

matplotlib (the `plots` extra) is imported only when a figure is drawn.
"""

from __future__ import annotations

from multitag.report.build import FIGURES, HTML, MARKDOWN, ReportResult, build_report

__all__ = ["FIGURES", "HTML", "MARKDOWN", "ReportResult", "build_report"]
