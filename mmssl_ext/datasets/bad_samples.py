"""Training through bad samples: skip each with a warning, within a budget.

Uncurated data holds files that cannot become a training sample: corrupt,
truncated or empty images, masks that do not fit, images too small for a
method's boxes. A dataset with :class:`SkipBadSamplesMixin` catches the error
that its pipeline raises for such a sample, logs a warning that names the
file and the error, counts it, and returns None, on which mmengine's
``BaseDataset.__getitem__`` draws another index (its ``max_refetch`` loop).
Past ``max_skipped_samples`` skips the next bad sample stops the run with
:class:`BadSampleBudgetExceeded`, naming the files. Validation and test
datasets (``test_mode=True``) skip nothing.

The budget is the job's: :class:`~mmssl_ext.engine.BadSampleBudgetHook`
(in every config's reliability hooks) adds up the skips of every dataloader
worker of every rank and carries the total through resume in the checkpoint.
A process cannot reach the hook directly (a worker is a copy of the dataset
in another process), so the skips ride with the data: each skipped sample's
name goes into the metainfo of the next sample the same process loads
(``skipped_samples``, on its first ``DataSample``), and the hook counts them
in the main process when that batch arrives, before the model trains on it.
Each process also stops on its own past ``max_skipped_samples`` skips: the
backstop for a process that never loads a good sample to carry its count.
"""
from typing import Any, List, Optional

from mmengine.logging import print_log

__all__ = ['BadSampleError', 'BadSampleBudgetExceeded', 'SkipBadSamplesMixin',
           'SKIPPED_SAMPLES_KEY', 'skipped_samples_in']

# The metainfo key of a DataSample that carries the samples its process skipped
# since the previous sample it loaded.
SKIPPED_SAMPLES_KEY = 'skipped_samples'


class BadSampleError(ValueError):
    """Data that cannot make a training sample; the message names the file and the fix."""


class BadSampleBudgetExceeded(RuntimeError):
    """More samples failed than a dataset's ``max_skipped_samples`` allows."""


class SkipBadSamplesMixin:
    """``prepare_data`` that skips (within a budget) samples whose pipeline fails.

    Put it before the ``BaseDataset`` subclass in the bases, and call
    :meth:`_init_skip_budget` in ``__init__``.
    """

    def _init_skip_budget(self, max_skipped_samples: Optional[int]) -> None:
        if max_skipped_samples is not None and max_skipped_samples < 0:
            raise ValueError(f'max_skipped_samples must be >= 0 or None, got '
                             f'{max_skipped_samples}')
        self.max_skipped_samples = max_skipped_samples
        self.skipped_samples: List[str] = []
        self.prepared_samples = 0
        self._undelivered_skips: List[str] = []

    def prepare_data(self, idx: int):
        if self.test_mode or self.max_skipped_samples is None:
            return super().prepare_data(idx)
        try:
            data = super().prepare_data(idx)
        except BadSampleBudgetExceeded:
            raise
        except Exception as err:  # noqa: B902  whatever a file does to the pipeline
            return self._skip(self.get_data_info(idx).get('img_path', f'index {idx}'), err)
        self.prepared_samples += 1
        if self._undelivered_skips and _attach_skips(data, self._undelivered_skips):
            self._undelivered_skips = []
        return data

    def _skip(self, path: str, err: Exception) -> None:
        reason = f'{type(err).__name__}: {err}'.splitlines()[0]
        self.skipped_samples.append(f'{path} ({reason})')
        self._undelivered_skips.append(self.skipped_samples[-1])
        count = len(self.skipped_samples)
        if count > self.max_skipped_samples:
            listed = '\n  '.join(self.skipped_samples[-5:])
            hint = ('' if self.prepared_samples else
                    ' No sample has loaded in this process yet: the data_root, ann_file or '
                    'pipeline is more likely wrong than the data.')
            raise BadSampleBudgetExceeded(
                f'{count} samples failed in this data-loading process, more than '
                f'max_skipped_samples={self.max_skipped_samples} allows; the last ones:\n  '
                f'{listed}\n{hint} Fix or remove these files (or regenerate their masks), '
                'or raise train_dataloader.dataset.max_skipped_samples.') from err
        print_log(f'skipping bad sample {path}: {reason} ({count} skipped in this '
                  f'data-loading process; the job stops past {self.max_skipped_samples} '
                  'in all its processes)',
                  logger='current', level=30)
        return None


def _first_data_sample(value: Any):
    from mmengine.structures import BaseDataElement
    if isinstance(value, BaseDataElement):
        return value
    if isinstance(value, (list, tuple)) and value:
        return _first_data_sample(value[0])  # MultiView packs one DataSample per view
    return None


def _attach_skips(data: Any, entries: List[str]) -> bool:
    """Put ``entries`` into the metainfo of ``data``'s first DataSample; False if it has none."""
    sample = _first_data_sample(data.get('data_samples')) if isinstance(data, dict) else None
    if sample is None:
        return False
    sample.set_metainfo({SKIPPED_SAMPLES_KEY: list(entries)})
    return True


def skipped_samples_in(data_samples: Any) -> List[str]:
    """The skipped samples' ``'path (reason)'`` that a batch's ``data_samples`` carry."""
    from mmengine.structures import BaseDataElement
    if isinstance(data_samples, BaseDataElement):
        return list(data_samples.metainfo.get(SKIPPED_SAMPLES_KEY, ()))
    if isinstance(data_samples, (list, tuple)):
        return [entry for item in data_samples for entry in skipped_samples_in(item)]
    return []
