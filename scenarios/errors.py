"""The one exception type for bad input (config, data, arguments)."""


class InputError(ValueError):
    """Bad input: names the offending field and what is allowed.

    >>> str(InputError("org.n_units", "must be an integer >= 1, got 0"))
    'org.n_units: must be an integer >= 1, got 0'
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")
