"""LoRA / DoRA adapters and QLoRA loading.

QLoRA (4-bit NF4, double quantization, bf16 compute) runs only on a CUDA GPU. Without one it
fails here, before the model is loaded: bitsandbytes would otherwise quantize on CPU, slowly and
with results that do not match a GPU run.
"""

from __future__ import annotations

from sluice.errors import MissingDependency, SluiceError


class GPURequired(SluiceError):
    """A setting needs a CUDA GPU and none is present."""


def lora_config(cfg):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      use_dora=cfg.use_dora, target_modules=cfg.target_modules, bias="none",
                      task_type="CAUSAL_LM")


def quantization_config(cfg):
    """The BitsAndBytes config for QLoRA, or None. Raises GPURequired without CUDA."""
    if not cfg.load_in_4bit:
        return None
    import torch

    if not torch.cuda.is_available():
        raise GPURequired(
            "load_in_4bit (QLoRA) needs a CUDA GPU, and none is available here",
            hint="drop --load-in-4bit / load_in_4bit=true to train LoRA in full precision on this machine, "
                 "or run on a CUDA machine with `pip install 'sluice[gpu]'` (bitsandbytes)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise MissingDependency("load_in_4bit needs bitsandbytes",
                                hint="pip install 'sluice[gpu]'") from None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def quantized_device_map() -> dict:
    """Where this process's 4-bit model goes: its own GPU. Under ``accelerate launch``/``torchrun`` every
    rank has a local index; pinning all of them to GPU 0 would stack every copy onto one device."""
    from accelerate import PartialState

    return {"": PartialState().local_process_index}


def use_bf16() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def load_model(cfg, model_id: str):
    """The base model (4-bit when asked), wrapped with ``init_adapter`` as a trainable PeftModel if set."""
    import torch
    from transformers import AutoModelForCausalLM

    quant = quantization_config(cfg)  # fails fast without CUDA, before any weights are read
    kwargs = {"dtype": torch.bfloat16 if use_bf16() else torch.float32}
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map=quantized_device_map())
    try:
        model = AutoModelForCausalLM.from_pretrained(model_id, **kwargs)
    except OSError as e:
        raise SluiceError(f"cannot load model {model_id!r}", problems=[str(e).splitlines()[0]],
                          hint="pass a local folder or a hub id that is cached (HF_HUB_OFFLINE=1 is set)") from None
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    if cfg.init_adapter:
        from peft import PeftModel

        from .registry import verify_if_signed

        verify_if_signed(cfg.init_adapter)  # a signed (promoted) adapter must verify before it is loaded

        # The trainer copies this adapter to a frozen "ref" adapter: the reference model of the second
        # round is the SFT policy, computed on the same base weights (no second copy of the model).
        model = PeftModel.from_pretrained(model, cfg.init_adapter, is_trainable=True)
    return model


def load_tokenizer(model_id: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_id)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok
