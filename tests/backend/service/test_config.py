"""The service's settings refuse exposure without a token."""

from __future__ import annotations

import pytest


def test_settings_refuse_exposure_without_a_token(tmp_path, monkeypatch):
    from backend.service.config import ServiceConfig, ServiceError, check_config, is_loopback

    monkeypatch.delenv("SHAPEPROG_TOKEN", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
    assert check_config(ServiceConfig()) is None
    with pytest.raises(ServiceError, match="binding to 0.0.0.0 exposes the service"):
        check_config(ServiceConfig(host="0.0.0.0"))
    monkeypatch.setenv("SHAPEPROG_TOKEN", "x" * 20)
    assert check_config(ServiceConfig(host="0.0.0.0")) == "x" * 20
    (tmp_path / "t").write_text("short\n")
    with pytest.raises(ServiceError, match="too short"):
        check_config(ServiceConfig(token_file=str(tmp_path / "t")))
    with pytest.raises(ServiceError, match="cannot read it"):
        check_config(ServiceConfig(token_file=str(tmp_path / "missing")))
    with pytest.raises(ServiceError, match="--workers"):
        check_config(ServiceConfig(workers=0))
    for wait in (-1.0, float("nan")):
        with pytest.raises(ServiceError, match="--stop-wait must be a number of seconds >= 0"):
            check_config(ServiceConfig(stop_wait=wait))
