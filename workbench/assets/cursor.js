/* Epoch cursors move here, in the browser: an epoch step sends no request for the figures that
   show one (summaries of a FigurePage, workbench/pages/_common.py; Compare's overlays, side by
   side and shared trajectory, workbench/pages/compare.py). Such a figure is drawn by the server
   for its page key - the selection without the epoch - and only a new key asks the server again.
   What the server drew is described in a store beside the figure ("rendered"): {page_key,
   cursors: how many cursor shapes lead layout.shapes, offsets: per cursor, its epoch minus the
   selected one's (runs aligned on their own onsets), rings: markers that ring the checkpoint
   nearest the epoch on a path ([{trace, epochs, x, y}]), title: [before, after] the epoch}. */
const MARGIN = 100;  // px beyond the window that count as on screen (as assets/lazy.js)
const offscreen = new WeakMap();  // graph element -> {id, rendered} of the store that moves its cursors
let seen = null;
const observer = function () {
    seen = seen || new IntersectionObserver(function (entries) {
        for (const entry of entries) {
            const waiting = offscreen.get(entry.target);
            if (!entry.isIntersecting || !waiting) { continue; }
            seen.unobserve(entry.target);
            offscreen.delete(entry.target);
            const clientside = window.dash_clientside;
            if (clientside.set_props) {  // the same store again, newly stamped: its cursors move now
                clientside.set_props(waiting.id, {data: Object.assign({}, waiting.rendered, {seen: performance.now()})});
            }
        }
    }, {rootMargin: MARGIN + "px 0px"});
    return seen;
};
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
        // it was drawn is not lost). Cursors alone move in place (`moveInPlace`: no redraw); rings
        // and titles by a Patch of the figure, which Plotly redraws whole - left as they are while
        // the figure is off screen (`later`): Plotly redraws only what can be seen.
        moveCursor: function (selection, rendered, figure, output) {
            const wb = window.dash_clientside.workbench, none = window.dash_clientside.no_update;
            const context = window.dash_clientside.callback_context;
            output = output || (context && context.outputs_list);
            const epoch = selection ? selection.epoch : null;
            const n = rendered ? rendered.cursors || 0 : 0, rings = rendered ? rendered.rings || [] : [];
            const shapes = (figure && figure.layout && figure.layout.shapes) || [];
            if ((!n && !rings.length) || epoch === null || epoch === undefined || !figure || shapes.length < n ||
                rendered.page_key !== wb.pageKey(selection)) {
                return none;
            }
            const offsets = rendered.offsets || [], moves = [];
            for (let i = 0; i < n; i++) {
                const x = epoch - (offsets[i] || 0);
                if (shapes[i].x0 !== x || shapes[i].x1 !== x) { moves.push([i, x]); }
            }
            const graph = output && output.id ? document.getElementById(wb.stringId(output.id)) : null;
            if (!rings.length && !rendered.title && (!moves.length || wb.moveInPlace(graph, figure, moves))) {
                return none;
            }
            if (wb.later(output, context && context.inputs_list[1], rendered)) { return none; }
            const patch = new window.dash_clientside.Patch();
            let moved = moves.length > 0;
            for (const [i, x] of moves) {
                patch.assign(["layout", "shapes", i, "x0"], x).assign(["layout", "shapes", i, "x1"], x);
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
        // Cursor lines ([shape index, x] of `moves`) of the plot in `graph` (a graph's element)
        // moved in place: each line's path in the SVG, the plot's layout and the figure Dash holds
        // (so that a later redraw keeps them) - no redraw: Plotly re-plots a whole figure to move
        // one shape (20-50 ms a figure). False, and nothing moved, when the drawing is not as
        // expected (a line "M x,y L x,y" where the shape's x maps); the caller then patches.
        moveInPlace: function (graph, figure, moves) {
            const gd = graph && graph.querySelector(".js-plotly-plot"), full = gd && gd._fullLayout;
            if (!full || !full.shapes || !gd.layout || !gd.layout.shapes) { return false; }
            const lines = [];
            for (const [i, x] of moves) {
                const shape = full.shapes[i], path = gd.querySelector('.shapelayer path[data-index="' + i + '"]');
                const axis = shape && full[shape.xref === "x" ? "xaxis" : "xaxis" + String(shape.xref).slice(1)];
                const at = path && /^M([-\d.e]+),([-\d.e]+)L([-\d.e]+),([-\d.e]+)$/.exec(path.getAttribute("d") || "");
                if (!at || !axis || !axis.d2p || !gd.layout.shapes[i]) { return false; }
                const drawn = axis._offset + axis.d2p(shape.x0), px = axis._offset + axis.d2p(x);
                if (Math.abs(at[1] - drawn) > 1 || Math.abs(at[3] - drawn) > 1 || !Number.isFinite(px)) { return false; }
                lines.push([i, x, path, "M" + px + "," + at[2] + "L" + px + "," + at[4]]);
            }
            for (const [i, x, path, d] of lines) {
                path.setAttribute("d", d);
                for (const shape of [gd.layout.shapes[i], full.shapes[i], figure.layout.shapes[i]]) {
                    shape.x0 = x;
                    shape.x1 = x;
                }
            }
            return lines.every(([i, x]) => figure.layout.shapes[i].x0 === x);  // (a frozen figure: patch it)
        },
        // The same for the graphs a pattern id matches (a list, as Dash passes them).
        moveCursors: function (selection, rendered, figures) {
            const wb = window.dash_clientside.workbench, context = window.dash_clientside.callback_context;
            const outputs = (context && context.outputs_list) || [];
            return (figures || []).map(function (figure, i) {
                return wb.moveCursor(selection, rendered, figure, outputs[i] || {});
            });
        },
        // True when the graph of `output` ({id, property}) is off screen: its store `rendered`
        // ({id}) is then touched once the graph comes into view, which moves its cursors.
        later: function (output, renderedInput, rendered) {
            if (!output || !output.id || !renderedInput || !("IntersectionObserver" in window)) { return false; }
            const el = document.getElementById(window.dash_clientside.workbench.stringId(output.id));
            if (!el) { return false; }
            const box = el.getBoundingClientRect();
            if (box.height > 0 && box.bottom > -MARGIN && box.top < window.innerHeight + MARGIN) { return false; }
            offscreen.set(el, {id: renderedInput.id, rendered: rendered});
            observer().observe(el);
            return true;
        },
        // A component id as Dash writes it in the page: a dict id as JSON with its keys sorted.
        stringId: function (id) {
            if (typeof id !== "object") { return id; }
            return "{" + Object.keys(id).sort().map(function (k) {
                return JSON.stringify(k) + ":" + JSON.stringify(id[k]);
            }).join(",") + "}";
        }
    }
});
