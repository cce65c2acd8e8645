"""Only what setup.cfg cannot do: give the package its ``.mim`` folder.

``mim train mmssl_ext CONFIG`` looks for ``mmssl_ext/.mim/{configs,tools,
model-index.yml}`` inside the *installed* package. OpenMMLab repos create it
from ``setup.py develop``, which modern pip no longer runs for editable
installs (PEP 660 runs ``editable_wheel``). So we create it whenever setup.py
runs: symlinks for editable installs and in-tree use (edits show up at once),
copies for wheels and sdists (a wheel must carry real files).
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import setup

MIM_FILES = ('configs', 'tools', 'model-index.yml')
COPY_COMMANDS = {'bdist_wheel', 'sdist', 'build', 'build_py'}


def add_mim_extension() -> None:
    here = osp.dirname(osp.abspath(__file__))
    mim_dir = osp.join(here, 'mmssl_ext', '.mim')
    # A PEP 517 wheel build from a source tree runs ``bdist_wheel``; an
    # editable install runs ``editable_wheel`` (and then links back to here).
    copy = bool(COPY_COMMANDS.intersection(sys.argv)) and 'editable_wheel' not in sys.argv
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(here, name)
        dst = osp.join(mim_dir, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if copy:
            if osp.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__'))
            else:
                shutil.copyfile(src, dst)
        else:
            os.symlink(osp.relpath(src, mim_dir), dst)


add_mim_extension()
setup()
