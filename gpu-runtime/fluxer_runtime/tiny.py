"""The `tiny` model: a randomly initialised FLUX-architecture pipeline built from configs in code.

No file is read and nothing is downloaded, so tests and the local stack run the real pipeline code
path on a CPU in milliseconds per image. Weights come from a fixed seed: every process builds the
same model, so two workers render the same job to the same pixels (as two nodes with the same real
model do). Shapes follow diffusers' own FLUX test components, with an 8x VAE like the real model's,
so width and height follow the same multiple-of-16 rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

WEIGHT_SEED = 0
CLIP_MAX_LENGTH = 77
T5_MAX_LENGTH = 32


def _byte_tokenizer(max_length: int) -> Any:
    """A byte-level tokenizer (every byte its own token, no merges): different prompts give different
    token ids, so the prompt changes the image, and no vocabulary file is needed."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=max_length,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
    )


def build_tiny_pipeline() -> Any:
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    vocab_size = 300  # 3 special tokens + 256 byte symbols, rounded up
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHT_SEED)
        transformer = FluxTransformer2DModel(
            patch_size=1,
            in_channels=16,  # 4 latent channels packed 2x2, as FLUX packs its 16 into 64
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            axes_dims_rope=[4, 4, 8],
            guidance_embeds=True,  # like FLUX.1-dev: the job's guidance reaches the model
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=0,
                hidden_size=32,
                intermediate_size=37,
                num_attention_heads=4,
                num_hidden_layers=2,
                vocab_size=vocab_size,
                projection_dim=32,
                max_position_embeddings=CLIP_MAX_LENGTH,
            )
        )
        text_encoder_2 = T5EncoderModel(
            T5Config(
                vocab_size=vocab_size,
                d_model=32,
                d_kv=8,
                d_ff=37,
                num_layers=2,
                num_heads=4,
                pad_token_id=0,
                eos_token_id=1,
                decoder_start_token_id=0,
            )
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            block_out_channels=(4, 4, 4, 4),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=1,
            use_quant_conv=False,
            use_post_quant_conv=False,
            shift_factor=0.0609,
            scaling_factor=1.5035,
            sample_size=64,
        )
    for model in (transformer, text_encoder, text_encoder_2, vae):
        model.eval()  # built modules start in training mode: T5's dropout would make images random
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=_byte_tokenizer(CLIP_MAX_LENGTH),
        text_encoder_2=text_encoder_2,
        tokenizer_2=_byte_tokenizer(T5_MAX_LENGTH),
        transformer=transformer,
    )


def save_tiny_pipeline(folder: str | Path) -> Path:
    """The tiny pipeline as a model folder (diffusers' save_pretrained: model_index.json, one folder
    per component, safetensors weights): what `fluxer models push` uploads and a node pulls, so the
    pull path runs with a model that really loads. Loaded back it renders the same pixels."""
    path = Path(folder)
    build_tiny_pipeline().save_pretrained(str(path), safe_serialization=True)
    return path


def tiny_folder(model_dir: str | None) -> Path | None:
    """A saved tiny pipeline in model_dir (or model_dir/tiny), else None: the tiny model is built
    in code, as when no folder is given."""
    if not model_dir:
        return None
    for candidate in (Path(model_dir), Path(model_dir) / "tiny"):
        if (candidate / "model_index.json").is_file():
            return candidate
    return None


def load_tiny_pipeline(folder: Path) -> Any:
    from diffusers import FluxPipeline

    return FluxPipeline.from_pretrained(str(folder), local_files_only=True)
