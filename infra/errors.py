"""The one error the stack launcher raises: its message tells the user what to do."""


class StackError(RuntimeError):
    pass
