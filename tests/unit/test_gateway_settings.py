"""Gateway settings from an environment mapping: defaults, and errors naming the variable."""

import pytest

from kfn_gateway.settings import GatewaySettings, SettingsError, load_settings


def test_defaults():
    assert load_settings({}) == GatewaySettings()


def test_values():
    s = load_settings({"KFN_PORT": "0", "KFN_HOST": "0.0.0.0", "KFN_WARM_POOL": "0", "KFN_ACTIVATION_TIMEOUT": "2.5"})
    assert (s.port, s.host, s.warm_pool_size, s.activation_timeout) == (0, "0.0.0.0", 0, 2.5)


@pytest.mark.parametrize("env, name", [
    ({"KFN_PORT": "http"}, "KFN_PORT"),
    ({"KFN_PORT": "70000"}, "KFN_PORT"),
    ({"KFN_WARM_POOL": "-1"}, "KFN_WARM_POOL"),
    ({"KFN_WARM_POOL": "1.5"}, "KFN_WARM_POOL"),
    ({"KFN_ACTIVATION_TIMEOUT": "0"}, "KFN_ACTIVATION_TIMEOUT"),
    ({"KFN_AUTOSCALE_INTERVAL": "nan?"}, "KFN_AUTOSCALE_INTERVAL"),
])
def test_errors_name_the_variable(env, name):
    with pytest.raises(SettingsError, match=name):
        load_settings(env)
