from pathlib import Path


def test_tiny_model_loads_and_generates(tiny_base_model: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_model)
    assert model.config.vocab_size == 32000 == len(tok)
    ids = tok("Metformin lowers hepatic glucose output.", return_tensors="pt").input_ids
    assert ids[0, 0].item() == tok.bos_token_id == 1
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 5


def test_tiny_model_is_deterministic(tmp_path: Path, tokenizer_json: Path) -> None:
    from medllama.tiny_model import create_tiny_base_model

    a = create_tiny_base_model(tmp_path / "a", tokenizer_json=tokenizer_json, seed=3)
    b = create_tiny_base_model(tmp_path / "b", tokenizer_json=tokenizer_json, seed=3)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
