"""The click contract in headless Chromium, figure by figure: on every page that shows figures, a
real mouse click on one data point of each drawn figure selects exactly what the figure declares
(`layout.meta["click"]`, `renderers.cursor.CLICK_KINDS`) - the URL key of that kind becomes the
point's id (an epoch snapped to its checkpoint) and no other key moves - and a click on a figure
that declares no click changes nothing. (test_click_contract.py checks the catalog statically.)"""
from __future__ import annotations

from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from browser import draw_every_figure, install_timing, switch_page
from test_app_browser import query, wait_for
from workbench.pages._shell import selection_epochs, variant_facts
from workbench.selection import snap

pytestmark = pytest.mark.browser

# Every page that shows figures, by path (the sidebar's order); Compare also once per click kind
# its side-by-side figure can declare, walking that figure only.
PAGES = ["/", "/fourier", "/neurons", "/attention", "/trajectories", "/dimensionality", "/progress", "/dynamics",
         "/inputs", "/compare"]
COMPARE_SIDES = {"frequency": "embedding_fourier_norms", "neuron": "neuron_clusters", "input": "neuron_heatmap",
                 "head": "attention_patterns", None: "singular_values"}
# Figures that stand in for data the tiny analyzed run does not have: a message, no point to click.
PLACEHOLDERS = {"progress-llc", "progress-llc-chains",  # LLC is an optional analysis, not run
                "compare-llc",
                "dynamics-gates", "dynamics-compare"}  # no gates typed, no run compared
GRAPHS = "div[id*='\"type\":\"wb-graph\"']"

# The graphs on the page (in page order) that are shown and drawn: name, the click their id carries,
# the click their figure declares, and whether the figure is a message (no data). null until every
# shown graph has its figure (not the "loading…" stand-in).
DRAWN_JS = r"""
const graphs = Array.from(document.querySelectorAll(arguments[0])).filter(div => div.offsetParent !== null);
const out = [];
for (const div of graphs) {
    const gd = div.querySelector('.js-plotly-plot'), id = JSON.parse(div.id);
    const meta = gd && gd.layout && gd.layout.meta;
    if (!meta || !gd._fullData) { return null; }
    const loading = (gd.layout.annotations || []).some(a => a.text === 'loading…');
    if (loading || !('click' in meta || meta.missing)) { return null; }
    out.push({name: id.name, id_click: id.click, click: 'click' in meta ? meta.click : 'missing',
              missing: !!meta.missing, traces: gd._fullData.length});
}
return out.length ? out : null;
"""

# Points one could click on graph `name`: {curve, point, id, x, subplot, ...}, a few per trace
# spread over it (a heatmap's cells by [row, column]); the id is the point's customdata (null
# where it has none: an epoch figure's click then reads the point's x, `cursor.clicked`).
POINTS_JS = r"""
const div = document.querySelector(arguments[0]), gd = div.querySelector('.js-plotly-plot');
const out = [], spread = function (n) {
    const picks = [];
    for (let k = 0; k < 8 && n; k++) { picks.push(Math.floor((k + 0.5) * n / 8)); }
    return Array.from(new Set(picks));
};
const id = function (custom) { return custom === undefined || custom === null ? null : Number(custom); };
gd._fullData.forEach(function (t, curve) {
    if (t.visible !== true || t.hoverinfo === 'skip' || t.hovertemplate === '<extra></extra>') { return; }
    const custom = t.customdata ? Array.from(t.customdata) : null;
    if (t.type === 'heatmap') {
        const z = t.z || [];
        for (const r of spread(z.length)) {
            for (const c of spread((z[r] || []).length).slice(0, 3)) {
                if (z[r][c] === null || Number.isNaN(z[r][c])) { continue; }
                out.push({curve: curve, point: [r, c], id: custom ? id(Array.from(custom[r] || [])[c]) : null,
                          x: t.x ? Number(t.x[c]) : c, subplot: t.xaxis + t.yaxis});
            }
        }
    } else if (t.type === 'scatter3d') {
        for (const i of spread((t.x || []).length)) {
            out.push({curve: curve, point: i, id: custom ? id(custom[i]) : null, three_d: true});
        }
    } else if (t.type === 'scattergl') {  // drawn in WebGL: no per-point calcdata
        for (const i of spread((t.x || []).length)) {
            out.push({curve: curve, point: i, id: custom ? id(custom[i]) : null, x: Number(t.x[i]),
                      subplot: t.xaxis + t.yaxis, gl: true});
        }
    } else if (t.type === 'table') {
        out.push({curve: curve, point: 0, id: null, table: true});
    } else {
        const n = (gd.calcdata[curve] || []).length;
        for (const i of spread(n)) {
            const pt = gd.calcdata[curve][i];
            if (!pt || pt.y === undefined && pt.s === undefined) { continue; }
            out.push({curve: curve, point: i, id: custom ? id(custom[i]) : null, x: Number(pt.x),
                      subplot: t.xaxis + t.yaxis});
        }
    }
});
return out;
"""

# The viewport pixel of one point, from its own axes (subplots, log and category axes alike: the
# axis converts): a marker, a bar's middle, a heatmap cell's centre; a 3-D point projected with
# its scene's camera; a table's middle. null when it is not on screen. Also starts listening to the
# graph's hover events.
AIM_JS = r"""
const div = document.querySelector(arguments[0]), gd = div.querySelector('.js-plotly-plot'), p = arguments[1];
if (!gd.__walk) {
    gd.__walk = {hover: []};
    const points = e => (e.points || []).map(q => ({curve: q.curveNumber, point: q.pointNumber, x: q.x,
                                                   id: q.customdata === undefined ? null : q.customdata}));
    gd.on('plotly_hover', function (e) { gd.__walk.hover = points(e); });
    gd.on('plotly_unhover', function () { gd.__walk.hover = []; });
}
const box = gd.getBoundingClientRect(), t = gd._fullData[p.curve];
let x, y;
if (p.table) {
    [x, y] = [box.left + box.width / 2, box.top + box.height / 2];
} else if (p.three_d) {
    const scene = gd._fullLayout[t.scene]._scene, cam = scene.glplot.cameraParams, s = scene.dataScale;
    let v = [t.x[p.point] * s[0], t.y[p.point] * s[1], t.z[p.point] * s[2], 1];
    for (const m of [cam.model, cam.view, cam.projection]) {  // column-major 4x4
        v = [0, 1, 2, 3].map(r => m[r] * v[0] + m[4 + r] * v[1] + m[8 + r] * v[2] + m[12 + r] * v[3]);
    }
    const rect = scene.container.getBoundingClientRect();
    [x, y] = [rect.left + rect.width * (1 + v[0] / v[3]) / 2, rect.top + rect.height * (1 - v[1] / v[3]) / 2];
} else {
    const axis = id => gd._fullLayout[id.charAt(0) + 'axis' + id.slice(1)];
    const xa = axis(t.xaxis), ya = axis(t.yaxis);
    let px, py;
    if (t.type === 'heatmap') {
        const cd = gd.calcdata[p.curve][0], [r, c] = p.point;
        const mid = (edges, i, n) => edges.length > n ? (edges[i] + edges[i + 1]) / 2 : edges[i];
        [px, py] = [xa.c2p(mid(cd.x, c, t.z[r].length)), ya.c2p(mid(cd.y, r, t.z.length))];
    } else if (p.gl) {
        [px, py] = [xa.d2p(t.x[p.point]), ya.d2p(t.y[p.point])];
    } else {
        const pt = gd.calcdata[p.curve][p.point];
        if (t.type === 'bar') {
            const [pos, size] = t.orientation === 'h' ? [ya, xa] : [xa, ya];
            const along = (pos.c2p(pt.p0) + pos.c2p(pt.p1)) / 2, across = (size.c2p(pt.s0) + size.c2p(pt.s1)) / 2;
            [px, py] = t.orientation === 'h' ? [across, along] : [along, across];
        } else {
            [px, py] = [xa.c2p(pt.x), ya.c2p(pt.y)];
        }
    }
    [x, y] = [box.left + xa._offset + px, box.top + ya._offset + py];
}
const inside = x >= 1 && y >= 1 && x < window.innerWidth - 1 && y < window.innerHeight - 1;
return Number.isFinite(x) && Number.isFinite(y) && inside ? [x, y] : null;
"""

MOVE_MS = 100  # a mouse move's duration (selenium's 250 ms default made each aim take 0.5 s; 10 ms missed clicks)
QUIET_JS = "const t = window.__wb; return t.inflight === 0 && performance.now() - t.last > 300;"


def selector(name: str) -> str:
    return f"div[id*='\"name\":\"{name}\"']"


def point_id(kind: str | None, point: dict):
    """A point's id as a click reads it: its customdata, or for an epoch figure its x."""
    return point.get("x") if point["id"] is None and kind == "epoch" else point["id"]


def expected_value(kind: str | None, point: dict, facts: dict) -> str | None:
    """What the URL says of `kind` once `point` is clicked (None: it carries no valid id)."""
    ident = point_id(kind, point)
    if isinstance(ident, list):
        ident = ident[0] if ident else None
    if ident is None:
        return None
    value = int(round(float(ident)))
    n_heads, d_mlp, p = facts["n_heads"], facts["d_mlp"], facts["p"]
    if kind == "epoch":
        return str(snap(value, facts["epochs"]))
    valid = {"frequency": 1 <= value <= (p - 1) // 2, "neuron": 0 <= value < d_mlp, "head": 0 <= value < n_heads,
             "input": 0 <= value < p * p}
    return str(value) if valid.get(kind) else None


def point_under_mouse(driver, name: str, point: dict) -> dict | None:
    """Move the real mouse onto the point (leaving the plot first: a move to where the mouse is
    fires no hover) and return the point of that trace Plotly then hovers (on a dense line, maybe
    a neighbour), {curve, point, x, id}; None when the mouse is not on that trace."""
    xy = driver.execute_script(AIM_JS, selector(name), point)
    if xy is None:
        return None
    actions = ActionChains(driver, duration=MOVE_MS)
    actions.w3c_actions.pointer_action.move_to_location(1, 1)
    actions.w3c_actions.pointer_action.move_to_location(round(xy[0]), round(xy[1]))
    actions.perform()
    if point.get("table"):
        return {"curve": point["curve"], "point": None, "id": None}
    hovered = driver.execute_script("return document.querySelector(arguments[0])"
                                    ".querySelector('.js-plotly-plot').__walk.hover;", selector(name))
    return next((h for h in hovered if h["curve"] == point["curve"]), None)


def hover_a_new_point(driver, name: str, kind: str | None, points: list[dict], before: dict, facts: dict):
    """The mouse on a point whose click should select something other than now (any point for a
    figure that selects nothing): (the point, the value its click selects), else None."""
    for point in points:
        if kind is not None and expected_value(kind, point, facts) in (None, before.get(kind)):
            continue
        hovered = point_under_mouse(driver, name, point)
        if hovered is None:
            continue
        if kind is None:
            return point, None
        value = expected_value(kind, hovered, facts)
        if value not in (None, before.get(kind)):
            return point, value
    return None


def click_one_point(driver, name: str, kind: str | None, before: dict, facts: dict) -> dict:
    """Click one data point of graph `name` with the mouse; returns the selection change it should make."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});",
                          driver.find_element(By.CSS_SELECTOR, selector(name)))
    wait_for(driver, lambda d: d.execute_script(QUIET_JS), f"the page did not settle before clicking {name}")
    points = driver.execute_script(POINTS_JS, selector(name))
    assert points, f"{name}: a drawn figure without a point to click"
    if kind is not None:
        assert any(expected_value(kind, p, facts) not in (None, before.get(kind)) for p in points), \
            f"{name}: no point carries a {kind} id other than the selected one ({before.get(kind)}): {points[:6]}"
    point, value = wait_for(driver, lambda d: hover_a_new_point(d, name, kind, points, before, facts),
                            f"{name}: the mouse hovers none of its points {points[:6]}")
    if point.get("three_d"):
        # A 3-D scene reads the mouse buttons once per frame it draws: hold the button over one.
        ActionChains(driver).click_and_hold().pause(0.3).release().perform()
    else:
        ActionChains(driver).click().perform()
    return {} if kind is None else {kind: value}


def facts_of(store, ref) -> dict:
    n_heads, d_mlp, p, _probes = variant_facts(store, str(ref))
    return {"n_heads": n_heads, "d_mlp": d_mlp, "p": p, "epochs": selection_epochs(store, str(ref))}


@pytest.fixture(scope="module")
def walker(served_app, browser):
    install_timing(browser)
    return served_app, browser


def open_drawn(driver, url: str, switch: bool = False) -> list[dict]:
    """The page at `url` with every figure drawn; with `switch`, when the browser shows this app
    already, reached by its sidebar link (the selection the last page's clicks left stays)."""
    if switch and urlparse(driver.current_url).netloc == urlparse(url).netloc:
        switch_page(driver, urlparse(url).path)
    else:
        driver.get(url)
    draw_every_figure(driver)  # lazy ones are drawn once seen
    return wait_for(driver, lambda d: d.execute_script(DRAWN_JS, GRAPHS), f"the figures of {url} were not drawn")


def on_graph(driver, name: str, body: str):
    """Run JS `body` with `gd`, the plotly div of graph `name`."""
    return driver.execute_script(f"const gd = document.querySelector(arguments[0]).querySelector('.js-plotly-plot');"
                                 f"{body}", selector(name))


def check_click(driver, graph: dict, facts: dict) -> None:
    """Click one point of `graph` and check the URL: the declared key becomes the point's id and
    nothing else moves; for a figure that selects nothing, nothing moves once the app answered."""
    name, kind = graph["name"], graph["click"]
    assert graph["id_click"] == (kind or "none"), f"{name}: its graph id says {graph['id_click']}, the figure {kind}"
    before = query(driver)
    start = driver.execute_script("return performance.now();")
    change = click_one_point(driver, name, kind, before, facts)
    if kind is not None:
        wait_for(driver, lambda d: query(d).get(kind) == change[kind],
                 f"{name}: clicking a point with {kind} {change[kind]} did not select it (URL {query(driver)})")
    elif on_graph(driver, name, "return gd._fullData[0].type;") != "table":  # a table reports no clicks at all
        # The click reached the app once the selection callback (its input: every graph's clickData)
        # answered; the graph may have been drawn anew meanwhile, so this is asked of the app.
        wait_for(driver, lambda d: d.execute_script(
            "const t = window.__wb; return t.inflight === 0 && t.answers.some("
            "a => a.at > arguments[0] && a.output.includes('selection.data'));", start),
            f"{name}: the app did not answer the click")
    after = query(driver)
    assert after == {**before, **change}, f"{name} ({kind}): the click changed {before} into {after}"


def walk(driver, url: str, facts: dict, only: set[str] | None = None, switch: bool = False) -> list[str]:
    """Click every drawn figure of the page at `url` once (or those named in `only`); returns their names."""
    walked = []
    for graph in open_drawn(driver, url, switch):
        if only is not None and graph["name"] not in only:
            continue
        if graph["missing"]:
            assert graph["name"] in PLACEHOLDERS, f"{graph['name']} shows a message instead of its figure"
            continue
        check_click(driver, graph, facts)
        walked.append(graph["name"])
    return walked


@pytest.mark.parametrize("path", PAGES)
def test_every_figure_of_the_page_selects_what_it_declares_when_clicked(walker, path):
    (app, store, ref), driver = walker
    facts = facts_of(store, ref)
    url = f"{app.url}{path}?variant={ref}&epoch={facts['epochs'][len(facts['epochs']) // 2]}&neuron=0&head=0"
    walked = walk(driver, url, facts, switch=True)
    assert walked, f"{path}: no figure was clicked"
    print(f"{path}: {len(walked)} figures clicked: {', '.join(walked)}")


@pytest.mark.parametrize("kind", list(COMPARE_SIDES), ids=lambda k: k or "none")
def test_compare_side_by_side_selects_what_its_figure_declares(walker, kind):
    (app, store, ref), driver = walker
    facts = facts_of(store, ref)
    url = f"{app.url}/compare?variant={ref}&epoch=250&neuron=0&head=0&side={COMPARE_SIDES[kind]}"
    walked = walk(driver, url, facts, only={"compare-side-0"})
    assert walked == ["compare-side-0"]



def test_the_walk_covers_every_page_that_shows_figures():
    from workbench import app as app_module
    from workbench.pages import compare
    from workbench.pages._common import FigurePage
    shown = {page.PATH for page in app_module.PAGES if isinstance(getattr(page, "FIGURES", None), FigurePage)}
    assert shown | {compare.PATH} == set(PAGES)
