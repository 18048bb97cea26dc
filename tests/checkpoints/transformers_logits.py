"""Run by a Python with torch and transformers (not hawkzoo's): for each folder given,
transformers' logits of the tokens in `tokens.npy` there, and for a model with attention
its greedy continuation of the first row's first 5 (transformers 5.25's `generate` fails on
a model without attention blocks), written to `transformers.npz` there."""

import sys

import numpy as np
import torch  # pyright: ignore[reportMissingImports]
import transformers  # pyright: ignore[reportMissingImports]

NEW_TOKENS = 8

for folder in sys.argv[1:]:
    model = transformers.RecurrentGemmaForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    tokens = torch.from_numpy(np.load(f"{folder}/tokens.npy"))
    with torch.no_grad():
        logits = model(tokens, use_cache=False).logits
        results = {"logits": logits.numpy()}
        if "attention" in model.config.block_types:
            greedy = model.generate(tokens[:1, :5], max_new_tokens=NEW_TOKENS, do_sample=False)
            results["greedy"] = greedy[0, 5:].numpy()
    np.savez(f"{folder}/transformers.npz", **results)
print(f"transformers {transformers.__version__}, torch {torch.__version__}")
