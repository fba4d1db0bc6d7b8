"""Train: new variants (one, or a sweep over primes x seeds x data seeds) or extend one in place.

The form starts from the family's values; what differs becomes the variant's overrides (and
its id). The plan below the form lists every variant the sweep makes and what will happen to
it: trained, resumed (interrupted earlier), or refused (already trained: extend it instead).
The preview shows where checkpoints will fall, over the loss curve when the variant exists.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from workbench import jobs
from workbench.errors import BadInputError, UserError
from workbench.families import family_names, load_family, parse_value
from workbench.familyschema import (LR_SCHEDULES, MAX_CHECKPOINTS, MAX_EPOCHS, checkpoint_schedule, schedule_size,
                                    setting)
from workbench.pages._common import for_browser, message_figure
from workbench.pages._jobs import panel, start
from workbench.renderers.training import checkpoint_plan
from workbench.selection import as_int
from workbench.store import VariantRef

PATH, NAME = "/train", "Train"
MAX_SWEEP = 64  # variants one press of Start may queue; bigger sweeps go through the command line

FIELDS = [  # (id, label, section.key or None, input type, help)
    ("p", "primes p", "domain.p", "text", "one or several, e.g. 59 or 47, 59"),
    ("seed", "model seeds", "domain.seed", "text", "e.g. 1, 2, 3"),
    ("data_seed", "data seeds", "domain.data_seed", "text", "train/test split seeds"),
    ("train_fraction", "train fraction", "training.train_fraction", "number", "share of the p² pairs trained on"),
    ("weight_decay", "weight decay", "training.weight_decay", "number", "AdamW"),
    ("lr", "learning rate", "training.lr", "number", "peak"),
    ("warmup_epochs", "warm-up epochs", "training.warmup_epochs", "number", "linear warm-up, then the schedule"),
    ("epochs", "epochs", "training.epochs", "number", "full-batch steps"),
    ("eval_every", "test every (epochs)", "training.eval_every", "number", "test loss and accuracy every N epochs "
     "(and at checkpoints)"),
    ("every", "checkpoint every", "checkpoints.every", "text", "interval:until, e.g. 100:1500,500:25000"),
]
SCHEDULE_FIELDS = [("lr_final_fraction", "final lr / lr (cosine)", "number"),
                   ("lr_step_epochs", "step every (epochs)", "number"), ("lr_step_factor", "step factor", "number")]
LISTS = ("p", "seed", "data_seed")


def _field(fid: str, label: str, kind: str, help_text: str = "") -> dbc.Col:
    return dbc.Col(md=3, className="mb-2", children=[
        dbc.Label(label, html_for=f"train-{fid}", className="small mb-0"),
        dbc.Input(id=f"train-{fid}", type=kind, size="sm", debounce=True, step="any" if kind == "number" else None),
        html.Div(help_text, className="form-text mt-0")])


def layout(store, config, **_variables):
    names = family_names()
    variants = [str(r.ref) for r in store.listing() if r.checkpoints]
    new_form = html.Div(id="train-new-form", children=[
        dbc.Row([_field(fid, label, kind, help_text) for fid, label, _, kind, help_text in FIELDS]),
        dbc.Row([dbc.Col(md=3, className="mb-2", children=[
            dbc.Label("lr schedule", html_for="train-lr_schedule", className="small mb-0"),
            dcc.Dropdown(id="train-lr_schedule", options=list(LR_SCHEDULES), value="constant", clearable=False)]),
            *[_field(fid, label, kind) for fid, label, kind in SCHEDULE_FIELDS]])])
    extend_form = html.Div(id="train-extend-form", hidden=True, children=[dbc.Row([
        dbc.Col(md=6, children=[dbc.Label("variant to extend", html_for="extend-variant", className="small mb-0"),
                                dcc.Dropdown(id="extend-variant", options=variants, value=variants[0] if variants else None)]),
        _extend_field("epochs", "train on to epoch"),
        dbc.Col(md=12, className="small text-muted mb-1", children="…or add checkpoints in a window:"),
        _extend_field("window-start", "from epoch"), _extend_field("window-stop", "to epoch"),
        _extend_field("window-every", "every (epochs)")])])
    return html.Div([
        html.P("Train new variants of a family - several primes, seeds or data seeds make a sweep, one job per "
               "variant - or extend a trained one with more epochs or denser checkpoints.", className="text-muted"),
        dbc.Row(className="mb-2", children=[
            dbc.Col(md=4, children=[dbc.Label("family", html_for="train-family", className="small mb-0"),
                                    dcc.Dropdown(id="train-family", options=names, clearable=False,
                                                 value="modular_addition_demo" if "modular_addition_demo" in names
                                                 else (names[0] if names else None))]),
            dbc.Col(md=8, children=dbc.RadioItems(
                id="train-mode", inline=True, value="new", className="mt-4",
                options=[{"label": "new variants", "value": "new"}, {"label": "extend a variant", "value": "extend"}]))]),
        html.Div(id="train-family-description", className="small text-muted mb-2"),
        new_form, extend_form,
        html.Div(id="train-plan", className="mb-2"),
        dbc.Switch(id="train-follow", value=False, className="small",
                   label="analyze as it trains (each checkpoint as it lands; watch it live on the other pages)"),
        html.Div(className="mb-2", children=[dbc.Button("Start", id="train-start", color="primary", className="me-2"),
                                             html.Span(id="train-message", className="small")]),
        dcc.Graph(id="train-preview", config=config, figure=message_figure("the checkpoint plan shows here")),
        html.P(id="train-preview-caption", className="wb-caption"),
        panel(["train", "extend"], title="Training jobs")])


def _extend_field(fid: str, label: str) -> dbc.Col:
    return dbc.Col(md=3, className="mb-2", children=[
        dbc.Label(label, html_for=f"extend-{fid}", className="small mb-0"),
        dbc.Input(id=f"extend-{fid}", type="number", size="sm", min=0, step=1, debounce=True)])


def show_mode(mode):
    return mode != "new", mode != "extend"


def family_defaults(name):
    """The form starts from the family's values."""
    try:
        spec = load_family(name).spec
    except UserError as err:
        return [dash.no_update] * (len(FIELDS) + 1 + len(SCHEDULE_FIELDS)) + [str(err)]
    values = []
    for _, _, dotted, _, _ in FIELDS:
        section, key = dotted.split(".")
        value = setting(spec, section, key)
        values.append(",".join(f"{a}:{b}" for a, b in value) if key == "every" else value)
    schedule = [setting(spec, "training", fid) for fid, *_ in SCHEDULE_FIELDS]
    return values + [setting(spec, "training", "lr_schedule")] + schedule + [spec.get("description", "")]


def _numbers(text, name: str) -> list[int]:
    parts = [t for t in str(text if text is not None else "").replace(";", ",").replace(" ", ",").split(",") if t]
    try:
        return [int(t) for t in parts]
    except ValueError:
        raise BadInputError(f"{name}: expected whole numbers separated by spaces, got {text!r}") from None


def planned_variants(family: str, values: dict) -> list:
    """Every variant the form describes (the product of the listed primes, seeds and data seeds)."""
    fam = load_family(family)
    overrides = {}
    for fid, _, dotted, _, _ in FIELDS:
        if fid in LISTS or values.get(fid) in (None, ""):
            continue
        overrides[dotted] = parse_value(str(values[fid])) if fid == "every" else values[fid]
    schedule = values.get("lr_schedule") or "constant"
    overrides["training.lr_schedule"] = schedule
    used = {"cosine": ["lr_final_fraction"], "step": ["lr_step_epochs", "lr_step_factor"]}.get(schedule, [])
    for fid in used:
        if values.get(fid) not in (None, ""):
            overrides[f"training.{fid}"] = values[fid]
    lists = {fid: _numbers(values.get(fid), label) for fid, label, *_ in FIELDS if fid in LISTS}
    if max(1, len(lists["p"])) * max(1, len(lists["seed"])) * max(1, len(lists["data_seed"])) > MAX_SWEEP:
        raise BadInputError(f"a sweep of more than {MAX_SWEEP} variants: split it, or queue it from the command line")
    return fam.sweep(overrides, **lists)


def _plan_row(store, variant) -> tuple[html.Li, bool]:
    outcome = jobs.train_outcome(store, variant)
    note, ok = {"new": (f"new: {variant.epochs:,} epochs, {len(variant.checkpoint_schedule()):,} checkpoints", True),
                "busy": ("busy (being trained or analyzed now) - refused", False),
                "trained": ("already trained - refused (use 'extend a variant')", False),
                "resume": ("interrupted earlier - will resume from its last checkpoint", True)}[outcome]
    return html.Li([html.Code(str(variant.ref)), f"  {note}"], className="" if ok else "text-danger"), ok


def _form_values(args) -> dict:
    keys = [fid for fid, *_ in FIELDS] + ["lr_schedule"] + [fid for fid, *_ in SCHEDULE_FIELDS]
    return dict(zip(keys, args))


FORM_INPUTS = ([Input(f"train-{fid}", "value") for fid, *_ in FIELDS] + [Input("train-lr_schedule", "value")]
               + [Input(f"train-{fid}", "value") for fid, *_ in SCHEDULE_FIELDS])
EXTEND_INPUTS = [Input(f"extend-{fid}", "value") for fid in ("variant", "epochs", "window-start", "window-stop",
                                                             "window-every")]


def _whole(value) -> int | None:
    """A form's number as a whole number (None when empty); anything else is refused."""
    if value is None or value == "":
        return None
    number = as_int(value)
    if number is None:
        raise BadInputError(f"{str(value)[:20]!r} is not a whole number of epochs")
    return number


def _extension(ext) -> tuple[VariantRef, int | None, tuple[int, int, int] | None]:
    variant, epochs, start_, stop, every = ext
    if not isinstance(variant, str) or "/" not in variant:
        raise BadInputError("pick a variant to extend")
    epochs, start_, stop, every = (_whole(v) for v in (epochs, start_, stop, every))
    window = (start_, stop, every) if None not in (start_, stop, every) else None
    if (epochs is None) == (window is None):
        raise BadInputError("give either 'train on to epoch', or a window (from, to, every)")
    if window and not (0 <= window[0] <= window[1] <= MAX_EPOCHS and window[2] > 0
                       and (window[1] - window[0]) // window[2] < MAX_CHECKPOINTS):
        raise BadInputError(f"a window is from <= to (epochs) every > 0 epochs, at most {MAX_CHECKPOINTS:,} "
                            "checkpoints")
    if epochs is not None and not 0 < int(epochs) <= MAX_EPOCHS:
        raise BadInputError(f"train on to an epoch between 1 and {MAX_EPOCHS:,}")
    return VariantRef.parse(variant), (int(epochs) if epochs is not None else None), window


def plan(store, family, mode, *args):
    form, ext = _form_values(args[: len(FORM_INPUTS)]), args[len(FORM_INPUTS):]
    try:
        if mode == "extend":
            ref, epochs, window = _extension(ext)
            info = store.info(ref)
            spec, existing = info["spec"], store.checkpoint_epochs(ref)
            if epochs is not None:
                if schedule_size(spec["checkpoints"], epochs) > MAX_CHECKPOINTS:
                    raise BadInputError(f"{epochs:,} epochs would make more than {MAX_CHECKPOINTS:,} checkpoints")
                planned = checkpoint_schedule(spec["checkpoints"], epochs)
                note = f"train {ref} on from epoch {spec['training']['epochs']:,} to {epochs:,}"
            else:
                planned = sorted({*range(window[0], window[1] + 1, window[2]), window[1]})
                note = f"add checkpoints to {ref} every {window[2]} epochs in {window[0]:,}-{window[1]:,}"
            figure = checkpoint_plan([*existing, *planned], existing, _history(store, ref))
            return html.P(note), for_browser(figure), figure.layout.meta["caption"], False
        variants = planned_variants(family, form)
    except (UserError, ValueError) as err:  # ValueError: a forged, non-numeric form value
        return html.P(str(err), className="text-danger"), message_figure("fix the form to see the plan"), "", True
    rows = [_plan_row(store, v) for v in variants]
    first = variants[0]
    figure = checkpoint_plan(first.checkpoint_schedule(), store.checkpoint_epochs(first.ref),
                             _history(store, first.ref))
    plan_list = html.Div([html.Div(f"{len(variants)} variant(s):", className="small"),
                          html.Ul([row for row, _ in rows], className="small mb-1")])
    return plan_list, for_browser(figure), figure.layout.meta["caption"], not any(ok for _, ok in rows)


def _history(store, ref: VariantRef) -> dict | None:
    try:
        return store.cached_history(ref) or None
    except UserError:
        return None


def start_jobs(store, n_clicks, family, mode, *args, follow=False):
    """Submit the planned jobs (with `follow`, beside each an analysis that follows its run)."""
    if not n_clicks:
        return dash.no_update, dash.no_update, dash.no_update
    form, ext = _form_values(args[: len(FORM_INPUTS)]), args[len(FORM_INPUTS):]
    submitted, refused = [], []
    try:
        if mode == "extend":
            ref, epochs, window = _extension(ext)
            submitted.append(jobs.submit_extend(store, ref, epochs, window))
        else:
            for variant in planned_variants(family, form):
                try:
                    submitted.append(jobs.submit_train(store, variant))
                except UserError as err:
                    refused.append(str(err))
        if follow is True:
            submitted += [jobs.submit_analyze(store, VariantRef.parse(job["target"]), follow=True) for job in submitted]
    except (UserError, ValueError) as err:  # ValueError: a forged, non-numeric form value
        return dash.no_update, html.Span(str(err), className="text-danger"), dash.no_update
    message = f"started {len(submitted)} job(s)" + (f"; refused {len(refused)}: {' '.join(refused)}" if refused else "")
    return start(submitted), message, None


def register(app, store) -> None:
    app.callback(Output("train-new-form", "hidden"), Output("train-extend-form", "hidden"),
                 Input("train-mode", "value"))(show_mode)
    app.callback([Output(f"train-{fid}", "value") for fid, *_ in FIELDS]
                 + [Output("train-lr_schedule", "value")]
                 + [Output(f"train-{fid}", "value") for fid, *_ in SCHEDULE_FIELDS]
                 + [Output("train-family-description", "children")], Input("train-family", "value"))(family_defaults)
    app.callback(Output("train-plan", "children"), Output("train-preview", "figure"),
                 Output("train-preview-caption", "children"), Output("train-start", "disabled"),
                 Input("train-family", "value"), Input("train-mode", "value"), *FORM_INPUTS, *EXTEND_INPUTS,
                 )(lambda *args: plan(store, *args))
    app.callback(Output("job-runners", "children", allow_duplicate=True), Output("train-message", "children"),
                 Output("jobs-digest", "data", allow_duplicate=True),
                 Input("train-start", "n_clicks"), State("train-family", "value"), State("train-mode", "value"),
                 *[State(i.component_id, i.component_property) for i in FORM_INPUTS + EXTEND_INPUTS],
                 State("train-follow", "value"),
                 prevent_initial_call=True)(lambda *args: start_jobs(store, *args[:-1], follow=args[-1]))
