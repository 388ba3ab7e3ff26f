"""python -m loadgen: open-loop flash-sale load against a collector (see loadgen/README.md)."""

from __future__ import annotations

import argparse
import sys

from loadgen.profiles import Constant, FlashSale, Steps
from loadgen.runner import run
from loadgen.settings import LoadConfig


def _rates(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m loadgen",
        description="Open-loop load of shoppers' journeys against a Surge collector: requests "
        "leave on schedule whatever the answers, latency counts from the schedule.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--url", default="http://127.0.0.1:8080", help="the collector's base URL")
    p.add_argument("--write-key", default="dev", help="write key ('' sends none)")
    p.add_argument("--key-in-body", action="store_true", help="key in the body, not X-Write-Key")
    p.add_argument(
        "--profile",
        choices=("constant", "steps", "flash_sale"),
        default="constant",
        help="the offered load over time",
    )
    p.add_argument(
        "--events-per-s",
        type=float,
        default=1000,
        help="constant: the rate; flash_sale: the quiet base rate (events per second)",
    )
    p.add_argument("--duration-s", type=float, default=10, help="constant, flash_sale: length")
    p.add_argument(
        "--steps", type=_rates, default=[1000, 2000, 4000], help="steps: events/s of each step"
    )
    p.add_argument("--step-s", type=float, default=5, help="steps: seconds per step")
    p.add_argument("--peak-factor", type=float, default=10, help="flash_sale: spike / base")
    p.add_argument("--sale-start-s", type=float, default=5, help="flash_sale: spike at")
    p.add_argument("--half-life-s", type=float, default=5, help="flash_sale: spike decay")
    p.add_argument("--events-per-request", type=int, default=20, help="events per batch")
    p.add_argument("--seed", type=int, default=11, help="the same seed sends the same sale")
    p.add_argument("--invalid-share", type=float, default=0.01, help="invalid events (to DLQ)")
    p.add_argument("--malformed-share", type=float, default=0.0, help="requests refused whole")
    p.add_argument("--max-connections", type=int, default=1024, help="pool bound")
    p.add_argument("--max-attempts", type=int, default=5, help="sends of one batch at most")
    p.add_argument("--no-retry", action="store_true", help="never send a batch twice")
    p.add_argument("--timeout-s", type=float, default=10, help="an answer later is lost")
    p.add_argument("--drain-s", type=float, default=30, help="wait for the last answers")
    p.add_argument("--distinct", type=int, default=5000, help="bodies rendered before the run")
    p.add_argument("--quiet", action="store_true", help="no progress line every second")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--acked-ids", help="write the event ids of 2xx answers here, one a line")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="measure the generator's own ceiling against a trivial server it starts "
        "(ignores --url)",
    )
    return p


def config_from(args: argparse.Namespace) -> LoadConfig:
    if args.profile == "steps":
        profile: Constant | Steps | FlashSale = Steps(events_per_s=args.steps, step_s=args.step_s)
    elif args.profile == "flash_sale":
        profile = FlashSale(
            base_events_per_s=args.events_per_s,
            peak_factor=args.peak_factor,
            sale_start_s=args.sale_start_s,
            half_life_s=args.half_life_s,
            duration_s=args.duration_s,
        )
    else:
        profile = Constant(events_per_s=args.events_per_s, duration_s=args.duration_s)
    return LoadConfig(
        url=args.url,
        write_key=args.write_key or None,
        write_key_in_body=args.key_in_body,
        profile=profile,
        events_per_request=args.events_per_request,
        seed=args.seed,
        invalid_event_share=args.invalid_share,
        malformed_request_share=args.malformed_share,
        max_connections=args.max_connections,
        max_attempts=1 if args.no_retry else args.max_attempts,
        request_timeout_s=args.timeout_s,
        drain_s=args.drain_s,
        distinct_requests=args.distinct,
        progress=not args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = config_from(args)
    if args.self_test:
        from loadgen.ceiling import self_test

        return self_test(config)
    results = run(config)
    print(results.summary(), flush=True)
    if args.out:
        results.write_json(args.out)
    if args.acked_ids:
        count = results.write_acked_ids(args.acked_ids)
        print(f"{count} acked event ids written to {args.acked_ids}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
