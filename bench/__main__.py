"""`python -m bench [--quick] [--only NAME ...]`: every benchmark, one fresh database."""
from __future__ import annotations

import argparse
import asyncio
import importlib
import tempfile
from pathlib import Path

from bench.harness import BenchContext, fresh_database

# Each module has `async def run(ctx: BenchContext) -> None`; ledger first: it measures
# the raw ceiling the others are compared with.
BENCHMARKS = ["ledger", "earning", "redemption", "audit", "scale", "api_answers", "orders", "outbox", "indicators"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    args = parser.parse_args()
    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="pb-bench-keys-") as key_dir:
        ctx = BenchContext(database_url=url, quick=args.quick, key_dir=Path(key_dir))
        for name in args.only or BENCHMARKS:
            print(f"\n== {name} ==", flush=True)
            module = importlib.import_module(f"bench.{name}")
            asyncio.run(module.run(ctx))


if __name__ == "__main__":
    main()
