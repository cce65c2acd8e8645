"""Checkpoint files: read as untrusted input, written atomically.

Reading. Every local checkpoint that mmengine loads (``--resume``,
``load_from``, ``init_cfg=dict(type='Pretrained')``) and every one our tools
load goes through :func:`load_checkpoint_file`: ``torch.load`` with
``weights_only=True`` on every torch we support (torch 2.4 and 2.5 still
default to ``False``), so a pickle that would run code is refused, with a
message that names the file and the refused object instead of torch's
general advice to switch the protection off. A truncated or empty file (a
save that was killed) gets its own message. It is installed as mmengine's
loader of local paths (``CheckpointLoader.register_scheme(prefixes='')``)
when ``mmssl_ext`` is imported.

Writing. :class:`AtomicLocalBackend` (``backend_args=dict(backend=
'atomic_local')`` of the ``CheckpointHook``; our default runtime sets it)
writes each checkpoint to a temporary file in the same folder, flushes it to
disk and renames it over the final name, so a process killed while saving
never leaves a half-written ``iter_N.pth`` under a name that ``--resume``
picks up. :func:`find_resumable_checkpoint` is what ``--resume`` without a
value resumes from: the work dir's ``last_checkpoint``, or, if that pointer
is missing, empty or names a file that does not open, the newest checkpoint
that does.
"""
import os
import os.path as osp
import pickle
import re
import tempfile
import zipfile
from typing import Optional, Union

import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.runner import CheckpointLoader

__all__ = [
    'CheckpointRefusedError', 'CorruptCheckpointError', 'load_checkpoint_file',
    'AtomicLocalBackend', 'find_resumable_checkpoint', 'is_readable_checkpoint',
    'load_from_local_weights_only', 'write_atomically', 'TEACHER_PREFIX', 'transfer_prefix'
]


class CheckpointRefusedError(pickle.UnpicklingError):
    """A checkpoint holds pickled objects other than tensors and plain data."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file that is empty, truncated or not a torch checkpoint."""


# torch's refusal says "Unsupported global: GLOBAL io.open ..." (2.4 to 2.13).
_GLOBAL_IN_TORCH_MESSAGE = re.compile(r'GLOBAL ([\w.]+)')


# Bytes that are no pickle at all (a corrupt or foreign file), as opposed to a
# pickle that names code: torch's unpickler stops on an unknown opcode.
_NOT_A_PICKLE = re.compile(r'Unsupported operand|invalid load key|pickle data was truncated|'
                           r'could not find MARK|unpickling stack underflow')


def _refused_object(message: str) -> str:
    match = _GLOBAL_IN_TORCH_MESSAGE.search(message)
    if match is None:
        return 'an object that is not a tensor or plain data'
    return match.group(1)


def load_checkpoint_file(filename: str, map_location=None) -> Union[dict, object]:
    """``torch.load(filename, weights_only=True)``, with errors that say what to do.

    Args:
        filename: path of a local checkpoint (``~`` expanded).
        map_location: as :func:`torch.load`.

    Raises:
        FileNotFoundError: no such file.
        CorruptCheckpointError: empty, truncated or not a torch checkpoint.
        CheckpointRefusedError: the pickle references code (a class or
            function outside torch's and our allow-list), which loading
            would run. Nothing of it is executed.
    """
    import mmssl_ext.compat  # noqa: F401  (the allow-list of mmengine's own objects)
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint {filename!r} not found: check the path (a work dir\'s iter_N.pth or '
            'epoch_N.pth, or a backbone from tools/model_converters/extract_backbone.py)')
    if osp.getsize(filename) == 0:
        raise CorruptCheckpointError(
            f'checkpoint {filename!r} is empty (0 bytes): a save that was interrupted. '
            'Resume from an earlier checkpoint of the work dir (`--resume` without a '
            'value picks the newest readable one).')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if _NOT_A_PICKLE.search(str(err)):
            raise CorruptCheckpointError(
                f'checkpoint {filename!r} is not a torch checkpoint (its bytes are no pickle '
                'torch can read): a corrupt copy or another kind of file. Copy it again, or '
                'resume from an earlier checkpoint of the work dir (`--resume` without a '
                'value picks the newest readable one).') from None
        refused = _refused_object(str(err))
        raise CheckpointRefusedError(
            f'refusing to load checkpoint {filename!r}: its pickle references {refused}, '
            'which unpickling would execute (only tensors, containers of plain data and '
            "mmengine's own log objects are allowed). If you made this file and trust it, "
            'load it yourself with torch.load(path, weights_only=False) and save only its '
            "tensors: torch.save({'state_dict': ckpt['state_dict']}, path).") from None
    except (RuntimeError, EOFError) as err:
        if isinstance(err, RuntimeError) and 'zip archive' not in str(err) \
                and 'central directory' not in str(err):
            raise
        raise CorruptCheckpointError(
            f'checkpoint {filename!r} is truncated or not a torch checkpoint ({err}). '
            'It was probably written by a process that was killed while saving; resume '
            'from an earlier checkpoint of the work dir (`--resume` without a value picks '
            'the newest readable one).') from err


def load_from_local_weights_only(filename: str, map_location=None):
    return load_checkpoint_file(filename, map_location=map_location)


def install_checkpoint_loader() -> None:
    """Make :func:`load_checkpoint_file` mmengine's loader of local paths."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_weights_only, force=True)


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles: the rename still is atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(data: bytes, filepath: str) -> None:
    """Write ``data`` to ``filepath`` so that the name only ever holds all of it.

    A temporary file in the same folder (same file system: the rename is
    atomic) is written and fsynced, then renamed over ``filepath``. A process
    killed part-way leaves at most a ``.<name>.tmp*`` file, never a partial
    ``filepath``.
    """
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix=f'.{osp.basename(filepath)}.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
    _fsync_folder(folder)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic (see :func:`write_atomically`).

    Use as ``default_hooks.checkpoint.backend_args=dict(backend='atomic_local')``.
    """

    def put(self, obj: bytes, filepath) -> None:
        write_atomically(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        write_atomically(obj.encode(encoding), str(filepath))


def _fsync_tree(path: str) -> None:
    """fsync every file under ``path`` (a file or a folder), then the folders."""
    if osp.isfile(path):
        with open(path, 'rb') as f:
            os.fsync(f.fileno())
        return
    for root, _, files in os.walk(path):
        for name in files:
            with open(osp.join(root, name), 'rb') as f:
                os.fsync(f.fileno())
        _fsync_folder(root)


def publish(tmp_path: str, final_path: str) -> None:
    """Move a finished checkpoint, file or folder, from ``tmp_path`` to ``final_path``.

    A file replaces the old one in one rename. A folder cannot be renamed over
    a non-empty folder: the old one is first renamed aside (``.<name>.old``),
    then removed, so that ``final_path`` names either the old complete
    checkpoint or the new one, except between two renames of one process.
    """
    _fsync_tree(tmp_path)
    folder = osp.dirname(final_path)
    if osp.isdir(tmp_path) and osp.exists(final_path):
        aside = osp.join(folder, f'.{osp.basename(final_path)}.old')
        _remove(aside)
        os.replace(final_path, aside)
        os.replace(tmp_path, final_path)
        _remove(aside)
    else:
        os.replace(tmp_path, final_path)
    _fsync_folder(folder)


def _remove(path: str) -> None:
    import shutil
    if osp.isdir(path) and not osp.islink(path):
        shutil.rmtree(path)
    elif osp.lexists(path):
        os.remove(path)


def make_strategy_checkpoints_atomic(strategy) -> None:
    """Make a FlexibleRunner strategy's checkpoints appear whole or not at all.

    mmengine's ``FlexibleRunner`` saves through ``strategy.save_checkpoint``
    and ignores the checkpoint hook's file backend: FSDP with a local
    (sharded) state dict writes a folder of ``rank{i}.pth`` files, DeepSpeed
    a folder of its own, the others one file, all in place. Wrapped here:
    every rank writes into ``.<name>.tmp`` beside the final name, a barrier
    waits for all shards, and rank 0 publishes it (:func:`publish`). Assumes
    the work dir is on a file system all ranks share, as mmengine's resume
    of a sharded checkpoint does.
    """
    from mmengine.dist import barrier, is_main_process
    if getattr(strategy, '_atomic_checkpoints', False):
        return
    save = strategy.save_checkpoint

    def save_checkpoint(filename: str, **kwargs) -> None:
        final_path = osp.abspath(filename)
        tmp_path = osp.join(osp.dirname(final_path), f'.{osp.basename(final_path)}.tmp')
        if is_main_process():
            _remove(tmp_path)  # what a save killed part-way left
        barrier()
        save(filename=tmp_path, **kwargs)
        barrier()  # every shard written
        if is_main_process():
            publish(tmp_path, final_path)
        barrier()  # no rank reads the checkpoint before it is there

    strategy.save_checkpoint = save_checkpoint
    strategy._atomic_checkpoints = True


def is_readable_checkpoint(path: str) -> bool:
    """Cheap check that ``path`` is a complete torch checkpoint.

    torch saves a zip archive whose directory is written last, so a
    truncated file has none; reading the directory costs no tensor loading.
    """
    if not osp.isfile(path) or osp.getsize(path) == 0:
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


_STEP_IN_NAME = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` (no value) continues from, or None.

    ``work_dir/last_checkpoint`` when it names a readable checkpoint; else
    the readable ``iter_N.pth``/``epoch_N.pth`` of the work dir with the
    largest N (a pointer file lost or emptied by a kill, or a checkpoint
    truncated by a copy, then costs only the steps since that one).
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and is_readable_checkpoint(named):
            return named
    if not osp.isdir(work_dir):
        return None
    steps = []
    for name in os.listdir(work_dir):
        match = _STEP_IN_NAME.match(name)
        if match:
            steps.append((int(match.group(1)), osp.join(work_dir, name)))
    for _, path in sorted(steps, reverse=True):
        if is_readable_checkpoint(path):
            return path
    return None


register_backend('atomic_local', AtomicLocalBackend, force=True)
install_checkpoint_loader()


# Where a self-distillation checkpoint keeps its EMA teacher (DINO: the
# ``CosineEMA`` copy of backbone + neck is the model's ``teacher``).
TEACHER_PREFIX = 'teacher.module.'


def transfer_prefix(state_dict: dict, prefix: str = 'backbone.',
                    prefer_teacher: bool = True) -> str:
    """The key prefix that downstream transfer should read ``prefix`` from.

    DINO's paper evaluates the teacher: when ``prefer_teacher`` and the
    checkpoint holds a teacher copy of ``prefix`` (``teacher.module.backbone.``),
    that copy is read; otherwise (a student wanted, or a method without a
    teacher) ``prefix`` itself.
    """
    teacher = TEACHER_PREFIX + prefix
    if prefer_teacher and not prefix.startswith(TEACHER_PREFIX) and any(
            k.startswith(teacher) for k in state_dict):
        return teacher
    return prefix
