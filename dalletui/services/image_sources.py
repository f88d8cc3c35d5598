"""What other image tools embedded: the prompt and settings, by the tool that wrote them.

``find_prompt`` takes the text fields of one image (``generation.metadata.embedded_text``) and
knows these writers:

- dalletui: its own PNG chunks (``prompt``, ``model``, ``generation_id``, ...), its XMP fields
  (JPEG/WebP) or an older save's sidecar JSON.
- InvokeAI: ``invokeai_metadata`` JSON (``positive_prompt``, ``model.model_name`` or
  ``model.name``, ``seed``, ``width``/``height``), and the legacy ``sd-metadata`` and ``Dream``.
- ComfyUI: the ``prompt`` JSON (the API graph): from each sampler, its ``positive`` input is
  followed through conditioning nodes to the text encoder's text; the model through ``model``
  links to the checkpoint loader. Without a graph, the ``workflow`` JSON's text encoders.
  ComfyUI's WebP keeps both in EXIF as ``prompt:{...}`` / ``workflow:{...}``.
- NovelAI: ``Description`` (prompt) and ``Comment`` JSON (seed, steps, ``uc``).
- AUTOMATIC1111, Forge, Fooocus and the many tools that copy them: the ``parameters`` text
  (PNG chunk or EXIF UserComment): the prompt, ``Negative prompt:``, then the settings line;
  Fooocus' own scheme is JSON in the same place. The ``Version`` tells Forge (``f…``) and
  Fooocus apart.

Everything read is outside data: every text is cut to a bound, JSON is refused beyond a nesting
depth, and graph walks visit each node at most once. Control characters are removed later by
the prompt normalisation, and printed text goes through ``printable``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dalletui.textsafe import without_controls

#: JSON nested deeper than this is refused (a real ComfyUI workflow is under 10 deep).
MAX_JSON_DEPTH = 64
#: JSON text longer than this is not parsed.
MAX_JSON_CHARS = 8_000_000
#: The ``parameters`` text longer than this is not parsed.
MAX_PARAMETERS_CHARS = 200_000
#: Settings kept per image, and the longest value kept.
MAX_SETTINGS = 40
MAX_SETTING_CHARS = 500
#: Graph nodes visited from one sampler input.
MAX_WALK = 500
#: The largest seed a database INTEGER holds; bigger ones stay in the settings as text.
MAX_INT64 = 2**63 - 1


class NoPrompt(Exception):
    """The image has no prompt we can read; ``str()`` is the reason, for the listing."""


@dataclass
class FoundPrompt:
    """The prompt and settings read from one image, and which tool wrote them."""

    source: str
    prompt: str
    model: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    #: When the image was made, if the metadata says (dalletui does).
    created: dt.datetime | None = None
    quality: str | None = None
    revised_prompt: str | None = None


# -- bounded JSON ----------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')


def _depth_ok(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return False
        elif token in "]}":
            depth -= 1
    return True


def load_json(text: str | None) -> Any:
    """``text`` parsed as JSON, or None when it is not JSON, too long or too deep."""
    if not text or len(text) > MAX_JSON_CHARS:
        return None
    text = text.strip()
    if not text or text[0] not in "[{" or not _depth_ok(text):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _text(value: Any, limit: int = MAX_SETTING_CHARS) -> str:
    text = without_controls(str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seed(value: Any) -> int | None:
    try:
        seed = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return seed if -MAX_INT64 - 1 <= seed <= MAX_INT64 else None


def _settings(pairs: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Scalar settings only, each bounded; at most ``MAX_SETTINGS`` of them."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    kept: dict[str, Any] = {}
    for key, value in items:
        if len(kept) >= MAX_SETTINGS:
            break
        name = _text(key, 60)
        if not name:
            continue
        if isinstance(value, bool) or value is None:
            kept[name] = value
        elif isinstance(value, int | float):
            kept[name] = value if abs(value) <= MAX_INT64 else str(value)
        elif isinstance(value, str):
            kept[name] = _text(value)
    return kept


def _model_name(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("model_name") or value.get("name")
    if isinstance(value, str) and value.strip():
        return _text(value, 200)
    return None


# -- dalletui --------------------------------------------------------------------------------


def _dalletui(fields: Mapping[str, str]) -> dict[str, str] | None:
    own = load_json(fields.get("dalletui"))
    if isinstance(own, dict) and isinstance(own.get("prompt"), str):
        return {str(k): str(v) for k, v in own.items()}
    software = fields.get("Software", "")
    ours = software.startswith("dalletui") or {"generation_id", "provider"} <= fields.keys()
    prompt = fields.get("prompt")
    if ours and isinstance(prompt, str) and load_json(prompt) is None:
        return dict(fields)
    return None


def _from_dalletui(own: Mapping[str, str]) -> FoundPrompt:
    created = None
    with contextlib.suppress(ValueError):
        created = dt.datetime.fromisoformat(own.get("created", ""))
    settings = _settings(
        (key, own[key])
        for key in ("provider", "size", "quality", "background", "generation_id", "created")
        if own.get(key)
    )
    return FoundPrompt(
        source="dalletui",
        prompt=own.get("prompt", ""),
        model=_model_name(own.get("model")),
        seed=_seed(own.get("seed")),
        settings=settings,
        created=created,
        quality=own.get("quality"),
        revised_prompt=own.get("revised_prompt") or None,
    )


# -- InvokeAI --------------------------------------------------------------------------------


def _from_invokeai(fields: Mapping[str, str]) -> FoundPrompt | None:
    meta = load_json(fields.get("invokeai_metadata"))
    if isinstance(meta, dict):
        prompt = meta.get("positive_prompt")
        if isinstance(prompt, str) and prompt.strip():
            negative = meta.get("negative_prompt")
            return FoundPrompt(
                source="invokeai",
                prompt=prompt,
                model=_model_name(meta.get("model")),
                seed=_seed(meta.get("seed")),
                negative_prompt=negative if isinstance(negative, str) and negative else None,
                settings=_settings(
                    (k, v)
                    for k, v in meta.items()
                    if k not in {"positive_prompt", "negative_prompt"}
                ),
            )
    legacy = load_json(fields.get("sd-metadata"))
    if isinstance(legacy, dict) and isinstance(legacy.get("image"), dict):
        image = legacy["image"]
        prompt = image.get("prompt")
        if isinstance(prompt, list):
            prompt = " ".join(
                item["prompt"] for item in prompt if isinstance(item, dict) and "prompt" in item
            )
        if isinstance(prompt, str) and prompt.strip():
            return FoundPrompt(
                source="invokeai",
                prompt=prompt,
                model=_model_name(legacy.get("model_weights")),
                seed=_seed(image.get("seed")),
                settings=_settings((k, v) for k, v in image.items() if k != "prompt"),
            )
    dream = fields.get("Dream")
    if isinstance(dream, str):
        match = re.match(r'^"(.*?)"(.*)$', dream[:MAX_PARAMETERS_CHARS], re.DOTALL)
        if match and match.group(1).strip():
            args = dict(re.findall(r"\s-(\w)\s+(\S+)", match.group(2)))
            return FoundPrompt(
                source="invokeai",
                prompt=match.group(1),
                seed=_seed(args.get("S")),
                settings=_settings(args),
            )
    return None


# -- ComfyUI ---------------------------------------------------------------------------------

#: Inputs that never lead to the prompt text.
_NOT_TEXT = {"clip", "model", "vae", "latent_image", "samples", "image", "pixels", "mask"}
_TEXT_KEYS = ("text", "text_g", "text_l", "prompt", "string", "value")


class _Graph:
    """ComfyUI's API graph: ``{node_id: {"class_type": ..., "inputs": {...}}}``."""

    def __init__(self, nodes: dict[str, Any]) -> None:
        self.nodes = {str(k): v for k, v in nodes.items() if isinstance(v, dict)}

    def inputs(self, node_id: str) -> dict[str, Any]:
        inputs = self.nodes.get(node_id, {}).get("inputs")
        return inputs if isinstance(inputs, dict) else {}

    def kind(self, node_id: str) -> str:
        return str(self.nodes.get(node_id, {}).get("class_type", ""))

    @staticmethod
    def link(value: Any) -> str | None:
        """The node a link input ``[node_id, slot]`` comes from."""
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
            return str(value[0])
        return None

    def samplers(self) -> list[str]:
        def order(node_id: str) -> tuple[int, str]:
            return (int(node_id) if node_id.isdigit() else 1 << 60, node_id)

        found = []
        for node_id in sorted(self.nodes, key=order):
            inputs = self.inputs(node_id)
            if "Sampler" in self.kind(node_id) or {"positive", "steps"} <= inputs.keys():
                found.append(node_id)
        return found

    def text_from(self, start: str | None, side: str = "positive") -> str | None:
        """The first prompt text reached backwards from node ``start`` (breadth first).

        ``side`` is the conditioning followed through nodes that carry both (ControlNet apply).
        """
        other = "negative" if side == "positive" else "positive"
        keys = (*_TEXT_KEYS, side)
        queue = [start] if start else []
        seen: set[str] = set()
        while queue and len(seen) < MAX_WALK:
            node_id = queue.pop(0)
            if node_id in seen or node_id not in self.nodes:
                continue
            seen.add(node_id)
            inputs = self.inputs(node_id)
            for key in keys:
                value = inputs.get(key)
                if isinstance(value, str) and value.strip():
                    return value
                linked = self.link(value)
                if linked is not None:
                    queue.insert(0, linked)  # a text fed by a primitive or a string node
            for key, value in inputs.items():
                linked = self.link(value)
                if linked is not None and key not in _NOT_TEXT and key != other:
                    queue.append(linked)
        return None

    def value_from(self, value: Any, keys: tuple[str, ...]) -> Any:
        """A scalar input, or the scalar found by following its link (a primitive node)."""
        seen: set[str] = set()
        while (linked := self.link(value)) is not None and linked not in seen:
            seen.add(linked)
            inputs = self.inputs(linked)
            value = next((inputs[k] for k in keys if k in inputs), None)
        return value

    def model_from(self, start: str | None) -> str | None:
        queue = [start] if start else []
        seen: set[str] = set()
        while queue and len(seen) < MAX_WALK:
            node_id = queue.pop(0)
            if node_id in seen:
                continue
            seen.add(node_id)
            inputs = self.inputs(node_id)
            for key in ("ckpt_name", "unet_name", "model_name"):
                if isinstance(inputs.get(key), str):
                    return inputs[key]
            for key in ("model", "guider"):
                linked = self.link(inputs.get(key))
                if linked is not None:
                    queue.append(linked)
        return None


def _from_comfy_graph(graph: _Graph) -> FoundPrompt | None:
    for sampler in graph.samplers():
        inputs = graph.inputs(sampler)
        start = graph.link(inputs.get("positive"))
        guider = graph.link(inputs.get("guider"))  # SamplerCustomAdvanced
        if start is None and guider is not None:
            guided = graph.inputs(guider)
            start = graph.link(guided.get("positive")) or graph.link(guided.get("conditioning"))
        prompt = graph.text_from(start)
        if not prompt:
            continue
        negative_start = graph.link(inputs.get("negative"))
        if negative_start is None and guider is not None:
            negative_start = graph.link(graph.inputs(guider).get("negative"))
        negative = graph.text_from(negative_start, "negative") if negative_start else None
        seed = graph.value_from(
            inputs.get("seed", inputs.get("noise_seed")), ("seed", "noise_seed", "value")
        )
        if seed is None and (noise := graph.link(inputs.get("noise"))) is not None:
            seed = graph.value_from(graph.inputs(noise).get("noise_seed"), ("noise_seed",))
        settings = _settings(
            (key, graph.value_from(inputs.get(key), ("value",)))
            for key in ("steps", "cfg", "sampler_name", "scheduler", "denoise")
            if key in inputs
        )
        settings["sampler_node"] = graph.kind(sampler)[:60]
        if seed is not None:
            settings["seed"] = (
                seed if isinstance(seed, int) and abs(seed) <= MAX_INT64 else str(seed)
            )
        model = graph.model_from(graph.link(inputs.get("model")) or guider)
        return FoundPrompt(
            source="comfyui",
            prompt=prompt,
            model=_model_name(model),
            seed=_seed(seed),
            negative_prompt=negative if negative and negative != prompt else None,
            settings=settings,
        )
    # No sampler leads to a text: take an encoder's text that no sampler uses as negative.
    negatives = {graph.link(graph.inputs(node).get("negative")) for node in graph.samplers()} - {
        None
    }
    for node_id in graph.nodes:
        if node_id in negatives or "TextEncode" not in graph.kind(node_id):
            continue
        text = graph.inputs(node_id).get("text")
        if isinstance(text, str) and text.strip():
            return FoundPrompt(source="comfyui", prompt=text, settings={"fallback": "text encoder"})
    return None


def _from_comfy_workflow(workflow: dict[str, Any]) -> FoundPrompt | None:
    """The UI workflow only (no API graph): the first text encoder not titled negative."""
    nodes = workflow.get("nodes")
    if not isinstance(nodes, list):
        return None
    for node in nodes[:MAX_WALK]:
        if not isinstance(node, dict) or "TextEncode" not in str(node.get("type", "")):
            continue
        if "negative" in str(node.get("title", "")).lower():
            continue
        values = node.get("widgets_values")
        if isinstance(values, list) and values and isinstance(values[0], str) and values[0]:
            return FoundPrompt(
                source="comfyui", prompt=values[0], settings={"fallback": "workflow text encoder"}
            )
    return None


def _comfy_texts(fields: Mapping[str, str]) -> tuple[str | None, str | None]:
    prompt, workflow = fields.get("prompt"), fields.get("workflow")
    for name in ("Make", "Model", "ImageDescription"):  # ComfyUI's WebP: EXIF tags
        value = fields.get(name, "")
        head, _, rest = value.partition(":")
        if head.lower() == "prompt" and prompt is None:
            prompt = rest
        elif head.lower() == "workflow" and workflow is None:
            workflow = rest
    return prompt, workflow


def _from_comfyui(fields: Mapping[str, str]) -> FoundPrompt | None:
    prompt_text, workflow_text = _comfy_texts(fields)
    graph = load_json(prompt_text)
    workflow = load_json(workflow_text)
    if isinstance(graph, dict):
        found = _from_comfy_graph(_Graph(graph))
        if found is not None:
            return found
    if isinstance(workflow, dict):
        return _from_comfy_workflow(workflow)
    return None


def _is_comfyui(fields: Mapping[str, str]) -> bool:
    prompt_text, workflow_text = _comfy_texts(fields)
    return isinstance(load_json(prompt_text), dict) or isinstance(load_json(workflow_text), dict)


# -- NovelAI ---------------------------------------------------------------------------------


def _from_novelai(fields: Mapping[str, str]) -> FoundPrompt | None:
    if fields.get("Software", "").strip() != "NovelAI":
        return None
    comment = load_json(fields.get("Comment"))
    comment = comment if isinstance(comment, dict) else {}
    prompt = comment.get("prompt") or fields.get("Description")
    if not isinstance(prompt, str) or not prompt.strip():
        return None
    negative = comment.get("uc")
    return FoundPrompt(
        source="novelai",
        prompt=prompt,
        model=_model_name(fields.get("Source")),
        seed=_seed(comment.get("seed")),
        negative_prompt=negative if isinstance(negative, str) and negative else None,
        settings=_settings((k, v) for k, v in comment.items() if k not in {"prompt", "uc"}),
    )


# -- AUTOMATIC1111, Forge, Fooocus -----------------------------------------------------------


def split_settings(line: str) -> list[tuple[str, str]]:
    """``Key: value, Key: "quoted, value"`` as pairs; linear, whatever the line holds."""
    pairs: list[tuple[str, str]] = []
    part: list[str] = []
    quoted = escaped = False
    for char in line + ",":
        if quoted:
            part.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            continue
        if char == '"':
            quoted = True
            part.append(char)
        elif char == ",":
            key, colon, value = "".join(part).partition(":")
            key, value = key.strip(), value.strip()
            if colon and re.fullmatch(r"\w[\w \-/]{0,59}", key):
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    try:
                        value = str(json.loads(value))
                    except ValueError:
                        value = value[1:-1]
                pairs.append((key, value))
            part = []
        else:
            part.append(char)
    return pairs


def parse_parameters(text: str) -> tuple[str, str, list[tuple[str, str]]]:
    """A1111 infotext as (prompt, negative prompt, settings), A1111's own rules.

    The last line is the settings line when it has at least three ``Key: value`` pairs.
    """
    lines = text.strip().replace("\r\n", "\n").split("\n")
    settings: list[tuple[str, str]] = []
    if lines:
        pairs = split_settings(lines[-1][:MAX_PARAMETERS_CHARS])
        if len(pairs) >= 3:
            settings = pairs
            lines = lines[:-1]
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in lines:
        if target is prompt_lines and line.strip().startswith("Negative prompt:"):
            target = negative_lines
            line = line.strip()[len("Negative prompt:") :]
        target.append(line)
    return "\n".join(prompt_lines).strip(), "\n".join(negative_lines).strip(), settings


def _a1111_source(settings: Mapping[str, str], fields: Mapping[str, str]) -> str:
    version = settings.get("Version", "")
    if settings.get("Generator", "").startswith("dalletui"):
        return "dalletui"
    if "fooocus" in version.lower() or fields.get("fooocus_scheme"):
        return "fooocus"
    if re.match(r"^f\d", version):
        return "forge"
    if "comfyui" in version.lower():
        return "comfyui"
    return "a1111"


def _from_parameters(fields: Mapping[str, str]) -> FoundPrompt | None:
    text = fields.get("parameters")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_PARAMETERS_CHARS:
        return None
    fooocus = load_json(text)
    if isinstance(fooocus, dict):
        prompt = fooocus.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return None
        negative = fooocus.get("negative_prompt")
        return FoundPrompt(
            source="fooocus",
            prompt=prompt,
            model=_model_name(fooocus.get("base_model")),
            seed=_seed(fooocus.get("seed")),
            negative_prompt=negative if isinstance(negative, str) and negative else None,
            settings=_settings(
                (k, v) for k, v in fooocus.items() if k not in {"prompt", "negative_prompt"}
            ),
        )
    prompt, negative, pairs = parse_parameters(text)
    if not prompt:
        return None
    settings = dict(pairs)
    return FoundPrompt(
        source=_a1111_source(settings, fields),
        prompt=prompt,
        model=_model_name(settings.get("Model") or settings.get("Model hash")),
        seed=_seed(settings.get("Seed")),
        negative_prompt=negative or None,
        settings=_settings(pairs),
    )


# -- all together ----------------------------------------------------------------------------


def find_prompt(fields: Mapping[str, str], sidecar: Mapping[str, Any] | None = None) -> FoundPrompt:
    """The prompt of one image, from the first writer whose fields are there.

    Raises ``NoPrompt`` with the reason to list when there is none.
    """
    own = _dalletui(fields)
    if own is None and sidecar and isinstance(sidecar.get("prompt"), str):
        own = {str(k): str(v) for k, v in sidecar.items()}
    if own is not None and own.get("prompt", "").strip():
        return _from_dalletui(own)
    for reader in (_from_invokeai, _from_comfyui, _from_novelai, _from_parameters):
        found = reader(fields)
        if found is not None and found.prompt.strip():
            return found
    if _is_comfyui(fields):
        raise NoPrompt("its ComfyUI workflow has no prompt text")
    if len(fields.get("parameters", "")) > MAX_PARAMETERS_CHARS:
        raise NoPrompt(f"its parameters text is over {MAX_PARAMETERS_CHARS:,} characters")
    if "parameters" in fields:
        raise NoPrompt("its parameters text has no prompt")
    if any(key in fields for key in ("invokeai_metadata", "sd-metadata", "Dream")):
        raise NoPrompt("its InvokeAI metadata has no prompt")
    raise NoPrompt("no prompt in its metadata (not from dalletui, A1111, ComfyUI or InvokeAI)")
