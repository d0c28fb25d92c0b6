"""`make contract`: writes the AsyncAPI document and each message's JSON Schema into
`docs/contract/` from the code; `--check` says which files are stale instead (a test runs it).

    python -m deploy.contract            # regenerate docs/contract/
    python -m deploy.contract --check    # exit 1 and name the files that differ
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deploy.k8s.check import import_kafka_usage
from shared.asyncapi import asyncapi_document, standalone_schema
from shared.contracts.registry import MESSAGE_TYPES

SERVICES = ("order", "payment", "notifier", "scheduler", "panel")
CONTRACT_DIR = Path(__file__).resolve().parents[1] / "docs" / "contract"
TITLE = "Restaurant orders: Kafka contract"


def contract_files() -> dict[str, str]:
    """Every file of `docs/contract/`, by path relative to it, as the code says it should be."""
    usages = {service: import_kafka_usage(service) for service in SERVICES}
    files = {"asyncapi.json": _json(asyncapi_document(TITLE, usages))}
    for name, message_type in MESSAGE_TYPES.items():
        files[f"schemas/{name}.json"] = _json(standalone_schema(message_type))
    return files


def _json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def stale_files(directory: Path, wanted: Mapping[str, str]) -> list[str]:
    """Files that differ from, are missing from, or are extra to what the code says."""
    present = {
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*.json")
        if path.is_file()
    }
    differing = [
        name
        for name, text in wanted.items()
        if name not in present or (directory / name).read_text(encoding="utf-8") != text
    ]
    return sorted(differing + sorted(present - wanted.keys()))


def write(directory: Path, wanted: Mapping[str, str]) -> None:
    for name in stale_files(directory, wanted):
        path = directory / name
        if name in wanted:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted[name], encoding="utf-8")
        else:
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--directory", type=Path, default=CONTRACT_DIR)
    args = parser.parse_args(argv)
    wanted = contract_files()
    if args.check:
        stale = stale_files(args.directory, wanted)
        for name in stale:
            print(f"stale: {args.directory / name} (run `make contract`)", file=sys.stderr)
        return 1 if stale else 0
    write(args.directory, wanted)
    print(f"{len(wanted)} contract files in {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
