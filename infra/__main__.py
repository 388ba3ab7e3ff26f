"""``python -m infra up|down|status|jars``: the local stack from the command line."""

from __future__ import annotations

import argparse
import sys

from infra import jars
from infra.errors import StackError
from infra.stack import LocalStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "jars"])
    command = parser.parse_args(argv).command
    stack = LocalStack()
    try:
        if command == "up":
            stack.up()
        elif command == "down":
            stack.down()
        elif command == "jars":
            for service in ("kafka", "hadoop"):
                jars.classpath(stack.settings.jar_cache, service)
        else:
            return _print_status(stack)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_status(stack: LocalStack) -> int:
    statuses = stack.status()
    for status in statuses:
        state = f"running (pid {status.pid})" if status.pid else "stopped"
        print(f"{status.name:<9} {state:<22} log {status.log}")
    running = all(status.pid for status in statuses)
    healthy = running and stack.is_healthy()
    print("healthy" if healthy else "not healthy")
    return 0 if healthy else 3


if __name__ == "__main__":
    sys.exit(main())
