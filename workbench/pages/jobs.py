"""Jobs: every training, extension and analysis started from the app or queued from the CLI."""
from __future__ import annotations

from dash import html

from workbench.pages._jobs import panel

PATH, NAME = "/jobs", "Jobs"


def layout(store, config, **_variables):
    return html.Div([
        html.P("Every job started here or queued with `--queue`, newest first. Progress is stored with the data, "
               "so it survives restarting the app. Cancel stops a job between two checkpoints (the variant stays "
               "resumable); Resume continues a cancelled or failed job where it stopped.", className="text-muted"),
        panel(None, title="All jobs")])


def register(app, store) -> None:
    """Nothing of its own: the job panel's callbacks are the shell's (`workbench.pages._jobs.register`)."""
