#!/usr/bin/env python3
"""Validates contract messages against the exported JSON Schemas with an independent
validator (Python's jsonschema, draft 2020-12, with format checks).

    scripts/validate-fixtures.py SCHEMA_DIR FILE...

Each FILE is named <type>.v<version>.json (a golden fixture) or is checked against the schema
named with --schema NAME. Prints one line per file; exits 1 if any file is invalid."""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator, FormatChecker


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    schema_dir = pathlib.Path(argv[1])
    files = argv[2:]
    forced = None
    if files[0] == "--schema":
        forced, files = files[1], files[2:]
    failed = 0
    for name in files:
        path = pathlib.Path(name)
        contract = forced or path.name.removesuffix(".json")
        schema_path = schema_dir / f"{contract}.schema.json"
        if not schema_path.exists():
            print(f"FAIL {path.name}: no schema {schema_path.name}")
            failed += 1
            continue
        schema = json.loads(schema_path.read_text())
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema, format_checker=FormatChecker())
        errors = sorted(validator.iter_errors(json.loads(path.read_text())), key=lambda e: list(e.path))
        if errors:
            failed += 1
            for error in errors:
                where = "/".join(str(p) for p in error.path) or "(root)"
                print(f"FAIL {path.name}: {where}: {error.message}")
        else:
            print(f"ok   {path.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
