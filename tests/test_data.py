"""Data sets as splits: local folders, digits, validation split, scaling."""

from __future__ import annotations

import gzip
import mmap
from pathlib import Path

import numpy as np
import pytest

from nnexp.data import DataConfig, DataFileError, DataUnavailableError, load_dataset
from nnexp.data.cache import memory_map
from nnexp.data.idx import IDX_FILES, write_idx
from nnexp.data.sets import digits
from nnexp.errors import ConfigError
from tests.conftest import MNIST_5K


def test_local_folder_is_read_without_checksums(idx_dataset) -> None:
    folder, arrays = idx_dataset
    splits = load_dataset(DataConfig(name="mnist", root=str(folder), val_size=0.25))
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (90, 30, 40)
    assert splits.y_train.ndim == 1 and splits.n_features == 784
    assert splits.x_train.dtype == np.float32
    assert splits.x_train.min() >= 0.0 and splits.x_train.max() <= 1.0
    # train + validation together are exactly the training file, shuffled
    images = np.concatenate([splits.x_train, splits.x_val])
    labels = np.concatenate([splits.y_train, splits.y_val])
    order = np.lexsort(images.T[::-1])
    reference = arrays["train_images"].reshape(120, -1) / np.float32(255)
    ref_order = np.lexsort(reference.T[::-1])
    np.testing.assert_allclose(images[order], reference[ref_order], rtol=1e-6)
    np.testing.assert_array_equal(labels[order], arrays["train_labels"][ref_order])


def test_uncompressed_files_are_found_too(idx_dataset) -> None:
    folder, arrays = idx_dataset
    for role, name in IDX_FILES.items():
        (folder / name).unlink()
        write_idx(folder / name.removesuffix(".gz"), arrays[role])
    assert len(load_dataset(DataConfig(name="fashion_mnist", root=str(folder))).y_test) == 40


def test_missing_local_file_is_named(idx_dataset) -> None:
    folder, _ = idx_dataset
    (folder / IDX_FILES["test_labels"]).unlink()
    with pytest.raises(DataUnavailableError, match=f"data.root={folder} lacks t10k-labels-idx1-ubyte.gz"):
        load_dataset(DataConfig(name="mnist", root=str(folder)))


def test_images_and_labels_of_different_lengths_are_rejected(idx_dataset) -> None:
    folder, _ = idx_dataset
    write_idx(folder / IDX_FILES["train_labels"], np.zeros(7, np.uint8))
    with pytest.raises(
        DataFileError, match=r"train images of shape \(120, 28, 28\) do not match labels of shape \(7,\)"
    ):
        load_dataset(DataConfig(name="mnist", root=str(folder)))


def test_damaged_local_file_is_named(idx_dataset) -> None:
    folder, _ = idx_dataset
    path = folder / IDX_FILES["train_images"]
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-10]))
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte.gz: IDX data truncated"):
        load_dataset(DataConfig(name="mnist", root=str(folder)))


def test_split_is_seeded_and_sizes_follow_val_size() -> None:
    first = load_dataset(DataConfig(name="digits", loader="digits", val_size=0.2))
    again = load_dataset(DataConfig(name="digits", loader="digits", val_size=0.2))
    other = load_dataset(DataConfig(name="digits", loader="digits", val_size=0.2, split_seed=1))
    np.testing.assert_array_equal(first.y_val, again.y_val)
    assert not np.array_equal(first.y_val, other.y_val)
    n = len(first.y_train) + len(first.y_val)
    assert len(first.y_val) == round(0.2 * n)
    assert len(load_dataset(DataConfig(name="digits", loader="digits", val_size=100)).y_val) == 100
    limited = load_dataset(DataConfig(name="digits", loader="digits", val_size=100, train_limit=50))
    assert len(limited.y_train) == 50 and len(limited.y_val) == 100


def test_digits_are_scaled_to_unit_range() -> None:
    splits = load_dataset(DataConfig(name="digits", loader="digits"))
    assert splits.n_features == 64 and splits.n_classes == 10
    assert splits.x_train.max() == 1.0 and splits.x_train.min() == 0.0
    from sklearn.datasets import load_digits

    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == len(load_digits().target) == digits.N_IMAGES


# none, every one of the training images (1,797 minus the 359 test images), more than there are
@pytest.mark.parametrize("val_size", [0.0, float(digits.N_IMAGES - digits.N_TEST), 5000.0])
def test_impossible_validation_split_is_a_config_error(val_size) -> None:
    with pytest.raises(ConfigError, match=f"data.val_size={val_size} gives .* allowed: a fraction"):
        load_dataset(DataConfig(name="digits", loader="digits", val_size=val_size))


def test_unknown_data_set_reader() -> None:
    with pytest.raises(ConfigError, match=r"data.loader=cifar is not a known reader; allowed: digits, idx"):
        load_dataset(DataConfig(name="cifar", loader="cifar"))


@pytest.mark.skipif(not MNIST_5K.is_dir(), reason="../shared/data/mnist-5k is absent")
def test_mnist_5k_class_ordered_files_give_balanced_splits() -> None:
    splits = load_dataset(DataConfig(name="mnist", root=str(MNIST_5K), val_size=0.1))
    assert splits.x_train.shape == (4500, 784) and splits.x_test.shape == (10000, 784)
    counts = np.bincount(splits.y_val, minlength=10)
    assert counts.min() >= 30, counts  # 500 per class in the file, ordered by class: the split must shuffle


@pytest.mark.skipif(not hasattr(mmap, "MADV_HUGEPAGE") or not Path("/proc/self/smaps").exists(), reason="Linux only")
def test_cached_arrays_are_mapped_with_huge_pages_advised(tmp_path) -> None:
    """The kernel marks a mapping advised MADV_HUGEPAGE with 'hg' in its VmFlags."""
    np.save(tmp_path / "x.npy", np.zeros((600, 784), dtype=np.float32))
    array = memory_map(tmp_path / "x.npy")
    mappings = Path("/proc/self/smaps").read_text().split("\n")
    start = next(i for i, line in enumerate(mappings) if line.endswith(str(tmp_path / "x.npy")))
    flags = next(line for line in mappings[start:] if line.startswith("VmFlags:")).split()[1:]
    assert "hg" in flags and array.shape == (600, 784) and not array.flags.writeable


def test_splits_are_cached_once_and_memory_mapped(idx_dataset, tmp_path, monkeypatch) -> None:
    from nnexp.data import loading
    from nnexp.data.sets import idx_files

    folder, _ = idx_dataset
    calls = []
    real = idx_files.Reader.load
    monkeypatch.setattr(idx_files.Reader, "load", lambda self: calls.append(1) or real(self))
    cfg = DataConfig(name="mnist", root=str(folder), cache_dir=str(tmp_path / "cache"), scaling="standard")
    first = load_dataset(cfg)
    again = load_dataset(cfg)
    assert len(calls) == 1
    assert isinstance(again.x_train, np.memmap) and not again.x_train.flags.writeable
    fresh = loading.build_splits(cfg, loading.open_dataset(cfg))  # the reference, read from the files again
    assert len(calls) == 2
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, field), getattr(fresh, field))
        np.testing.assert_array_equal(getattr(first, field), getattr(fresh, field))
    np.testing.assert_array_equal(again.preprocess.mean, fresh.preprocess.mean)
    load_dataset(
        DataConfig(name="mnist", root=str(folder), cache_dir=str(tmp_path / "cache"), scaling="standard", val_size=0.2)
    )
    assert len(calls) == 3  # other split settings: another entry
    entries = [p.name for p in (tmp_path / "cache" / "arrays").iterdir()]
    assert len(entries) == 2 and not any(name.startswith(".") for name in entries)


def test_changed_source_file_is_not_served_from_the_cache(idx_dataset, tmp_path) -> None:
    folder, arrays = idx_dataset
    cfg = DataConfig(name="mnist", root=str(folder), cache_dir=str(tmp_path / "cache"))
    before = load_dataset(cfg)
    write_idx(folder / IDX_FILES["test_labels"], (arrays["test_labels"] + 1) % 10)
    after = load_dataset(cfg)
    np.testing.assert_array_equal(after.y_test, (before.y_test + 1) % 10)


def test_cache_can_be_turned_off(idx_dataset, tmp_path) -> None:
    folder, _ = idx_dataset
    cfg = DataConfig(name="mnist", root=str(folder), cache_dir=str(tmp_path / "cache"), cache_arrays=False)
    assert not isinstance(load_dataset(cfg).x_train, np.memmap)
    assert not (tmp_path / "cache").exists()
