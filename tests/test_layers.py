"""The package's layers (DESIGN.md, docs/en/compat.md): a module imports only from lower
layers or from its own part, lazy imports inside functions included."""
import ast
import os.path as osp
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

PACKAGE = Path(osp.dirname(osp.dirname(osp.abspath(__file__)))) / 'mmssl_ext'

# Each top-level part of mmssl_ext ('' is the package's __init__) and its
# layer, lowest first. A new subpackage must be placed here.
LAYERS: Dict[str, int] = {
    'version': 0, 'compat': 0, 'registry': 0,          # import nothing of ours
    'structures': 1, 'utils': 1,                       # geometry, id maps, helpers
    'datasets': 2, 'models': 2, 'evaluation': 2, 'visualization': 2,
    'engine': 3,                                       # hooks over data, models, metrics
    'setup_env': 4,                                    # registers every module
    'analysis': 5,                                     # builds and measures from everything
    '__main__': 6, '': 6,                              # the package's own face
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def _is_module(root: Path, module: str) -> bool:
    path = root.parent.joinpath(*module.split('.'))
    return path.with_suffix('.py').is_file() or (path / '__init__.py').is_file()


def imported_modules(path: Path, root: Path) -> Iterator[Tuple[int, str]]:
    """(line, absolute module name) of every import of ``root``'s package in
    ``path``, wherever it stands in the file; ``from P import x`` counts as
    an import of ``P.x`` where that is a module, else of ``P``."""
    name = module_name(path, root)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [f'{base}.{alias.name}' if _is_module(root, f'{base}.{alias.name}')
                     else base for alias in node.names]
        else:
            continue
        yield from ((node.lineno, n) for n in names if n.split('.')[0] == root.name)


def part_of(module: str) -> str:
    """The top-level part of a module of the package ('' for the package)."""
    return (module.split('.') + [''])[1]


def layer_violations(root: Path) -> List[str]:
    """Every import, in the package ``root``, of a part in the same or a higher
    layer than the importing module's part, and every part without a layer."""
    found = []
    for path in sorted(root.rglob('*.py')):
        if '.mim' in path.parts:  # links to configs/ and tools/
            continue
        importer = part_of(module_name(path, root))
        if importer not in LAYERS:
            found.append(f'{path}: part {importer!r} has no layer in tests/test_layers.py')
            continue
        for line, module in imported_modules(path, root):
            target = part_of(module)
            if target == importer:
                continue
            if LAYERS.get(target, len(LAYERS)) >= LAYERS[importer]:
                found.append(f'{path}:{line}: {importer or "mmssl_ext"} (layer '
                             f'{LAYERS[importer]}) imports {module} (layer '
                             f'{LAYERS.get(target, "none")})')
    return found


def test_no_module_imports_from_its_own_or_a_higher_layer():
    assert layer_violations(PACKAGE) == []


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem if p.suffix == '.py' else p.name for p in PACKAGE.iterdir()
             if (p.suffix == '.py' or (p / '__init__.py').exists()) and p.name != '__init__.py'}
    assert parts == set(LAYERS) - {''}


@pytest.mark.parametrize('importer, source, bad', [
    ('utils/helpers.py', 'from mmssl_ext.models import x\n', True),         # upwards
    ('utils/helpers.py', 'def f():\n    from ..engine import h\n', True),  # lazy, relative
    ('utils/helpers.py', 'from mmssl_ext import register_all_modules\n', True),
    ('datasets/t.py', 'import mmssl_ext.models.necks\n', True),           # same layer
    ('datasets/t.py', 'from ..structures import boxes\n', False),          # downwards
    ('datasets/t.py', 'from .other import y\n', False),                   # its own part
    ('engine/h.py', 'from mmssl_ext.registry import HOOKS\n', False),
])
def test_the_checker_finds_upward_and_sideways_imports(tmp_path, importer, source, bad):
    root = tmp_path / 'mmssl_ext'
    for part in ('utils', 'datasets', 'models', 'engine', 'structures'):
        (root / part).mkdir(parents=True)
        (root / part / '__init__.py').write_text('')
    (root / '__init__.py').write_text('')
    (root / 'registry.py').write_text('')
    (root / importer).write_text(source)
    assert bool(layer_violations(root)) == bad
