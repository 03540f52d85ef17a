"""Index configuration: flags > PYX_* > PIP_* > pip's config files > pip's default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyx_server.engine.config import (
    IndexSettings,
    default_index_url,
    pip_config_files,
    redact_url,
    resolve_index_settings,
)
from pyx_server.engine.errors import ConfigError


def write_conf(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_default_is_pips_own_default() -> None:
    from pip._internal.models.index import PyPI

    settings = resolve_index_settings()
    assert default_index_url() == PyPI.simple_url
    assert settings.indexes == (PyPI.simple_url,)
    assert settings.find_links == ()
    assert settings.strategy == "first-index"
    assert settings.offline is False
    assert isinstance(settings, IndexSettings)


def test_precedence_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = write_conf(tmp_path / "pip.conf", "[global]\nindex-url = https://conf.example/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    assert resolve_index_settings().indexes == ("https://conf.example/simple",)

    monkeypatch.setenv("PIP_INDEX_URL", "https://pip-env.example/simple")
    assert resolve_index_settings().indexes == ("https://pip-env.example/simple",)

    monkeypatch.setenv("PYX_INDEX_URL", "https://pyx-env.example/simple")
    assert resolve_index_settings().indexes == ("https://pyx-env.example/simple",)

    settings = resolve_index_settings(index_url="https://flag.example/simple")
    assert settings.indexes == ("https://flag.example/simple",)


def test_install_section_overrides_global_and_extras_come_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = write_conf(
        tmp_path / "pip.conf",
        "[global]\n"
        "index-url = https://global.example/simple\n"
        "extra-index-url =\n    https://extra-one.example/simple\n    https://extra-two.example/simple\n"
        "[install]\n"
        "index_url = https://install.example/simple\n",
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    settings = resolve_index_settings()
    assert settings.indexes == (
        "https://extra-one.example/simple",
        "https://extra-two.example/simple",
        "https://install.example/simple",
    )


def test_extra_index_env_is_space_separated_and_overrides_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = write_conf(tmp_path / "pip.conf", "[global]\nextra-index-url = https://conf-extra.example/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_INDEX_URL", "https://main.example/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://a.example/simple  https://b.example/simple")
    assert resolve_index_settings().indexes == (
        "https://a.example/simple",
        "https://b.example/simple",
        "https://main.example/simple",
    )
    monkeypatch.setenv("PYX_EXTRA_INDEX_URL", "https://pyx-extra.example/simple https://main.example/simple")
    # duplicates collapse, keeping the higher priority position
    assert resolve_index_settings().indexes == (
        "https://pyx-extra.example/simple",
        "https://main.example/simple",
    )
    settings = resolve_index_settings(extra_index_urls=["https://flag-extra.example/simple"])
    assert settings.indexes == ("https://flag-extra.example/simple", "https://main.example/simple")


def test_user_config_file_and_devnull(monkeypatch: pytest.MonkeyPatch) -> None:
    user_conf = Path(os.environ["XDG_CONFIG_HOME"]) / "pip" / "pip.conf"
    write_conf(user_conf, "[global]\nindex-url = https://user.example/simple\n")
    # conftest sets PIP_CONFIG_FILE=os.devnull: every file is ignored, like pip
    assert "https://user.example/simple" not in resolve_index_settings().indexes
    monkeypatch.delenv("PIP_CONFIG_FILE")
    assert user_conf in pip_config_files()
    assert resolve_index_settings().indexes == ("https://user.example/simple",)


def test_pip_config_file_overrides_user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_conf = Path(os.environ["XDG_CONFIG_HOME"]) / "pip" / "pip.conf"
    write_conf(user_conf, "[global]\nindex-url = https://user.example/simple\nfind-links = " + str(tmp_path) + "\n")
    env_conf = write_conf(tmp_path / "env.conf", "[global]\nindex-url = https://env-file.example/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(env_conf))
    files = pip_config_files()
    assert files[-1] == env_conf and user_conf not in files  # as pip: an existing PIP_CONFIG_FILE skips user files
    settings = resolve_index_settings()
    assert settings.indexes == ("https://env-file.example/simple",)
    assert settings.find_links == ()


def test_find_links_paths_become_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    page = tmp_path / "links.html"
    page.write_text("<html></html>")
    monkeypatch.chdir(tmp_path)
    settings = resolve_index_settings(find_links=["wheels", str(page), "https://links.example/all.html"])
    assert settings.find_links == (wheels.as_uri(), page.as_uri(), "https://links.example/all.html")

    monkeypatch.setenv("PIP_FIND_LINKS", f"{wheels} https://env-links.example/")
    assert resolve_index_settings().find_links == (wheels.as_uri(), "https://env-links.example/")
    monkeypatch.setenv("PYX_FIND_LINKS", str(page))
    assert resolve_index_settings().find_links == (page.as_uri(),)


def test_local_directory_as_index(tmp_path: Path) -> None:
    settings = resolve_index_settings(index_url=str(tmp_path))
    assert settings.indexes == (tmp_path.as_uri(),)


def test_no_index_keeps_find_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "yes")
    settings = resolve_index_settings(find_links=[str(tmp_path)])
    assert settings.indexes == ()
    assert settings.find_links == (tmp_path.as_uri(),)
    monkeypatch.setenv("PIP_NO_INDEX", "0")
    assert settings != resolve_index_settings(find_links=[str(tmp_path)])
    assert resolve_index_settings(no_index=True).indexes == ()


def test_no_index_from_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = write_conf(tmp_path / "pip.conf", "[install]\nno-index = true\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    assert resolve_index_settings().indexes == ()


def test_bad_values_name_value_and_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as excinfo:
        resolve_index_settings(find_links=[str(tmp_path / "missing")])
    assert f"`{tmp_path / 'missing'}`" in excinfo.value.message
    assert "`--find-links`" in excinfo.value.message

    monkeypatch.setenv("PIP_INDEX_URL", "not a url")
    with pytest.raises(ConfigError) as excinfo:
        resolve_index_settings()
    assert "`not a url`" in excinfo.value.message and "`PIP_INDEX_URL`" in excinfo.value.message
    assert excinfo.value.code == "invalid-config"
    monkeypatch.delenv("PIP_INDEX_URL")

    conf = write_conf(tmp_path / "pip.conf", "[global]\nindex-url = ftp://user:hunter22@old.example/\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    with pytest.raises(ConfigError) as excinfo:
        resolve_index_settings()
    message = excinfo.value.message
    assert str(conf) in message and "`index-url`" in message
    assert "hunter22" not in message and "hunter22" not in str(excinfo.value.to_dict())

    monkeypatch.setenv("PIP_NO_INDEX", "perhaps")
    with pytest.raises(ConfigError, match="PIP_NO_INDEX"):
        resolve_index_settings(index_url="https://ok.example/simple")


def test_strategy_and_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_index_settings(strategy="unsafe-best-match").strategy == "unsafe-best-match"
    monkeypatch.setenv("PYX_INDEX_STRATEGY", "unsafe-first-match")
    assert resolve_index_settings().strategy == "unsafe-first-match"
    with pytest.raises(ConfigError, match="`best`"):
        resolve_index_settings(strategy="best")
    assert resolve_index_settings(offline=True).offline is True
    monkeypatch.setenv("PYX_OFFLINE", "1")
    assert resolve_index_settings().offline is True


def test_cert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = write_conf(tmp_path / "pip.conf", f"[global]\ncert = {bundle}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    assert resolve_index_settings().cert == str(bundle)
    monkeypatch.setenv("PIP_CERT", str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match="PIP_CERT"):
        resolve_index_settings()


def test_explicit_env_mapping_is_used_instead_of_os_environ() -> None:
    env = {"PIP_CONFIG_FILE": os.devnull, "PYX_INDEX_URL": "https://mapping.example/simple"}
    assert resolve_index_settings(env=env).indexes == ("https://mapping.example/simple",)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:secret@host.example/simple/", "https://****@host.example/simple/"),
        ("https://token@host.example:8443/simple", "https://****@host.example:8443/simple"),
        ("https://host.example/simple", "https://host.example/simple"),
        ("http://us%40er:p%3Ass@127.0.0.1:9/x?y=1#z", "http://****@127.0.0.1:9/x?y=1#z"),
        ("/some/local/path", "/some/local/path"),
        ("file:///srv/wheels", "file:///srv/wheels"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_config_import_stays_light() -> None:
    code = (
        "import sys, pyx_server.engine.config\n"
        "heavy = [m for m in ('httpx', 'pip', 'pip._internal') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
