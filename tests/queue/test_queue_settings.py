"""``KFN_QUEUE`` and ``KFN_NATS_URL``: parsed from an environment mapping, validated, never echoing secrets."""

from __future__ import annotations

import pytest

from kfn_gateway.settings import SettingsError, load_settings


def test_sqlite_is_the_default_engine() -> None:
    settings = load_settings({})
    assert settings.queue == "sqlite"
    assert settings.nats_url == "nats://127.0.0.1:4222"


def test_nats_engine_with_a_cluster_of_urls() -> None:
    settings = load_settings({"KFN_QUEUE": "nats", "KFN_NATS_URL": "nats://a:4222, tls://kfn:s3cret@b.example:4222"})
    assert settings.queue == "nats"
    assert settings.nats_url == "nats://a:4222, tls://kfn:s3cret@b.example:4222"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize("env, name", [
    ({"KFN_QUEUE": "redis"}, "KFN_QUEUE"),
    ({"KFN_NATS_URL": "http://nats:4222"}, "KFN_NATS_URL"),
    ({"KFN_NATS_URL": "nats://a b:4222"}, "KFN_NATS_URL"),
    ({"KFN_NATS_URL": "nats://ok:4222,"}, "KFN_NATS_URL"),
])
def test_errors_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(env)


def test_a_bad_url_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"KFN_NATS_URL": "nats://kfn:s3cret@bad host:4222"})
    assert "s3cret" not in str(raised.value)
