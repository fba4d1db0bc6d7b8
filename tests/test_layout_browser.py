"""In headless Chromium at 1600x1000 and 1280x800: no figure's text runs into other text (titles,
legends, axis titles, annotations, tick labels of one axis) and no page scrolls sideways."""
from __future__ import annotations

import pytest

from browser import draw_every_figure, switch_page
from test_app_browser import open_page

pytestmark = pytest.mark.browser
SIZES = ((1600, 1000), (1280, 800))
PAGES = ("/", "/fourier", "/neurons", "/attention", "/trajectories", "/dimensionality", "/progress", "/inputs",
         "/dynamics", "/compare")

# Every pair of text boxes in one figure that overlap by more than 2 px each way: title, legend
# entries, axis titles and annotations against each other, and tick labels of one axis among
# themselves. Returns ["figure: 'a' over 'b'", ...].
OVERLAPS = """
const found = [];
document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    const name = (gd.closest('[id]') || gd).id;
    const boxes = [];
    const add = (selector, kind) => gd.querySelectorAll(selector).forEach(e => {
        const r = e.getBoundingClientRect(), text = (e.textContent || '').trim();
        if (r.width > 0 && r.height > 0 && text) { boxes.push({kind: kind(e), text: text.slice(0, 40), r}); }
    });
    add('text[class$="title"]', () => 'label');
    add('.legend .legendtext', () => 'label');
    add('.annotation-text', () => 'label');
    add('.xtick text, .ytick text, [class*="x"][class$="tick"] text, [class*="y"][class$="tick"] text',
        e => 'tick ' + e.parentNode.getAttribute('class'));
    for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i], b = boxes[j];
            if (a.kind !== 'label' && a.kind !== b.kind) { continue; }   // ticks: only within one axis
            if (a.kind !== 'label' && b.kind === 'label') { continue; }
            const dx = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
            const dy = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
            if (dx > 2 && dy > 2) { found.push(name + ": '" + a.text + "' over '" + b.text + "'"); }
        }
    }
});
return found;
"""


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_text_overlaps_and_no_page_scrolls_sideways(served_app, browser, size):
    app, store, ref = served_app
    browser.set_window_size(*size)
    problems = []
    try:
        open_page(browser, app.url, PAGES[0], variant=str(ref))
        for path in PAGES:
            switch_page(browser, path)  # as a user goes from page to page (a reload each: 20 s more)
            draw_every_figure(browser)
            problems += [f"{path} {overlap}" for overlap in browser.execute_script(OVERLAPS)]
            overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
            if overflow > 1:
                problems.append(f"{path} is {overflow} px wider than the window")
    finally:
        browser.set_window_size(1400, 1000)
    assert not problems, "\n".join(problems)
