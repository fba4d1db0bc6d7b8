"""The app's pages, one module per question (`workbench.app.PAGES` lists them in the sidebar's
order). Each defines `PATH`, `NAME`, `layout(store, config, **path_variables)` and
`register(app, store)`; what they share is in `_common`, the shell around them in `_shell`, the
job panel in `_jobs`. This package imports nothing itself: exports load single pages."""
