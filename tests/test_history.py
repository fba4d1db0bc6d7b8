"""The one history model (workbench.history): each series at its own x, cadences, padding."""
from __future__ import annotations

import numpy as np
import torch

from workbench import history
from workbench.history import History

def test_cadence_is_inferred_from_the_counts():
    assert history.cadence(10_780, 107_791) == (10, "start")             # the paper's file: 0, 10, ..., 107,790
    assert history.place(10_780, 10, "start")[-1] == 107_790
    assert history.cadence(20, 200) == (10, "start") and history.cadence(20, 200, prefer="end") == (10, "end")
    assert history.place(20, 10, "end")[:2].tolist() == [9, 19]
    assert history.cadence(19, 199, prefer="end") == (10, "end")         # floor(199 / 10): the end of each block
    assert history.cadence(7, 10) is None and history.cadence(5, 5) == (1, "start")

def test_trailing_nan_is_padding_only_when_it_pads_to_the_full_length():
    values, dropped = history.strip_padding([1.0, 2.0, np.nan, np.nan], 4)
    assert values.tolist() == [1.0, 2.0] and dropped == 2
    diverged, dropped = history.strip_padding([1.0, 2.0, np.nan], 5)     # shorter than the run: logged NaN
    assert len(diverged) == 3 and dropped == 0
    assert history.strip_padding([np.nan, np.nan], 2)[1] == 0            # nothing logged is not padding

def test_a_sparse_series_keeps_its_epochs_on_disk_and_a_dense_one_writes_what_it_always_wrote():
    h = History({"train_loss": (np.arange(5), np.linspace(1, 0.1, 5)), "test_loss": (np.array([0, 2, 4]),
                                                                                    np.array([3.0, 2.0, 1.0]))})
    arrays = h.to_arrays()
    assert sorted(arrays) == ["test_loss", "train_loss", "x/test_loss"]
    back = History.from_arrays(arrays)
    assert back.x("test_loss").tolist() == [0, 2, 4] and back.x("train_loss").tolist() == list(range(5))
    assert back.value_at("test_loss", 2) == 2.0 and np.isnan(back.value_at("test_loss", 3))
    assert back.span() == (0.0, 4.0) and history.as_history({"loss": [1, 2]}).x("loss").tolist() == [0, 1]

def test_import_log_of_a_107791_epoch_run_puts_the_test_peak_at_its_epoch(store, tmp_path, capsys):
    """The issue's run: train loss every epoch, test loss every 10th (10,780 values), test loss
    peaking around epoch 1,500, declining slowly 40 -> 11 until 80k, then dropping sharply."""
    from workbench.cli import main
    epochs = np.arange(107_791)
    tested = epochs[::10]
    test = np.interp(tested, [0, 1500, 80_000], [4.7, 40.0, 11.0])
    drop = tested > 80_000
    test[drop] = np.maximum(11.0 * 10 ** (-(tested[drop] - 80_000) / 500), 1e-3)
    train = np.maximum(4.7 * np.exp(-epochs / 200), 1e-7)
    torch.save({"train_losses": train.tolist(), "test_losses": test.tolist(), "epoch": 107_791},
               tmp_path / "full_run.pth")
    assert main(["import-log", str(tmp_path / "full_run.pth"), "--data", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "test_losses: 10,780 values for 107,791 epochs: logged every 10 epochs" in out
    from workbench.analyzers.dynamics import stored_phases
    from workbench.store import VariantRef
    found = stored_phases(store.load_artifact(VariantRef("logs", "full_run"), "loss_dynamics"))
    assert found.test_loss_peak == 1500 and 79_000 <= found.onset <= 80_000 and 80_000 < found.grok < 81_500

