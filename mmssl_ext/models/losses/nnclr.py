"""The NNCLR loss (Dwibedi et al., ICCV 2021): nearest neighbours as positives."""
import torch
import torch.nn.functional as F
from torch import nn

from mmssl_ext.models.utils.gather import gather_local_grad, gather_with_grad
from mmssl_ext.registry import MODELS


def nearest_neighbour_contrast(neighbours: torch.Tensor, predictions: torch.Tensor,
                               temperature: float = 0.1) -> torch.Tensor:
    """One direction of the NNCLR loss, symmetrised over the similarity matrix.

    With ``S = NN(z_i) . p_k / tau`` over the (gathered) batch, the loss is the
    mean of the cross entropy of the rows of ``S`` (paper Eq. 2: each
    neighbour must pick its own image's prediction) and of its columns (each
    prediction must pick its own neighbour), as in the paper's implementation
    details. Each process computes its own rows and columns against the
    gathered batch; the mean over processes is the loss of the whole batch.

    Args:
        neighbours: (B, D) nearest neighbours of view a's projections in the
            support set: unit vectors, no gradient.
        predictions: (B, D) predictor outputs of view b, any scale
            (normalised here); row i is image i's.
        temperature: tau.

    Returns:
        Scalar loss.
    """
    predictions = F.normalize(predictions, dim=1)
    neighbours = F.normalize(neighbours.detach(), dim=1)
    all_predictions, first = gather_with_grad(predictions)
    all_neighbours, _ = gather_local_grad(neighbours)
    target = torch.arange(len(neighbours), device=neighbours.device) + first
    rows = neighbours @ all_predictions.T / temperature  # (B, B_all)
    columns = predictions @ all_neighbours.T / temperature  # (B, B_all)
    return (F.cross_entropy(rows, target) + F.cross_entropy(columns, target)) / 2


@MODELS.register_module()
class NNCLRLoss(nn.Module):
    """The symmetric NNCLR loss over two views.

    ``(L(NN(z_1), p_2) + L(NN(z_2), p_1)) / 2`` with ``L`` the
    :func:`nearest_neighbour_contrast` of one direction: view 1's neighbour is
    the positive of view 2's prediction and vice versa.

    Args:
        temperature (float): tau. Defaults to 0.1 (the paper's).
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be positive, got {temperature}')
        self.temperature = temperature

    def forward(self, neighbours_1: torch.Tensor, neighbours_2: torch.Tensor,
                predictions_1: torch.Tensor, predictions_2: torch.Tensor) -> torch.Tensor:
        """All inputs (B, D); neighbours without gradient."""
        return (nearest_neighbour_contrast(neighbours_1, predictions_2, self.temperature) +
                nearest_neighbour_contrast(neighbours_2, predictions_1, self.temperature)) / 2
