/* Summary figures' epoch cursors move here, in the browser: an epoch step sends no request for
   them (workbench/pages/_common.py, FigurePage.register). A summary is drawn by the server for
   its page key - the selection without the epoch - and only a new key asks the server again. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    workbench: {
        pageKey: function (selection) {
            const s = selection || {};
            return JSON.stringify(Object.keys(s).filter(function (k) { return k !== "epoch"; }).sort()
                .map(function (k) { return [k, s[k]]; }));
        },
        // The page key store: a new value only when something but the epoch changed.
        newPageKey: function (selection, before) {
            const key = window.dash_clientside.workbench.pageKey(selection);
            return key === before ? window.dash_clientside.no_update : key;
        },
        // A summary drawn for this page key: its cursors to the selected epoch, when the selection
        // moves and when the server's drawing lands (a step taken while it was drawn is not lost).
        moveCursor: function (selection, rendered, figure) {
            const none = window.dash_clientside.no_update;
            const epoch = selection ? selection.epoch : null;
            const n = rendered ? rendered.cursors || 0 : 0;
            const shapes = figure && figure.layout && figure.layout.shapes;
            if (!n || epoch === null || epoch === undefined || !shapes || shapes.length < n ||
                rendered.page_key !== window.dash_clientside.workbench.pageKey(selection)) {
                return none;
            }
            const patch = new window.dash_clientside.Patch();
            let moved = false;
            for (let i = 0; i < n; i++) {
                if (shapes[i].x0 !== epoch || shapes[i].x1 !== epoch) {
                    patch.assign(["layout", "shapes", i, "x0"], epoch).assign(["layout", "shapes", i, "x1"], epoch);
                    moved = true;
                }
            }
            return moved ? patch.build() : none;
        }
    }
});
