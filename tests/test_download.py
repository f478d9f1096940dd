"""The real download path (md5-verified, through a partial file) against a file server on 127.0.0.1."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from nnexp.data import DataConfig, DataUnavailableError, load_dataset
from nnexp.data.download import fetch
from nnexp.data.idx import IDX_FILES
from tests.conftest import make_idx_dataset, md5, run_nnexp


def _serve_dataset(served, n_train=120, n_test=40):
    arrays = make_idx_dataset(served, n_train=n_train, n_test=n_test)
    return arrays, {name: md5(served / name) for name in IDX_FILES.values()}


def test_download_verifies_and_caches(http_server, tmp_path) -> None:
    url, served, requests = http_server
    _, sums = _serve_dataset(served)
    cache = tmp_path / "cache"
    paths = fetch(sums, [url], cache)
    assert sorted(p.name for p in paths.values()) == sorted(IDX_FILES.values())
    assert all(md5(p) == sums[p.name] for p in paths.values())
    assert len(requests) == 4
    fetch(sums, [url], cache)  # second call: everything already cached and verified
    assert len(requests) == 4


def test_checksum_mismatch_through_load_dataset_is_one_line_naming_the_file(http_server, tmp_path) -> None:
    url, served, _ = http_server
    _, sums = _serve_dataset(served)
    sums[IDX_FILES["test_labels"]] = "f" * 32  # e.g. a mirror serving another version of the file
    cfg = DataConfig(name="mnist", urls=[url], md5=sums, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(cfg)
    message = str(info.value)
    assert "\n" not in message
    assert "could not download t10k-labels-idx1-ubyte.gz" in message and "hash" in message.lower()
    assert not (tmp_path / "cache" / IDX_FILES["test_labels"]).exists()


def test_checksum_mismatch_keeps_no_file(http_server, tmp_path) -> None:
    url, served, _ = http_server
    _, _sums = _serve_dataset(served)
    name = IDX_FILES["train_labels"]
    wrong = {name: "0" * 32}
    cache = tmp_path / "cache"
    with pytest.raises(DataUnavailableError, match=f"could not download {name}.*(?i:md5|hash)"):
        fetch(wrong, [url], cache)
    assert not cache.exists()  # neither the file nor the folder made for it


def test_second_mirror_is_used_when_the_first_lacks_the_file(http_server, tmp_path) -> None:
    url, served, requests = http_server
    _, sums = _serve_dataset(served / "mirror2")
    paths = fetch(sums, [url + "mirror1/", url + "mirror2/"], tmp_path / "cache")
    assert len(paths) == 4
    assert sum(r.startswith("/mirror1/") for r in requests) == 4


def test_corrupted_cached_file_is_downloaded_again(http_server, tmp_path) -> None:
    url, served, requests = http_server
    _, sums = _serve_dataset(served)
    cache = tmp_path / "cache"
    fetch(sums, [url], cache)
    victim = cache / IDX_FILES["test_images"]
    victim.write_bytes(victim.read_bytes()[:100])  # e.g. an interrupted copy
    fetch(sums, [url], cache)
    assert md5(victim) == sums[victim.name]
    assert len(requests) == 5


def test_load_dataset_downloads_then_splits(http_server, tmp_path) -> None:
    url, served, _ = http_server
    arrays, sums = _serve_dataset(served)
    cfg = DataConfig(name="mnist", urls=[url], md5=sums, cache_dir=str(tmp_path / "cache"), val_size=20)
    splits = load_dataset(cfg)
    assert splits.x_train.shape == (100, 784) and splits.x_val.shape == (20, 784)
    assert splits.x_test.shape == (40, 784)
    np.testing.assert_array_equal(splits.y_test, arrays["test_labels"])
    np.testing.assert_allclose(splits.x_test, arrays["test_images"].reshape(40, -1) / 255.0, rtol=1e-6)


def test_offline_error_says_where_to_put_files_and_offers_digits(http_server, tmp_path) -> None:
    url, served, _ = http_server
    shutil.rmtree(served)  # the server answers 404 for everything, as a dead mirror would
    cache = tmp_path / "cache"
    cfg = DataConfig(name="mnist", urls=[url], md5={n: "0" * 32 for n in IDX_FILES.values()}, cache_dir=str(cache))
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(cfg)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("mnist could not be downloaded: could not download train-images-idx3-ubyte.gz")
    assert str(cache) in message and "data.root=" in message and "data=digits" in message
    assert not cache.exists()  # the folder the download would have filled is not left behind, empty


def test_unreachable_server_is_a_clear_error(tmp_path) -> None:
    cfg = DataConfig(
        name="mnist",
        urls=["http://127.0.0.1:9/"],
        md5={n: "0" * 32 for n in IDX_FILES.values()},
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.raises(DataUnavailableError, match=r"could not download train-images-idx3-ubyte.gz.*data=digits"):
        load_dataset(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["-m", "activation=sigmoid,relu", "hidden=32,64"], []], ids=["sweep", "run"])
def test_the_first_command_offline_is_one_short_message_and_writes_nothing(tmp_path, mode) -> None:
    """No MNIST files and no network: where to put the files, data.root, data=digits; no sweep or run folder."""
    cache = tmp_path / "cache"
    offline = [f"data.cache_dir={cache}", "data.root=null", "data.urls=[http://127.0.0.1:9/a,http://127.0.0.1:9/b]"]
    done = run_nnexp([*mode, *offline], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    assert len(output.splitlines()) <= 3 and len(output) < 1500, output
    assert "http://127.0.0.1:9/a: Connection refused; http://127.0.0.1:9/b: Connection refused" in output
    assert f"in {cache}" in output and "data.root=" in output and "data=digits" in output
    assert list(tmp_path.iterdir()) == []  # no multirun/ or outputs/, and no empty cache folder
