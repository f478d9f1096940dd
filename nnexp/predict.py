"""Use a saved run: ``python -m nnexp.predict <run folder> [--split test] [--images FILE ...]``.

A run saves its network with ``save_model=true`` (``model.npz``). This command
evaluates it on a split of its data set, or predicts the class of given images:
``.npy`` arrays of shape (n, 28, 28), (n, 784) or (28, 28) with raw pixel values,
or 28x28 greyscale ``.png`` files (white digit on black, as in MNIST).
A damaged model, an unreadable or ill-shaped image file, or values that are not
finite stop it before any output: one line on stderr naming the file, exit status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from nnexp.console import version_line
from nnexp.data import DataConfig, load_dataset
from nnexp.data.splits import Preprocess
from nnexp.errors import DataFileError, NnexpError
from nnexp.model import MLP
from nnexp.results.model_file import MODEL_FILE, load_model

NPY_MAGIC = b"\x93NUMPY"  # how a .npy file begins


def read_images(path: Path, pixel_max: float, n_inputs: int) -> np.ndarray:
    """Raw images (n, ...) of a .npy array or a greyscale .png, checked to fit the network and be finite.

    Raises :class:`DataFileError` (one line naming ``path``) for anything else.
    """
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".png"):
        raise DataFileError(f"{path}: unsupported image file; allowed: .npy arrays or .png images")
    if not path.is_file():
        found = "a folder" if path.is_dir() else "no such file"
        raise DataFileError(f"{path}: {found}; expected a {suffix} file of images")
    images = _read_npy(path, n_inputs) if suffix == ".npy" else _read_png(path, pixel_max, n_inputs)
    bad = int(np.count_nonzero(~np.isfinite(images)))
    if bad:
        raise DataFileError(
            f"{path}: {bad} of {images.size} pixel values are not finite (NaN or infinite);"
            f" expected raw pixel values 0..{pixel_max:g}"
        )
    return images


def _reason(exc: BaseException) -> str:
    """What went wrong, on one short line."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split())[:160] or type(exc).__name__


def _read_npy(path: Path, n_inputs: int) -> np.ndarray:
    """The images of a .npy array: (n, n_inputs), (n, rows, cols) or one (rows, cols) image."""
    try:
        with open(path, "rb") as handle:
            if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
                raise ValueError("no .npy header")
        images = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy's header parser raises many kinds for damaged bytes
        raise DataFileError(
            f"{path}: not a readable .npy array ({_reason(exc)}); expected an array saved with numpy.save"
        ) from None
    if images.dtype.kind not in "uif":
        raise DataFileError(f"{path}: an array of {images.dtype} values; expected numbers (raw pixel values)")
    single = images.ndim == 2 and images.shape[1] != n_inputs  # one (rows, cols) image
    per_image = images.size if single else math.prod(images.shape[1:])
    if images.ndim not in (2, 3) or per_image != n_inputs:
        raise DataFileError(f"{path}: an array of shape {images.shape}; expected {_expected_shapes(n_inputs)}")
    if images.size == 0:
        raise DataFileError(f"{path}: an array of shape {images.shape} holds no images")
    return images[None] if single else images


def _expected_shapes(n_inputs: int) -> str:
    """The array shapes a network with ``n_inputs`` inputs takes, for messages."""
    side = math.isqrt(n_inputs)
    square = f", (n, {side}, {side}) or one ({side}, {side}) image" if side * side == n_inputs else ""
    return f"(n, {n_inputs}){square} for a network with {n_inputs} inputs"


def _read_png(path: Path, pixel_max: float, n_inputs: int) -> np.ndarray:
    """One greyscale image (1, rows, cols), PNG values 0..1 scaled back to 0..pixel_max."""
    import matplotlib.image

    try:
        pixels = matplotlib.image.imread(path, format="png")
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for damaged files
        raise DataFileError(f"{path}: not a readable PNG image ({_reason(exc)})") from None
    grey = pixels[..., : 3 if pixels.shape[-1] >= 3 else 1].mean(axis=-1) if pixels.ndim == 3 else pixels
    if grey.size != n_inputs:
        side = math.isqrt(n_inputs)
        expected = f"{side}x{side}" if side * side == n_inputs else f"{n_inputs}"
        raise DataFileError(
            f"{path}: an image of {'x'.join(map(str, grey.shape))} pixels; expected {expected} pixels"
            f" for a network with {n_inputs} inputs"
        )
    return (grey * pixel_max)[None]


def evaluate_split(run_dir: Path, split: str, data_root: str | None) -> str:
    """Loss and accuracy of the saved network on ``split`` of the run's own data set."""
    model, _, config = load_model(run_dir / MODEL_FILE)
    saved = dict(config["data"])
    if "loader" not in saved and saved.get("name") == "digits":  # saved before data.loader existed
        saved["loader"] = "digits"
    data_cfg = OmegaConf.merge(OmegaConf.structured(DataConfig), saved)
    if data_root:
        data_cfg.root = data_root
    data = load_dataset(OmegaConf.to_object(data_cfg))
    if config["task"] == "one_vs_all":
        data = data.one_vs_all(config["positive_class"])
    x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    loss, accuracy = model.evaluate(x.astype(model.dtype), y)
    return f"{split}: loss {loss:.4f}, accuracy {100 * accuracy:.2f}% on {len(y)} images"


def predict_files(run_dir: Path, files: list[Path]) -> list[str]:
    """One line per image: file, index and predicted class. Every file is checked before any is predicted."""
    model, preprocess, config = load_model(run_dir / MODEL_FILE)
    inputs = [(path, read_images(path, preprocess.pixel_max, model.layer_sizes[0])) for path in files]
    lines = []
    for path, images in inputs:
        classes = _classes(model, preprocess, images, path)
        if config["task"] == "one_vs_all":
            names = {1: f"{config['positive_class']}", 0: f"not {config['positive_class']}"}
            lines += [f"{path}[{i}]: {names[int(c)]}" for i, c in enumerate(classes)]
        else:
            lines += [f"{path}[{i}]: {int(c)}" for i, c in enumerate(classes)]
    return lines


def _classes(model: MLP, preprocess: Preprocess, images: np.ndarray, path: Path) -> np.ndarray:
    """Predicted classes of ``images``; a :class:`DataFileError` if the network's outputs are not finite."""
    with np.errstate(over="ignore", invalid="ignore"):  # e.g. huge pixel values: reported below
        logits = model.logits(preprocess(images).astype(model.dtype))
    bad = int(np.count_nonzero(~np.isfinite(logits).all(axis=1)))
    if bad:
        raise DataFileError(
            f"{path}: the network's outputs are not finite for {bad} of {len(images)} images;"
            f" expected raw pixel values 0..{preprocess.pixel_max:g}"
        )
    return model.output.predict(logits)


def main(argv: list[str] | None = None) -> int:
    """Evaluate or apply a saved run; exit status 2 with one line on bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m nnexp.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="folder of a run made with save_model=true")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--images", type=Path, nargs="+", help="predict these images instead of evaluating")
    parser.add_argument("--data-root", help="folder with the data set's files, if not where the run found them")
    parser.add_argument("--version", action="version", version=version_line())
    args = parser.parse_args(argv)
    if not (args.run_dir / MODEL_FILE).exists():
        print(
            f"error: {args.run_dir} has no {MODEL_FILE}; train with save_model=true to keep the weights",
            file=sys.stderr,
        )
        return 2
    try:
        lines = (
            predict_files(args.run_dir, args.images)
            if args.images
            else [evaluate_split(args.run_dir, args.split, args.data_root)]
        )
    except NnexpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
