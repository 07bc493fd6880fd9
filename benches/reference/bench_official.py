"""Official MTLoRA timings for `cargo xtask bench --compare`.

Imports the official code (scale-lab/MTLoRA) from the checkout named by MTLORA_OFFICIAL (never
copied into this repository) and times the released r64 configuration
(configs/mtlora/tiny_448/mtlora_tiny_448_r64_scale4_pertask.yaml), PASCAL-Context's 4 tasks, 448²:

  mtlora_r64_448_infer_b1  model(x), batch 1, eval mode, no_grad
  mtlora_r64_448_train_b2  model(x) + MultiTaskLoss (the official get_loss per task, weights
                           1/2/5/10) + backward + clip_grad_norm_(5.0) + AdamW (the official
                           build_optimizer groups), batch 2, with the official frozen set
                           (mark_only_lora_as_trainable with the config's flags)

Targets are synthetic (labels with some 255 pixels, unit normals), as in the Rust cases.
Prints one JSON line: {"case", "median_s", "min_s", "max_s", "peak_rss_bytes", "runs", ...}.
Exit 3: no official reference for this case.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

TASKS = "semseg,normals,sal,human_parts"
CONFIG = "configs/mtlora/tiny_448/mtlora_tiny_448_r64_scale4_pertask.yaml"
CASES = ("mtlora_r64_448_infer_b1", "mtlora_r64_448_train_b2")


def official_config(root):
    from config import get_config

    args = argparse.Namespace(
        cfg=os.path.join(root, CONFIG),
        opts=None,
        tasks=TASKS,
        pascal="unused",
        local_rank=0,
    )
    return get_config(args)


def build(case, root, torch):
    from models import build_model, build_mtl_model
    from models.lora import mark_only_lora_as_trainable

    config = official_config(root)
    model = build_mtl_model(build_model(config), config)
    size = config.DATA.IMG_SIZE
    if case.endswith("infer_b1"):
        model.eval()
        x = torch.randn(1, 3, size, size)

        def run():
            with torch.no_grad():
                model(x)

        return run

    from mtl_loss_schemes import MultiTaskLoss, get_loss
    from optimizer import build_optimizer

    m = config.MODEL.MTLORA
    if m.ENABLED and m.FREEZE_PRETRAINED:
        mark_only_lora_as_trainable(
            model.backbone,
            bias=m.BIAS,
            freeze_patch_embed=config.TRAIN.FREEZE_PATCH_EMBED,
            freeze_norm=config.TRAIN.FREEZE_LAYER_NORM,
            free_relative_bias=config.TRAIN.FREEZE_RELATIVE_POSITION_BIAS,
            freeze_downsample_reduction=True
            if m.DOWNSAMPLER_ENABLED
            else config.TRAIN.FREEZE_DOWNSAMPLE_REDUCTION,
        )
    model.train()
    weights = {"semseg": 1.0, "human_parts": 2.0, "sal": 5.0, "normals": 10.0}
    loss_ft = torch.nn.ModuleDict(
        {t: get_loss(config["TASKS_CONFIG"], t, config) for t in config.TASKS}
    )
    criterion = MultiTaskLoss(config.TASKS, loss_ft, {t: weights[t] for t in config.TASKS})
    optimizer = build_optimizer(config, model)
    params = [p for p in model.parameters() if p.requires_grad]
    b = 2
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, 3, size, size, generator=g)

    def labels(classes):
        y = torch.randint(0, classes, (b, 1, size, size), generator=g).float()
        y[:, :, :8, :] = 255.0
        return y

    normals = torch.nn.functional.normalize(torch.randn(b, 3, size, size, generator=g), dim=1)
    normals[:, :, :8, :] = 255.0
    targets = {
        "semseg": labels(21),
        "human_parts": labels(7),
        "sal": (torch.rand(b, 1, size, size, generator=g) > 0.7).float(),
        "normals": normals,
    }

    def run():
        optimizer.zero_grad(set_to_none=True)
        loss, _ = criterion(model(x), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        loss.item()

    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    root = os.environ.get("MTLORA_OFFICIAL")
    if a.case not in CASES:
        print(f"no official reference for case {a.case}", file=sys.stderr)
        sys.exit(3)
    if not root or not os.path.isfile(os.path.join(root, CONFIG)):
        print("MTLORA_OFFICIAL does not name a scale-lab/MTLoRA checkout", file=sys.stderr)
        sys.exit(3)
    sys.path.insert(0, root)
    import torch

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    # the official modules print while building; keep stdout for the JSON line
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    run = build(a.case, root, torch)
    run()
    times = []
    for _ in range(max(1, a.runs)):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    sys.stdout = real_stdout
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"case": a.case, "median_s": statistics.median(times), "min_s": min(times),
                      "max_s": max(times), "peak_rss_bytes": rss, "runs": len(times),
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "reference": "official"}))


if __name__ == "__main__":
    main()
