// Figures marked data-wb-lazy (heavy ones, usually below the fold) tell the app whether they are on
// screen, in the store {"type": "wb-visible", "name": ...} beside them: an epoch step updates such a
// figure only while it can be seen, and it catches up when it scrolls into view
// (workbench.pages._common, FigureSpec.lazy). The first figure is drawn wherever it is: "off screen"
// is reported only once the figure has traces, so that report cannot race its first drawing.
(function () {
    if (!("IntersectionObserver" in window)) { return; }  // then the stores stay true: always updated
    const info = new WeakMap();  // element -> {visible: from the observer, reported: what the store says}
    const report = function (el) {
        const state = info.get(el), clientside = window.dash_clientside;
        const plot = el.querySelector(".js-plotly-plot");
        if (!state || state.visible === undefined || state.visible === state.reported) { return; }
        if (!(plot && plot.data && plot.data.length) || !(clientside && clientside.set_props)) { return; }
        state.reported = state.visible;
        clientside.set_props({type: "wb-visible", name: el.dataset.wbLazy}, {data: state.visible});
    };
    const observer = new IntersectionObserver(function (entries) {
        for (const entry of entries) {
            if (!document.contains(entry.target)) { observer.unobserve(entry.target); continue; }
            info.get(entry.target).visible = entry.isIntersecting;
            report(entry.target);
        }
    }, {rootMargin: "100px 0px"});
    new MutationObserver(function () {
        document.querySelectorAll("[data-wb-lazy]").forEach(function (el) {
            if (!info.has(el)) { info.set(el, {visible: undefined, reported: true}); observer.observe(el); }
            report(el);
        });
    }).observe(document.documentElement, {childList: true, subtree: true});
})();
