"""`blurfuse serve` argument checks and the ngrok wiring, with pyngrok intercepted (no network)."""

import types

import pytest

from blurfuse.cli import main
from web import tunnel


def test_serve_validates_its_arguments(tiny_checkpoint, tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["serve", "--model", str(tiny_checkpoint), "--port", "70000"]) == 2
    assert main(["serve", "--model", str(tiny_checkpoint), "--basic-auth", "me:longpassword"]) == 2
    assert "add --ngrok" in capsys.readouterr().err
    assert main(["serve", "--model", str(tiny_checkpoint), "--ngrok", "--basic-auth", "me:short"]) == 2


def test_tunnel_uses_the_token_from_the_environment_and_basic_auth(monkeypatch):
    calls = {}
    from pyngrok import ngrok

    monkeypatch.setattr(ngrok, "set_auth_token", lambda token: calls.setdefault("token", token))

    def connect(**kwargs):
        calls["connect"] = kwargs
        return types.SimpleNamespace(public_url="https://abc.ngrok.app")

    monkeypatch.setattr(ngrok, "connect", connect)
    monkeypatch.setenv("NGROK_AUTHTOKEN", "secret-token")
    assert tunnel.open_tunnel(5000, "me:longpassword") == "https://abc.ngrok.app"
    assert calls["token"] == "secret-token"
    assert calls["connect"] == {"addr": "5000", "proto": "http", "auth": "me:longpassword"}


def test_tunnel_failures_are_reported_and_not_fatal(monkeypatch, caplog):
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    assert tunnel.open_tunnel(5000) is None
    assert "NGROK_AUTHTOKEN is not set" in caplog.text
    from pyngrok import ngrok

    def broken(**kwargs):
        raise OSError("network unreachable")

    monkeypatch.setenv("NGROK_AUTHTOKEN", "t")
    monkeypatch.setattr(ngrok, "set_auth_token", lambda token: None)
    monkeypatch.setattr(ngrok, "connect", broken)
    assert tunnel.open_tunnel(5000) is None
    assert "network unreachable" in caplog.text


def test_basic_auth_format():
    assert tunnel.check_basic_auth("user:password1") == "user:password1"
    for bad in ("nocolon", ":password1", "user:short"):
        with pytest.raises(ValueError, match="user:pass"):
            tunnel.check_basic_auth(bad)


def test_serve_makes_a_relative_model_path_absolute_against_the_working_directory(tmp_path, monkeypatch):
    from blurfuse.cli import build_parser

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["serve", "--model", "runs/default"])
    assert args.model == tmp_path.resolve() / "runs" / "default"
