"""Jobs: every training, extension and analysis started from the app or queued from the CLI."""
from __future__ import annotations

import dash
from dash import html

from workbench.pages._jobs import panel

dash.register_page(__name__, path="/jobs", name="Jobs", order=12)


def layout(**_query):
    return html.Div([
        html.P("Every job started here or queued with `--queue`, newest first. Progress is stored with the data, "
               "so it survives restarting the app. Cancel stops a job between two checkpoints (the variant stays "
               "resumable); Resume continues a cancelled or failed job where it stopped.", className="text-muted"),
        panel(None, title="All jobs")])
