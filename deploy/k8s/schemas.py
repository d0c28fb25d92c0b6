"""Unpacks one Kubernetes version's strict JSON schemas from the kubernetes-validate wheel.

kubeconform reads them from the output folder; their references to the shared definitions file
are rewritten to absolute file URLs, the one form of reference kubeconform resolves locally.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

_PACKAGE_DIR = "kubernetes_validate/kubernetes-json-schema/"
_DEFINITIONS_REF = '"/api/_definitions.json'


def schema_folder_name(kubernetes_version: str) -> str:
    """The folder name kubeconform's `{{ .NormalizedKubernetesVersion }}-local-strict` makes."""
    return f"v{kubernetes_version.removeprefix('v')}-local-strict"


def unpack(wheel: Path, kubernetes_version: str, output: Path) -> int:
    """Writes `<output>/<schema folder>/*.json`; returns the number of schema files."""
    folder = schema_folder_name(kubernetes_version)
    target = (output / folder).resolve()
    target.mkdir(parents=True, exist_ok=True)
    definitions_url = '"' + target.joinpath("_definitions.json").as_uri()
    prefix = _PACKAGE_DIR + folder + "/"
    written = 0
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.startswith(prefix) or not name.endswith(".json"):
                continue
            text = archive.read(name).decode()
            target.joinpath(name.removeprefix(prefix)).write_text(
                text.replace(_DEFINITIONS_REF, definitions_url)
            )
            written += 1
    if written == 0:
        raise SystemExit(f"{wheel} has no schemas for Kubernetes {kubernetes_version}")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    count = unpack(args.wheel, args.kubernetes_version, args.output)
    print(f"{count} Kubernetes {args.kubernetes_version} schemas in {args.output}")


if __name__ == "__main__":
    main()
