"""The automatic search for the best variant on a device and an accuracy budget
(``workbench.optimize``, built on Optuna); the space it searches is in ``space``."""
