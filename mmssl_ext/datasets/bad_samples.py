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

The budget counts per data-loading process: each dataloader worker of each
rank counts what it skipped (a shared counter would not survive the copies
mmengine and torch make of a dataset). A fault that hits every sample still
stops the run after ``max_skipped_samples`` samples, in whichever worker gets
there first.
"""
from typing import List, Optional

from mmengine.logging import print_log

__all__ = ['BadSampleError', 'BadSampleBudgetExceeded', 'SkipBadSamplesMixin']


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
        return data

    def _skip(self, path: str, err: Exception) -> None:
        reason = f'{type(err).__name__}: {err}'.splitlines()[0]
        self.skipped_samples.append(f'{path} ({reason})')
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
        print_log(f'skipping bad sample {path}: {reason} (skipped {count} of at most '
                  f'{self.max_skipped_samples} in this data-loading process)',
                  logger='current', level=30)
        return None
