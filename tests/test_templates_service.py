"""TemplateService: placeholders, escapes, unknown variables, counts, order, the cap, CRUD."""

from __future__ import annotations

import itertools

import pytest

from dalletui.errors import ValidationError
from dalletui.services.context import Services
from dalletui.services.templates import (
    MAX_EXPANSIONS,
    TemplateService,
    expand_with,
    placeholders,
    scan,
    values_from_text,
)


@pytest.fixture
def templates(services: Services) -> TemplateService:
    return services.templates


# -- placeholders and escapes -------------------------------------------------------------


def test_placeholders_in_order_of_first_appearance_without_repeats() -> None:
    assert placeholders("a {style} {subject} in {style}, {light_2}") == [
        "style",
        "subject",
        "light_2",
    ]
    assert placeholders("no placeholders at all") == []


def test_double_braces_are_literal() -> None:
    assert placeholders("json {{like}} this and }} that {{") == []
    expansion = expand_with("{{{x}}} and {{x}}", {"x": ["1"]})
    assert expansion.first == "{1} and {x}"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("a {1x} b", "'{1x}'"),
        ("a {two words} b", "'{two words}'"),
        ("a {x-y} b", "'{x-y}'"),
        ("an empty {} pair", "'{}'"),
        ("unclosed { here", "Unclosed '{'"),
        ("nested {a {b}", "Unclosed '{'"),
        ("stray } brace", "Unmatched '}'"),
    ],
)
def test_malformed_placeholders_are_named(body: str, named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        placeholders(body)
    assert named in str(caught.value)
    assert "line 1, column" in str(caught.value)


def test_every_mistake_is_listed_with_its_position() -> None:
    with pytest.raises(ValidationError) as caught:
        placeholders("ok {fine}\n{9lives} and {")
    problems = caught.value.problems
    assert len(problems) == 2
    assert "'{9lives}' at line 2, column 1" in problems[0]
    assert "line 2, column 14" in problems[1]


def test_scan_never_raises_and_marks_positions() -> None:
    body = "a {x} {1y} {{z}}"
    tokens = scan(body)
    assert [(t.kind, body[t.source]) for t in tokens] == [
        ("text", "a "),
        ("placeholder", "{x}"),
        ("text", " "),
        ("error", "{1y}"),
        ("text", " {{z}}"),
    ]
    assert tokens[-1].value == " {z}"


# -- inline alternatives ----------------------------------------------------------------------


def test_inline_alternatives_are_choice_tokens_named_in_order() -> None:
    body = "a {red | green|blue} {x} {{a|b}} {big|small}"
    tokens = scan(body)
    choices = [t for t in tokens if t.kind == "choice"]
    assert [(t.value, t.options, body[t.source]) for t in choices] == [
        ("#1", ("red", "green", "blue"), "{red | green|blue}"),
        ("#2", ("big", "small"), "{big|small}"),
    ]
    assert [t.value for t in tokens if t.kind == "text"][2] == " {a|b} "  # escaped: literal
    assert placeholders(body) == ["x"]  # alternatives are not variables


def test_alternatives_expand_like_anonymous_variables() -> None:
    expansion = expand_with("{oil|ink} {subject} {dawn|dusk}", VARIABLES)
    assert expansion.names == ("#1", "subject", "#2")
    assert expansion.count == 2 * 2 * 2
    assert expansion.factors() == "{oil|ink} 2 × subject 2 × {dawn|dusk} 2"
    assert list(expansion)[:3] == ["oil fox dawn", "oil fox dusk", "oil owl dawn"]
    assert expansion.at(7) == "ink owl dusk"
    assert expansion.choice_at(5) == {"#1": "ink", "subject": "fox", "#2": "dusk"}
    assert expansion.samples(2) == ["oil fox dawn", "ink owl dusk"]
    assert [expansion.render(c) for c in expansion.choices()] == list(expansion)


def test_the_same_alternatives_twice_vary_independently() -> None:
    assert list(expand_with("{a|b}{a|b}", {})) == ["aa", "ab", "ba", "bb"]


def test_a_long_alternative_is_shortened_in_the_factors() -> None:
    expansion = expand_with("{" + "|".join(f"option{n}" for n in range(20)) + "}", {})
    factor = expansion.factors()
    assert factor.startswith("{option0|option1|") and factor.endswith("…} 20")
    assert len(factor) < 50


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("a {red|} fox", "Empty alternative in '{red|}' at line 1, column 3"),
        ("{|}", "Empty alternative in '{|}' at line 1, column 1"),
        ("x\n {|red}", "Empty alternative in '{|red}' at line 2, column 2"),
        ("{red| |blue}", "Empty alternative in '{red| |blue}'"),
        ("{red|red}", "The alternatives '{red|red}' at line 1, column 1 list 'red' more than once"),
    ],
)
def test_empty_or_repeated_alternatives_are_errors(body: str, problem: str) -> None:
    assert [t.kind for t in scan(body)].count("error") == 1
    with pytest.raises(ValidationError) as caught:
        placeholders(body)
    assert problem in str(caught.value)


def test_an_override_cannot_name_an_alternative() -> None:
    with pytest.raises(ValidationError, match="'#1' matches no placeholder"):
        expand_with("{a|b}", {}, {"#1": ["c"]})


def test_templates_with_alternatives_are_saved(templates: TemplateService) -> None:
    created = templates.create_template("colours", "a {red|green} {animal}")
    templates.create_variable("animal", ["fox"])
    assert list(templates.expand_template(created.id)) == ["a red fox", "a green fox"]


# -- counts, order, samples -----------------------------------------------------------------


VARIABLES = {"style": ["oil", "ink", "pixel"], "subject": ["fox", "owl"], "light": ["dawn"]}


def test_count_is_the_product_of_value_counts() -> None:
    expansion = expand_with("{style} {subject} at {light}, {style} again", VARIABLES)
    assert expansion.count == 3 * 2 * 1
    assert expansion.factors() == "style 3 × subject 2 × light 1"
    assert expand_with("just text", VARIABLES).count == 1


def test_order_is_itertools_product_with_the_last_placeholder_fastest() -> None:
    expansion = expand_with("{style}/{subject}", VARIABLES)
    expected = [f"{a}/{b}" for a, b in itertools.product(VARIABLES["style"], VARIABLES["subject"])]
    assert list(expansion) == expected
    assert [expansion.at(i) for i in range(expansion.count)] == expected
    assert expansion.first == "oil/fox"
    with pytest.raises(IndexError):
        expansion.at(6)


def test_repeated_placeholders_take_the_same_value() -> None:
    assert list(expand_with("{subject} and {subject}", VARIABLES)) == [
        "fox and fox",
        "owl and owl",
    ]


def test_samples_spread_over_the_order_and_start_with_the_first() -> None:
    expansion = expand_with("{style}/{subject}", VARIABLES)
    assert expansion.samples(3) == ["oil/fox", "ink/fox", "pixel/owl"]
    assert expansion.samples(1) == ["oil/fox"]
    assert expansion.samples(0) == []
    assert expansion.samples(100) == list(expansion)


def test_huge_products_are_counted_without_being_built() -> None:
    huge = {f"v{i}": [str(n) for n in range(100)] for i in range(10)}
    body = " ".join(f"{{v{i}}}" for i in range(10))
    expansion = expand_with(body, huge)
    assert expansion.count == 100**10
    assert expansion.at(expansion.count - 1) == " ".join(["99"] * 10)
    assert len(expansion.samples(5)) == 5


def test_the_cap_refuses_batches_that_are_too_big() -> None:
    many = {"a": [str(n) for n in range(200)], "b": [str(n) for n in range(100)]}
    expansion = expand_with("{a}-{b}", many)
    assert expansion.count == 20_000 > MAX_EXPANSIONS
    with pytest.raises(ValidationError) as caught:
        expansion.prompts()
    message = str(caught.value)
    assert "20,000 prompts" in message and "a 200 × b 100" in message and "10,000" in message
    assert sum(1 for _ in expansion.prompts(limit=20_000)) == 20_000
    assert next(iter(expansion)) == "0-0"  # iterating without a cap is the caller's choice


def test_prompts_is_lazy() -> None:
    expansion = expand_with("{a}", {"a": [str(n) for n in range(MAX_EXPANSIONS)]})
    assert list(itertools.islice(expansion.prompts(), 3)) == ["0", "1", "2"]


# -- unknown variables, empty values and overrides ------------------------------------------------


def test_unknown_variables_are_listed_with_how_to_define_them() -> None:
    expansion = expand_with("{style} {mood} {colour}", VARIABLES)
    assert expansion.unknown == ("mood", "colour")
    assert not expansion.ok
    assert expansion.count == 0
    with pytest.raises(ValidationError) as caught:
        expansion.samples()
    message = str(caught.value)
    assert "{mood}, {colour}" in message and "Variables tab" in message
    with pytest.raises(ValidationError):
        list(expansion)


def test_a_variable_with_no_values_cannot_expand() -> None:
    expansion = expand_with("{x}", {"x": []})
    assert expansion.unknown == ()
    assert expansion.count == 0
    with pytest.raises(ValidationError, match=r"No values for \{x\}"):
        _ = expansion.first


def test_overrides_replace_values_and_define_unknown_names() -> None:
    expansion = expand_with(
        "{style} {mood}", VARIABLES, {"style": ["ink"], "mood": ["calm", "wild"]}
    )
    assert expansion.ok
    assert list(expansion) == ["ink calm", "ink wild"]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"nope": ["x"]}, "matches no placeholder"),
        ({"style": []}, "needs at least one value"),
        ({"style": ["ok", "  "]}, "non-empty text"),
        ({"style": ["a", "a"]}, "more than once"),
        ({"style": "ink"}, "must be a list"),
    ],
)
def test_bad_overrides_are_refused(overrides: dict, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        expand_with("{style}", VARIABLES, overrides)


def test_values_from_text_trims_and_drops_blank_lines() -> None:
    assert values_from_text("  red \n\n blue\n   \ngreen\n") == ["red", "blue", "green"]


# -- the service over the database --------------------------------------------------------------


def test_template_crud(templates: TemplateService) -> None:
    created = templates.create_template("  portrait ", "a {style} portrait", "  faces ")
    assert (created.name, created.description) == ("portrait", "faces")
    assert [t.name for t in templates.list_templates()] == ["portrait"]
    updated = templates.update_template(created.id, body="a {style} of {subject}")
    assert templates.get_template(created.id).body == updated.body
    assert templates.get_template_by_name("portrait").id == created.id
    templates.delete_template(created.id)
    assert templates.list_templates() == []


def test_templates_with_malformed_placeholders_are_not_saved(templates: TemplateService) -> None:
    with pytest.raises(ValidationError, match=r"'\{1x\}'"):
        templates.create_template("bad", "a {1x}")
    created = templates.create_template("good", "a {later}")  # unknown names are allowed
    with pytest.raises(ValidationError, match="Unclosed"):
        templates.update_template(created.id, body="a {")
    assert templates.list_templates()[0].body == "a {later}"


def test_duplicate_template_names_are_refused(templates: TemplateService) -> None:
    templates.create_template("same", "one")
    with pytest.raises(ValidationError, match="already exists"):
        templates.create_template("same", "two")


def test_variable_crud_and_validation(templates: TemplateService) -> None:
    variable = templates.create_variable("style", [" oil ", "ink"], "media")
    assert variable.values == ["oil", "ink"]
    with pytest.raises(ValidationError, match="already exists"):
        templates.create_variable("style", ["x"])
    with pytest.raises(ValidationError) as caught:
        templates.create_variable("2bad", [])
    assert len(caught.value.problems) == 2
    assert "'2bad' is not valid" in caught.value.problems[0]
    renamed = templates.update_variable(variable.id, name="medium", values=["oil", "ink", "clay"])
    assert templates.variable_values() == {"medium": ["oil", "ink", "clay"]}
    assert renamed.description == "media"
    with pytest.raises(ValidationError, match="more than once"):
        templates.update_variable(variable.id, values=["a", "a"])
    templates.delete_variable(variable.id)
    assert templates.list_variables() == []


def test_expand_reads_the_stored_variables(templates: TemplateService) -> None:
    templates.create_variable("style", ["oil", "ink"])
    templates.create_variable("subject", ["fox", "owl", "cat"])
    template = templates.create_template("t", "{style} {subject} {mood}")
    expansion = templates.expand_template(template.id)
    assert expansion.unknown == ("mood",)
    expansion = templates.expand_template(template.id, {"mood": ["calm"]})
    assert expansion.count == 6
    assert expansion.samples(2) == ["oil fox calm", "ink cat calm"]
    assert templates.placeholders(template.body) == ["style", "subject", "mood"]
