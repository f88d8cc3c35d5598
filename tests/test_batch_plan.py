"""Batch planning: modes, files, repeat, the cap, validation, the estimate and the question."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest

from dalletui.config import Settings
from dalletui.errors import ValidationError
from dalletui.generation.catalog import ModelCatalog, load_catalog
from dalletui.generation.types import GenerationRequest
from dalletui.services.batch_plan import (
    MAX_EXPANSIONS,
    BatchPlan,
    BatchPlanner,
    CostEstimate,
    Mode,
    PlannedItem,
    confirm_question,
    estimate,
    parse_mode,
    parse_vars,
    read_prompt_file,
)
from dalletui.services.context import Services
from dalletui.storage import DatabaseManager

API = "gpt-image-2"  # priced by tokens
PER_IMAGE = "chatgpt-image-latest"  # unpriced in the catalogue; given a per-image price below


@pytest.fixture
def catalog() -> ModelCatalog:
    return load_catalog({PER_IMAGE: {"per_image": {"low": {"1024x1024": 0.02}}}})


@pytest.fixture
def planner(services: Services, catalog: ModelCatalog) -> BatchPlanner:
    services.templates.create_variable("animal", ["fox", "owl", "cat"])
    services.templates.create_variable("colour", ["red", "blue"])
    services.templates.create_template("zoo", "a {colour} {animal} in {light} light")
    services.templates.create_variable("light", ["dawn", "dusk"])
    return BatchPlanner(services.db, services.templates, catalog, services.settings)


def texts(plan: BatchPlan) -> list[str]:
    return [item.text for item in plan.items]


def problems_of(caught: pytest.ExceptionInfo[ValidationError]) -> str:
    return " | ".join(caught.value.problems)


# -- --var and --mode ---------------------------------------------------------------------------


def test_parse_vars_splits_on_commas_and_keeps_escaped_ones() -> None:
    assert parse_vars(["animal=fox, owl ,cat", r"motto=live\, laugh", "x=a\\\\b"]) == {
        "animal": ["fox", "owl", "cat"],
        "motto": ["live, laugh"],
        "x": ["a\\b"],
    }
    assert parse_vars([]) == {}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("animal", "needs NAME=VALUE"),
        ("1animal=fox", "Variable name '1animal' is not valid"),
        ("=fox", "needs a name"),
        ("animal=", "gives no values"),
        ("animal=  ", "gives no values"),
        ("animal=fox,,owl", "has an empty value"),
        ("animal=fox,owl,fox", "lists 'fox' more than once"),
    ],
)
def test_bad_var_specs_are_named(spec: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_vars([spec])
    assert fragment in problems_of(caught)


def test_every_bad_var_is_listed_and_a_name_given_twice_is_one() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_vars(["a=1", "b", "a=2", "c="])
    assert len(caught.value.problems) == 3
    assert "gives a twice" in problems_of(caught)


def test_parse_mode() -> None:
    assert parse_mode("product") == Mode("product")
    assert parse_mode(" ZIP ").label == "zip"
    sample = parse_mode("sample:5", seed=42)
    assert (sample.kind, sample.k, sample.seed, sample.label) == ("sample", 5, 42, "sample:5")
    generated = parse_mode("sample:5")
    assert isinstance(generated.seed, int) and generated.seed >= 0
    assert parse_mode("product", seed=3).seed is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("shuffle", "Mode 'shuffle' is unknown"),
        ("sample", "Mode 'sample' is unknown"),
        ("sample:", "needs a whole number"),
        ("sample:0", "needs a whole number"),
        ("sample:-2", "needs a whole number"),
        ("sample:two", "needs a whole number"),
        (f"sample:{MAX_EXPANSIONS + 1}", "needs a whole number"),
    ],
)
def test_bad_modes_are_named(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_mode(text)
    assert fragment in problems_of(caught)


# -- product ------------------------------------------------------------------------------------


def test_a_template_by_name_expands_to_every_combination(
    planner: BatchPlanner, services: Services
) -> None:
    plan = planner.plan("zoo")
    template = services.templates.get_template_by_name("zoo")
    assert (plan.source, plan.name, plan.template_id, plan.mode, plan.seed) == (
        "template",
        "zoo",
        template.id,
        "product",
        None,
    )
    expected = [
        f"a {c} {a} in {light} light"
        for c, a, light in itertools.product(
            ["red", "blue"], ["fox", "owl", "cat"], ["dawn", "dusk"]
        )
    ]
    assert texts(plan) == expected
    assert plan.count == 12 and plan.images == 12
    assert plan.items[1] == PlannedItem(
        "a red fox in dusk light", {"colour": "red", "animal": "fox", "light": "dusk"}
    )
    assert plan.variables == {
        "colour": ["red", "blue"],
        "animal": ["fox", "owl", "cat"],
        "light": ["dawn", "dusk"],
    }
    assert plan.body == template.body and plan.request.prompt == expected[0]


def test_text_that_names_no_template_is_its_own_body_with_inline_alternatives(
    planner: BatchPlanner,
) -> None:
    plan = planner.plan("a {small|big} {animal}, {{json}}", variables={"animal": ["owl", "bat"]})
    assert plan.source == "text" and plan.template_id is None
    assert texts(plan) == [
        "a small owl, {json}",
        "a small bat, {json}",
        "a big owl, {json}",
        "a big bat, {json}",
    ]
    assert plan.items[2].choice == {"#1": "big", "animal": "owl"}
    assert plan.variables == {"#1": ["small", "big"], "animal": ["owl", "bat"]}
    assert plan.name.startswith("a {small|big}")


def test_overrides_replace_a_variables_values_for_one_run(planner: BatchPlanner) -> None:
    plan = planner.plan("zoo", variables={"animal": ["lynx"], "light": ["noon"]})
    assert texts(plan) == ["a red lynx in noon light", "a blue lynx in noon light"]


def test_expanded_prompts_are_normalised_as_they_are_stored(planner: BatchPlanner) -> None:
    plan = planner.plan("  {x} \x1b[31mfox\x07 ", variables={"x": ["red\x1b]0;title\x07"]})
    assert texts(plan) == ["red fox"]
    assert plan.request.prompt == "red fox"


# -- the errors of the issue --------------------------------------------------------------------


def test_an_unknown_variable_is_named(planner: BatchPlanner) -> None:
    with pytest.raises(ValidationError) as caught:
        planner.plan("a {colour} {beast}")
    assert "Unknown variable {beast}" in problems_of(caught)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("a {colour fox", "Unclosed '{' at line 1, column 3"),
        ("a colour} fox", "Unmatched '}' at line 1, column 9"),
        ("a {red|} fox", "Empty alternative in '{red|}' at line 1, column 3"),
        ("ok\n  {|}", "Empty alternative in '{|}' at line 2, column 3"),
    ],
)
def test_unbalanced_braces_and_empty_alternatives_are_named(
    planner: BatchPlanner, body: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        planner.plan(body)
    assert fragment in problems_of(caught)


def test_an_empty_value_list_is_refused(planner: BatchPlanner) -> None:
    with pytest.raises(ValidationError) as caught:
        planner.plan("a {animal}", variables={"animal": []})
    assert "needs at least one value" in problems_of(caught)


def test_an_override_must_match_a_placeholder(planner: BatchPlanner) -> None:
    with pytest.raises(ValidationError) as caught:
        planner.plan("zoo", variables={"mood": ["calm"]})
    assert "'mood' matches no placeholder" in problems_of(caught)


def test_nothing_to_plan_or_two_sources_are_refused(planner: BatchPlanner, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="The prompt is empty"):
        planner.plan("   ")
    with pytest.raises(ValidationError, match="The prompt is empty"):
        planner.plan()
    prompts = tmp_path / "p.txt"
    prompts.write_text("one\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="not both"):
        planner.plan("zoo", file=prompts)


# -- zip ----------------------------------------------------------------------------------------


def test_zip_pairs_values_position_by_position(planner: BatchPlanner) -> None:
    plan = planner.plan(
        "{animal} in {colour|gold|grey}", variables={"animal": ["fox", "owl", "cat"]}, mode="zip"
    )
    assert plan.mode == "zip"
    assert texts(plan) == ["fox in colour", "owl in gold", "cat in grey"]
    assert plan.items[1].choice == {"animal": "owl", "#1": "gold"}


def test_zip_of_unequal_lengths_names_each_list_and_its_length(planner: BatchPlanner) -> None:
    with pytest.raises(ValidationError) as caught:
        planner.plan("zoo", mode="zip")
    message = problems_of(caught)
    assert "same length" in message
    assert "{colour} has 2 values" in message and "{animal} has 3 values" in message
    assert "{light} has 2 values" in message
    with pytest.raises(ValidationError, match=r"\{a\|b\} has 2 values and \{x\} has 1 value\b"):
        planner.plan("{a|b} {x}", variables={"x": ["1"]}, mode="zip")


def test_zip_of_a_plain_text_is_the_text(planner: BatchPlanner) -> None:
    assert texts(planner.plan("just a fox", mode="zip")) == ["just a fox"]


# -- sample -------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [50, 600])  # few of 900 (drawn one by one), most (random.sample)
def test_sample_is_reproducible_with_a_seed_distinct_and_from_the_product(
    planner: BatchPlanner, k: int
) -> None:
    values = {"a": [str(n) for n in range(30)], "b": [str(n) for n in range(30)]}
    mode = f"sample:{k}"
    first = planner.plan("{a}-{b}", variables=values, mode=mode, seed=1234)
    again = planner.plan("{a}-{b}", variables=values, mode=mode, seed=1234)
    other = planner.plan("{a}-{b}", variables=values, mode=mode, seed=4321)
    assert first.seed == 1234 and first.mode == mode
    assert texts(first) == texts(again)
    assert texts(first) != texts(other)
    assert len(set(texts(first))) == k
    product = {f"{a}-{b}" for a, b in itertools.product(values["a"], values["b"])}
    assert set(texts(first)) <= product
    for item in first.items:
        assert item.text == f"{item.choice['a']}-{item.choice['b']}"


def test_sample_without_a_seed_records_the_one_it_drew_with(planner: BatchPlanner) -> None:
    values = {"a": [str(n) for n in range(40)]}
    plan = planner.plan("{a}", variables=values, mode="sample:5")
    assert isinstance(plan.seed, int)
    replay = planner.plan("{a}", variables=values, mode="sample:5", seed=plan.seed)
    assert texts(replay) == texts(plan)


def test_sample_larger_than_the_product_takes_it_all_with_a_warning(
    planner: BatchPlanner,
) -> None:
    plan = planner.plan("{a|b|c}", mode="sample:10", seed=5)
    assert texts(plan) == ["a", "b", "c"]
    assert any("sample:10" in w and "all of them" in w for w in plan.warnings)


def test_sample_draws_from_a_product_too_big_to_build(planner: BatchPlanner) -> None:
    huge = {f"v{i}": [str(n) for n in range(100)] for i in range(10)}
    body = " ".join(f"{{v{i}}}" for i in range(10))
    started = time.perf_counter()
    plan = planner.plan(body, variables=huge, mode="sample:200", seed=9)
    assert time.perf_counter() - started < 1.0
    assert plan.count == 200 and len(set(texts(plan))) == 200
    with pytest.raises(ValidationError, match="10,000"):
        planner.plan(body, variables=huge)


def test_a_seed_outside_sample_mode_is_ignored_with_a_warning(planner: BatchPlanner) -> None:
    plan = planner.plan("zoo", seed=3)
    assert plan.seed is None and any("seed only matters" in w for w in plan.warnings)


# -- the cap and repeat ---------------------------------------------------------------------------


def test_the_cap_refuses_a_product_over_max_expansions(planner: BatchPlanner) -> None:
    many = {"a": [str(n) for n in range(101)], "b": [str(n) for n in range(100)]}
    with pytest.raises(ValidationError) as caught:
        planner.plan("{a}{b}", variables=many)
    assert "10,100 prompts" in problems_of(caught) and "10,000" in problems_of(caught)


def test_repeat_sends_the_prompts_in_whole_passes(planner: BatchPlanner) -> None:
    plan = planner.plan("a lone fox", repeat=3)
    assert (plan.source, plan.mode, plan.repeat) == ("repeat", "repeat", 3)
    assert texts(plan) == ["a lone fox"] * 3
    zoo = planner.plan("zoo", variables={"animal": ["fox", "owl"], "colour": ["red"]}, repeat=2)
    assert zoo.source == "template" and zoo.mode == "product"
    assert [item.choice["animal"] for item in zoo.items] == ["fox", "fox", "owl", "owl"] * 2
    assert zoo.count == 8


@pytest.mark.parametrize("repeat", [0, -1, 10_001, True, 2.0])
def test_bad_repeats_are_refused(planner: BatchPlanner, repeat: object) -> None:
    with pytest.raises(ValidationError, match="Repeat must be a whole number from 1 to 10,000"):
        planner.plan("a fox", repeat=repeat)  # type: ignore[arg-type]


def test_repeat_cannot_pass_the_cap(planner: BatchPlanner) -> None:
    with pytest.raises(ValidationError) as caught:
        planner.plan("zoo", repeat=1000)
    assert "12,000 prompts (12 × repeat 1,000)" in problems_of(caught)


# -- prompts files --------------------------------------------------------------------------------


def test_a_prompts_file_is_one_prompt_a_line_blank_lines_skipped(
    planner: BatchPlanner, tmp_path: Path
) -> None:
    path = tmp_path / "prompts.txt"
    path.write_bytes(b"\xef\xbb\xbfa fox {not a placeholder}\r\n\n   \n  an owl  \ncat\n")
    plan = planner.plan(file=path)
    assert texts(plan) == ["a fox {not a placeholder}", "an owl", "cat"]
    assert (plan.source, plan.mode, plan.name, plan.variables) == (
        "file",
        "file",
        "prompts.txt",
        {},
    )
    assert plan.body == str(path.resolve())
    assert all(item.choice == {} for item in plan.items)
    assert read_prompt_file(path) == texts(plan)


def test_a_gzipped_prompts_file_is_read_and_can_be_repeated(
    planner: BatchPlanner, tmp_path: Path
) -> None:
    path = tmp_path / "prompts.txt.gz"
    path.write_bytes(gzip.compress("un renard rusé\n\nune chouette\n".encode()))
    plan = planner.plan(file=path, repeat=2)
    assert texts(plan) == ["un renard rusé", "une chouette"] * 2 and plan.source == "file"
    unnamed = tmp_path / "prompts.bin"  # gzipped, whatever its name says
    unnamed.write_bytes(path.read_bytes())
    assert read_prompt_file(unnamed) == ["un renard rusé", "une chouette"]


def test_prompts_file_errors_are_sentences(planner: BatchPlanner, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        planner.plan(file=tmp_path / "missing.txt")
    with pytest.raises(ValidationError, match="is a folder"):
        planner.plan(file=tmp_path)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="holds no prompts"):
        planner.plan(file=blank)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(ValidationError, match=r"Line 2 of the prompts file .* is not UTF-8"):
        planner.plan(file=latin)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(b"a fox\n" * 100)[:30])
    with pytest.raises(ValidationError, match="not a complete gzip file"):
        planner.plan(file=broken)


def test_an_unreadable_prompts_file_says_so(
    planner: BatchPlanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("a fox\n", encoding="utf-8")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: refuse the way the OS would
        real_open = Path.open

        def refuse(self: Path, *args: object, **kwargs: object) -> object:
            if self == path:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "open", refuse)
    try:
        with pytest.raises(ValidationError) as caught:
            planner.plan(file=path)
    finally:
        path.chmod(0o600)
    assert problems_of(caught) == f"Cannot read the prompts file {path}: Permission denied."


def test_a_prompts_file_takes_no_vars_and_no_mode(planner: BatchPlanner, tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("a {x}\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="--var"):
        planner.plan(file=path, variables={"x": ["1"]})
    with pytest.raises(ValidationError, match="Mode zip"):
        planner.plan(file=path, mode="zip")


def test_a_too_long_prompt_in_a_file_names_its_line(planner: BatchPlanner, tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("short\n\n" + "x" * 32_001 + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        planner.plan(file=path)
    assert "Prompt 2 of 2 (line 3 of" in problems_of(caught)


# -- the request ----------------------------------------------------------------------------------


def test_a_too_long_expansion_names_its_item_number(planner: BatchPlanner) -> None:
    long = "y" * 32_000
    with pytest.raises(ValidationError) as caught:
        planner.plan("{a|b|" + long + "} fox")
    assert caught.value.problems == [
        "Prompt 3 of 3 is 32,004 characters; gpt-image-1-mini accepts at most 32,000."
    ]
    assert planner.plan("{a|b|" + long[:31_996] + "} fox").count == 3  # 32,000: just fits


def test_request_fields_are_validated_once_with_every_problem(planner: BatchPlanner) -> None:
    request = GenerationRequest(prompt="", model=API, quality="ultra", n=11)
    with pytest.raises(ValidationError) as caught:
        planner.plan("zoo", request=request)
    assert len(caught.value.problems) == 2
    assert "Quality 'ultra'" in problems_of(caught) and "number of images is 11" in problems_of(
        caught
    )
    with pytest.raises(ValidationError, match="retired"):
        planner.plan("zoo", request=GenerationRequest(prompt="", model="dall-e-3"))


def test_the_request_carries_the_fields_and_the_first_prompt(planner: BatchPlanner) -> None:
    request = GenerationRequest(prompt="ignored", model=API, size="1536x1024", quality="low", n=3)
    plan = planner.plan("zoo", request=request)
    assert plan.request == dataclasses.replace(request, prompt="a red fox in dawn light")
    assert plan.images == 36
    default = planner.plan("a fox")
    assert (default.request.model, default.request.size, default.request.n) == (
        "gpt-image-1-mini",
        "1024x1024",
        1,
    )


def test_an_unknown_model_plans_with_a_warning_and_an_unknown_cost(planner: BatchPlanner) -> None:
    plan = planner.plan(
        "a fox", request=GenerationRequest(prompt="", model="gpt-image-9"), provider_offline=False
    )
    assert any("not in dalletui's catalogue" in w for w in plan.warnings)
    assert plan.estimate.basis == "unknown" and "gpt-image-9" in plan.estimate.describe()


def test_a_ten_thousand_item_plan_builds_in_well_under_a_second(planner: BatchPlanner) -> None:
    values = {"a": [f"a{n}" for n in range(100)], "b": [f"b{n}" for n in range(100)]}
    started = time.perf_counter()
    plan = planner.plan("{a} with {b}", variables=values, provider_offline=False)
    elapsed = time.perf_counter() - started
    assert plan.count == MAX_EXPANSIONS and plan.items[-1].text == "a99 with b99"
    assert elapsed < 0.5, f"planning 10,000 prompts took {elapsed:.2f} s"


# -- the estimate ---------------------------------------------------------------------------------


def add_image(
    db: DatabaseManager,
    cost: str | None,
    *,
    model: str = API,
    size: str = "1024x1024",
    quality: str = "low",
    status: str = "succeeded",
    provider: str = "openai",
) -> None:
    """One generation of ``status`` with a ledger row of ``cost`` (as the service records it)."""
    prompt = db.record_prompt_use("ledger prompt")
    (row,) = db.create_generations(
        prompt, 1, provider=provider, model=model, size=size, quality=quality, output_format="png"
    )
    basis = "offline" if provider == "offline" else "tokens"
    usage = {"cost": None if cost is None else Decimal(cost), "price_basis": basis}
    db.finish_generation(row.id, usage=usage, status=status)


def request_for(model: str = API, quality: str = "low", n: int = 1) -> GenerationRequest:
    return GenerationRequest(prompt="x", model=model, quality=quality, n=n)


def test_per_image_models_cost_the_catalogue_price_times_the_images(
    catalog: ModelCatalog, db: DatabaseManager
) -> None:
    cost = estimate(catalog, db, request_for(PER_IMAGE), 24, offline=False)
    assert (cost.low, cost.high, cost.basis, cost.images) == (
        Decimal("0.48"),
        Decimal("0.48"),
        "per_image",
        24,
    )
    assert cost.describe() == "$0.4800"


def test_token_priced_models_take_a_range_from_past_images(
    catalog: ModelCatalog, db: DatabaseManager
) -> None:
    for amount in ("0.011", "0.020", "0.015"):
        add_image(db, amount)
    # None of these is like the planned request, so none counts.
    add_image(db, "0.500", size="1536x1024")
    add_image(db, "0.600", quality="high")
    add_image(db, "0.700", model="gpt-image-1.5")
    add_image(db, "0.800", status="failed")
    add_image(db, "0", provider="offline")
    add_image(db, None)
    cost = estimate(catalog, db, request_for(), 10, offline=False)
    assert (cost.low, cost.high, cost.samples, cost.basis) == (
        Decimal("0.11"),
        Decimal("0.2"),
        3,
        "history",
    )
    assert cost.describe() == "$0.1100–$0.2000 (from 3 past images)"


def test_the_range_looks_at_the_last_200_images_only(
    catalog: ModelCatalog, db: DatabaseManager
) -> None:
    add_image(db, "9.000")  # the oldest: past the window
    for _ in range(200):
        add_image(db, "0.010")
    cost = estimate(catalog, db, request_for(), 2, offline=False)
    assert (cost.low, cost.high, cost.samples) == (Decimal("0.02"), Decimal("0.02"), 200)
    assert cost.describe() == "$0.0200 (from 200 past images)"


def test_nothing_to_go_by_is_unknown_never_zero(catalog: ModelCatalog, db: DatabaseManager) -> None:
    for request in (request_for(), request_for(PER_IMAGE, quality="high"), request_for("nope")):
        cost = estimate(catalog, db, request, 5, offline=False)
        assert cost.basis == "unknown" and cost.low is None and cost.high is None
        assert cost.describe().startswith("unknown (") and "$" not in cost.describe()
        assert not cost.known
    assert "priced by tokens" in estimate(catalog, db, request_for(), 1, offline=False).reason
    unpriced = estimate(catalog, db, request_for("gpt-image-2.6-flare"), 1, offline=False)
    assert "no price for gpt-image-2.6-flare at 1024x1024, low quality" in unpriced.describe()


def test_the_offline_provider_is_free(catalog: ModelCatalog, db: DatabaseManager) -> None:
    cost = estimate(catalog, db, request_for(), 7, offline=True)
    assert (cost.high, cost.basis, cost.describe()) == (Decimal(0), "offline", "free (offline)")


def test_a_plan_estimates_its_images(planner: BatchPlanner, services: Services) -> None:
    request = GenerationRequest(prompt="", model=PER_IMAGE, quality="low", n=2)
    plan = planner.plan("zoo", request=request, provider_offline=False)
    assert plan.estimate.images == 24 and plan.estimate.high == Decimal("0.48")
    assert planner.plan("zoo").estimate.basis == "offline"  # no API key: the offline provider
    data = plan.to_dict()
    assert data["estimate"]["high"] == "0.48" and data["count"] == 12 and data["images"] == 24
    assert data["items"][0] == {"text": "a red fox in dawn light", "choice": plan.items[0].choice}


# -- the question ---------------------------------------------------------------------------------


def a_plan(images: int, low: str | None, high: str | None, basis: str = "per_image") -> BatchPlan:
    items = [PlannedItem(f"p{i}") for i in range(images)]
    cost = CostEstimate(
        None if low is None else Decimal(low),
        None if high is None else Decimal(high),
        images,
        basis,  # type: ignore[arg-type]
        samples=4 if basis == "history" else 0,
        reason="" if high is not None else "no price for m at 1024x1024, low quality",
    )
    return BatchPlan(
        name="t",
        source="text",
        template_id=None,
        body="p",
        mode="product",
        seed=None,
        variables={},
        items=items,
        request=GenerationRequest(prompt="p0"),
        estimate=cost,
    )


def test_no_question_under_both_thresholds(settings: Settings) -> None:
    assert confirm_question(a_plan(20, "1.00", "1.00"), settings, Decimal(0)) is None
    assert confirm_question(a_plan(20, "0", "0", "offline"), settings, Decimal(0)) is None


def test_more_images_than_the_threshold_asks(settings: Settings) -> None:
    question = confirm_question(a_plan(21, "0.21", "0.21"), settings, Decimal(0))
    assert question == "Send 21 images (estimated $0.2100)?"
    assert confirm_question(a_plan(21, "0", "0", "offline"), settings, Decimal(0)) == (
        "Send 21 images (free, offline)?"
    )
    fewer = dataclasses.replace(settings, batch_confirm_images=30)
    assert confirm_question(a_plan(21, "0.21", "0.21"), fewer, Decimal(0)) is None


def test_a_cost_over_the_threshold_or_unknown_asks(settings: Settings) -> None:
    question = confirm_question(a_plan(3, "0.62", "1.24", "history"), settings, Decimal(0))
    assert question == "Send 3 images (estimated $0.6200–$1.24, from 4 past images)?"
    unknown = confirm_question(a_plan(1, None, None, "unknown"), settings, Decimal(0))
    assert unknown == "Send 1 image (cost unknown: no price for m at 1024x1024, low quality)?"
    generous = dataclasses.replace(settings, batch_confirm_cost=2.0)
    assert confirm_question(a_plan(3, "0.62", "1.24", "history"), generous, Decimal(0)) is None


def test_the_budget_is_named_when_the_batch_would_pass_it(settings: Settings) -> None:
    budgeted = dataclasses.replace(settings, monthly_budget=10.0)
    question = confirm_question(a_plan(48, "1.92", "1.92"), budgeted, Decimal("9.10"))
    assert question == (
        "Send 48 images (estimated $1.92)? This would pass your monthly budget of $10.00 "
        "($9.10 spent this month)."
    )
    within = confirm_question(a_plan(48, "1.92", "1.92"), budgeted, Decimal("2.00"))
    assert within == "Send 48 images (estimated $1.92)?"
    assert "budget" not in (
        confirm_question(a_plan(48, "1.92", "1.92"), settings, Decimal(99)) or ""
    )
    # Passing the budget asks even a small batch.
    small = confirm_question(a_plan(2, "0.08", "0.08"), budgeted, Decimal("9.95"))
    assert small is not None and "pass your monthly budget of $10.00" in small
    unknown = confirm_question(a_plan(2, None, None, "unknown"), budgeted, Decimal(0))
    assert unknown is not None and "may pass your monthly budget" in unknown
    assert confirm_question(a_plan(2, "0", "0", "offline"), budgeted, Decimal(99)) is None


def test_the_question_counts_prompts_and_images_when_n_is_more_than_one(
    settings: Settings,
) -> None:
    plan = a_plan(12, "0.96", "0.96")
    plan = dataclasses.replace(plan, request=GenerationRequest(prompt="p0", n=2))
    assert confirm_question(plan, settings, Decimal(0)) == (
        "Send 24 images (12 prompts × 2; estimated $0.9600)?"
    )


def test_a_mode_object_is_taken_too_and_a_sample_without_a_seed_gets_one(
    planner: BatchPlanner,
) -> None:
    values = {"a": [str(n) for n in range(40)]}
    plan = planner.plan("{a}", variables=values, mode=Mode("sample", k=4))
    assert isinstance(plan.seed, int) and plan.count == 4
    seeded = planner.plan("{a}", variables=values, mode=Mode("sample", k=4, seed=plan.seed))
    assert texts(seeded) == texts(plan)
    assert planner.plan("zoo", mode=Mode("zip"), variables={"animal": ["fox", "owl"]}).count == 2
