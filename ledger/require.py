"""Always-on invariant checks (unlike `assert`, never removed by `python -O`)."""


class InvariantBroken(Exception):
    """A condition the code relies on does not hold: a bug, never bad input."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantBroken(message)
