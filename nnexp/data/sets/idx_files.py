"""Data sets published as four IDX files (MNIST, Fashion-MNIST): from a local folder or downloaded."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nnexp.data.content import (
    OFFICIAL_COUNTS,
    OFFICIAL_GZ,
    ROLES,
    DataIdentity,
    combined_digest,
    describe_files,
    file_digests,
)
from nnexp.data.dataset import RawImages
from nnexp.data.download import cache_folder, fetch
from nnexp.data.idx import read_idx, read_idx_shape
from nnexp.data.settings import DataConfig
from nnexp.errors import DataFileError, DataUnavailableError

LOADER = "idx"


def find_local(folder: Path, file_name: str) -> Path | None:
    """The file in ``folder``, compressed (``.gz``) or not."""
    for candidate in (folder / file_name, folder / file_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


class Reader:
    """The files named by ``data.files``: in ``data.root`` (trusted as they are), or downloaded from
    ``data.urls`` into the cache and verified by ``data.md5``."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg

    @property
    def n_classes(self) -> int:
        return self.cfg.n_classes

    @property
    def fixed_training_images(self) -> bool:
        return True  # the files' training set

    @property
    def folder(self) -> Path:
        """Where the files are: ``data.root``, else the download cache."""
        return Path(self.cfg.root).expanduser() if self.cfg.root else cache_folder(self.cfg)

    def _missing(self, names: list[str]) -> DataUnavailableError:
        return DataUnavailableError(
            f"data.root={self.folder} lacks {', '.join(names)}: put the IDX files of {self.cfg.name} there"
            " (gzip-compressed or not), or unset data.root to download them"
        )

    def training_shape(self) -> tuple[int, int] | None:
        images = self.cfg.files["train_images"]
        path = find_local(self.folder, images)
        if path is None:
            if self.cfg.root:
                raise self._missing([images])
            return None
        n_images, *image_shape = read_idx_shape(path)
        if not n_images:
            raise DataFileError(f"{path}: no train images; expected at least one")
        return n_images, math.prod(image_shape)

    def identity(self) -> DataIdentity | None:
        cfg = self.cfg
        if cfg.root:  # files trusted as they are: known by their content
            found = {role: find_local(self.folder, name) for role, name in cfg.files.items()}
            if None in found.values():
                return None
            digests = file_digests(found, cache_folder(cfg))
            counts = [read_idx_shape(found[f"{part}_images"])[0] for part in ("train", "test")]
            return describe_files({role: digests[role] for role in ROLES}, *counts)
        # downloads are verified by the md5 of their .gz, before and after they are here: the official files'
        # content is known from it, other files are known by it
        by_role = {role: cfg.md5.get(name, "") for role, name in cfg.files.items()}
        if all(md5 in OFFICIAL_GZ for md5 in by_role.values()):
            return describe_files({role: OFFICIAL_GZ[by_role[role]] for role in ROLES}, *OFFICIAL_COUNTS)
        digest = combined_digest({f"gz:{role}": md5 for role, md5 in by_role.items()})
        return DataIdentity(digest, f"downloaded files verified by md5: {digest}")

    def _paths(self) -> dict[str, Path]:
        """Local paths of the four files, by role: found in ``data.root``, or downloaded into the cache."""
        cfg = self.cfg
        if cfg.root:
            found = {role: find_local(self.folder, name) for role, name in cfg.files.items()}
            missing = [cfg.files[role] for role, path in found.items() if path is None]
            if missing:
                raise self._missing(missing)
            return found
        try:
            by_name = fetch({name: cfg.md5[name] for name in cfg.files.values()}, list(cfg.urls), self.folder)
        except DataUnavailableError as exc:
            raise DataUnavailableError(
                f"{cfg.name} could not be downloaded: {exc}. Put the files {', '.join(cfg.files.values())}"
                f" in {self.folder}, or point data.root=<folder> (for MNIST also NNEXP_DATA_DIR) at a folder"
                " holding them; data=digits runs with no download at all"
            ) from None
        return {role: by_name[name] for role, name in cfg.files.items()}

    def load(self) -> RawImages:
        paths = self._paths()
        arrays = {role: read_idx(path) for role, path in paths.items()}
        for part in ("train", "test"):
            images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise DataFileError(
                    f"{paths[f'{part}_images']}: {part} images of shape {images.shape} do not match labels of"
                    f" shape {labels.shape} in {paths[f'{part}_labels']}; expected (n, rows, cols) and (n,)"
                )
            if not len(images):
                raise DataFileError(f"{paths[f'{part}_images']}: no {part} images; expected at least one")
            if not np.issubdtype(labels.dtype, np.integer):
                raise DataFileError(
                    f"{paths[f'{part}_labels']}: labels of type {labels.dtype}; expected integer class numbers"
                )
            if labels.min() < 0 or labels.max() >= self.n_classes:
                raise DataFileError(f"{paths[f'{part}_labels']}: labels outside 0..{self.n_classes - 1}")
        train_shape, test_shape = arrays["train_images"].shape[1:], arrays["test_images"].shape[1:]
        if train_shape != test_shape:
            raise DataFileError(
                f"{paths['test_images']}: test images of {test_shape[0]}x{test_shape[1]} pixels, training images"
                f" ({paths['train_images']}) of {train_shape[0]}x{train_shape[1]}; expected the same size"
            )

        def flat(images: np.ndarray) -> np.ndarray:
            return images.reshape(len(images), -1)

        return RawImages(
            flat(arrays["train_images"]),
            arrays["train_labels"],
            flat(arrays["test_images"]),
            arrays["test_labels"],
            pixel_max=255.0,
        )
