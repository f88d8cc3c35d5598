"""Images as other tools write them, built with Pillow in the test (no binary fixtures).

The chunk texts follow the shapes those tools write (A1111's infotext, Forge's version string,
Fooocus' JSON scheme, ComfyUI's API graph and UI workflow, InvokeAI's ``invokeai_metadata``);
the prompts and values are our own.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

SIZE = (96, 64)


def pixels(
    colour: tuple[int, int, int] = (200, 80, 40), size: tuple[int, int] = SIZE
) -> Image.Image:
    """A small picture with some structure (a gradient over a colour)."""
    base = Image.new("RGB", size, colour)
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    return Image.blend(base, gradient, 0.3)


def png(texts: dict[str, str], colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A PNG carrying ``texts`` as text chunks (iTXt where Pillow needs it)."""
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    pixels(colour).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def user_comment_exif(text: str, **ifd0: str) -> bytes:
    """EXIF with ``text`` as UserComment (UNICODE, UTF-16BE, as A1111 writes it via piexif)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode("utf-16-be")
    tags = {"ImageDescription": 0x010E, "Make": 0x010F, "Model": 0x0110, "Software": 0x0131}
    for name, value in ifd0.items():
        exif[tags[name]] = value
    return exif.tobytes()


def jpeg(exif: bytes | None = None, colour: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    buffer = io.BytesIO()
    if exif is None:
        pixels(colour).save(buffer, "JPEG", quality=90)
    else:
        pixels(colour).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def webp(exif: bytes | None = None, colour: tuple[int, int, int] = (90, 160, 40)) -> bytes:
    buffer = io.BytesIO()
    if exif is None:
        pixels(colour).save(buffer, "WEBP", quality=80)
    else:
        pixels(colour).save(buffer, "WEBP", quality=80, exif=exif)
    return buffer.getvalue()


# -- AUTOMATIC1111 / Forge / Fooocus ---------------------------------------------------------

A1111_PROMPT = "a lighthouse on a cliff at dusk, (dramatic clouds:1.2), oil painting"
A1111_NEGATIVE = "lowres, blurry, watermark"
A1111_PARAMETERS = (
    f"{A1111_PROMPT}\n"
    f"Negative prompt: {A1111_NEGATIVE}\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567890, "
    "Size: 768x512, Model hash: 6ce0161689, Model: dreamshaper_8, Denoising strength: 0.35, "
    'Hires upscale: 2, Hires upscaler: Latent, Lora hashes: "tinylamp: 0b1c2d3e4f5a", '
    "Version: v1.10.1"
)
FORGE_PROMPT = "portrait of an old fisherman, rim light, 35mm photo"
FORGE_PARAMETERS = (
    f"{FORGE_PROMPT}\n"
    "Negative prompt: cartoon\n"
    "Steps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, "
    "Seed: 42, Size: 896x1152, Model hash: 275ef623d3, Model: flux1-dev-bnb-nf4-v2, "
    "Version: f2.0.1v1.10.1-previous-313-g8a042934, Module 1: ae"
)
FOOOCUS_PROMPT = "a red panda reading a newspaper in a cafe"
FOOOCUS_PARAMETERS = json.dumps(
    {
        "adm_guidance": "(1.5, 0.8, 0.3)",
        "base_model": "juggernautXL_v8Rundiffusion",
        "base_model_hash": "aeb7e9e689",
        "full_prompt": [f"cinematic still {FOOOCUS_PROMPT}, emotional, harmonious"],
        "full_negative_prompt": ["anime, cartoon, graphic"],
        "guidance_scale": 4,
        "metadata_scheme": "fooocus",
        "negative_prompt": "",
        "performance": "Speed",
        "prompt": FOOOCUS_PROMPT,
        "prompt_expansion": f"{FOOOCUS_PROMPT}, intricate, elegant, highly detailed",
        "refiner_model": "None",
        "resolution": "(1152, 896)",
        "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "seed": "6952411511246973023",
        "sharpness": 2,
        "steps": 30,
        "styles": "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']",
        "vae": "Default (model)",
        "version": "Fooocus v2.4.3",
    }
)


def a1111_png() -> bytes:
    return png({"parameters": A1111_PARAMETERS})


def a1111_jpeg() -> bytes:
    return jpeg(user_comment_exif(A1111_PARAMETERS))


def forge_png() -> bytes:
    return png({"parameters": FORGE_PARAMETERS}, colour=(10, 120, 90))


def fooocus_png() -> bytes:
    return png({"parameters": FOOOCUS_PARAMETERS, "fooocus_scheme": "fooocus"}, (120, 30, 200))


# -- ComfyUI -----------------------------------------------------------------------------------

COMFY_PROMPT = "a glass terrarium with a tiny forest inside, macro photo, soft light"
COMFY_NEGATIVE = "text, watermark, low quality"
COMFY_GRAPH: dict[str, Any] = {
    "3": {
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["10", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "KSampler"},
    },
    "4": {
        "inputs": {"ckpt_name": "v1-5-pruned-emaonly-fp16.safetensors"},
        "class_type": "CheckpointLoaderSimple",
    },
    "5": {
        "inputs": {"width": 512, "height": 512, "batch_size": 1},
        "class_type": "EmptyLatentImage",
    },
    "6": {"inputs": {"text": COMFY_PROMPT, "clip": ["10", 1]}, "class_type": "CLIPTextEncode"},
    "7": {"inputs": {"text": COMFY_NEGATIVE, "clip": ["10", 1]}, "class_type": "CLIPTextEncode"},
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode"},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage"},
    "10": {
        "inputs": {
            "lora_name": "moss_style.safetensors",
            "strength_model": 0.8,
            "strength_clip": 0.8,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
        "class_type": "LoraLoader",
    },
}


def comfy_workflow(texts: list[tuple[str, str]]) -> dict[str, Any]:
    """A UI workflow (what ComfyUI's ``workflow`` chunk holds) with these text encoders."""
    nodes = [
        {
            "id": index + 6,
            "type": "CLIPTextEncode",
            "title": title,
            "pos": [415, 186 + 200 * index],
            "inputs": [{"name": "clip", "type": "CLIP", "link": 3 + index}],
            "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [4 + index]}],
            "widgets_values": [text],
        }
        for index, (title, text) in enumerate(texts)
    ]
    return {
        "last_node_id": 10,
        "last_link_id": 9,
        "nodes": nodes,
        "links": [[4, 6, 0, 3, 1, "CONDITIONING"], [5, 7, 0, 3, 2, "CONDITIONING"]],
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
        "version": 0.4,
    }


COMFY_WORKFLOW = comfy_workflow(
    [("CLIP Text Encode (Prompt)", COMFY_PROMPT), ("CLIP Text Encode (Negative)", COMFY_NEGATIVE)]
)

FLUX_PROMPT = "a neon sign that says OPEN in a rainy alley at night"
FLUX_GRAPH: dict[str, Any] = {
    "6": {"inputs": {"text": ["30", 0], "clip": ["11", 0]}, "class_type": "CLIPTextEncode"},
    "8": {"inputs": {"samples": ["13", 0], "vae": ["10", 0]}, "class_type": "VAEDecode"},
    "10": {"inputs": {"vae_name": "ae.safetensors"}, "class_type": "VAELoader"},
    "11": {
        "inputs": {"clip_name1": "t5xxl_fp16.safetensors", "clip_name2": "clip_l.safetensors"},
        "class_type": "DualCLIPLoader",
    },
    "12": {
        "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"},
        "class_type": "UNETLoader",
    },
    "13": {
        "inputs": {
            "noise": ["25", 0],
            "guider": ["22", 0],
            "sampler": ["16", 0],
            "sigmas": ["17", 0],
            "latent_image": ["27", 0],
        },
        "class_type": "SamplerCustomAdvanced",
    },
    "16": {"inputs": {"sampler_name": "euler"}, "class_type": "KSamplerSelect"},
    "17": {
        "inputs": {"scheduler": "simple", "steps": 20, "denoise": 1, "model": ["12", 0]},
        "class_type": "BasicScheduler",
    },
    "22": {"inputs": {"model": ["12", 0], "conditioning": ["26", 0]}, "class_type": "BasicGuider"},
    "25": {"inputs": {"noise_seed": 972054013131368}, "class_type": "RandomNoise"},
    "26": {"inputs": {"guidance": 3.5, "conditioning": ["6", 0]}, "class_type": "FluxGuidance"},
    "27": {
        "inputs": {"width": 1024, "height": 1024, "batch_size": 1},
        "class_type": "EmptySD3LatentImage",
    },
    "30": {"inputs": {"string": FLUX_PROMPT}, "class_type": "PrimitiveStringMultiline"},
}


def comfy_png(graph: dict[str, Any] | None = COMFY_GRAPH, workflow: dict | None = None) -> bytes:
    texts = {}
    if graph is not None:
        texts["prompt"] = json.dumps(graph)
    texts["workflow"] = json.dumps(COMFY_WORKFLOW if workflow is None else workflow)
    return png(texts, colour=(30, 30, 30))


def comfy_webp() -> bytes:
    """ComfyUI's SaveAnimatedWEBP keeps the graph in EXIF: Make = workflow, Model = prompt."""
    exif = Image.Exif()
    exif[0x010F] = "workflow:" + json.dumps(COMFY_WORKFLOW)
    exif[0x0110] = "prompt:" + json.dumps(COMFY_GRAPH)
    return webp(exif.tobytes())


# -- InvokeAI ----------------------------------------------------------------------------------

INVOKE_PROMPT = "a cosy reading nook with a cat, warm afternoon light, watercolor"
INVOKE_METADATA_V3: dict[str, Any] = {
    "generation_mode": "sdxl_txt2img",
    "positive_prompt": INVOKE_PROMPT,
    "negative_prompt": "photo, oversaturated",
    "width": 1024,
    "height": 1024,
    "seed": 3293022630,
    "rand_device": "cpu",
    "cfg_scale": 7.5,
    "cfg_rescale_multiplier": 0.0,
    "steps": 30,
    "scheduler": "euler",
    "model": {"model_name": "juggernautXL", "base_model": "sdxl", "model_type": "main"},
    "vae": {"model_name": "sdxl-vae-fp16-fix", "base_model": "sdxl"},
    "positive_style_prompt": "",
    "negative_style_prompt": "",
}
INVOKE_METADATA_V5: dict[str, Any] = {
    "generation_mode": "txt2img",
    "positive_prompt": "a paper boat on a puddle, tilt-shift",
    "negative_prompt": "",
    "width": 768,
    "height": 768,
    "seed": 18839211,
    "cfg_scale": 7,
    "steps": 25,
    "scheduler": "dpmpp_2m",
    "model": {
        "key": "3f1b9a0e-2c7d-4c89-9a3b-5f6e7d8c9b0a",
        "hash": "blake3:6d7c0f5e4b3a291807f6e5d4c3b2a190",
        "name": "Dreamshaper 8",
        "base": "sd-1",
        "type": "main",
    },
    "app_version": "5.4.2",
}


def invokeai_png(meta: dict[str, Any] = INVOKE_METADATA_V3) -> bytes:
    return png({"invokeai_metadata": json.dumps(meta)}, colour=(250, 200, 120))


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
