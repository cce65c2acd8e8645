"""Recipe records: each full-size config's hyperparameters against their sources.

A record (``configs/<method>/recipe*.yml``) lists, for one method, the source's
value of every hyperparameter its full-size configs set, each with where it
comes from (paper section or table, official file and commit). The checker
resolves each config with :meth:`mmengine.Config.fromfile` (inheritance and
``--cfg-options``-style overrides applied) and compares; a value that differs
on purpose is an entry with ``config_value`` and ``deviation`` (its reason).

Keys address the resolved config:

- ``optim_wrapper.optimizer.lr``: a dotted path;
- ``param_scheduler[0].end``: a list index;
- ``param_scheduler[type=LinearLR].end``, ``pipeline[type=ColorJitter#1].hue``:
  the first (or ``#n``-th) dict with that ``type`` found depth-first under the
  node, so transforms nested in ``MultiView`` or view pipelines are reached;
- the root ``pipeline`` is ``train_dataloader.dataset.pipeline``;
- ``@global_batch``: GPUs x per-GPU batch from the file name's ``NxbM``
  (checked against ``train_dataloader.batch_size``).

An entry with ``per_batch`` scales linearly: the config must hold
``value * global_batch / per_batch`` (e.g. the effective lr at ``8xb32``).
"""
import glob
import math
import os.path as osp
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import yaml

MISSING = object()
_SEGMENT = re.compile(r'^(?P<name>[^\[\]]*)(?P<indices>(?:\[[^\]]+\])*)$')
_INDEX = re.compile(r'\[([^\]]+)\]')
_GPUS_BATCH = re.compile(r'_(\d+)xb(\d+)')
REQUIRED_FIELDS = ('name', 'key', 'source')
TOP_FIELDS = {'method', 'paper', 'code', 'doc', 'configs', 'synthetic_configs', 'entries'}
ENTRY_FIELDS = {'name', 'key', 'value', 'source', 'per_batch', 'semantic', 'config_value',
                'deviation', 'skip'}


class RecipeError(ValueError):
    """A record that cannot be read: a missing field, a key of unknown form."""


@dataclass
class Finding:
    """One entry checked against one config."""
    config: str
    name: str
    key: str
    expected: Any
    actual: Any
    source: str
    ok: bool
    deviation: Optional[str] = None
    skipped: Optional[str] = None


def global_batch_from_name(config_path: str) -> Tuple[int, int]:
    """(GPUs, per-GPU batch) from a name like ``maskco_r50_8xb32-500k_coco.py``."""
    match = _GPUS_BATCH.search(osp.basename(config_path))
    if match is None:
        raise RecipeError(f'{osp.basename(config_path)}: no NxbM (GPUs x batch) in the name')
    return int(match.group(1)), int(match.group(2))


def _find_typed(node: Any, type_name: str) -> Iterator[dict]:
    """Dicts with ``type == type_name`` under ``node``, depth-first, in order."""
    if isinstance(node, dict):
        if node.get('type') == type_name:
            yield node
        for value in node.values():
            yield from _find_typed(value, type_name)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _find_typed(value, type_name)


def _step(node: Any, name: str) -> Any:
    if not name:
        return node
    if isinstance(node, dict) and name in node:
        return node[name]
    return MISSING


def _index(node: Any, index: str) -> Any:
    """``node[int]``, or the ``#n``-th dict of ``type=Name`` under ``node``."""
    if index.startswith('type='):
        type_name, _, nth = index[len('type='):].partition('#')
        found = list(_find_typed(node, type_name))
        position = int(nth) if nth else 0
        return found[position] if position < len(found) else MISSING
    if not isinstance(node, (list, tuple)) or int(index) >= len(node):
        return MISSING
    return node[int(index)]


def resolve_key(cfg: Any, key: str, config_path: str = '') -> Any:
    """The value at ``key`` in a resolved config (see the module docstring).

    Returns :data:`MISSING` when the path does not exist.
    """
    if key == '@global_batch':
        gpus, batch = global_batch_from_name(config_path)
        loader_batch = cfg['train_dataloader']['batch_size']
        if loader_batch != batch:
            raise RecipeError(f'{osp.basename(config_path)}: the name says {batch} per GPU, '
                              f'train_dataloader.batch_size is {loader_batch}')
        return gpus * batch
    if key.startswith('@'):
        raise RecipeError(f'unknown derived key {key!r} (known: @global_batch)')
    node: Any = cfg if isinstance(cfg, dict) else cfg.to_dict()  # mmengine's Config
    segments = key.split('.')
    if segments[0].startswith('pipeline'):
        node = node['train_dataloader']['dataset']
    for segment in segments:
        match = _SEGMENT.match(segment)
        if match is None:
            raise RecipeError(f'key {key!r}: cannot read segment {segment!r}')
        node = _step(node, match.group('name'))
        for index in _INDEX.findall(match.group('indices')):
            if node is MISSING:
                return MISSING
            node = _index(node, index)
        if node is MISSING:
            return MISSING
    return node


def values_equal(expected: Any, actual: Any, rel_tol: float = 1e-6) -> bool:
    """Numbers within ``rel_tol``, sequences elementwise, ``None`` == absent."""
    if expected is None:
        return actual is None or actual is MISSING
    if actual is MISSING:
        return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, rel_tol=rel_tol, abs_tol=1e-12)
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(
            values_equal(e, a, rel_tol) for e, a in zip(expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            values_equal(v, actual[k], rel_tol) for k, v in expected.items())
    return expected == actual


def _validate(record: dict, path: str) -> None:
    for field in ('method', 'paper', 'code', 'doc', 'configs', 'entries'):
        if field not in record:
            raise RecipeError(f'{path}: missing top-level field {field!r}')
    unknown = set(record) - TOP_FIELDS
    if unknown:
        raise RecipeError(f'{path}: unknown top-level fields {sorted(unknown)}')
    names = set()
    for entry in record['entries']:
        _validate_entry(entry, path)
        if entry['name'] in names:
            raise RecipeError(f'{path}: entry name {entry["name"]!r} used twice')
        names.add(entry['name'])
    for config, overrides in record['configs'].items():
        for name, override in (overrides or {}).items():
            if name not in names and 'key' not in override:
                raise RecipeError(f'{path}: {config} overrides unknown entry {name!r} '
                                  'without a key of its own')
            unknown = set(override) - ENTRY_FIELDS
            if unknown:
                raise RecipeError(f'{path}: {config}: {name}: unknown fields {sorted(unknown)}')


def _validate_entry(entry: dict, path: str) -> None:
    missing = [f for f in REQUIRED_FIELDS if f not in entry]
    if missing:
        raise RecipeError(f'{path}: entry {entry.get("name", entry)!r} lacks {missing}')
    unknown = set(entry) - ENTRY_FIELDS
    if unknown:
        raise RecipeError(f'{path}: entry {entry["name"]!r}: unknown fields {sorted(unknown)}')
    if 'skip' not in entry and 'value' not in entry:
        raise RecipeError(f'{path}: entry {entry["name"]!r} has no value')
    if ('config_value' in entry) != ('deviation' in entry):
        raise RecipeError(f'{path}: entry {entry["name"]!r}: a deviation needs both '
                          '`config_value` and its reason `deviation`')


def load_recipe(path: str) -> dict:
    """Read and validate one record; raises :class:`RecipeError` on a bad one."""
    with open(path) as f:
        record = yaml.safe_load(f)
    if not isinstance(record, dict):
        raise RecipeError(f'{path}: not a mapping')
    _validate(record, path)
    record.setdefault('synthetic_configs', [])
    return record


def entries_for(record: dict, config: str) -> List[dict]:
    """The record's entries with ``config``'s overrides applied (new keys appended)."""
    overrides = dict(record['configs'].get(config) or {})
    merged = []
    for entry in record['entries']:
        override = overrides.pop(entry['name'], None)
        if override is not None:
            # An override replaces the value and its source; a deviation of the
            # base entry does not carry over to a value it did not see.
            base = {k: v for k, v in entry.items()
                    if k not in ('value', 'config_value', 'deviation', 'skip', 'source')}
            entry = {**base, **override}
            if 'source' not in entry:
                entry['source'] = ''
        merged.append(entry)
    for name, override in overrides.items():
        merged.append(dict(name=name, **override))
    return merged


def check_config(cfg: Any, config: str, entries: List[dict],
                 semantic_only: bool = False) -> List[Finding]:
    """Compare a resolved config with entries; one :class:`Finding` per entry."""
    cfg = cfg if isinstance(cfg, dict) else cfg.to_dict()
    findings = []
    for entry in entries:
        if semantic_only and not entry.get('semantic'):
            continue
        name, key, source = entry['name'], entry.get('key', ''), entry.get('source', '')
        if 'skip' in entry:
            findings.append(Finding(config, name, key, None, None, source, True,
                                    skipped=entry['skip']))
            continue
        expected = entry.get('config_value', entry['value'])
        per_batch = entry.get('per_batch')
        if per_batch is not None and not semantic_only:
            expected = expected * resolve_key(cfg, '@global_batch', config) / per_batch
        actual = resolve_key(cfg, key, config)
        if semantic_only and per_batch is not None:
            expected = actual  # a CPU config's lr is its own; only semantics are checked
        findings.append(Finding(config, name, key, expected, actual, source,
                                values_equal(expected, actual), entry.get('deviation')))
    return findings


def render_markdown(record: dict) -> str:
    """The record as Markdown: the shared table, per-config overrides, deviations."""
    def show(value: Any) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
        text = text[:-4] if text.endswith('\n...') else text
        return f'`{text}`'.replace('|', '\\|')

    def row(entry: dict) -> str:
        if 'skip' in entry:
            return f'| {entry["name"]} | — | — | not applicable: {entry["skip"]} |'
        value = show(entry['value'])
        if entry.get('per_batch'):
            value += f' × B/{entry["per_batch"]}'
        ours = show(entry['config_value']) if 'config_value' in entry else 'same'
        return f'| {entry["name"]} | {value} | {ours} | {entry["source"]} |'

    lines = [f'Paper: {record["paper"]}. Official code: {record["code"]}.', '',
             '| hyperparameter | source value | our config | source |', '|---|---|---|---|']
    lines += [row(e) for e in record['entries']]
    overridden = {c: o for c, o in record['configs'].items() if o}
    if overridden:
        lines += ['', 'Per-config values (other entries as above):', '',
                  '| config | hyperparameter | source value | our config | source |',
                  '|---|---|---|---|---|']
        for config, overrides in overridden.items():
            for name, override in overrides.items():
                cells = row({'name': name, 'source': '', **override}).split(' | ', 1)[1]
                lines.append(f'| `{osp.basename(config)}` | {name} | {cells}')
    deviations = [(c, e) for c in record['configs'] for e in entries_for(record, c)
                  if 'deviation' in e]
    if deviations:
        lines += ['', 'Deliberate deviations:', '']
        seen = set()
        for config, entry in deviations:
            if (entry['name'], entry['deviation']) in seen:
                continue
            seen.add((entry['name'], entry['deviation']))
            lines.append(f'- **{entry["name"]}**: {show(entry["config_value"])} instead of '
                         f'{show(entry["value"])}. {entry["deviation"]}')
    lines += ['', 'Configs checked: ' + ', '.join(
        f'`{osp.basename(c)}`' for c in record['configs']) + '.']
    return '\n'.join(lines) + '\n'


DOC_BEGIN = '<!-- recipe:begin {name} (generated by tools/misc/check_recipes.py --write-docs) -->'
DOC_END = '<!-- recipe:end {name} -->'


def splice_markdown(doc: str, name: str, table: str) -> str:
    """``doc`` with the block between the record's markers replaced by ``table``."""
    begin, end = DOC_BEGIN.format(name=name), DOC_END.format(name=name)
    if begin not in doc or end not in doc:
        raise RecipeError(f'the doc page has no markers for {name!r}: add\n{begin}\n{end}')
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f'{head}{begin}\n{table}{end}{tail}'


def find_recipes(root: str) -> Dict[str, dict]:
    """Every record under ``root/configs`` (``recipe*.yml``), by its repo-relative path."""
    records = {}
    for path in sorted(glob.glob(osp.join(root, 'configs', '*', 'recipe*.yml'))):
        records[osp.relpath(path, root)] = load_recipe(path)
    return records


def record_name(recipe_path: str) -> str:
    """The doc marker's name: ``configs/detcon/recipe_detcon-s.yml`` -> ``detcon-s``."""
    stem = osp.splitext(osp.basename(recipe_path))[0]
    return stem[len('recipe_'):] if stem.startswith('recipe_') else osp.basename(
        osp.dirname(recipe_path))


def check_record(record: dict, root: str) -> List[Finding]:
    """Every config of a record resolved and checked (synthetic ones: semantics only)."""
    from mmengine.config import Config
    findings = []
    configs = [(c, False) for c in record['configs']]
    configs += [(c, True) for c in record['synthetic_configs']]
    for config, semantic_only in configs:
        cfg = Config.fromfile(osp.join(root, config))
        findings += check_config(cfg, config, entries_for(record, config), semantic_only)
    return findings
