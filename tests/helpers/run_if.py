"""``RunIf``: skip a test, with a clear reason, where what it needs is missing (after lightning-hydra-template's
``tests/helpers/run_if.py``).

    @RunIf(requires_vllm=True)
    def test_live_engine(): ...

    pytestmark = RunIf(min_gpus=1)  # a whole module

The mark also carries what it asks for: ``conftest.py`` tags such tests ``vllm`` / ``gpu``, so ``-m "not vllm"``
deselects them without a second decorator.
"""

from __future__ import annotations

import importlib.util

import pytest

VLLM_HINT = "vllm (pip install -e '.[cpu]' on CPU, '.[gpu]' on GPU)"


def module_available(name: str) -> bool:
    """Whether ``name`` is installed, without importing it (importing vLLM alone takes seconds)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def cuda_devices() -> int:
    import torch  # only for tests that ask for GPUs

    return torch.cuda.device_count()


# Capitalised like a class, as in lightning-hydra-template: it reads as a mark, ``@RunIf(...)``.
def RunIf(*, requires_vllm: bool = False, min_gpus: int = 0, modules: tuple[str, ...] = ()) -> pytest.MarkDecorator:
    """A ``skipif`` mark: skip unless vLLM is installed (``requires_vllm``), at least ``min_gpus`` CUDA devices are
    visible, and every module of ``modules`` is installed. The reason names everything missing."""
    missing = []
    if requires_vllm and not module_available("vllm"):
        missing.append(VLLM_HINT)
    if min_gpus:
        found = cuda_devices()
        if found < min_gpus:
            missing.append(f"{min_gpus} GPU{'s' if min_gpus > 1 else ''} (found {found})")
    missing += [name for name in modules if not module_available(name)]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"requires {', '.join(missing)}",
        requires_vllm=requires_vllm,
        min_gpus=min_gpus,
    )


def tag_requirements(items: list[pytest.Item]) -> None:
    """Add the ``vllm`` / ``gpu`` selection markers to the tests whose ``RunIf`` asks for vLLM / GPUs."""
    for item in items:
        for mark in item.iter_markers("skipif"):
            if mark.kwargs.get("requires_vllm"):
                item.add_marker(pytest.mark.vllm)
            if mark.kwargs.get("min_gpus"):
                item.add_marker(pytest.mark.gpu)
