"""The watch config: TOML parsing, errors naming file, key and value; durations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.watch import EXIT_USAGE, watch
from pipeline.errors import WatchConfigError
from pipeline.watch.config import load_watch_config, parse_duration

GOOD = """
webhooks = ["https://hooks.example.org/all"]
[settings]
overlap_days = 5
resolution = 10
[providers.es]
type = "earth-search"
max_cloud = 50
[providers.mine]
type = "stac"
url = "http://127.0.0.1:7822"
collections = ["s2"]
[facilities.kangdong-kyohwaso-4]
providers = ["mine"]
overlap_days = 20
webhooks = [{ url = "https://example.org/k", min_score = 6.0 }]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watch.toml"
    path.write_text(text)
    return path


def test_plan_merges_global_and_facility_sections(tmp_path: Path) -> None:
    cfg = load_watch_config(_write(tmp_path, GOOD))
    plan = cfg.plan("kangdong-kyohwaso-4")
    assert [p.name for p in plan.providers] == ["mine"]
    assert plan.settings.overlap_days == 20 and plan.settings.resolution == 10.0
    assert [h.url for h in plan.webhooks] == ["https://hooks.example.org/all", "https://example.org/k"]
    assert plan.webhooks[1].min_score == 6.0
    other = cfg.plan("another")
    assert [p.name for p in other.providers] == ["es", "mine"]
    assert other.providers[0].collections == ("sentinel-2-l2a",) and other.settings.overlap_days == 5
    assert [p.name for p in cfg.plan("another", ("es",)).providers] == ["es"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[settings]\noverlap_days = -1\n", "key 'settings.overlap_days' = -1: must be >= 0"),
        ("[settings]\nmin_clear = 'high'\n", "key 'settings.min_clear' = 'high': must be a number"),
        ("[settings]\novrlap_days = 3\n", "key 'settings.ovrlap_days' = 3: unknown key"),
        ("[providers.x]\ntype = 'stac'\n", "key 'providers.x.url' = None: is required for type"),
        ("[providers.x]\ntype = 'ftp'\n", "key 'providers.x.type' = 'ftp': must be one of"),
        ("webhooks = ['ftp://x']\n", "key 'webhooks[0].url' = 'ftp://x': must be an http://"),
        ("[facilities.f]\nproviders = ['nope']\n",
         "key 'facilities.f.providers' = 'nope': is not a configured provider"),
        ("[settings\n", "not valid TOML"),
    ],
)
def test_bad_config_names_file_key_and_value(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(WatchConfigError) as info:
        load_watch_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_cli_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "[settings]\nwebhook_retries = 1.5\n")
    result = CliRunner().invoke(watch, ["--workspace", str(tmp_path), "--config", str(path)])
    assert result.exit_code == EXIT_USAGE
    assert "key 'settings.webhook_retries' = 1.5: must be an integer" in result.output


def test_cli_without_provider_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        watch, ["--workspace", str(tmp_path), "--facility", "kangdong-kyohwaso-4"]
    )
    assert result.exit_code == EXIT_USAGE
    assert "no provider for facility 'kangdong-kyohwaso-4'" in result.output


def test_cli_with_nothing_chosen_and_an_empty_workspace_is_a_usage_error(tmp_path: Path) -> None:
    """The registry holds every documented camp: watching all of them is asked for, not assumed."""
    result = CliRunner().invoke(watch, ["--workspace", str(tmp_path)])
    assert result.exit_code == EXIT_USAGE
    assert f"nothing to watch: {tmp_path} has no facility directory yet" in result.output
    assert "--facility ID, --type TYPE (e.g. --type kwanliso) or --all" in result.output


def test_cli_default_is_the_facilities_already_in_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "jongori-kyohwaso-12").mkdir()
    result = CliRunner().invoke(watch, ["--workspace", str(tmp_path)])
    assert result.exit_code == EXIT_USAGE  # no provider configured: it got as far as planning
    assert "no provider for facility 'jongori-kyohwaso-12'" in result.output


def test_cli_all_and_type_select_from_the_registry(tmp_path: Path) -> None:
    result = CliRunner().invoke(watch, ["--workspace", str(tmp_path), "--all"])
    assert "no provider for facility 'choma-bong-restricted-area'" in result.output  # first id
    result = CliRunner().invoke(watch, ["--workspace", str(tmp_path), "--type", "kwanliso"])
    assert "no provider for facility 'chongjin-kwanliso-25'" in result.output
    result = CliRunner().invoke(watch, ["--workspace", str(tmp_path), "--type", "prison"])
    assert result.exit_code == EXIT_USAGE
    assert "'prison' is not one of" in result.output


def test_parse_duration() -> None:
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("90s") == timedelta(seconds=90)
    with pytest.raises(WatchConfigError, match="duration '6 hours' is not a number followed by"):
        parse_duration("6 hours")
