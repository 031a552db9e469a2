"""Errors a user can cause. The CLI maps every `UserError` to exit status 2 and one message."""


class UserError(Exception):
    """Bad input: unknown names, malformed YAML, missing or corrupted data, unwritable output."""


class DataError(UserError):
    """A dataset is missing, cannot be fetched, or fails its checksum."""


class RunDiverged(RuntimeError):
    """A training loss became NaN or infinite; carries the global step where it happened."""

    def __init__(self, step: int, value: float):
        super().__init__(f"loss became {value} at step {step}")
        self.step = step
        self.value = value
