"""Where the collector's or the lander's CPU goes, with py-spy, under the bench's conditions.

    python bench/peers/cpu_profile.py collector [--eps 15000] [--seconds 15]
    python bench/peers/cpu_profile.py lander [--events 500000]

collector: one worker on the SUT core under vegeta's open-loop load at --eps; lander:
bench/bench_lander.py on the SUT core landing a fresh topic. py-spy samples the process
(--native: C extensions too) and this prints the share of samples by function, self time
(where the CPU is spent) and inclusive (what it is spent for). Takes the stack's lock.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

from peers import http_collectors as hc
from peers.tools import REPO, free_port, go_peer, stack_lock, stop, wait_port

PY_SPY = str(Path(sys.executable).with_name("py-spy"))


def summarize(collapsed: Path, top: int) -> str:
    """Self and inclusive shares by function of py-spy's collapsed stacks."""
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    by_file = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f]
        total += n
        if frames:
            own[frames[-1]] += n
            by_file[_file(frames[-1])] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "self:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines.append("self, by file or library:")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in by_file.most_common(top)]
    lines.append("inclusive:")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _file(short: str) -> str:
    return short.rpartition(" (")[2].rstrip(")") or short


def _short(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)": lines split one function apart
    name, _, where = frame.partition(" (")
    file = where.rsplit("/", 1)[-1].split(":", 1)[0].rstrip(")")
    return f"{name} ({file})" if file else name


def profile_collector(eps: float, seconds: float, out: Path) -> None:
    from infra.kafka import bootstrap
    from infra.settings import StackSettings

    kafka = bootstrap(StackSettings())
    topic = "bench.peers.profile"
    hc.recreate_topics(kafka, [topic, f"{topic}.dlq"], 6)
    port = free_port()
    server = hc.start_surge(port, kafka, topic)
    try:
        wait_port(port)
        hc._wait_ready(port)
        targets, _ = hc.write_targets(out.parent, port)
        rate = f"-rate={round(eps / hc.EVENTS_PER_REQUEST)}/1s"
        vegeta = [str(go_peer("vegeta")), "attack", "-format=json", f"-targets={targets}", rate]
        subprocess.run([*vegeta, "-duration=3s", "-output=/dev/null"], check=True)  # warm-up
        load = subprocess.Popen(
            hc.on_other_cores([*vegeta, f"-duration={seconds + 2}s", "-output=/dev/null"])
        )
        time.sleep(1)
        record = [PY_SPY, "record", "--native", "--format", "raw", "--rate", "200"]
        record += ["--duration", str(round(seconds)), "--pid", str(server.pid), "-o", str(out)]
        subprocess.run(record, check=True, capture_output=True)
        load.wait()
    finally:
        stop(server)
        hc.delete_topics(kafka, [topic, f"{topic}.dlq"])


def profile_lander(events: int, out: Path) -> None:
    bench = REPO / "bench" / "bench_lander.py"
    filled = subprocess.run(
        [sys.executable, str(bench), "--events", str(events), "--fill-only"],
        check=True,
        capture_output=True,
        text=True,
    )
    topic = filled.stdout.strip().splitlines()[-1].removeprefix("topic: ")
    record = [PY_SPY, "record", "--native", "--format", "raw", "--rate", "200", "-o", str(out)]
    lander = ["taskset", "-c", "1", sys.executable, str(bench), "--topic", topic]
    try:
        subprocess.run([*record, "--", *lander], check=True)
    finally:
        from infra.kafka import bootstrap
        from infra.settings import StackSettings

        hc.delete_topics(bootstrap(StackSettings()), [topic, f"{topic}.dlq"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("collector", "lander"))
    parser.add_argument("--eps", type=float, default=15_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        with stack_lock():
            if args.what == "collector":
                profile_collector(args.eps, args.seconds, out)
            else:
                profile_lander(args.events, out)
        print(summarize(out, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
