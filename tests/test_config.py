import pytest

from labcore.config import build, describe, field_docs, parse_overrides, to_dict
from labcore.errors import UsageError
from rllab.config import DQNConfig


def test_overrides_are_typed():
    values = parse_overrides(["learning_rate=1e-3", "double_q=false", "net_arch=[64,64]", "env=Acrobot-v1",
                              "steps=1e5"])
    cfg = build(DQNConfig, values)
    assert cfg.learning_rate == 1e-3 and cfg.double_q is False and cfg.net_arch == [64, 64]
    assert cfg.env == "Acrobot-v1" and cfg.steps == 100_000 and isinstance(cfg.steps, int)
    assert build(DQNConfig, parse_overrides(["net_arch=32,32"])).net_arch == [32, 32]
    assert build(DQNConfig, {"learning_rate": 1}).learning_rate == 1.0  # an int is a fine float


def test_unknown_key_suggests_the_closest():
    with pytest.raises(UsageError, match="unknown config key 'learning_rat'.*did you mean 'learning_rate'"):
        build(DQNConfig, {"learning_rat": 1e-3})


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"batch_size": 3.5}, "'batch_size' must be an integer"),
        ({"batch_size": "big"}, "'batch_size' must be an integer"),
        ({"double_q": 1}, "'double_q' must be true or false"),
        ({"loss": "l1"}, "'loss' must be one of 'huber', 'mse'"),
        ({"net_arch": 64}, "'net_arch' must be a list"),
        ({"steps": 0}, "'steps' must be a positive"),
        ({"steps": -5}, "'steps' must be a positive"),
        ({"gamma": 1.5}, "'gamma' must be in"),
        ({"tau": 0}, "'tau' must be in"),
    ],
)
def test_bad_values_name_the_key(values, match):
    with pytest.raises(UsageError, match=match):
        build(DQNConfig, values)


def test_malformed_override():
    with pytest.raises(UsageError, match="expected key=value"):
        parse_overrides(["=3"])


def test_round_trip_and_docs():
    cfg = build(DQNConfig, {"net_arch": [8]})
    assert build(DQNConfig, to_dict(cfg)) == cfg
    docs = field_docs(DQNConfig)
    assert "Discount" in docs["gamma"] and "environment id" in docs["env"]  # inherited field docs too
    assert "gamma = 0.99" in describe(DQNConfig)
