"""`sounding train`: the paper's objective, resumable and deterministic, on one CPU or many GPUs.

Diffusion stage (the paper): z0 ~ VAE posterior of the clip's log-mel, t ~ U{0..N-1}, eps ~ N(0, I),
z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps, c = conditioner(patches, text) replaced by the null condition with
p = 0.1, loss = || eps - UNet(z_t, t, c) ||^2 (+ optionally a KL pulling the attention onto the row's mask, and a
caption alignment: c must predict the caption's sentence embedding).
VAE stage: L1 log-mel reconstruction + a small KL term, for the whole VAE or (component "vae_decoder") only its
decoder, keeping the latent space of an already trained UNet.

Every random draw of step ``s`` comes from a generator seeded with ``seed + s``, so a resumed run continues
exactly as an uninterrupted one. Under ``accelerate launch`` each process takes its share of each batch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers import DDPMScheduler
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from sounding.model.config import NAMED_CONFIGS, ModelConfig, named_config
from sounding.model.generator import ObjectAwareGenerator
from sounding.model.loading import build_generator, load_generator, save_generator
from sounding.model.masking import substitute
from sounding.model.sampler import frame_multiple, latent_frames
from sounding.training.config import CONDITION_COMPONENTS, TrainConfig
from sounding.training.data import Row, precompute, read_rows
from sounding.training.clip_ranker import fit_clip_ranker
from sounding.training.object_prior import fit_object_prior, prior_rows

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
MODEL_DIR = "model"
FEATURES_FILE = "features.safetensors"
CAPTION_HEAD_FILE = "caption_head.safetensors"
LOG_EVERY = 10
#: Cached tensors with a view axis (``precompute`` with ``image_views`` > 1); one view per row is taken each step.
VIEW_KEYS = ("patches", "mask_grid", "caption_patches", "caption_mask_grid")
SCALING_CLIPS = 256


class DiffusionObjective(nn.Module):
    """Noise-prediction MSE of the UNet conditioned by the object-aware conditioner (velocity when the model's
    scheduler says ``prediction_type="v_prediction"``)."""

    def __init__(self, generator: ObjectAwareGenerator, config: TrainConfig):
        super().__init__()
        self.generator, self.config = generator, config
        self.noise_scheduler = DDPMScheduler.from_config(generator.scheduler_config)
        #: Maps the condition into the text encoder's space for the caption alignment (training only).
        self.caption_head = None
        if config.caption_alignment_weight > 0:
            with torch.random.fork_rng():
                torch.manual_seed(config.seed)
                self.caption_head = nn.Linear(generator.conditioner.config.condition_dim,
                                              generator.text_encoder.feature_dim).to(generator.device)

    def forward(self, batch: dict[str, torch.Tensor], captions: list[str], rng: torch.Generator) -> torch.Tensor:
        g, device = self.generator, self.generator.device
        # 1. Clean latents sampled from the precomputed VAE posterior, scaled like at inference.
        noise_shape = batch["latent_mean"].shape
        latents = batch["latent_mean"] + batch["latent_std"] * torch.randn(noise_shape, generator=rng).to(device)
        latents = latents * g.vae.config.scaling_factor
        # 2. The condition: text query attending over the image patches; for a share of the rows with a mask,
        #    the mask substituted for the attention (as a click does at test time). Where the cache holds the
        #    whole picture apart from a click's crop ("caption_" views), the text attends over the whole picture,
        #    as a caption alone does at inference, and also over the crop, whose attention spread a click follows.
        patches = batch["patches"] if "patches" in batch else g.image_encoder(batch["pixels"])
        query = batch["query"] if "query" in batch else g.text_encoder(captions)
        weights = g.conditioner.attention(patches, query)
        attention_loss = self.attention_to_mask(weights, batch["mask_grid"], batch.get("has_mask"))
        if "caption_patches" in batch:
            text_patches = batch["caption_patches"]
            text_weights = g.conditioner.attention(text_patches, query, record_spread=False)
            attention_loss = (attention_loss + self.attention_to_mask(text_weights, batch["caption_mask_grid"],
                                                                      batch.get("has_mask"))) / 2
        else:
            text_patches, text_weights = patches, weights
        condition = g.conditioner.pool(text_patches, text_weights)
        if self.config.mask_probability > 0:
            # The rule a click without text follows at test time.
            masked = substitute(batch["mask_grid"][:, None].expand_as(weights), g.conditioner.mask_spread())
            chosen = torch.rand(len(weights), generator=rng) < self.config.mask_probability
            use = batch["has_mask"] & chosen.to(weights.device)
            condition = torch.where(use[:, None], g.conditioner.pool(patches, masked), condition)
        alignment_loss = self.caption_alignment(condition, query) if self.caption_head is not None else 0.0
        if self.config.typical_condition_probability > 0:
            # The condition a prior of strength 1 gives this row's class at inference.
            index = batch["class_index"]
            drawn = torch.rand(len(index), generator=rng).to(index.device) < self.config.typical_condition_probability
            typical = g.object_prior.typical_conditions[index.clamp(min=0)].to(condition.dtype)
            condition = torch.where((drawn & (index >= 0))[:, None], typical, condition)
        condition = g.conditioner.drop(condition, self.config.condition_dropout, rng)
        # 3. Forward diffusion at a uniformly drawn timestep.
        noise = torch.randn(noise_shape, generator=rng).to(device)
        steps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(latents),), generator=rng)
        noisy = self.noise_scheduler.add_noise(latents, noise, steps.to(device))
        # 4. Noise (or velocity) prediction loss.
        predicted = g.unet(noisy, steps.to(device), encoder_hidden_states=None, class_labels=condition).sample
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            noise = self.noise_scheduler.get_velocity(latents, noise, steps.to(device))
        return (F.mse_loss(predicted.float(), noise.float()) + self.config.attention_mask_weight * attention_loss
                + self.config.caption_alignment_weight * alignment_loss)

    def caption_alignment(self, condition: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """1 - cosine between the condition mapped by ``caption_head`` and the caption's sentence embedding."""
        return 1 - F.cosine_similarity(self.caption_head(condition), query.detach(), dim=-1).mean()

    @staticmethod
    def attention_to_mask(weights: torch.Tensor, mask_grid: torch.Tensor,
                          has_mask: torch.Tensor | None) -> torch.Tensor:
        """KL(normalised mask || attention), averaged over heads and the rows that have a mask (0 without any)."""
        if has_mask is None or not has_mask.any():
            return weights.new_zeros(())
        grid = mask_grid[has_mask]
        target = (grid / grid.sum(-1, keepdim=True))[:, None]
        kl = torch.xlogy(target, target) - target * weights[has_mask].clamp(min=1e-12).log()
        return kl.sum(-1).mean()


class VaeObjective(nn.Module):
    """Log-mel autoencoder: L1 reconstruction + KL to N(0, I) (weight ``kl_weight``), as LDM's first stage. With
    only the decoder trained, the frozen encoder's KL is a constant and the loss is the reconstruction's."""

    def __init__(self, generator: ObjectAwareGenerator, config: TrainConfig):
        super().__init__()
        self.generator, self.config = generator, config

    def forward(self, batch: dict[str, torch.Tensor], captions: list[str], rng: torch.Generator) -> torch.Tensor:
        vae = self.generator.vae
        mel = batch["mel"][:, None]
        posterior = vae.encode(mel).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=rng).to(mel.device)
        reconstruction = vae.decode(z).sample
        return F.l1_loss(reconstruction, mel) + self.config.kl_weight * posterior.kl().mean()


@dataclass
class TrainResult:
    model_dir: Path
    losses: list[float]  # one per step run by this call


def _initial_generator(config: TrainConfig) -> ObjectAwareGenerator:
    """A named config is built (pretrained sources + seeded random rest), a directory is loaded; then the
    ``warm_start`` components are copied in."""
    if config.model not in NAMED_CONFIGS:
        if config.model_overrides:
            raise ValueError("model_overrides apply to named configs only, not to a model directory")
        generator = load_generator(config.model)
    else:
        model_config = json.loads(named_config(config.model).to_json())
        generator = build_generator(ModelConfig.from_dict({**model_config, **config.model_overrides}))
    donors = {directory: load_generator(directory) for directory in set(config.warm_start.values())}
    for component, directory in config.warm_start.items():
        source = getattr(donors[directory], component)
        try:
            getattr(generator, component).load_state_dict(source.state_dict())
        except RuntimeError as error:
            raise ValueError(f"cannot warm-start {component} from {directory}: {error}") from error
        if component == "vae":  # the latent space's scale is part of the VAE, not of its weights
            generator.vae.register_to_config(scaling_factor=source.config.scaling_factor)
    return generator


#: Components that are parts of a generator's module (submodule paths); any other component is the module itself.
COMPONENT_MODULES = {"vae_decoder": ("vae.post_quant_conv", "vae.decoder")}


def _component_modules(generator: ObjectAwareGenerator, component: str) -> list[nn.Module]:
    return [generator.get_submodule(path) for path in COMPONENT_MODULES.get(component, (component,))]


def _set_trainable(generator: ObjectAwareGenerator, trained: tuple[str, ...]) -> list[nn.Parameter]:
    generator.requires_grad_(False).eval()
    parameters = []
    for name in trained:
        for module in _component_modules(generator, name):
            module.requires_grad_(True).train()
            parameters += [p for p in module.parameters() if p.requires_grad]
    return parameters


def _fit_vae_scaling(generator: ObjectAwareGenerator, mels: torch.Tensor) -> None:
    """LDM's convention: scale latents to unit variance (AudioLDM's VAE uses 0.9393), estimated on the first
    ``SCALING_CLIPS`` clips."""
    mels = mels[:SCALING_CLIPS].float()
    with torch.no_grad():
        latents = torch.cat([generator.vae.encode(mels[s:s + 64, None].to(generator.device)).latent_dist.mean
                             for s in range(0, len(mels), 64)])
    generator.vae.register_to_config(scaling_factor=float(1.0 / latents.std()))


def train(config: TrainConfig, show_progress: bool = True) -> TrainResult:
    config.validate()
    accelerator = Accelerator(mixed_precision=config.mixed_precision)
    output = Path(config.output)
    state_path = output / STATE_FILE
    resuming = state_path.is_file()
    # 1. The model: the run's last checkpoint when resuming, else the configured start.
    generator = load_generator(str(output / MODEL_DIR)) if resuming else _initial_generator(config)
    generator.to(accelerator.device)
    trained = config.trained_components()
    for component in trained:  # a fine-tuned encoder is saved with the run, no longer taken from its package
        owner = COMPONENT_MODULES.get(component, (component,))[0].split(".")[0]
        if generator.config.sources.get(owner, "").startswith("package:"):
            del generator.config.sources[owner]
    if config.stage == "diffusion" and set(CONDITION_COMPONENTS) & set(trained):
        # New conditions: the prior, fitted on the old ones, is refitted at the end, and so is the ranker, which
        # ranks by the prior's classes. A run that trains only the UNet keeps both.
        generator.object_prior = generator.clip_ranker = None
    if config.typical_condition_probability > 0 and generator.object_prior is None:
        raise ValueError(f"typical_condition_probability needs a model with an object prior; {config.model} has "
                         "none (`sounding fit-prior`)")
    parameters = _set_trainable(generator, trained)
    if not parameters:
        raise ValueError(f"nothing to train: {trained} have no parameters")
    # 2. Data, with latents and frozen features computed once.
    rows: list[Row] = read_rows(config.manifest, config.split, config.scene_mixes)
    if config.object_prior_strength is not None:
        prior_rows(rows)  # a manifest without labels fails now, not after the last step
    frames = latent_frames(config.clip_seconds, generator.hop_seconds, frame_multiple(generator.unet, generator.vae))
    show_progress = show_progress and accelerator.is_main_process
    with accelerator.main_process_first():  # the main process writes the cache, the others then read it
        data = precompute(generator, rows, frames, config.stage, trained, output / FEATURES_FILE,
                          config.image_views, config.view_augment, config.seed, config.whole_picture_captions,
                          show_progress)
    captions = [row.caption for row in rows]
    if config.typical_condition_probability > 0:  # each row's class among the prior's (-1: none it knows)
        labels = generator.object_prior.config.labels
        data["class_index"] = torch.tensor([labels.index(row.label) if row.label in labels else -1 for row in rows])
    # 3. Objective and optimiser (AdamW, the paper's betas and weight decay).
    objective = (VaeObjective if config.stage == "vae" else DiffusionObjective)(generator, config)
    head = getattr(objective, "caption_head", None)
    if head is not None:
        if resuming:
            head.load_state_dict(load_file(output / CAPTION_HEAD_FILE))
        parameters += list(head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    step = 0
    if resuming:
        step = json.loads(state_path.read_text())["step"]
        optimizer.load_state_dict(torch.load(output / OPTIMIZER_FILE, map_location="cpu", weights_only=True))
    objective, optimizer = accelerator.prepare(objective, optimizer)
    # 4. Steps: batch indices, noise, timesteps and dropout all drawn from seed + step.
    losses: list[float] = []
    bar = tqdm(total=config.max_steps, initial=step, desc=f"train {config.stage}",
               disable=not show_progress)
    while step < config.max_steps:
        rng = torch.Generator().manual_seed(config.seed + step)
        index = torch.randint(0, len(rows), (config.batch_size,), generator=rng)
        index = index[accelerator.process_index::accelerator.num_processes]
        picked = {k: v[index] for k, v in data.items()}
        if config.image_views > 1:  # one cached view per row (the patches and their mask grid share the view axis)
            view = torch.randint(0, config.image_views, (len(index),), generator=rng)
            picked.update({k: picked[k][torch.arange(len(index)), view] for k in VIEW_KEYS if k in picked})
        batch = {k: (v.float() if v.is_floating_point() else v).to(accelerator.device) for k, v in picked.items()}
        loss = objective(batch, [captions[i] for i in index], rng)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        losses.append(float(loss.detach()))
        bar.update(1)
        if step % LOG_EVERY == 0 or step == config.max_steps:
            bar.set_postfix(loss=f"{sum(losses[-LOG_EVERY:]) / len(losses[-LOG_EVERY:]):.4f}")
        if step == config.max_steps and config.object_prior_strength is not None:
            generator.eval()
            generator.object_prior = fit_object_prior(generator, rows, config.object_prior_strength)
            if config.clip_ranker_candidates is not None:
                generator.clip_ranker = fit_clip_ranker(generator, rows, config.clip_ranker_candidates)
        if step % config.save_every == 0 or step == config.max_steps:
            _save(accelerator, generator, optimizer, config, output, step, data, head)
    bar.close()
    return TrainResult(output / MODEL_DIR, losses)


def _save(accelerator: Accelerator, generator: ObjectAwareGenerator, optimizer, config: TrainConfig, output: Path,
          step: int, data: dict[str, torch.Tensor], head: nn.Module | None) -> None:
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    if "vae" in config.trained_components():  # a new encoder: a new latent scale (a decoder-only run keeps it)
        _fit_vae_scaling(generator, data["mel"])
    save_generator(generator, output / MODEL_DIR)
    torch.save(optimizer.state_dict(), output / OPTIMIZER_FILE)
    if head is not None:
        save_file({k: v.contiguous() for k, v in head.state_dict().items()}, output / CAPTION_HEAD_FILE)
    (output / "train_config.json").write_text(config.to_json() + "\n")
    (output / STATE_FILE).write_text(json.dumps({"step": step}) + "\n")
