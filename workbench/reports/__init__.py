"""Report renderers: a TeamReport (workbench.core.team) as HTML or Markdown through jinja2
templates, or as JSON (the model itself). Import this package only when rendering: it pulls in
jinja2."""

from .render import FORMATS, render_report

__all__ = ["FORMATS", "render_report"]
