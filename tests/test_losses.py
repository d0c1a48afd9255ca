import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from deepprune.training.losses import BCELoss, FocalLoss, WeightedBCELoss

LN2 = math.log(2.0)
ROOT = Path(__file__).resolve().parents[1]


def test_focal_matches_hand_computed_values():
    loss = FocalLoss(alpha=0.25, gamma=2.0)
    # logit 0 -> p = 0.5: positive 0.25 * 0.5^2 * ln2, negative 0.75 * 0.5^2 * ln2.
    assert loss(torch.tensor([0.0]), torch.tensor([1.0])).item() == pytest.approx(0.25 * 0.25 * LN2, rel=1e-6)
    assert loss(torch.tensor([0.0]), torch.tensor([0.0])).item() == pytest.approx(0.75 * 0.25 * LN2, rel=1e-6)
    # logit ln 3 -> p = 0.75; a confident correct positive is down-weighted by (1 - 0.75)^2.
    value = loss(torch.tensor([math.log(3.0)]), torch.tensor([1.0])).item()
    assert value == pytest.approx(0.25 * 0.25**2 * -math.log(0.75), rel=1e-6)
    # ... and a confident wrong negative (p_t = 0.25) much less so.
    value = loss(torch.tensor([math.log(3.0)]), torch.tensor([0.0])).item()
    assert value == pytest.approx(0.75 * 0.75**2 * -math.log(0.25), rel=1e-6)
    # Batch mean.
    both = loss(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])).item()
    assert both == pytest.approx((0.25 + 0.75) * 0.25 * LN2 / 2, rel=1e-6)


def test_focal_without_alpha_and_gamma_is_bce():
    logits, targets = torch.tensor([-2.0, 0.3, 4.0, -0.7]), torch.tensor([1.0, 0.0, 1.0, 0.0])
    expected = F.binary_cross_entropy_with_logits(logits, targets)
    assert FocalLoss(alpha=None, gamma=0.0)(logits, targets).item() == pytest.approx(expected.item(), rel=1e-6)


def test_focal_is_stable_at_extreme_logits():
    logits = torch.tensor([80.0, -80.0], requires_grad=True)
    value = FocalLoss(alpha=0.25, gamma=2.0)(logits, torch.tensor([0.0, 1.0]))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    assert value.item() == pytest.approx((0.75 * 80 + 0.25 * 80) / 2, rel=1e-4)


def test_bce_and_weighted_bce_hand_computed():
    assert BCELoss()(torch.tensor([0.0]), torch.tensor([1.0])).item() == pytest.approx(LN2, rel=1e-6)
    weighted = WeightedBCELoss(pos_weight=1.0, neg_weight=4.0)
    assert weighted(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])).item() == pytest.approx(2.5 * LN2, rel=1e-6)
    assert WeightedBCELoss(2.0, 1.0)(torch.tensor([0.0]), torch.tensor([1.0])).item() == pytest.approx(2 * LN2)


@pytest.mark.parametrize(
    ("name", "cls", "field", "value"),
    [
        ("focal", FocalLoss, "alpha", 0.25),
        ("bce", BCELoss, None, None),
        ("weighted_bce", WeightedBCELoss, "neg_weight", 4.0),
    ],
)
def test_loss_configs_build_their_class(name, cls, field, value):
    loss = instantiate(OmegaConf.load(ROOT / "conf" / "loss" / f"{name}.yaml"))
    assert type(loss) is cls
    if field is not None:
        assert getattr(loss, field) == value


def test_bad_loss_settings_name_the_key():
    with pytest.raises(ValueError, match="loss.alpha"):
        FocalLoss(alpha=1.5, gamma=2.0)
    with pytest.raises(ValueError, match="loss.gamma"):
        FocalLoss(alpha=0.25, gamma=-1.0)
