"""Use a saved run: ``python -m nnexp.predict <run folder> [--split test] [--images FILE ...]``.

A run saves its network with ``save_model=true`` (``model.npz``). This command
evaluates it on a split of its data set, or predicts the class of given images:
``.npy`` arrays of shape (n, 28, 28), (n, 784) or (28, 28) with raw pixel values,
or 28x28 greyscale ``.png`` files (white digit on black, as in MNIST).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from nnexp.data import DataConfig, load_dataset
from nnexp.errors import NnexpError
from nnexp.model.io import MODEL_FILE, load_model


def read_images(path: Path, pixel_max: float, n_inputs: int) -> np.ndarray:
    """Raw images from a .npy array or a greyscale .png (PNG values scaled back to 0..pixel_max)."""
    if path.suffix == ".npy":
        images = np.load(path)
        single = images.ndim == 2 and images.shape[1] != n_inputs  # one (rows, cols) image
        return images[None] if single else images
    if path.suffix == ".png":
        import matplotlib.image

        pixels = matplotlib.image.imread(path)
        grey = pixels[..., :3].mean(axis=-1) if pixels.ndim == 3 else pixels
        return (grey * pixel_max)[None]
    raise NnexpError(f"{path}: unsupported image file; allowed: .npy arrays or .png images")


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
    """One line per image: file, index and predicted class."""
    model, preprocess, config = load_model(run_dir / MODEL_FILE)
    lines = []
    for path in files:
        images = read_images(path, preprocess.pixel_max, model.layer_sizes[0])
        if images.reshape(len(images), -1).shape[1] != model.layer_sizes[0]:
            raise NnexpError(
                f"{path}: images of shape {images.shape[1:]} do not fit a network with {model.layer_sizes[0]} inputs"
            )
        classes = model.predict(preprocess(images).astype(model.dtype))
        if config["task"] == "one_vs_all":
            names = {1: f"{config['positive_class']}", 0: f"not {config['positive_class']}"}
            lines += [f"{path}[{i}]: {names[int(c)]}" for i, c in enumerate(classes)]
        else:
            lines += [f"{path}[{i}]: {int(c)}" for i, c in enumerate(classes)]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Evaluate or apply a saved run; exit status 2 with one line on bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m nnexp.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="folder of a run made with save_model=true")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--images", type=Path, nargs="+", help="predict these images instead of evaluating")
    parser.add_argument("--data-root", help="folder with the data set's files, if not where the run found them")
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
