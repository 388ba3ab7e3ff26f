"""schemas/README.md, the reference for SDK teams, says what the schema files say."""

from schemas import catalogue, docs


def test_readme_is_up_to_date():
    assert docs.README.read_text(encoding="utf-8") == docs.render(), (
        "schemas/README.md is out of date: run `python -m schemas.docs`"
    )


def test_readme_shows_every_event_type_with_an_example():
    text = docs.README.read_text(encoding="utf-8")
    for event_type, version in catalogue.event_types().items():
        section = text.split(f"### `{event_type}` (v{version})", 1)[1].split("\n### ", 1)[0]
        assert "Example:" in section and f'"type": "{event_type}"' in section
