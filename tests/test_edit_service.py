"""Edits through the generation service (issue 14): sources (``gen:ID`` or a path), lineage
recorded in the database and in each file's metadata, cost from usage with input image tokens,
retry of a possibly billed edit with the same bytes, the lineage view and the gallery of one
lineage. The OpenAI path runs through the real SDK against the fake server on 127.0.0.1.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from dalletui.config import Settings
from dalletui.errors import ValidationError
from dalletui.generation.files import ImageStore
from dalletui.generation.metadata import read_lineage
from dalletui.generation.types import GenerationRequest
from dalletui.services.context import open_services
from dalletui.services.editing import build_edit, generation_ref, resolve_source
from dalletui.services.generation import GenerationService
from dalletui.services.history import HistoryService, ImageScope
from dalletui.services.usage import UsageService
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Generation, Prompt, UsageStat
from tests.fakes import FakeOpenAIServer, Fault
from tests.test_generation_service import service_for


def offline_service(db: DatabaseManager, home: Path) -> GenerationService:
    settings = Settings(home=home, provider="offline")
    return GenerationService(db, ImageStore(settings.images_dir), settings)


def png(path: Path, size: tuple[int, int] = (1024, 1024), colour=(30, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def mask_file(path: Path, size: tuple[int, int], hole: tuple[int, int, int, int]) -> Path:
    img = Image.new("RGBA", size, (255, 255, 255, 255))
    img.paste((0, 0, 0, 0), hole)
    img.save(path)
    return path


async def first_image(service: GenerationService, prompt: str = "a lighthouse at dusk") -> int:
    outcome = await service.generate(GenerationRequest(prompt=prompt, quality="low"))
    assert outcome.ok
    return outcome.succeeded[0].id


async def edit_of(
    service: GenerationService, db: DatabaseManager, ref: str, prompt: str, **options
) -> int:
    plan = build_edit(prompt, [resolve_source(db, ref)], quality="low", **options)
    outcome = await service.edit(plan)
    assert outcome.ok, outcome.error
    return outcome.succeeded[0].id


def test_generation_refs() -> None:
    assert generation_ref("gen:12") == 12 and generation_ref("GEN12") == 12
    assert generation_ref("#7") == 7 and generation_ref(" gen:3 ") == 3
    assert generation_ref("gen:") is None and generation_ref("12.png") is None


async def test_offline_edits_build_a_lineage_with_a_branch(db: DatabaseManager, home: Path) -> None:
    service = offline_service(db, home)
    root = await first_image(service)
    first = await edit_of(service, db, f"gen:{root}", "the lighthouse in a storm")
    second = await edit_of(service, db, f"gen:{first}", "the storm at night")
    # Back to the first edit and branch from it: the second edit is kept.
    branch = await edit_of(service, db, f"#{first}", "the storm at sunrise")

    assert [g.id for g in db.chain(second)] == [root, first, second]
    assert [g.id for g in db.chain(branch)] == [root, first, branch]
    assert [g.id for g in db.children(first)] == [second, branch]
    for gid in (first, second, branch):
        assert db.get_generation(gid).kind == "edit"
    assert db.get_generation(root).kind == "generate"

    # The lineage travels in the file: kind, and the parent by id, uid and hash.
    edited = db.get_generation(second)
    fields = ImageStore(home / "images").read_metadata(Path(edited.file_path))
    lineage = read_lineage(fields)
    assert lineage.kind == "edit"
    assert [(p.role, p.id, p.uid) for p in lineage.parents] == [
        ("image", first, db.get_generation(first).uid)
    ]

    history = HistoryService(db, ImageStore(home / "images"))
    view = history.lineage(first)
    assert [r.id for r in view.chain] == [root, first]
    assert view.parent is not None and view.parent.id == root
    assert [r.id for r in view.children] == [second, branch]
    assert [(i.role, i.generation_id, i.available) for i in view.inputs] == [("image", root, True)]
    # The gallery of one lineage holds the whole family, newest first, from any member.
    scope = ImageScope(lineage_of=second)
    assert [r.id for r in history.gallery(scope)] == [branch, second, first, root]
    assert history.count_images(scope) == 4
    assert [r.id for r in history.gallery(scope, limit=2, before_id=second)] == [first, root]
    # The edits' prompts are history like any other: search finds them.
    found = history.find("storm")
    assert {p.text for p in found} == {
        "the lighthouse in a storm",
        "the storm at night",
        "the storm at sunrise",
    }
    await service.aclose()


async def test_offline_masked_edit_changes_only_the_hole(db: DatabaseManager, home: Path) -> None:
    service = offline_service(db, home)
    source = png(home / "in" / "photo.png", (512, 512))
    hole = (0, 0, 256, 256)
    mask = mask_file(home / "in" / "mask.png", (512, 512), hole)
    plan = build_edit(
        "a red door",
        [resolve_source(db, str(source))],
        mask=resolve_source(db, str(mask)),
        size="1024x1024",
    )
    outcome = await service.edit(plan)
    assert outcome.ok
    made = outcome.succeeded[0]
    inputs = db.inputs(made.id)
    assert [(i.role, i.parent_generation_id, Path(i.file_path).name) for i in inputs] == [
        ("image", None, "photo.png"),
        ("mask", None, "mask.png"),
    ]
    assert inputs[0].width == 512 and len(inputs[0].sha256) == 64
    await service.aclose()


def test_sources_are_refused_in_one_sentence(
    db: DatabaseManager, home: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match=r"^No generation #99\.$"):
        resolve_source(db, "gen:99")
    with pytest.raises(ValidationError, match=r"is a folder, not an image\.$"):
        resolve_source(db, str(tmp_path))
    with pytest.raises(ValidationError, match=r"^No file .*nothing\.png\.$"):
        resolve_source(db, str(tmp_path / "nothing.png"))
    with pytest.raises(ValidationError, match="Name an image"):
        resolve_source(db, "  ")
    with pytest.raises(ValidationError, match="Cannot use .* as an image"):
        resolve_source(db, "9" * 5000)  # too long a name (Python 3.13's is_dir raises)
    with pytest.raises(ValidationError, match="^No file "):
        resolve_source(db, "a\x00b.png")


async def test_a_path_to_our_own_image_links_its_generation(
    db: DatabaseManager, home: Path
) -> None:
    service = offline_service(db, home)
    root = await first_image(service)
    path = db.get_generation(root).file_path
    assert resolve_source(db, path).generation_id == root
    await service.aclose()


async def test_failed_and_trashed_generations_are_refused(home: Path) -> None:
    services = open_services(Settings(home=home, provider="offline"))
    try:
        root = await first_image(services.generation)
        services.trash.trash_generation(root)
        with pytest.raises(ValidationError, match=r"is in the trash; restore it first"):
            resolve_source(services.db, f"gen:{root}")
    finally:
        await services.aclose()


async def test_edit_through_the_sdk_prices_input_tokens(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    refs = [png(home / "in" / f"r{i}.png", colour=(40 * i, 90, 160)) for i in range(3)]
    plan = build_edit(
        "put them in one room",
        [resolve_source(db, str(p)) for p in refs],
        model="gpt-image-1.5",
        quality="low",
        input_fidelity="high",
    )
    outcome = await service.edit(plan)
    await service.aclose()
    assert outcome.ok
    sent = fake_openai.edit_requests[-1]
    assert [f.filename for f in sent.images] == ["r0.png", "r1.png", "r2.png"]
    assert sent.body["input_fidelity"] == "high"
    row = UsageStat.get(UsageStat.generation == outcome.succeeded[0].id)
    assert row.input_image_tokens > 0
    spec = service.catalog.get("gpt-image-1.5")
    prices = spec.token_prices
    expected = (
        Decimal(row.input_text_tokens) * prices.text_in.amount
        + Decimal(row.input_image_tokens) * prices.image_in.amount
        + Decimal(row.output_image_tokens) * prices.image_out.amount
    ) / 1_000_000
    assert row.cost == expected.quantize(Decimal("0.000001"))
    assert outcome.cost == row.cost
    params = outcome.succeeded[0].params
    assert [i["name"] for i in params["images"]] == ["r0.png", "r1.png", "r2.png"]
    assert "data" not in str(params)


async def test_masked_edit_of_our_image_through_the_sdk(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    root = await first_image(service)
    size = Image.open(db.get_generation(root).file_path).size
    mask = mask_file(home / "mask.png", size, (0, 0, size[0] // 2, size[1] // 2))
    plan = build_edit(
        "a red door",
        [resolve_source(db, f"gen:{root}")],
        mask=resolve_source(db, str(mask)),
        quality="low",
    )
    outcome = await service.edit(plan)
    await service.aclose()
    assert outcome.ok
    sent = fake_openai.edit_requests[-1]
    assert sent.mask is not None and sent.images[0].filename == f"gen-{root}.png"
    assert [g.id for g in db.parents(outcome.succeeded[0].id)] == [root]


async def test_streamed_edit_reports_partials(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    source = png(home / "in" / "a.png")
    partials: list[int] = []
    plan = build_edit("glow", [resolve_source(db, str(source))], partial_images=2, quality="low")
    outcome = await service.edit(plan, on_partial=lambda i, data: partials.append(i))
    await service.aclose()
    assert outcome.ok and partials == [0, 1]
    assert fake_openai.edit_requests[-1].body["stream"] in ("true", "True", True)


@pytest.mark.parametrize(
    ("options", "images", "mask_size", "needle"),
    [
        ({"model": "dall-e-2"}, 1, None, "dall-e-2"),
        ({}, 1, (512, 512), "mask"),
        ({}, 17, None, "17"),
    ],
    ids=["model-cannot-edit", "mask-size", "seventeen-images"],
)
async def test_refused_edits_send_and_record_nothing(
    db: DatabaseManager,
    home: Path,
    fake_openai: FakeOpenAIServer,
    options: dict,
    images: int,
    mask_size: tuple[int, int] | None,
    needle: str,
) -> None:
    service = service_for(db, home, fake_openai)
    source = png(home / "in" / "a.png", (1024, 1024))
    mask = mask_file(home / "m.png", mask_size, (0, 0, 10, 10)) if mask_size else None
    plan = build_edit(
        "anything",
        [resolve_source(db, str(source))] * images,
        mask=resolve_source(db, str(mask)) if mask else None,
        **options,
    )
    with pytest.raises(ValidationError) as caught:
        await service.edit(plan)
    await service.aclose()
    assert needle in str(caught.value)
    assert all(p.endswith(".") for p in caught.value.problems)
    assert fake_openai.edit_count == 0
    assert Generation.select().count() == 0 and Prompt.select().count() == 0


async def test_possibly_billed_edit_is_resent_only_on_retry_with_the_same_bytes(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai, retries=0)
    source = png(home / "in" / "a.png")
    fake_openai.script(Fault.server_error(500))
    plan = build_edit("a cat", [resolve_source(db, str(source))], quality="low")
    outcome = await service.edit(plan)
    assert outcome.possibly_billed and fake_openai.edit_count == 1
    failed = outcome.generations[0]
    assert failed.status == "possibly_billed" and failed.kind == "edit"
    assert "dalletui retry" in str(outcome.error)

    again = await service.retry(failed.id)
    assert again.ok and fake_openai.edit_count == 2
    first, second = fake_openai.edit_requests
    assert first.images[0].data == second.images[0].data
    assert db.get_generation(again.succeeded[0].id).kind == "edit"

    # An input that changed since is not sent in its place.
    fake_openai.script(Fault.server_error(500))
    outcome = await service.edit(build_edit("a dog", [resolve_source(db, str(source))]))
    png(source, colour=(0, 0, 0))
    with pytest.raises(ValidationError, match="has changed since it was sent"):
        await service.retry(outcome.generations[0].id)
    assert fake_openai.edit_count == 3
    await service.aclose()


async def test_edit_estimate_goes_by_past_edits(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    usage = UsageService(db, service.catalog)
    source = png(home / "in" / "a.png")
    plan = build_edit("a cat", [resolve_source(db, str(source))], quality="low")
    before = usage.estimate(plan.request, offline=False)
    assert not before.known and "input image" in before.reason
    await first_image(service)  # a plain image is no guide to an edit's cost
    assert not usage.estimate(plan.request, offline=False).known
    outcome = await service.edit(plan)
    after = usage.estimate(plan.request, offline=False)
    billed = UsageStat.get(UsageStat.generation == outcome.succeeded[0].id).cost
    assert after.known and after.basis == "history" and after.high == billed
    await service.aclose()


def test_images_as_bytes_read_once(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, format="PNG")
    path = tmp_path / "x.png"
    path.write_bytes(buf.getvalue())
    db_home = tmp_path / "h"
    db = DatabaseManager(db_home / "d.db").open()
    try:
        plan = build_edit("x", [resolve_source(db, str(path))])
        path.write_bytes(b"changed")
        assert plan.request.images[0].data == buf.getvalue()
    finally:
        db.close()


async def test_lineage_after_two_edits_and_a_branch_through_the_sdk(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    root = await first_image(service)
    first = await edit_of(service, db, f"gen:{root}", "the lighthouse in a storm")
    second = await edit_of(service, db, f"gen:{first}", "the storm at night")
    branch = await edit_of(service, db, f"gen:{first}", "the storm at sunrise")
    await service.aclose()
    assert fake_openai.edit_count == 3
    sent = [r.images[0].filename for r in fake_openai.edit_requests]
    assert sent == [f"gen-{root}.png", f"gen-{first}.png", f"gen-{first}.png"]
    assert [g.id for g in db.chain(second)] == [root, first, second]
    assert [g.id for g in db.chain(branch)] == [root, first, branch]
    assert [g.id for g in db.children(first)] == [second, branch]
    # Each edit's cost came from its own usage, input image tokens included.
    for gid in (first, second, branch):
        row = UsageStat.get(UsageStat.generation == gid)
        assert row.input_image_tokens > 0 and row.cost > 0
