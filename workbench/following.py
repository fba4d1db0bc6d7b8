"""Analysis that follows a run while it trains (`workbench analyze VARIANT --follow`, and the
Train page's "analyze as it trains" job).

It holds only the variant's analysis lock, so the training goes on; it analyzes each new
checkpoint once as it lands (`pipeline.update_pass`, in this process: a new checkpoint costs its
own analysis), refreshes the series analyzers at a bounded rate, and ends with an ordinary pass
when the run stops, so what it leaves is what `pipeline.analyze` would have computed afterwards.
"""
from __future__ import annotations

import contextlib
import time

from workbench.errors import BusyError
from workbench.pipeline import (ProgressCallback, analysis_spec, analyzable_epochs, selected_analyzers,
                                update_pass)
from workbench.store import Store, VariantRef

FOLLOW_POLL_SECONDS = 0.5      # how often `follow` looks for a new checkpoint
SERIES_REFRESH_SECONDS = 10.0  # series analyzers of a run being followed: at most this often


def follow(ref: VariantRef, store: Store | None = None, *, analyzers: list[str] | None = None,
           progress: bool = True, callback: ProgressCallback | None = None, poll: float = FOLLOW_POLL_SECONDS,
           series_every: float = SERIES_REFRESH_SECONDS) -> dict:
    """Analyze a run while it trains: each checkpoint once, as it appears (one process, so the
    cost of a new checkpoint is its own analysis); its row appended to each stacked series; the
    series analyzers refreshed at most every `series_every` seconds (and never more often than
    four times what they take); analyzers that read the final checkpoint (progress measures)
    wait for the end. When the run stops, finishes or fails - or was not training - one last
    `analyze` pass brings everything up to date, and that pass's counts are returned (plus
    "followed": checkpoints analyzed while it trained). Holds only the analysis lock, so the
    training goes on; a stop asked by `callback` leaves what was done, resumable."""
    store = store or Store()
    info = store.info(ref)
    spec = analysis_spec(ref, info["spec"])
    selected = selected_analyzers(ref, analyzers)
    memo, followed, seen, series_due = {}, 0, None, 0.0
    with store.lock(ref, "following training", "analysis"):
        while True:
            if not store.is_locked(ref):
                with contextlib.ExitStack() as held:
                    try:
                        held.enter_context(store.lock(ref, "analyzing"))
                    except BusyError:
                        continue  # a training run took it this instant: follow that one
                    checkpoint_epochs = analyzable_epochs(store, ref)
                    result = update_pass(store, ref, spec, selected, checkpoint_epochs, checkpoint_epochs,
                                         progress=progress, callback=callback, memo=memo)
                    return {**result, "followed": followed}
            checkpoint_epochs = store.checkpoint_epochs(ref)
            if checkpoint_epochs and checkpoint_epochs != seen:
                seen = checkpoint_epochs
                now = time.monotonic()
                refresh = now >= series_due
                result = update_pass(store, ref, spec, selected, checkpoint_epochs, checkpoint_epochs,
                                     progress=False, callback=callback, live=True, memo=memo, series=refresh)
                followed += result["epochs_analyzed"]
                if refresh:
                    series_due = time.monotonic() + max(series_every, 4 * (time.monotonic() - now))
                if result["epochs_pending"]:  # the callback asked to stop
                    return {**result, "followed": followed}
            elif callback and callback(len(seen or ()), len(seen or ()), "waiting for the next checkpoint"):
                return {"variant": ref, "epochs_analyzed": 0, "epochs_pending": 0, "series_analyzed": 0,
                        "analyzers": [a.name for a in selected], "followed": followed}
            time.sleep(poll)
