"""The one error of this package: weights could not be had, and the sentence says what to do."""


class WeightsError(RuntimeError):
    """Weights could not be had: the message says what to do about it."""
