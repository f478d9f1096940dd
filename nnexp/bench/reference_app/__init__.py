"""The reference app of :mod:`nnexp.bench.main_job`: the main job's grid as a bare Hydra app training scikit-learn's
``MLPClassifier`` on the joblib launcher (what a user could write instead of nnexp); run it with
``python -m nnexp.bench.reference_app -m activation=logistic,relu,tanh hidden=32,64,128,256 data.root=DIR``."""
