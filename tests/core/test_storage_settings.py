"""An `s3://bucket/prefix` root and the `[storage]` settings: parsing, the state directory, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import resolve_settings, with_root
from binance_lake.core.storage_settings import (
    default_state_dir,
    is_object_url,
    normalize_url,
    parse_object_url,
)

segment = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)


@given(bucket=st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}", fullmatch=True), parts=st.lists(segment, max_size=4))
def test_an_object_url_round_trips_through_parse_and_normalize(bucket: str, parts: list[str]) -> None:
    prefix = "/".join(parts)
    url = f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}"
    assert parse_object_url(url) == (bucket, prefix)
    assert parse_object_url(normalize_url(url)) == (bucket, prefix)
    assert is_object_url(url)


@pytest.mark.parametrize(
    "text", ["s3://", "s3:///prefix", "gs://b/p", "s3://b/a//c", "s3://b/../x", "s3://b/p?x=1"]
)
def test_a_malformed_object_url_is_one_sentence(text: str) -> None:
    with pytest.raises(UsageError, match=r"s3://bucket/prefix|empty"):
        parse_object_url(text)


def test_an_s3_root_becomes_its_state_directory(tmp_path: Path) -> None:
    settings = resolve_settings({"root": "s3://bkt/lake/one"}, environ={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert settings.storage.url == "s3://bkt/lake/one"
    assert settings.root == default_state_dir("s3://bkt/lake/one")
    assert settings.root.parts[-4:] == ("binance-lake", "bkt", "lake", "one")
    assert settings.storage.endpoint_url is None and settings.storage.region is None  # real AWS


def test_environment_beats_the_storage_table(tmp_path: Path) -> None:
    (tmp_path / "binance-lake.toml").write_text(
        'root = "s3://bkt/p"\n[storage]\nendpoint_url = "http://127.0.0.1:9000"\nregion = "eu-west-1"\n'
        f'state_dir = "{tmp_path / "from-file"}"\n',
        encoding="utf-8",
    )
    file_only = resolve_settings(environ={}, cwd=tmp_path)
    assert file_only.root == tmp_path / "from-file"
    assert (file_only.storage.endpoint_url, file_only.storage.region) == (
        "http://127.0.0.1:9000",
        "eu-west-1",
    )
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9999/",
        "AWS_REGION": "us-east-2",
        "BINANCE_LAKE_STATE_DIR": str(tmp_path / "from-env"),
    }
    both = resolve_settings(environ=env, cwd=tmp_path)
    assert both.root == tmp_path / "from-env"
    assert (both.storage.endpoint_url, both.storage.region) == ("http://127.0.0.1:9999", "us-east-2")


def test_a_local_root_has_no_store_and_with_root_switches_kinds(tmp_path: Path) -> None:
    local = resolve_settings({"root": str(tmp_path / "lake")}, environ={}, cwd=tmp_path)
    assert local.storage.url is None and local.root == tmp_path / "lake"
    remote = with_root(local, "s3://bkt/x", environ={"BINANCE_LAKE_STATE_DIR": str(tmp_path / "state")})
    assert remote.storage.url == "s3://bkt/x" and remote.root == tmp_path / "state"
    back = with_root(remote, tmp_path / "other", environ={})
    assert back.storage.url is None and back.root == tmp_path / "other"


@pytest.mark.parametrize(
    ("toml", "match"),
    [
        ('[storage]\nbucket = "x"\n', "unknown key 'bucket'"),
        ("[storage]\nregion = 3\n", "must be a non-empty string"),
        ('[storage]\nendpoint_url = "ftp://x"\n', "must be an http"),
        ('storage = "x"\n', "must be a table"),
    ],
)
def test_a_bad_storage_table_is_one_sentence(tmp_path: Path, toml: str, match: str) -> None:
    (tmp_path / "binance-lake.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(UsageError, match=match):
        resolve_settings(environ={}, cwd=tmp_path)
