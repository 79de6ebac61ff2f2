"""Model loading and generation: FLUX (dev, schnell), SDXL and `tiny`, one code path.

The memory policy decides how a model fits the GPU:
  full     weights on the GPU in bf16 (g6e's 48 GB holds FLUX this way)
  fp8      the FLUX/SDXL denoiser stored in float8, computed in bf16 (A10G/L4's 24 GB)
  offload  whole-model CPU offload: each sub-model moves to the GPU when it runs (slowest, smallest)
`auto` picks from the GPU's memory; a CUDA out-of-memory steps the policy up once per OOM.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .contract import Job
from .logs import log

GIB = 1024**3
POLICY_ORDER = ("full", "fp8", "offload")
MODEL_REPOS = {
    "flux-dev": "black-forest-labs/FLUX.1-dev",
    "flux-schnell": "black-forest-labs/FLUX.1-schnell",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
}
# T5 prompt length per model (FLUX.1-dev was trained with 512, schnell with 256).
MAX_SEQUENCE_LENGTH = {"flux-dev": 512, "flux-schnell": 256}


class ModelUnavailable(Exception):
    """The model's files are not on this node and cannot be fetched: the runtime goes FAILED."""


@dataclass(frozen=True)
class DeviceInfo:
    type: str  # "cpu" or "cuda"
    name: str
    memory_bytes: int | None


def detect_device(requested: str) -> DeviceInfo:
    import torch

    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ModelUnavailable("FLUXER_DEVICE=cuda but torch sees no CUDA device")
        props = torch.cuda.get_device_properties(0)
        return DeviceInfo("cuda", props.name, int(props.total_memory))
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory: int | None = int(pages * page_size)
    except (ValueError, OSError, AttributeError):
        memory = None
    return DeviceInfo("cpu", "cpu", memory)


GPU_FIT_NAME = "gpu-fit.json"


def gpu_fit_path() -> Path:
    """The repository's schema/gpu-fit.json (a checkout), else the copy shipped in the package."""
    in_repo = Path(__file__).resolve().parents[2] / "schema" / GPU_FIT_NAME
    if in_repo.is_file():
        return in_repo
    return Path(str(resources.files("fluxer_runtime").joinpath(GPU_FIT_NAME)))


@lru_cache(maxsize=1)
def gpu_fit() -> dict[str, dict[str, float]]:
    """Per model, the least GPU memory (GiB) each memory policy needs: one table, shared with the CLI."""
    return json.loads(gpu_fit_path().read_text(encoding="utf-8"))["models"]


def choose_policy(model: str, device: DeviceInfo, requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    if device.type != "cuda" or model == "tiny" or device.memory_bytes is None:
        return "full"
    gib = device.memory_bytes / GIB
    needs = gpu_fit().get(model, {})
    fitting = [p for p in POLICY_ORDER if p in needs and gib >= needs[p]]
    if fitting:
        return fitting[0]
    # Smaller than the table allows: the smallest policy is the only one with a chance.
    listed = [p for p in POLICY_ORDER if p in needs]
    return listed[-1] if listed else "offload"


def next_policy(policy: str) -> str | None:
    index = POLICY_ORDER.index(policy)
    return POLICY_ORDER[index + 1] if index + 1 < len(POLICY_ORDER) else None


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError)


def model_source(model: str, model_dir: str | None) -> tuple[str, str | None]:
    """(what to pass to from_pretrained, cache_dir). A directory holding model_index.json (or a
    `<model>/` subdirectory that does) is the model itself; otherwise FLUXER_MODEL_DIR is used as
    the Hugging Face cache for the model's repository."""
    if model_dir:
        for candidate in (Path(model_dir), Path(model_dir) / model):
            if (candidate / "model_index.json").is_file():
                return str(candidate), None
    return MODEL_REPOS[model], model_dir


class Engine:
    """One loaded pipeline; `generate` renders one image of a job."""

    def __init__(
        self,
        model: str,
        device: DeviceInfo,
        policy: str,
        model_dir: str | None = None,
        hf_token: str | None = None,
    ) -> None:
        self.model = model
        self.device = device
        self.policy = policy
        self.model_dir = model_dir
        self._hf_token = hf_token
        self.pipe: Any = None
        self._fp8 = False
        self.on_download: Callable[[], None] | None = None  # the worker's PULLING phase

    @property
    def dtype(self) -> Any:
        import torch

        # bf16 on GPUs; float32 on a CPU, where bf16 kernels are slow or missing.
        return torch.bfloat16 if self.device.type == "cuda" else torch.float32

    def load(self) -> None:
        import torch

        if self.model == "tiny":
            from .tiny import build_tiny_pipeline, load_tiny_pipeline, tiny_folder

            if self.device.type == "cpu":
                # The tiny model's matrices are so small that syncing OpenMP threads costs more than
                # it saves: one thread is several times faster, and steady on a busy machine.
                torch.set_num_threads(1)

            folder = tiny_folder(self.model_dir)  # a saved (or pulled) tiny pipeline, else built
            try:
                pipe = load_tiny_pipeline(folder) if folder else build_tiny_pipeline()  # float32
            except (OSError, ValueError) as exc:
                raise ModelUnavailable(f"tiny: cannot load {folder}: {exc}") from None
            if self.dtype != torch.float32:
                pipe = pipe.to(dtype=self.dtype)
        else:
            pipe = self._load_pretrained()
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        self._apply_policy(self.policy)
        log.info("model loaded", model=self.model, device=self.device.name, policy=self.policy,
                 modelDir=self.model_dir)

    def _load_pretrained(self) -> Any:
        from diffusers import FluxPipeline, StableDiffusionXLPipeline

        cls = StableDiffusionXLPipeline if self.model == "sdxl" else FluxPipeline
        source, cache_dir = model_source(self.model, self.model_dir)
        common = {"torch_dtype": self.dtype, "low_cpu_mem_usage": True, "cache_dir": cache_dir}
        try:
            return cls.from_pretrained(source, local_files_only=True, **common)
        except (OSError, ValueError) as local_error:
            if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or Path(source).is_dir():
                raise ModelUnavailable(
                    f"{self.model}: not found in {self.model_dir or 'the Hugging Face cache'} "
                    f"and downloads are off: {local_error}"
                ) from None
            log.info("model not on disk, downloading", model=self.model, repo=source, cache_dir=cache_dir)
            if self.on_download is not None:
                self.on_download()
            try:
                return cls.from_pretrained(source, token=self._hf_token, **common)
            except Exception as exc:
                raise ModelUnavailable(f"{self.model}: download of {source} failed: {exc}") from None

    def _denoiser(self) -> Any:
        return getattr(self.pipe, "transformer", None) or self.pipe.unet

    def _apply_policy(self, policy: str) -> None:
        import torch

        if policy == "offload" and self.device.type != "cuda":
            log.warning("offload policy needs a GPU; keeping the model whole", policy=policy)
            policy = "full"
        if policy in ("fp8", "offload") and not self._fp8:
            # fp8 storage, bf16 compute for the denoiser (FLUX's 12B transformer: ~24 → ~12 GB);
            # norms and embeddings stay in bf16 (the model's own skip list). T5 stays bf16: FLUX's
            # pipeline takes the prompt embeddings' dtype from T5's weights.
            self._denoiser().enable_layerwise_casting(
                storage_dtype=torch.float8_e4m3fn, compute_dtype=self.dtype
            )
            self._fp8 = True
        if policy == "offload":
            self.pipe.enable_model_cpu_offload()
        else:
            self.pipe.to(self.device.type)
        self.policy = policy

    def free_memory(self) -> None:
        import torch

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def step_up_policy(self) -> str | None:
        """After a CUDA OOM: the next policy (full → fp8 → offload), applied in place."""
        nxt = next_policy(self.policy)
        if nxt == "offload" and self.device.type != "cuda":
            return None  # offloading moves weights to a GPU; on a CPU there is nothing further
        if nxt is not None:
            self._apply_policy(nxt)
        return nxt

    def generate(self, job: Job, index: int, on_step: Callable[[int], bool]) -> Any | None:
        """Image `index` of `job`, or None when on_step(steps_done) asked to stop (the pipeline
        still decodes the unfinished latents; that output is discarded)."""
        import torch

        stopped = False

        def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            nonlocal stopped
            if on_step(step + 1):
                stopped = True
                pipe._interrupt = True
            return kwargs

        args: dict[str, Any] = {
            "prompt": job.prompt,
            "width": job.width,
            "height": job.height,
            "num_inference_steps": job.steps,
            "guidance_scale": job.guidance,
            # A CPU generator gives the same noise on any device: the seed alone fixes the image.
            "generator": torch.Generator(device="cpu").manual_seed(job.image_seed(index)),
            "callback_on_step_end": callback,
        }
        if self.model == "sdxl":
            args["negative_prompt"] = job.negative_prompt
        else:
            if self.model in MAX_SEQUENCE_LENGTH:
                args["max_sequence_length"] = MAX_SEQUENCE_LENGTH[self.model]
            else:
                from .tiny import T5_MAX_LENGTH

                args["max_sequence_length"] = T5_MAX_LENGTH
            if job.negative_prompt:
                # FLUX takes a negative prompt only through true classifier-free guidance.
                args["negative_prompt"] = job.negative_prompt
                args["true_cfg_scale"] = job.guidance
        with torch.inference_mode():
            image = self.pipe(**args).images[0]
        return None if stopped else image
