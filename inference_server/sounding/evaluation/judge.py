"""The judge: small CNNs on AudioLDM's 16 kHz log-mel that name the class of a sound. Trained on the real
recordings of Foley-Mini's train split, model-selected on val, measured on test (recordings never seen in training).
ACC (``sounding.evaluation.acc``) asks it which class a generated clip sounds like. It is an ensemble: one net's
training seed alone moves ACC by several points, and the members' averaged probabilities move it much less.

A judge directory holds ``config.json`` (:class:`JudgeConfig`), ``judge.safetensors`` (member ``i``'s tensors under
``member{i}.``) and ``metrics.json``."""
from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sounding.audio.io import read_audio
from sounding.audio.mel import LogMel
from sounding.data import audio_prep
from sounding.data.build import MANIFEST_NAME
from sounding.data.manifest import ClipRow, read_manifest
from sounding.model.config import MelConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "judge.safetensors"
METRICS_NAME = "metrics.json"
#: The judge is weak (about 30 % top-1), so the metrics also count the target among its TOP_K most probable classes.
TOP_K = 3
#: Members of the default judge. Ten single nets (seeds 0-9) scored the same generated clips with mask ACC sd 4.0
#: points; averaging five nets' probabilities brought it to 1.7 (docs/data.md, "How much the judge's seed moves ACC").
ENSEMBLE_MEMBERS = 5


@dataclass
class JudgeConfig:
    labels: list[str]
    channels: tuple[int, ...] = (64, 96, 128, 128)
    dropout: float = 0.3
    #: Clips are judged in windows of this length (hop: half a window); shorter clips are padded with silence.
    window_seconds: float = 2.0
    #: Input normalisation of the log-mel (AudioLDM's log floor is log(1e-5) = -11.5).
    mel_offset: float = 5.0
    mel_scale: float = 3.0
    #: Nets trained with seeds ``seed .. seed + members - 1``; the judge averages their probabilities.
    members: int = ENSEMBLE_MEMBERS

    def __post_init__(self):
        if self.members < 1:
            raise ValueError(f"a judge needs at least one member, got members={self.members}")

    @property
    def window_frames(self) -> int:
        return int(self.window_seconds * audio_prep.SAMPLE_RATE / MelConfig().hop_length)


@dataclass
class JudgeTrainConfig:
    epochs: int = 30
    samples_per_epoch: int = 1024
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-3
    seed: int = 0
    #: Augmentation: gain jitter (dB), SpecAugment masks, and a second train clip mixed in below the first.
    gain_db: float = 6.0
    #: Optional random smooth EQ (tilt plus ripple, dB) against each package's microphone colouration. Off: with
    #: 6 dB, val fell from 23.7 % to 21.1 % balanced (test rose from 30.6 % to 34.1 %): noise at this val size.
    eq_db: float = 0.0
    time_mask_frames: int = 30
    freq_mask_bins: int = 8
    mix_probability: float = 0.3
    mix_level_db: tuple[float, float] = (-20.0, -8.0)
    model: dict = field(default_factory=dict)


class JudgeNet(nn.Module):
    """log-mel (B, frames, n_mels) -> logits (B, classes). A 1-D CNN over time with the mel bands as input channels:
    an order of magnitude cheaper than a 2-D CNN on CPU, and enough for ~40 everyday classes."""

    def __init__(self, config: JudgeConfig):
        super().__init__()
        self.config = config
        layers, width = [], MelConfig().n_mels
        for channels in config.channels:
            layers += [nn.Conv1d(width, channels, 5, padding=2, bias=False), nn.BatchNorm1d(channels), nn.ReLU(),
                       nn.MaxPool1d(2)]
            width = channels
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(2 * width, len(config.labels)))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = ((mel + self.config.mel_offset) / self.config.mel_scale).transpose(1, 2)  # (B, n_mels, frames)
        x = self.features(x)
        return self.head(torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1))


def windows(mel: torch.Tensor, frames: int, floor: float) -> torch.Tensor:
    """(T, M) -> (W, frames, M): windows with half-window hop covering the clip; the last is padded with ``floor``."""
    if mel.shape[0] < frames:
        mel = torch.cat([mel, torch.full((frames - mel.shape[0], mel.shape[1]), floor)], dim=0)
    starts = list(range(0, mel.shape[0] - frames + 1, frames // 2))
    if starts[-1] + frames < mel.shape[0]:
        starts.append(mel.shape[0] - frames)
    return torch.stack([mel[start: start + frames] for start in starts])


class Judge:
    """A trained judge: ``classify(audio, sample_rate)`` -> probabilities over ``labels``, averaged over its nets."""

    def __init__(self, nets: list[JudgeNet]):
        if not nets or any(net.config.labels != nets[0].config.labels for net in nets):
            raise ValueError("a judge needs at least one net, and all its nets must share one label list")
        self.nets = [net.eval() for net in nets]
        self.config = nets[0].config
        self.labels = list(self.config.labels)
        self.log_mel = LogMel(MelConfig())
        self.floor = float(np.log(MelConfig().log_floor))

    @classmethod
    def load(cls, directory: Path) -> "Judge":
        directory = Path(directory)
        if not (directory / CONFIG_NAME).exists():
            raise FileNotFoundError(f"no judge in {directory}: run `sounding eval judge --out {directory}` first")
        raw = json.loads((directory / CONFIG_NAME).read_text())
        if "members" not in raw:
            raise ValueError(f"{directory} holds a one-net judge from before ensemble judges; retrain it with "
                             f"`sounding eval judge --out {directory}`")
        config = JudgeConfig(**{**raw, "channels": tuple(raw["channels"])})
        tensors = load_file(str(directory / WEIGHTS_NAME))
        nets = []
        for member in range(config.members):
            prefix = f"member{member}."
            net = JudgeNet(config)
            net.load_state_dict({name[len(prefix):]: tensor for name, tensor in tensors.items()
                                 if name.startswith(prefix)})
            nets.append(net)
        return cls(nets)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        config = dataclasses.replace(self.config, members=len(self.nets))
        (directory / CONFIG_NAME).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
        save_file({f"member{member}.{name}": tensor.contiguous()
                   for member, net in enumerate(self.nets) for name, tensor in net.state_dict().items()},
                  str(directory / WEIGHTS_NAME))

    @torch.inference_mode()
    def classify_mel(self, mel: torch.Tensor) -> np.ndarray:
        """(T, M) log-mel of a prepared clip -> class probabilities (mean over nets of the windows' mean softmax)."""
        batch = windows(mel, self.config.window_frames, self.floor)
        return torch.stack([torch.softmax(net(batch), dim=1).mean(dim=0) for net in self.nets]).mean(dim=0).numpy()

    def mel(self, prepared: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return self.log_mel(torch.from_numpy(prepared)[None])[0]

    def classify(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono audio at any rate -> probabilities over :attr:`labels`. The clip gets the dataset's preparation
        (16 kHz, silence trimmed, loudness normalised); a silent clip gets all zeros (it matches no class)."""
        prepared = audio_prep.prepare(np.asarray(audio, dtype=np.float32), sample_rate)
        if prepared is None:
            return np.zeros(len(self.labels), dtype=np.float32)
        return self.classify_mel(self.mel(prepared))


_LOADED: dict[Path, Judge] = {}


def classify(audio: np.ndarray, sample_rate: int, judge_dir: Path | None = None) -> dict[str, float]:
    """The metric's entry point: mono audio -> {class: probability}, with the judge in ``judge_dir`` (default:
    ``sounding eval judge``'s output) loaded once per process."""
    from sounding.evaluation.commands import DEFAULT_JUDGE_DIR

    directory = Path(judge_dir or DEFAULT_JUDGE_DIR).resolve()
    if directory not in _LOADED:
        _LOADED[directory] = Judge.load(directory)
    judge = _LOADED[directory]
    return dict(zip(judge.labels, judge.classify(audio, sample_rate).tolist()))


# --- training -------------------------------------------------------------------------------------------------------


@dataclass
class _Example:
    row: ClipRow
    mel: torch.Tensor


def _load_examples(data_dir: Path, rows: list[ClipRow], log_mel: LogMel) -> list[_Example]:
    examples = []
    with torch.inference_mode():
        for row in rows:
            audio = read_audio(data_dir / row.audio_path, audio_prep.SAMPLE_RATE)
            examples.append(_Example(row, log_mel(torch.from_numpy(audio)[None])[0]))
    return examples


def _one_row_per_audio(rows: list[ClipRow]) -> list[ClipRow]:
    """The first row of each audio file: a picture variant (``sounding.data.build.picture_variants``) repeats its
    clip's audio with another picture, which is no new example for an audio classifier."""
    first: dict[str, ClipRow] = {}
    for row in rows:
        first.setdefault(row.audio_path, row)
    return list(first.values())


def _sampling_weights(examples: list[_Example]) -> np.ndarray:
    """Every class equally likely, and within a class every recording equally likely (so a recording rendered in
    four variants, or a class with 50 footstep files, does not dominate)."""
    recordings_per_class = defaultdict(set)
    clips_per_recording = Counter(example.row.recording for example in examples)
    for example in examples:
        recordings_per_class[example.row.label].add(example.row.recording)
    weights = np.array([1.0 / (len(recordings_per_class[e.row.label]) * clips_per_recording[e.row.recording])
                        for e in examples])
    return weights / weights.sum()


def _crop(mel: torch.Tensor, frames: int, floor: float, rng: np.random.Generator) -> torch.Tensor:
    if mel.shape[0] >= frames:
        start = rng.integers(0, mel.shape[0] - frames + 1)
        return mel[start: start + frames]
    padded = torch.full((frames, mel.shape[1]), floor)
    start = rng.integers(0, frames - mel.shape[0] + 1)
    padded[start: start + mel.shape[0]] = mel
    return padded


def _random_eq(bins: int, eq_db: float, rng: np.random.Generator) -> torch.Tensor:
    """A smooth random gain curve over the mel bands (log-magnitude units): a tilt plus two slow ripples."""
    position = np.linspace(-1.0, 1.0, bins)
    curve = rng.uniform(-1, 1) * position
    for cycles in rng.uniform(0.5, 2.0, size=2):
        curve += 0.5 * rng.uniform(-1, 1) * np.cos(np.pi * cycles * position + rng.uniform(0, 2 * np.pi))
    return torch.from_numpy((curve * eq_db * np.log(10) / 20).astype(np.float32))


def _augmented_batch(examples, weights, labels, config: JudgeTrainConfig, frames: int, floor: float,
                     rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    index = {label: position for position, label in enumerate(labels)}
    picks = rng.choice(len(examples), size=config.batch_size, p=weights)
    mels, targets = [], []
    for pick in picks:
        mel = _crop(examples[pick].mel, frames, floor, rng) + rng.uniform(-1, 1) * config.gain_db * np.log(10) / 20
        if config.eq_db > 0:
            mel = mel + _random_eq(mel.shape[1], config.eq_db, rng)
        if rng.random() < config.mix_probability:
            other = _crop(examples[rng.choice(len(examples), p=weights)].mel, frames, floor, rng)
            level = rng.uniform(*config.mix_level_db) * np.log(10) / 10  # power ratio in log units
            mel = torch.logaddexp(mel, other + level)
        mel = mel.clamp(min=floor).clone()
        t0 = rng.integers(0, frames - config.time_mask_frames)
        mel[t0: t0 + rng.integers(0, config.time_mask_frames), :] = floor
        f0 = rng.integers(0, mel.shape[1] - config.freq_mask_bins)
        mel[:, f0: f0 + rng.integers(0, config.freq_mask_bins)] = floor
        mels.append(mel)
        targets.append(index[examples[pick].row.label])
    return torch.stack(mels), torch.tensor(targets)


def holds_all(probabilities: np.ndarray, classes: list[int], k: int = TOP_K) -> bool:
    """Whether every one of ``classes`` is among the ``k`` most probable (a silent clip's zeros hold none)."""
    if probabilities.max() <= 0:
        return False
    return set(classes) <= set(np.argsort(probabilities)[-k:].tolist())


def evaluate(judge: Judge, examples: list[_Example]) -> dict:
    """Clip accuracy (top-1 and top-3), per-class accuracy and the confusions of a set of clips."""
    per_class = defaultdict(lambda: [0, 0])
    confusions = Counter()
    top3 = 0
    for example in examples:
        probabilities = judge.classify_mel(example.mel)
        predicted = judge.labels[int(np.argmax(probabilities))]
        top3 += judge.labels.index(example.row.label) in np.argsort(probabilities)[-TOP_K:]
        per_class[example.row.label][0] += predicted == example.row.label
        per_class[example.row.label][1] += 1
        if predicted != example.row.label:
            confusions[f"{example.row.label} -> {predicted}"] += 1
    correct = sum(hits for hits, _ in per_class.values())
    total = sum(count for _, count in per_class.values())
    return {
        "accuracy": round(correct / max(total, 1), 4),
        "top3_accuracy": round(top3 / max(total, 1), 4),
        "clips": total,
        "recordings": len({example.row.recording for example in examples}),
        "class_accuracy": {label: round(hits / count, 3) for label, (hits, count) in sorted(per_class.items())},
        "balanced_accuracy": round(float(np.mean([hits / count for hits, count in per_class.values()])), 4)
        if per_class else 0.0,
        "top_confusions": dict(confusions.most_common(10)),
    }


def evaluate_scenes(judge: Judge, data_dir: Path, rows: list[ClipRow], k: int = TOP_K) -> dict:
    """The two-object scenes among ``rows`` scored like a generator's clips (``sounding eval generated``, mode
    scenes), with their real recordings: each object's own clip named as its class / as the other object's, and the
    scene's real mix with both classes in the top ``k``. What a generator's clips can be expected to reach."""
    objects = defaultdict(list)
    for row in rows:
        if row.scene_id:
            objects[row.scene_id].append(row)
    pairs = [pair for pair in objects.values() if len(pair) == 2 and all(r.label in judge.labels for r in pair)]

    def probabilities(path: str) -> np.ndarray:
        return judge.classify(read_audio(Path(data_dir) / path, audio_prep.SAMPLE_RATE), audio_prep.SAMPLE_RATE)

    clicked = other = both = 0
    for pair in pairs:
        classes = [judge.labels.index(row.label) for row in pair]
        for row, mine, theirs in zip(pair, classes, classes[::-1]):
            top = int(np.argmax(probabilities(row.audio_path)))
            clicked, other = clicked + (top == mine), other + (top == theirs)
        both += holds_all(probabilities(pair[0].mix_path), classes, k)
    shares = [round(count / max(total, 1), 4) for count, total in
              ((clicked, 2 * len(pairs)), (other, 2 * len(pairs)), (both, len(pairs)))]
    return {"scenes": len(pairs), "own_clip_clicked_class": shares[0], "own_clip_other_class": shares[1],
            f"mix_both_in_top{k}": shares[2]}


def _train_member(examples: dict[str, list[_Example]], model_config: JudgeConfig, config: JudgeTrainConfig,
                  seed: int, selection: str) -> tuple[JudgeNet, dict]:
    """One net trained with ``seed``, kept at its epoch with the best balanced accuracy on ``selection``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = JudgeNet(model_config)
    alone = Judge([net])
    weights = _sampling_weights(examples["train"])
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = config.epochs * (config.samples_per_epoch // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.learning_rate, total_steps=steps)
    best, best_epoch, best_state, history = -1.0, 0, None, []
    for epoch in range(config.epochs):
        net.train()
        losses = []
        for _ in range(config.samples_per_epoch // config.batch_size):
            mels, targets = _augmented_batch(examples["train"], weights, model_config.labels, config,
                                             model_config.window_frames, alone.floor, rng)
            loss = nn.functional.cross_entropy(net(mels), targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        net.eval()
        score = evaluate(alone, examples[selection])["balanced_accuracy"]
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), f"{selection}_balanced": score})
        print(f"seed {seed} epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.3f} "
              f"{selection} balanced acc {score:.3f}", flush=True)
        if score >= best:
            best, best_epoch = score, epoch + 1
            best_state = {name: tensor.clone() for name, tensor in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    return net, {"seed": seed, "epoch": best_epoch, f"{selection}_balanced": best,
                 "test_accuracy": evaluate(alone, examples["test"])["accuracy"], "history": history}


def train_judge(data_dir: Path, out_dir: Path, config: JudgeTrainConfig | None = None) -> dict:
    """Train the members on the train split's single-object clips (member ``i`` with seed ``config.seed + i``, each
    kept at its best val epoch); report the ensemble on every split and each member's test accuracy."""
    config = config or JudgeTrainConfig()
    started = time.monotonic()
    manifest = Path(data_dir) / MANIFEST_NAME
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} not found: run `sounding data build --out {data_dir}` first")
    all_rows = read_manifest(manifest)
    rows = _one_row_per_audio([row for row in all_rows if not row.scene_id])
    split_rows = {split: [row for row in rows if row.split == split] for split in ("train", "val", "test")}
    labels = sorted({row.label for row in split_rows["train"]})
    if len(labels) < 2:
        raise ValueError(f"{data_dir}: the train split needs at least two classes, found {labels}")
    model_config = JudgeConfig(labels=labels, **config.model)
    log_mel = LogMel(MelConfig())
    examples = {split: _load_examples(Path(data_dir), [r for r in split_rows[split] if r.label in labels], log_mel)
                for split in split_rows}
    selection = "val" if examples["val"] else "train"
    trained = [_train_member(examples, model_config, config, config.seed + member, selection)
               for member in range(model_config.members)]
    judge = Judge([net for net, _ in trained])
    judge.save(Path(out_dir))
    metrics = {
        "labels": labels,
        "parameters": sum(parameter.numel() for net in judge.nets for parameter in net.parameters()),
        "selected_on": selection,
        **{split: evaluate(judge, examples[split]) for split in ("train", "val", "test")},
        "scenes": {split: evaluate_scenes(judge, Path(data_dir), [r for r in all_rows if r.split == split])
                   for split in ("val", "test")},
        "members": [member for _, member in trained],
        "train_config": dataclasses.asdict(config),
        "seconds": round(time.monotonic() - started, 1),
    }
    (Path(out_dir) / METRICS_NAME).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
