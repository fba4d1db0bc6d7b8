/* Epoch cursors move here, in the browser: an epoch step sends no request for the figures that
   show one (summaries of a FigurePage, workbench/pages/_common.py; Compare's overlays, side by
   side and shared trajectory, workbench/pages/compare.py). Such a figure is drawn by the server
   for its page key - the selection without the epoch - and only a new key asks the server again.
   What the server drew is described in a store beside the figure ("rendered"): {page_key,
   cursors: how many cursor shapes lead layout.shapes, offsets: per cursor, its epoch minus the
   selected one's (runs aligned on their own onsets), rings: markers that ring the checkpoint
   nearest the epoch on a path ([{trace, epochs, x, y}]), title: [before, after] the epoch}. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    workbench: {
        pageKey: function (selection) {
            const s = selection || {};
            return JSON.stringify(Object.keys(s).filter(function (k) { return k !== "epoch"; }).sort()
                .map(function (k) { return [k, s[k]]; }));
        },
        // The page key store: a new value only when something but the epoch changed (or the epoch
        // too, while what is drawn follows it: `rendered.per_epoch`).
        newPageKey: function (selection, before, rendered) {
            let key = window.dash_clientside.workbench.pageKey(selection);
            if (rendered && rendered.per_epoch) { key += "@" + (selection || {}).epoch; }
            return key === before ? window.dash_clientside.no_update : key;
        },
        // The checkpoint of `epochs` (sorted) nearest `epoch`, ties to the earlier (`selection.snap`).
        nearest: function (epochs, epoch) {
            let best = 0;
            for (let i = 1; i < epochs.length; i++) {
                if (Math.abs(epochs[i] - epoch) < Math.abs(epochs[best] - epoch)) { best = i; }
            }
            return best;
        },
        // A figure drawn for this page key: its cursors (and rings, and title) to the selected
        // epoch, when the selection moves and when the server's drawing lands (a step taken while
        // it was drawn is not lost).
        moveCursor: function (selection, rendered, figure) {
            const wb = window.dash_clientside.workbench, none = window.dash_clientside.no_update;
            const epoch = selection ? selection.epoch : null;
            const n = rendered ? rendered.cursors || 0 : 0, rings = rendered ? rendered.rings || [] : [];
            const shapes = (figure && figure.layout && figure.layout.shapes) || [];
            if ((!n && !rings.length) || epoch === null || epoch === undefined || !figure || shapes.length < n ||
                rendered.page_key !== wb.pageKey(selection)) {
                return none;
            }
            const patch = new window.dash_clientside.Patch(), offsets = rendered.offsets || [];
            let moved = false;
            for (let i = 0; i < n; i++) {
                const x = epoch - (offsets[i] || 0);
                if (shapes[i].x0 !== x || shapes[i].x1 !== x) {
                    patch.assign(["layout", "shapes", i, "x0"], x).assign(["layout", "shapes", i, "x1"], x);
                    moved = true;
                }
            }
            for (const ring of rings) {
                const i = wb.nearest(ring.epochs, epoch), trace = figure.data[ring.trace] || {};
                if (!trace.customdata || trace.customdata[0] !== ring.epochs[i]) {
                    patch.assign(["data", ring.trace, "x"], [ring.x[i]]).assign(["data", ring.trace, "y"], [ring.y[i]])
                        .assign(["data", ring.trace, "customdata"], [ring.epochs[i]]);
                    moved = true;
                }
            }
            if (moved && rendered.title) {
                patch.assign(["layout", "title", "text"], rendered.title[0] + epoch + rendered.title[1]);
            }
            return moved ? patch.build() : none;
        },
        // The same for the graphs a pattern id matches (a list, as Dash passes them).
        moveCursors: function (selection, rendered, figures) {
            const wb = window.dash_clientside.workbench;
            return (figures || []).map(function (figure) { return wb.moveCursor(selection, rendered, figure); });
        }
    }
});
