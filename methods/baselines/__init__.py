"""Baselines: copy-last-frame, mean-of-context, static real frame, and two trained baselines."""

from methods.baselines import simple  # noqa: F401

try:  # the trained baselines (conv_lstm, vgan_ae_gmm)
    from methods.baselines import ae_gmm, conv_lstm  # noqa: F401
except ImportError as e:  # pragma: no cover - only while a module is missing in a dev checkout
    if "methods.baselines" not in str(e):
        raise
