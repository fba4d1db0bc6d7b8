"""Families are data: loaded, validated with errors that name the problem, resolved into variants."""
from __future__ import annotations

import pytest

from workbench.families import FamilyError, load_family, parse_value
from workbench.familyschema import checkpoint_schedule, is_prime


def write_family(tmp_path, monkeypatch, text, name="custom"):
    (tmp_path / f"{name}.toml").write_text(text)
    monkeypatch.setenv("WORKBENCH_FAMILIES", str(tmp_path))
    return name


def test_reference_family_is_the_nanda_recipe():
    spec = load_family("modular_addition").spec
    assert spec["domain"] == {"operation": "add", "p": 113, "seed": 999, "data_seed": 598}
    assert spec["model"] == {"n_layers": 1, "d_model": 128, "n_heads": 4, "d_head": 32, "d_mlp": 512,
                             "act_fn": "relu"}
    assert spec["training"]["lr"] == 1e-3 and spec["training"]["weight_decay"] == 1.0
    assert spec["training"]["betas"] == [0.9, 0.98] and spec["training"]["train_fraction"] == 0.3
    assert spec["training"]["epochs"] == 25000


def test_demo_family_extends_the_reference_with_a_smaller_prime():
    demo = load_family("modular_addition_demo")
    assert demo.spec["domain"]["p"] == 59 and demo.spec["training"]["train_fraction"] == 0.5
    assert demo.spec["model"]["d_mlp"] == 512 and demo.spec["training"]["weight_decay"] == 1.0


def test_schedule_is_dense_early_and_through_cleanup_and_ends_at_the_final_epoch():
    epochs = load_family("modular_addition").variant().checkpoint_schedule()
    assert epochs[:3] == [0, 100, 200] and epochs[-1] == 25000
    assert 1500 in epochs and 1600 not in epochs and 9100 in epochs and 13500 in epochs
    assert checkpoint_schedule({"every": [[10, 30]], "extra": [7], "keep_optimizer": "all"}, 55) == \
        [0, 7, 10, 20, 30, 40, 50, 55]


def test_variant_id_is_readable_and_names_every_override():
    family = load_family("modular_addition")
    assert family.variant().id == "p113-s999-d598"
    assert family.variant(p=59, seed=1).id == "p59-s1-d598"
    assert family.variant({"training.train_fraction": 0.5}).id == "p113-s999-d598-train_fraction=0.5"
    assert family.variant(train_fraction=0.3).id == "p113-s999-d598"  # same as the default: not an override


@pytest.mark.parametrize("override, message", [
    ({"p": 100}, "p = 100 is invalid; it must be prime"),
    ({"p": 1}, "must be prime"),
    ({"train_fraction": 1.0}, "strictly between 0 and 1"),
    ({"train_fraction": 0}, "strictly between 0 and 1"),
    ({"operation": "pow"}, "one of add, subtract, multiply"),
    ({"lr": "fast"}, "must be a positive number, got str"),
    ({"epochs": 2.5}, "must be a positive integer, at most 1,000,000,000, got float"),
    ({"epochs": 10**10}, "it must be a positive integer, at most 1,000,000,000"),
    ({"p": 10_009}, "it must be prime and at most 10,007"),
    ({"d_mlp": 70_000}, "it must be a positive integer, at most 65,536"),
    ({"learning_rate": 1e-3}, "unknown parameter 'learning_rate'"),
])
def test_bad_overrides_are_refused_with_the_reason(override, message):
    with pytest.raises(FamilyError, match=message):
        load_family("modular_addition").variant(override)


def test_unknown_key_in_a_family_file_is_named(tmp_path, monkeypatch):
    name = write_family(tmp_path, monkeypatch, 'extends = "modular_addition"\n[training]\nlrr = 0.1\n')
    monkeypatch.setenv("WORKBENCH_FAMILIES", f"{tmp_path}:{load_family('modular_addition').source.parent}")
    with pytest.raises(FamilyError, match=r"unknown key 'training.lrr'.*known keys in \[training\]: lr"):
        load_family(name)


def test_family_file_with_a_composite_prime_names_the_file_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FAMILIES", f"{tmp_path}:{load_family('modular_addition').source.parent}")
    (tmp_path / "bad.toml").write_text('extends = "modular_addition"\n[domain]\np = 91\n')
    with pytest.raises(FamilyError, match=r"bad.toml: domain.p = 91 is invalid; it must be prime"):
        load_family("bad")


def test_missing_values_syntax_errors_and_cycles_are_reported(tmp_path, monkeypatch):
    write_family(tmp_path, monkeypatch, '[domain]\np = 7\n', name="partial")
    with pytest.raises(FamilyError, match="missing domain.operation"):
        load_family("partial")
    write_family(tmp_path, monkeypatch, '[domain\n', name="broken")
    with pytest.raises(FamilyError, match="not valid TOML"):
        load_family("broken")
    write_family(tmp_path, monkeypatch, 'extends = "loop"\n', name="loop")
    with pytest.raises(FamilyError, match="extends itself"):
        load_family("loop")
    with pytest.raises(FamilyError, match="no family named 'nope'"):
        load_family("nope")
    with pytest.raises(FamilyError, match="invalid family name"):
        load_family("../etc/passwd")


def test_checkpoint_segments_must_increase(tmp_path, monkeypatch):
    with pytest.raises(FamilyError, match="increasing until_epoch"):
        load_family("modular_addition").variant({"checkpoints.every": [[100, 500], [10, 200]]})


def test_command_line_values_parse_as_toml_or_schedules():
    assert parse_value("0.5") == 0.5 and parse_value("3") == 3 and parse_value("subtract") == "subtract"
    assert parse_value("[0.9, 0.99]") == [0.9, 0.99]
    assert parse_value("100:1500,500:25000") == [[100, 1500], [500, 25000]]


def test_primality():
    assert [n for n in range(30) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
