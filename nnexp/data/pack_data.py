"""What a pack of runs reads (:mod:`nnexp.model.pack`): the inputs every step multiplies, and each member's rows and
labels of them.

Members on one split read its training images, each with labels of its own (a one-vs-all task has its positive
class); their validation and test images are evaluated (:meth:`PackData.sharing`). Members on different splits of
one data set (another ``data.split_seed``) read a pool: the union of their training and validation images, in the
files' order, each image once (:meth:`PackData.pooling`). Each member trains on its own rows of the pool, in
ascending order (full-batch training reads them all at once: their order only moves the roundoff of the sums), and
its validation rows are in the same forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnexp.data.splits import Splits


@dataclass(frozen=True)
class MemberRows:
    """One member's part of a pack's data: its labels of its training, validation and test images; which rows of
    the pack's inputs are its training images (``train_rows`` (n_j,), ascending; None: all of them, in order) and its
    validation images (``val_rows`` (v_j,); None: the pack's validation inputs); ``split_order`` (n_j,) puts its
    training rows (and labels) back in the order of its split."""

    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    train_rows: np.ndarray | None = None
    val_rows: np.ndarray | None = None
    split_order: np.ndarray | None = None

    def first_training_rows(self, count: int) -> tuple[np.ndarray | slice, np.ndarray]:
        """The pack's rows of its split's first ``count`` training images, and their labels."""
        if self.train_rows is None:
            return slice(count), self.y_train[:count]
        first = self.split_order[:count]
        return self.train_rows[first], self.y_train[first]


@dataclass(frozen=True)
class PackData:
    """The inputs of a pack's steps ``x`` (n, features), its validation inputs ``x_val`` (shared by the members; None
    when each member's validation images are rows of ``x``), its test inputs ``x_test``, and each member's
    :class:`MemberRows`; ``train_order`` (n,): the order mini-batches take the rows of ``x`` in, as
    :attr:`Splits.train_order` (a run alone; packs train full batch); ``sources``: the members whose split the images
    of a pool were read from (each one's array cache entry)."""

    x: np.ndarray
    x_val: np.ndarray | None
    x_test: np.ndarray
    members: tuple[MemberRows, ...]
    train_order: np.ndarray | None = None
    sources: tuple[int, ...] = ()

    @property
    def pooled(self) -> bool:
        """Whether the members read their own rows of ``x`` (:meth:`pooling`)."""
        return self.x_val is None

    @classmethod
    def sharing(cls, splits: Sequence[Splits]) -> PackData:
        """Members that read one split: ``splits[j]`` is member j's, the same images as every other's (its labels its
        own)."""
        first = splits[0]
        rows = tuple(MemberRows(data.y_train, data.y_val, data.y_test) for data in splits)
        return cls(first.x_train, first.x_val, first.x_test, rows, first.train_order, (0,))

    @classmethod
    def pooling(cls, splits: Sequence[Splits], positions: Sequence[tuple[np.ndarray, np.ndarray]]) -> PackData:
        """Members on splits of one data set: ``splits[j]`` is member j's, ``positions[j]`` its validation and
        training images' positions among the data set's training images (:func:`~nnexp.data.splits.split_indices`,
        in the order of its split). Features are per image (not fitted on a split: ``data.scaling`` unit or raw), so
        an image's row is the same in every split that holds it; the pool takes it from the first. Members on one
        split share their row arrays (and so their probe of :meth:`first_training_rows`)."""
        size = 1 + max(int(max(val.max(), train.max())) for val, train in positions)
        used = np.zeros(size, bool)
        for val, train in positions:
            used[val] = used[train] = True
        images = np.flatnonzero(used)  # the pool's rows: these images, in the files' order
        row_of = np.full(size, -1, np.intp)
        row_of[images] = np.arange(len(images))
        x = np.empty((len(images), splits[0].n_features), splits[0].x_train.dtype)
        filled = np.zeros(len(images), bool)
        layouts: dict[bytes, tuple[np.ndarray, ...]] = {}  # per split: its rows and their orders
        members, sources = [], []
        for j, (data, (val, train)) in enumerate(zip(splits, positions)):
            split = val.tobytes() + train.tobytes()
            if split not in layouts:
                for features, places in ((data.x_train, train), (data.x_val, val)):
                    rows = row_of[places]
                    new = np.flatnonzero(~filled[rows])
                    if len(new):  # only the images no member before held: the rest is not read
                        x[rows[new]] = features[new]
                        filled[rows[new]] = True
                        sources.append(j)
                train_order, val_order = np.argsort(row_of[train]), np.argsort(row_of[val])
                layouts[split] = (
                    train_order,
                    val_order,
                    row_of[train][train_order],
                    row_of[val][val_order],
                    np.argsort(train_order),
                )
            train_order, val_order, *rows = layouts[split]
            members.append(MemberRows(data.y_train[train_order], data.y_val[val_order], data.y_test, *rows))
        return cls(x, None, splits[0].x_test, tuple(members), sources=tuple(dict.fromkeys(sources)))
