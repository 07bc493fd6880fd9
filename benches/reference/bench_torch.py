"""PyTorch reference timings for `cargo xtask bench --compare`.

Times timm's Swin-T at the cases' resolution and batch with the same thread count:
  mtlora_r64_448_infer_b1  forward, batch 1, 448x448, eval mode, no_grad
  mtlora_r64_448_train_b2  forward + backward + AdamW, batch 2, 448x448, with MTLoRA's frozen set
                           as far as timm allows (attention qkv/proj and MLP fc1/fc2 frozen;
                           norms, patch embedding, bias tables, patch merging trainable)
  block_plain_linear_fc1_s0  nn.Linear(96, 384) on [1, 112*112, 96]
  block_patch_merging_s0     timm's stage-1 PatchMerging on the stage-0 grid
The timm model has no LoRA branches, task streams or decoders, so it does less work than the
MTLoRA cases: ratios are conservative for mtlora-rs.

Prints one JSON line: {"case", "median_s", "min_s", "max_s", "peak_rss_bytes", "runs"}.
"""
import argparse
import json
import resource
import statistics
import sys
import time


def build(case, torch, timm):
    if case in ("mtlora_r64_448_infer_b1", "mtlora_r64_448_train_b2"):
        model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, img_size=448)
        if case.endswith("infer_b1"):
            model.eval()
            x = torch.randn(1, 3, 448, 448)

            def run():
                with torch.no_grad():
                    model.forward_features(x)

            return run
        model.train()
        for name, p in model.named_parameters():
            frozen = any(k in name for k in (".attn.qkv.", ".attn.proj.", ".mlp.fc1.", ".mlp.fc2."))
            p.requires_grad_(not frozen)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=3.125e-5, weight_decay=0.05)
        x = torch.randn(2, 3, 448, 448)

        def run():
            opt.zero_grad(set_to_none=True)
            feats = model.forward_features(x)
            loss = feats.float().pow(2).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            loss.item()

        return run
    if case == "block_plain_linear_fc1_s0":
        lin = torch.nn.Linear(96, 384)
        x = torch.randn(1, 112 * 112, 96)

        def run():
            with torch.no_grad():
                lin(x)

        return run
    if case == "block_patch_merging_s0":
        model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, img_size=448)
        pm = model.layers[1].downsample
        x = torch.randn(1, 112, 112, 96)

        def run():
            with torch.no_grad():
                pm(x)

        return run
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    import torch
    import timm

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    run = build(a.case, torch, timm)
    if run is None:
        print(f"no reference for case {a.case}", file=sys.stderr)
        sys.exit(3)
    run()
    times = []
    for _ in range(max(1, a.runs)):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"case": a.case, "median_s": statistics.median(times), "min_s": min(times),
                      "max_s": max(times), "peak_rss_bytes": rss, "runs": len(times),
                      "torch": torch.__version__, "timm": timm.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
