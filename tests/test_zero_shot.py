import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from deepprune.judges.base import Prefix
from deepprune.judges.zero_shot import ZeroShotJudge

PROMPT = "Solution A: {a}\nSolution B: {b}\nSame final answer?"


def _pairs():
    texts = [
        "the last letter of apple is e",
        "first we look at the word river",
        "so the answer is ex",
        "hmm let me check the letters of zebra and lemon again carefully",
    ]
    return [(Prefix(a, len(a.split())), Prefix(b, len(b.split()))) for a in texts for b in texts[:2]]


def test_p_yes_is_the_next_token_softmax_over_yes_and_no(tiny_judge_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    judge = ZeroShotJudge(tiny_judge_base, prompt=PROMPT, batch_size=3, yes_words=[" yes"], no_words=[" no"])
    pairs = _pairs()
    scores = judge.score(pairs)
    assert scores.shape == (len(pairs),) and ((scores > 0) & (scores < 1)).all()
    assert judge.tokens_read == sum(a.num_tokens + b.num_tokens for a, b in pairs)
    # Reference: one unpadded forward pass per pair through the plain causal LM.
    tokenizer = AutoTokenizer.from_pretrained(tiny_judge_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_judge_base).eval()
    yes, no = (tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in (" yes", " no"))
    for (a, b), score in zip(pairs, scores, strict=True):
        ids = tokenizer(PROMPT.replace("{a}", a.text).replace("{b}", b.text), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        expected = torch.softmax(logits[[yes, no]], -1)[0].item()
        assert score == pytest.approx(expected, abs=1e-4)


def test_batching_does_not_change_scores(tiny_judge_base):
    pairs = _pairs()
    batched = ZeroShotJudge(tiny_judge_base, prompt=PROMPT, batch_size=8).score(pairs)
    single = ZeroShotJudge(tiny_judge_base, prompt=PROMPT, batch_size=1).score(pairs)
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_config_builds_zero_shot_and_rejects_missing_weights(tiny_judge_base, tmp_path, monkeypatch):
    cfg = OmegaConf.load("conf/inference/judge/zero_shot.yaml")
    cfg.path, cfg.batch_size = tiny_judge_base, 4
    judge = instantiate(cfg)
    assert isinstance(judge, ZeroShotJudge) and judge.score(_pairs()[:2]).shape == (2,)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf_home" / "hub"))
    with pytest.raises(FileNotFoundError, match="judge.path"):
        ZeroShotJudge("Qwen/Qwen3-4B-Instruct-2507")
