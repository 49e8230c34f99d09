"""The operator's settings: read from a mapping, validated at once, the variable named on error."""

from __future__ import annotations

import pytest

from kfn_operator import settings


def test_defaults() -> None:
    config = settings.load_settings({})
    assert config.runtime_image == settings.DEFAULT_RUNTIME_IMAGE
    assert config.namespaces == () and config.stats_urls == ()
    assert config.gateway_url == "http://kfn-gateway.kfn-system.svc"
    assert (config.host, config.port) == ("127.0.0.1", 8081)


def test_values_are_parsed() -> None:
    config = settings.load_settings({
        "KFN_RUNTIME_IMAGE": "r/i:1", "KFN_NAMESPACES": "a, b", "KFN_GATEWAY_URL": "https://fn.example.com/",
        "KFN_GATEWAY_STATS_URLS": "http://10.0.0.1:8080,http://10.0.0.2:8080", "KFN_AUTOSCALE_INTERVAL": "0.5",
        "KFN_RUN_AS_USER": "1000", "KFN_HOST": "0.0.0.0", "KFN_PORT": "9100"})
    assert config.namespaces == ("a", "b")
    assert config.gateway_url == "https://fn.example.com"
    assert config.stats_urls == ("http://10.0.0.1:8080", "http://10.0.0.2:8080")
    assert (config.autoscale_interval, config.run_as_user) == (0.5, 1000)
    assert (config.host, config.port) == ("0.0.0.0", 9100)
    assert settings.load_settings({"KFN_GATEWAY_STATS_DNS": "kfn-gateway-pods.kfn-system.svc:8080"}).stats_dns == (
        "kfn-gateway-pods.kfn-system.svc", 8080)
    assert settings.load_settings({"KFN_GATEWAY_STATS_DNS": "[fd00::1]:81"}).stats_dns == ("fd00::1", 81)
    assert settings.load_settings({}).stats_dns is None


@pytest.mark.parametrize("env, named", [
    ({"KFN_NAMESPACES": "Bad_Name"}, "KFN_NAMESPACES"),
    ({"KFN_GATEWAY_URL": "ftp://x"}, "KFN_GATEWAY_URL"),
    ({"KFN_GATEWAY_STATS_URLS": "http://ok,nope"}, "KFN_GATEWAY_STATS_URLS"),
    ({"KFN_GATEWAY_STATS_DNS": "kfn-gateway-pods"}, "KFN_GATEWAY_STATS_DNS"),
    ({"KFN_GATEWAY_STATS_DNS": "pods:http"}, "KFN_GATEWAY_STATS_DNS"),
    ({"KFN_GATEWAY_STATS_DNS": "pods:0"}, "KFN_GATEWAY_STATS_DNS"),
    ({"KFN_GATEWAY_STATS_DNS": "http://pods:8080"}, "KFN_GATEWAY_STATS_DNS"),
    ({"KFN_GATEWAY_STATS_DNS": ":8080"}, "KFN_GATEWAY_STATS_DNS"),
    ({"KFN_AUTOSCALE_INTERVAL": "0"}, "KFN_AUTOSCALE_INTERVAL"),
    ({"KFN_RETRY_DELAY": "soon"}, "KFN_RETRY_DELAY"),
    ({"KFN_RUN_AS_USER": "0"}, "KFN_RUN_AS_USER"),
    ({"KFN_RUNTIME_IMAGE": "a b"}, "KFN_RUNTIME_IMAGE"),
    ({"KFN_PORT": "65536"}, "KFN_PORT"),
    ({"KFN_PORT": "http"}, "KFN_PORT"),
    ({"KFN_HOST": "example.com"}, "KFN_HOST"),
])
def test_invalid_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(settings.SettingsError, match=named):
        settings.load_settings(env)


def test_log_format():
    assert settings.load_settings({}).log_format == "text"
    assert settings.load_settings({"KFN_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(settings.SettingsError, match="KFN_LOG_FORMAT"):
        settings.load_settings({"KFN_LOG_FORMAT": "xml"})
