"""The store: atomic writes, damaged files reported with their path, one writer per variant."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import BusyError, DataError, MissingError, UserError
from workbench.store import Store, VariantRef, read_arrays, write_arrays

REF = VariantRef("modular_addition", "p113-s999-d598")


def test_arrays_round_trip_with_metadata(tmp_path):
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "loss": np.array([1.5, np.nan])}
    write_arrays(tmp_path / "a.safetensors", arrays, {"epoch": "7"})
    back, meta = read_arrays(tmp_path / "a.safetensors")
    assert np.array_equal(back["w"], arrays["w"]) and np.isnan(back["loss"][1]) and meta["epoch"] == "7"


def test_a_crash_while_writing_leaves_the_previous_file_whole_and_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "h.safetensors"
    write_arrays(path, {"x": np.zeros(1000)})
    import workbench.files as store_module  # the file formats the store writes through

    def crash_after_half(path_, write):
        def half(f):
            f.write(b"\0" * 100)
            raise OSError("No space left on device")
        return original(path_, half)
    original = store_module.atomic_write
    monkeypatch.setattr(store_module, "atomic_write", crash_after_half)
    with pytest.raises(OSError, match="No space"):
        write_arrays(path, {"x": np.ones(1000)})
    assert np.array_equal(read_arrays(path)[0]["x"], np.zeros(1000))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.safetensors"]


def test_truncated_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "c.safetensors"
    write_arrays(path, {"x": np.ones(1000)})
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(DataError, match=r"c.safetensors is corrupt or truncated"):
        read_arrays(path)


def test_flipped_bits_are_caught_by_the_checksum(tmp_path):
    path = tmp_path / "c.safetensors"
    write_arrays(path, {"x": np.ones(1000)})
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="checksum mismatch"):
        read_arrays(path)


def test_a_second_writer_is_refused_with_the_holder_named(store):
    with store.lock(REF, "training"):
        assert store.is_locked(REF)
        with pytest.raises(BusyError, match=r"busy: training by process \d+"):
            with store.lock(REF, "analyzing"):
                pass
    assert not store.is_locked(REF)
    with store.lock(REF, "analyzing"):
        pass


def test_missing_variant_and_checkpoint_say_what_to_run(store):
    with pytest.raises(MissingError, match="workbench train modular_addition"):
        store.info(REF)
    store.write_info(REF, {"status": "untrained"})
    with pytest.raises(MissingError, match="no checkpoint at epoch 5; it has no checkpoints"):
        store.load_weights(REF, 5)


@pytest.mark.parametrize("bad", ["../outside", "/etc", "a/b", "", "..", "x\0y"])
def test_names_cannot_reach_outside_the_data_root(store, bad):
    with pytest.raises(UserError, match="invalid"):
        store.variant_dir(VariantRef("modular_addition", bad))


def test_listing_reports_status(store):
    assert store.listing() == []
    store.write_info(REF, {"status": "training", "spec": {"training": {"epochs": 10}}})
    assert store.listing()[0].status == "untrained"  # claimed training, but nobody holds the lock
    store.save_checkpoint(REF, 0, {"w": np.zeros(2, np.float32)})
    assert store.status(REF) == "interrupted"
    with store.lock(REF, "training"):
        assert store.status(REF) == "training"
    store.update_info(REF, status="trained")
    row = store.listing()[0]
    assert (row.status, row.checkpoints, row.last_epoch, row.epochs) == ("trained", 1, 0, 10)
    assert Store(store.root).variants() == [REF]
