"""Recipes: one source for every default, overrides that say what they change, frozen configs."""

import dataclasses

import pytest

from train.recipes import RECIPES, TrainConfig, parse_overrides, recipe_config


def test_the_default_recipe_is_the_config_defaults():
    assert RECIPES["default"] == {}
    assert recipe_config("default") == TrainConfig()


@pytest.mark.parametrize("name", sorted(set(RECIPES) - {"default"}))
def test_every_other_recipe_lists_only_real_changes_of_the_default(name):
    defaults = TrainConfig()
    config = recipe_config(name)
    for key, value in RECIPES[name].items():
        assert getattr(config, key) == value
        assert getattr(defaults, key) != value, f"{name} repeats the default {key}={value!r}"
    unchanged = {f.name for f in dataclasses.fields(TrainConfig)} - set(RECIPES[name]) - {"recipe"}
    assert all(getattr(config, key) == getattr(defaults, key) for key in unchanged)


def test_smoke_balances_from_the_first_epoch_by_saying_so():
    # It used to inherit this from the dataclass while `default` said 4; now it is an explicit override.
    assert RECIPES["smoke"]["rebalance_from_epoch"] == 1
    assert TrainConfig().rebalance_from_epoch == 4


def test_overrides_win_and_configs_are_frozen():
    config = recipe_config("smoke", data="d", out="o", epochs=7, branches=["edge", "blur"])
    assert (config.recipe, config.epochs, config.branches) == ("smoke", 7, ("edge", "blur"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    assert dataclasses.replace(config, epochs=3).epochs == 3 and config.epochs == 7


def test_bad_recipe_names_settings_and_values_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        recipe_config("nope")
    with pytest.raises(ValueError, match="epocs"):
        recipe_config("default", epocs=3)
    with pytest.raises(ValueError, match="patience"):
        recipe_config("default", data="d", out="o", patience=0).validate()
    with pytest.raises(ValueError, match="--data"):
        recipe_config("default").validate()


def test_set_overrides_read_json_values_and_keep_names_as_text():
    overrides = parse_overrides(["epochs=16", "sampler=effective", "lr=1e-3", "branches=[\"edge\", \"blur\"]", " ema =true"])
    assert overrides == {"epochs": 16, "sampler": "effective", "lr": 1e-3, "branches": ["edge", "blur"], "ema": True}
    assert recipe_config("default", **parse_overrides(["epochs=16"])).epochs == 16
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["epochs"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["=3"])


def test_the_default_recipe_ends_with_class_balanced_final_classification():
    """The design's class-balanced sampling for the final classification is in the default, visible in
    the config a run writes (train_config.json is `dataclasses.asdict` of it)."""
    import dataclasses

    from train.head_retrain import HEAD_METHODS
    from train.recipes import recipe_config

    config = dataclasses.asdict(recipe_config("default", data="d", out="o"))
    assert config["head_retrain"] == "lws" and config["head_retrain"] in HEAD_METHODS
    assert recipe_config("smoke").head_retrain == "none" and recipe_config("blur-task").head_retrain == "none"
