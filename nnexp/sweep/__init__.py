"""A sweep of runs: its plan (every run composed and checked first), the launcher, progress, provenance,
and the Hydra callback that ties them together."""
