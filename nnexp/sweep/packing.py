"""Which runs of a grid sweep train together as a pack (:mod:`nnexp.model.pack`, docs/packs.md).

Runs pack when they read the same data and train full batch, so that one product serves them all at every step
(:attr:`~nnexp.training.spec.RunSpec.pack_key` says what they share); runs without a hidden layer also when they
read other splits and classes of one data set, as a pool (:mod:`nnexp.data.pack_data`). Measured on 2 cores
(docs/packs.md, reports/bench/packs.md): runs without a hidden layer stream the training matrix for one output
column each, so a pack of many is many times faster; the wider the first hidden layer, the more a run is
compute-bound, and beyond :data:`~nnexp.training.spec.PACKED_FIRST_LAYER_UNITS` units it does not pack (1.1x at 32
units, none at 64), nor do packs of more than :data:`MAX_HIDDEN_MEMBERS` with hidden layers gain anything more. Runs
in mini-batches or one sample at a time do not pack: each shuffles the training set in its own order, so they share
no product.

The plan gives each pack a leader, the job that trains the pack (the first of its members in the grid's order):
its ``pack`` lists the other members' folders, whose jobs name it in ``packed_by``. A member's own job then finds
its result finished and skips; if the leader did not train it (it failed, or was killed), the member's job trains
it alone. The launcher starts leaders first (their work is the pack's, the members' none).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from nnexp.results.plan_file import PlannedJob
from nnexp.training.memory import pack_memory
from nnexp.training.spec import PackKey

MAX_HIDDEN_MEMBERS = 6  # members of a pack with hidden layers (docs/packs.md: 784-64 networks 1.2-1.6x at 6 in one
# process, no clear gain beyond; 784-16-10 grids in packs of 4: 1.3x whole sweeps)


def form_packs(jobs: list[PlannedJob], keys: list[PackKey | None], workers: int) -> list[PlannedJob]:
    """``jobs`` (with each one's :attr:`~nnexp.training.spec.RunSpec.pack_key`) with their packs: the jobs that run
    and share a key form one pack, or with hidden layers packs of at most :data:`MAX_HIDDEN_MEMBERS`; the largest
    packs are split further until there are ``workers`` packs (so that every worker has one: a pack's members cost
    less the more there are, but not a worker left idle). Members are dealt longest first, so packs get equal work.
    A leader's work and memory are its pack's."""
    groups: dict[PackKey, list[int]] = defaultdict(list)
    for index, (job, key) in enumerate(zip(jobs, keys)):
        if key is not None and job.runs:
            groups[key].append(index)
    counts = {key: -(-len(indices) // MAX_HIDDEN_MEMBERS) if key.hidden else 1 for key, indices in groups.items()}
    while sum(counts.values()) < workers:
        splittable = [key for key in counts if counts[key] < len(groups[key])]
        if not splittable:
            break
        counts[max(splittable, key=lambda key: len(groups[key]) / counts[key])] += 1
    packed = list(jobs)
    for key, indices in groups.items():
        count = counts[key]
        packs: list[list[int]] = [[] for _ in range(count)]
        for rank, index in enumerate(sorted(indices, key=lambda i: -(jobs[i].work or 0.0))):
            packs[rank % count].append(index)
        for members in packs:
            if len(members) < 2:
                continue
            members.sort()  # the leader: the first in the grid's order
            leader, others = members[0], members[1:]
            work = sum(jobs[i].work or 0.0 for i in members) if jobs[leader].work is not None else None
            estimates = [jobs[i].memory for i in members]
            memory = pack_memory(estimates, key.pooled) if all(estimates) else None
            packed[leader] = replace(jobs[leader], pack=tuple(jobs[i].dir for i in others), work=work, memory=memory)
            for i in others:
                packed[i] = replace(jobs[i], packed_by=jobs[leader].dir, work=0.0 if jobs[i].work is not None else None)
    return packed
