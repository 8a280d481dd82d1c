"""The strategy registries: unknown names are refused with the known ones listed."""

import pytest

from espnet_sniper.allocation import ALLOCATIONS, Allocation
from espnet_sniper.config import SniperConfigError, parse_sniper_conf
from espnet_sniper.registry import Registry, UnknownName
from espnet_sniper.scoring import SCORERS


def test_the_registered_names():
    assert SCORERS.names() == ["snip", "magnitude", "random"]
    assert ALLOCATIONS.names() == ["global", "uniform", "erk"]


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(UnknownName, match=r"^scoring must be one of \['snip', 'magnitude', "
                                          r"'random'\], got 'grasp'$"):
        SCORERS.build("grasp")
    with pytest.raises(UnknownName, match=r"^allocation must be one of \['global', 'uniform', "
                                          r"'erk'\], got 'layerwise'$"):
        ALLOCATIONS.build("layerwise")


@pytest.mark.parametrize("key, value, known", [
    ("scoring", "grasp", "['snip', 'magnitude', 'random']"),
    ("allocation", "layerwise", "['global', 'uniform', 'erk']"),
    ("scoring", ["snip"], "['snip', 'magnitude', 'random']"),
])
def test_the_config_names_the_key_and_the_known_names(key, value, known):
    with pytest.raises(SniperConfigError) as e:
        parse_sniper_conf({"schedule": {0: 40}, key: value})
    assert str(e.value) == f"sniper_conf.{key}: must be one of {known}, got {value!r}"


def test_a_strategy_is_one_class_and_one_name():
    registry: Registry[Allocation] = Registry("allocation")

    @registry.register("none")
    class NoPruning(Allocation):
        def pruned_counts(self, ranks, sparsity, max_param_sparsity):
            return {name: 0 for name in ranks}

    assert "none" in registry and isinstance(registry.build("none"), NoPruning)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("none")(NoPruning)
