"""``python -m nnexp.predict`` refuses damaged models and bad images with one line on stderr and exit status 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from nnexp.data.idx import write_idx
from nnexp.results import SUMMARY_FILE, read_summary
from tests.conftest import run_nnexp

pytestmark = pytest.mark.slow

N_INPUTS = 64  # digits: 8x8 images, pixel values 0..16


def run_predict(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -m nnexp.predict ARGS`` in ``cwd`` as a user would; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "nnexp.predict", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def train(folder: Path, *overrides: str) -> Path:
    """A real run on digits with ``save_model=true``; its model file."""
    done = run_nnexp(
        ["data=digits", "epochs=1", "hidden=8", "save_model=true", f"hydra.run.dir={folder}", *overrides], folder.parent
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return folder / "model.npz"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("trained") / "run")


@pytest.fixture
def run_dir(saved_model, tmp_path) -> Path:
    """A folder of its own holding a copy of the saved model, free to damage."""
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(saved_model, folder / "model.npz")
    return folder


@pytest.fixture
def good_images(tmp_path) -> Path:
    path = tmp_path / "good.npy"
    np.save(path, np.random.default_rng(0).uniform(0, 16, size=(3, 8, 8)))
    return path


def assert_refused(done: subprocess.CompletedProcess, path: Path, *phrases: str) -> str:
    """Exit status 2, no prediction on stdout, and one line on stderr naming ``path`` and saying ``phrases``."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and str(path) in lines[0], lines[0]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def test_a_sound_model_predicts_every_image(run_dir, good_images) -> None:
    done = run_predict([str(run_dir), "--images", str(good_images)], run_dir)
    assert done.returncode == 0, done.stderr
    assert [line.rsplit(": ", 1)[0] for line in done.stdout.splitlines()] == [f"{good_images}[{i}]" for i in range(3)]


def _overwrite_middle(raw: bytes) -> bytes:
    middle = len(raw) // 2
    return raw[:middle] + b"\xa5" * 32 + raw[middle + 32 :]


def _archive_without(path: Path, dropped: str) -> bytes:
    """The model file re-saved without its array ``dropped``."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files if name != dropped}
    np.savez(path, **arrays)
    return path.read_bytes()


DAMAGES = {
    "overwritten_in_the_middle": _overwrite_middle,
    "truncated": lambda raw: raw[: len(raw) // 2],
    "empty": lambda raw: b"",
    "not_an_npz": lambda raw: b"W0,W1\n0.5,0.25\n",
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_model_file_gets_one_line(run_dir, good_images, damage) -> None:
    model = run_dir / "model.npz"
    model.write_bytes(DAMAGES[damage](model.read_bytes()))
    done = run_predict([str(run_dir), "--images", str(good_images)], run_dir)
    assert_refused(done, model, "not a readable nnexp model", "save_model=true")


@pytest.mark.parametrize(("dropped", "reason"), [("meta", "no meta text"), ("W1", "no W1 array")])
def test_a_model_lacking_an_array_gets_one_line(run_dir, good_images, dropped, reason) -> None:
    model = run_dir / "model.npz"
    _archive_without(model, dropped)
    done = run_predict([str(run_dir), "--images", str(good_images)], run_dir)
    assert_refused(done, model, "not a readable nnexp model", reason, "save_model=true")


def test_a_damaged_model_is_refused_when_evaluating_a_split_too(run_dir) -> None:
    model = run_dir / "model.npz"
    model.write_bytes(_overwrite_middle(model.read_bytes()))
    done = run_predict([str(run_dir), "--split", "test"], run_dir)
    assert_refused(done, model, "not a readable nnexp model")


@pytest.fixture(scope="module")
def diverged_model(tmp_path_factory) -> Path:
    """A real run whose loss stopped being finite in its first epoch (ReLU units at lr=1e30: their outputs overflow).
    Its weights may be finite: a step of lr times a finite gradient is finite up to float32's largest number, so a
    diverged run is told by its status."""
    model = train(tmp_path_factory.mktemp("diverged") / "run", "lr=1e30", "activation=relu")
    assert read_summary(model.parent / SUMMARY_FILE)["status"] == "diverged"
    return model


@pytest.mark.parametrize("command", ["--images", "--split"])
def test_a_diverged_runs_model_gets_one_line(diverged_model, good_images, command) -> None:
    args = ["--images", str(good_images)] if command == "--images" else ["--split", "test"]
    done = run_predict([str(diverged_model.parent), *args], good_images.parent)
    assert_refused(done, diverged_model, "the run diverged", "smaller lr")


@pytest.mark.parametrize("command", ["--images", "--split"])
def test_a_model_with_weights_that_are_not_finite_gets_one_line(run_dir, good_images, tmp_path, command) -> None:
    """A model file whose weights hold NaN and infinities (edited in place: its arrays rewritten, meta kept)."""
    edited = tmp_path / "edited"
    shutil.copytree(run_dir, edited)
    model = edited / "model.npz"
    with np.load(model) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["W0"][0, :3] = [np.nan, np.inf, -np.inf]
    arrays["b1"][0] = np.nan
    total = sum(arrays[name].size for name in arrays if name != "meta")
    np.savez(model, **arrays)
    args = ["--images", str(good_images)] if command == "--images" else ["--split", "test"]
    done = run_predict([str(edited), *args], good_images.parent)
    assert_refused(done, model, f"4 of {total} saved weights are not finite", "diverged")


def _truncated_npy(path: Path) -> str:
    np.save(path, np.zeros((5, N_INPUTS)))
    path.write_bytes(path.read_bytes()[:-100])
    return "not a readable .npy array"


def _text_as_npy(path: Path) -> str:
    path.write_text("1,2,3\n")
    return "not a readable .npy array (no .npy header)"


def _npz_as_npy(path: Path) -> str:
    with path.open("wb") as handle:
        np.savez(handle, images=np.zeros((2, N_INPUTS)))
    return "not a readable .npy array"


def _mnist_shaped(path: Path) -> str:
    np.save(path, np.zeros((4, 28, 28), np.uint8))
    return "an array of shape (4, 28, 28); expected (n, 64), (n, 8, 8) or one (8, 8) image"


def _wrong_feature_count(path: Path) -> str:
    np.save(path, np.zeros((4, 100)))
    return "an array of shape (4, 100); expected (n, 64)"


def _no_images(path: Path) -> str:
    np.save(path, np.zeros((0, N_INPUTS)))
    return "holds no images"


def _strings(path: Path) -> str:
    np.save(path, np.full((2, N_INPUTS), "x"))
    return "expected numbers"


def _missing(path: Path) -> str:
    return "no such file"


def _folder(path: Path) -> str:
    path.mkdir()
    return "a folder"


def _truncated_png(path: Path) -> str:
    matplotlib.image.imsave(path, np.random.default_rng(0).random((8, 8)), cmap="gray")
    path.write_bytes(path.read_bytes()[:60])
    return "not a readable PNG image"


def _mnist_sized_png(path: Path) -> str:
    matplotlib.image.imsave(path, np.random.default_rng(0).random((28, 28)), cmap="gray")
    return "an image of 28x28 pixels; expected 8x8 pixels for a network with 64 inputs"


def _idx(path: Path) -> str:
    write_idx(path, np.zeros((3, 8, 8), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])  # a truncated IDX file
    return "unsupported image file; allowed: .npy arrays or .png images"


BAD_IMAGES = {
    "truncated.npy": _truncated_npy,
    "text.npy": _text_as_npy,
    "archive.npy": _npz_as_npy,
    "mnist.npy": _mnist_shaped,
    "features.npy": _wrong_feature_count,
    "none.npy": _no_images,
    "strings.npy": _strings,
    "missing.npy": _missing,
    "folder.npy": _folder,
    "truncated.png": _truncated_png,
    "mnist.png": _mnist_sized_png,
    "images-idx3-ubyte.idx": _idx,
}


@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_a_bad_image_file_gets_one_line(run_dir, good_images, name) -> None:
    path = good_images.parent / name
    expected = BAD_IMAGES[name](path)
    done = run_predict([str(run_dir), "--images", str(good_images), str(path)], run_dir)  # a good file first
    assert_refused(done, path, expected)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_pixel_values_get_one_line_not_class_0(run_dir, tmp_path, value) -> None:
    path = tmp_path / "nan.npy"
    images = np.random.default_rng(0).uniform(0, 16, size=(3, N_INPUTS))
    images[1, :5] = value
    np.save(path, images)
    done = run_predict([str(run_dir), "--images", str(path)], run_dir)
    assert_refused(done, path, "5 of 192 pixel values are not finite")


def test_pixel_values_too_large_for_the_network_get_one_line(run_dir, tmp_path) -> None:
    path = tmp_path / "huge.npy"
    np.save(path, np.full((2, N_INPUTS), 1e300))  # finite, but beyond float32: the network's outputs are NaN
    done = run_predict([str(run_dir), "--images", str(path)], run_dir)
    assert_refused(done, path, "the network's outputs are not finite for 2 of 2 images", "0..16")
