"""Check every full-size config against its method's recipe record.

    python tools/misc/check_recipes.py [--write-docs]

Each record (``configs/<method>/recipe*.yml``) holds the source's value of
every hyperparameter, with its source; this resolves each config it names and
prints the entries that do not match (and the deliberate deviations). With
``--write-docs`` it renders each record into its doc page, between the
``<!-- recipe:begin NAME -->`` markers. Exits 1 when an entry does not match.
"""
import argparse
import os.path as osp
import sys

from mmssl_ext.utils.recipe import (MISSING, check_record, find_recipes, record_name,
                                    render_markdown, splice_markdown)
from mmssl_ext.utils.tool_errors import run_tool

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--write-docs', action='store_true',
                        help="render each record into its doc page's recipe block")
    args = parser.parse_args()
    failures = 0
    for path, record in find_recipes(ROOT).items():
        findings = check_record(record, ROOT)
        bad = [f for f in findings if not f.ok]
        deviations = [f for f in findings if f.deviation]
        print(f'{path}: {len(findings)} checks, {len(bad)} mismatches, '
              f'{len(deviations)} deliberate deviations')
        for f in bad:
            actual = 'absent' if f.actual is MISSING else repr(f.actual)
            print(f'  MISMATCH {osp.basename(f.config)}: {f.name} ({f.key}) is {actual}, '
                  f'expected {f.expected!r} [{f.source}]')
        failures += len(bad)
        if args.write_docs:
            doc_path = osp.join(ROOT, record['doc'])
            with open(doc_path) as f:
                doc = f.read()
            with open(doc_path, 'w') as f:
                f.write(splice_markdown(doc, record_name(path), render_markdown(record)))
            print(f'  wrote {record["doc"]}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
