// Figures marked data-wb-lazy (heavy ones, usually below the fold) tell the app whether they are on
// screen, in the store {"type": "wb-visible", "name": ...} beside them: an epoch step updates such a
// figure only while it can be seen, and it catches up when it scrolls into view
// (workbench.pages._common, FigureSpec.lazy).
(function () {
    if (!("IntersectionObserver" in window)) { return; }  // then the stores stay true: always updated
    const state = new WeakMap();
    const observer = new IntersectionObserver(function (entries) {
        const clientside = window.dash_clientside;
        for (const entry of entries) {
            const el = entry.target;
            if (!document.contains(el)) { observer.unobserve(el); continue; }
            if (state.get(el) === entry.isIntersecting || !(clientside && clientside.set_props)) { continue; }
            state.set(el, entry.isIntersecting);
            clientside.set_props({type: "wb-visible", name: el.dataset.wbLazy}, {data: entry.isIntersecting});
        }
    }, {rootMargin: "100px 0px"});
    const scan = function () {
        document.querySelectorAll("[data-wb-lazy]").forEach(function (el) {
            if (!state.has(el)) { state.set(el, true); observer.observe(el); }
        });
    };
    new MutationObserver(scan).observe(document.documentElement, {childList: true, subtree: true});
})();
