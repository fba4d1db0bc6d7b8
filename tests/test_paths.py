"""No name from a URL, a form or a file reaches outside the data root; full disks and missing
permissions end with a clear message and leave earlier data whole."""
from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from workbench import selection as sel
from workbench.store import Store, VariantRef, check_name, read_arrays, write_arrays
from workbench.errors import UserError

HOSTILE_NAMES = ["..", "../etc", "a/../../b", "/etc/passwd", "a/b", "evil\0name", ".hidden", "-rf", "", "x" * 201,
                 "a\\..\\b", "..%2f..", " spaced", "new\nline", "trailing\n"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused_for_every_kind(name):
    for kind in ("family", "variant", "probe", "job", "report"):
        with pytest.raises(UserError, match=f"invalid {kind} name"):
            check_name(kind, name)


def test_names_a_run_really_has_are_accepted():
    for name in ("p113-s999-d598", "p59-s1-d598-every=10x50,25x200", "imported-grok_run.v2", "x" * 200):
        assert check_name("variant", name) == name


@pytest.mark.parametrize("family, variant", [("..", "x"), ("fam", "../../etc"), ("/tmp", "x"), ("fam", "a\0b")])
def test_store_refuses_variant_refs_that_climb_out(store, family, variant):
    with pytest.raises(UserError, match="invalid"):
        store.variant_dir(VariantRef(family, variant))
    with pytest.raises(UserError):
        store.info(VariantRef(family, variant))


def test_a_symlink_pointing_out_of_the_root_is_neither_listed_nor_followed(store, tmp_path):
    outside = tmp_path / "outside" / "stolen"
    outside.mkdir(parents=True)
    (outside / "variant.json").write_text('{"secret": 1}')
    (store.root / "fam").mkdir(parents=True)
    os.symlink(outside, store.root / "fam" / "stolen")
    os.symlink(tmp_path / "outside", store.root / "linked_family")
    assert store.variants() == [] and store.families() == ["fam"]
    with pytest.raises(UserError, match="outside the data root"):
        store.info(VariantRef("fam", "stolen"))
    with pytest.raises(UserError, match="outside the data root"):
        store.variants("linked_family")
    with pytest.raises(UserError, match="outside the data root"):  # a link higher up leads out too
        store.info(VariantRef("linked_family", "stolen"))


def test_a_data_root_that_is_itself_a_link_is_inside_itself(tmp_path):
    (tmp_path / "real" / "fam" / "v1").mkdir(parents=True)
    (tmp_path / "real" / "fam" / "v1" / "variant.json").write_text('{"id": "v1"}')
    os.symlink(tmp_path / "real", tmp_path / "root")
    assert Store(tmp_path / "root").info(VariantRef("fam", "v1")) == {"id": "v1"}


def test_a_symlink_inside_the_root_still_works(store):
    (store.root / "real" / "v1").mkdir(parents=True)
    (store.root / "real" / "v1" / "variant.json").write_text('{"id": "v1"}')
    os.symlink(store.root / "real", store.root / "alias")
    assert store.info(VariantRef("alias", "v1")) == {"id": "v1"}


def test_url_query_values_of_the_wrong_type_are_dropped_not_raised():
    query = "?variant=../../etc/passwd&epoch=1e99&neuron=-5&head=abc&input=99999999999999999999999&probe=%00"
    state = sel.parse_query(query)
    assert "epoch" not in state and "head" not in state and "neuron" not in state and "input" not in state
    assert state.get("variant") == "../../etc/passwd"  # checked against the listing by the app, which refuses it


def test_disk_full_ends_with_a_clear_message_and_the_earlier_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "h.safetensors"
    write_arrays(path, {"x": np.zeros(10)})

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")
    real = os.replace
    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(UserError, match="disk is full.*earlier data is unchanged"):
        write_arrays(path, {"x": np.ones(10)})
    monkeypatch.setattr(os, "replace", real)
    assert np.array_equal(read_arrays(path)[0]["x"], np.zeros(10))
    assert [p.name for p in tmp_path.iterdir()] == ["h.safetensors"]  # no temporary file left behind


def test_permission_denied_ends_with_a_clear_message(tmp_path, monkeypatch):
    import tempfile

    def denied(*_, **__):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(UserError, match="permission denied - make the data root writable"):
        write_arrays(tmp_path / "x.safetensors", {"x": np.zeros(1)})


def test_training_on_a_full_disk_stops_with_the_message_and_keeps_earlier_checkpoints(tmp_path, monkeypatch,
                                                                                     capsys):
    from workbench.cli import main
    from workbench.families import load_family
    import workbench.store as store_module
    store = Store(tmp_path / "data")
    variant = load_family("tiny_addition").variant(epochs=60)
    ref = VariantRef(variant.family, variant.id)
    real = store_module.os.replace

    def fills_up(src, dst):
        if "epoch_00000030" in str(dst):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)
    monkeypatch.setattr(store_module.os, "replace", fills_up)
    assert main(["train", "tiny_addition", "--set", "epochs=60", "--quiet", "--data", str(store.root)]) == 1
    monkeypatch.setattr(store_module.os, "replace", real)
    assert "the disk is full" in capsys.readouterr().err
    epochs = store.checkpoint_epochs(ref)
    assert epochs and max(epochs) < 30
    for epoch in epochs:
        store.load_weights(ref, epoch)  # every file that exists reads cleanly
    assert main(["train", "tiny_addition", "--set", "epochs=60", "--quiet", "--data", str(store.root)]) == 0
    assert store.checkpoint_epochs(ref)[-1] == 60
