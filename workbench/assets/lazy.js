// Figures marked data-wb-lazy (heavy ones, usually below the fold) tell the app whether they are on
// screen, in the store {"type": "wb-visible", "name": ...} beside them: such a figure is drawn only
// once it can be seen, an epoch step updates it only while it can be seen, and it catches up when
// it scrolls into view (workbench.pages._common, FigureSpec.lazy; Compare's sections). The store
// is None until the first look, which waits until every shown graph has drawn its placeholder:
// before that the page is short and everything seems to be on screen.
(function () {
    const MARGIN = 100;  // px beyond the window that count as on screen (as assets/cursor.js)
    const reported = new WeakMap();  // element -> what its store says
    const placed = function () {
        const graphs = Array.from(document.querySelectorAll(".dash-graph")).filter(g => g.offsetParent !== null);
        return graphs.length > 0 && graphs.every(function (g) {
            const plot = g.querySelector(".js-plotly-plot");
            return plot && plot._fullLayout;
        });
    };
    // Where the element is now (the observer's entries can lag behind a page that just grew).
    const onScreen = function (el) {
        if (!("IntersectionObserver" in window)) { return true; }  // cannot follow scrolling: always drawn
        const box = el.getBoundingClientRect();
        return el.getClientRects().length > 0 && box.bottom > -MARGIN && box.top < window.innerHeight + MARGIN;
    };
    const report = function (el) {
        const clientside = window.dash_clientside, visible = onScreen(el);
        if (reported.get(el) === visible || !(clientside && clientside.set_props)) { return; }
        if (!reported.has(el) && !placed()) { return; }
        reported.set(el, visible);
        clientside.set_props({type: "wb-visible", name: el.dataset.wbLazy}, {data: visible});
    };
    const observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
        for (const entry of entries) {
            if (!document.contains(entry.target)) { observer.unobserve(entry.target); continue; }
            report(entry.target);
        }
    }, {rootMargin: MARGIN + "px 0px"}) : null;
    const watched = new WeakSet();
    new MutationObserver(function () {
        document.querySelectorAll("[data-wb-lazy]").forEach(function (el) {
            if (!watched.has(el)) {
                watched.add(el);
                if (observer) { observer.observe(el); }
            }
            report(el);
        });
    }).observe(document.documentElement, {childList: true, subtree: true});
})();
