"""One-line errors for the command-line tools under ``tools/``.

A tool given a missing, empty or corrupt input (a config, a checkpoint, an
annotation file, an image, a folder) exits with status 1 and one line,
``TOOL: FILE: what is wrong. Fix: what to do``, instead of a traceback from
deep inside a library. Each tool runs its ``main`` through :func:`run_tool`
and reads its inputs through the readers here; errors that are not about the
input (a bug, a failed training step) keep their traceback.
"""
import json
import os
import os.path as osp
import sys
from typing import Any, Callable, Iterable, Optional

__all__ = ['InputError', 'run_tool', 'load_config', 'read_json', 'read_image',
           'require_file', 'require_dir', 'one_line']


class InputError(Exception):
    """An input a tool cannot use; ``str()`` is ``'FILE: problem. Fix: fix'``."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        super().__init__(f'{path}: {problem}. Fix: {fix}')
        self.path = path


def require_file(path: str, what: str, fix: str) -> str:
    """``path`` if it is a non-empty file, else :class:`InputError` naming ``what``."""
    if osp.isdir(path):
        raise InputError(path, f'is a folder, not {what}', fix)
    if not osp.isfile(path):
        raise InputError(path, f'no such {what}', fix)
    if osp.getsize(path) == 0:
        raise InputError(path, f'{what} is empty (0 bytes)', fix)
    return path


def require_dir(path: str, what: str, fix: str) -> str:
    """``path`` if it is a folder, else :class:`InputError`."""
    if not osp.isdir(path):
        problem = 'is a file, not a folder' if osp.exists(path) else f'no such {what}'
        raise InputError(path, problem, fix)
    return path


CONFIG_FIX = ('give the path of a config file (e.g. configs/maskco/r50_8xb32_coco.py; '
              '`mim train mmssl_ext NAME` finds one by name)')


def load_config(path: str, needs: Iterable[str] = ('model',), fix: str = CONFIG_FIX):
    """``mmengine.Config.fromfile(path)``; a missing, empty, unparsable or
    incomplete file (no ``needs`` keys) raises :class:`InputError`."""
    from mmengine.config import Config
    require_file(path, 'config file', fix)
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        where = f'line {err.lineno}: ' if err.lineno else ''
        message = str(err.msg).split(': ')[-1] if err.msg else 'syntax error'
        message = message.replace('<unknown>, ', '')
        raise InputError(path, f'not a valid config ({where}{message})',
                         'correct the file, or start again from a config under configs/') \
            from None
    missing = [key for key in needs if key not in cfg]
    if missing:
        raise InputError(path, f"the config defines no {', '.join(map(repr, missing))}",
                         f'give a complete config; {fix}')
    return cfg


def read_json(path: str, what: str = 'annotation file', fix: Optional[str] = None) -> Any:
    """The parsed JSON of ``path``; missing, empty or truncated raises :class:`InputError`."""
    fix = fix or f'give the path of a valid {what} (a download or copy that was cut short?)'
    require_file(path, what, fix)
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f'{what} is not valid JSON ({err})', fix) from None


IMAGE_FIX = 'replace or delete the file (or remove it from the image list) and rerun'


def read_image(path: str, fix: str = IMAGE_FIX):
    """A BGR uint8 image (OpenCV's decoder, as the pipelines read them); an
    unreadable file raises :class:`InputError`."""
    import cv2
    import numpy as np
    require_file(path, 'image', fix)
    try:
        image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as err:  # e.g. a header that claims too many pixels
        raise InputError(path, f'cannot be decoded as an image ({str(err).strip()[-80:]})',
                         fix) from None
    if image is None:
        raise InputError(path, 'cannot be decoded as an image (corrupt or truncated)', fix)
    return image


def _input_errors() -> tuple:
    from PIL import UnidentifiedImageError

    from .checkpoint_fit import CheckpointMismatchError
    from .checkpoint_io import CheckpointRefusedError, CorruptCheckpointError
    from .config_check import ConfigError
    return (InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError, UnidentifiedImageError, CorruptCheckpointError,
            CheckpointRefusedError, CheckpointMismatchError, ConfigError)


def one_line(err: BaseException) -> str:
    """The message of an input error on one line, with a fix where the error has none."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        # A bare errno error (open(), os.makedirs()): name the path and what to check.
        return (f'{err.filename}: {err.strerror.lower()}. Fix: check the path '
                f'(relative paths start at {os.getcwd()})')
    text = ' '.join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


def run_tool(main: Callable[[], Any], name: Optional[str] = None) -> Any:
    """Run a tool's ``main``; an error about its input exits 1 with one line."""
    name = name or osp.basename(sys.argv[0])
    try:
        return main()
    except _input_errors() as err:
        raise SystemExit(f'{name}: {one_line(err)}') from None


def _check_launch_inputs(argv: Optional[list] = None) -> None:
    """What the launch scripts (tools/*.sh) run before starting any process:
    ``python -m mmssl_ext.utils.tool_errors TOOL --config C [--checkpoint K]``."""
    import argparse
    parser = argparse.ArgumentParser(description=_check_launch_inputs.__doc__)
    parser.add_argument('tool')
    parser.add_argument('--config', required=True)
    parser.add_argument('--checkpoint')
    args = parser.parse_args(argv)

    def check() -> None:
        load_config(args.config)
        if args.checkpoint:
            require_file(args.checkpoint, 'checkpoint', "give a checkpoint file (a work dir's "
                         'iter_N.pth, or a backbone from extract_backbone.py)')
    run_tool(check, args.tool)


if __name__ == '__main__':
    _check_launch_inputs()
