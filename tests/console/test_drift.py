"""The drift screen: two workspaces compared by keyed digests, names only, no value read."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, Request, expect

from tests.console.conftest import WAIT_MS, Api, Console


def _graphql_bodies(page: Page) -> list[str]:
    """Every GraphQL request body the page sends from now on."""
    bodies: list[str] = []

    def keep(request: Request) -> None:
        if request.url.endswith("/graphql") and request.post_data:
            bodies.append(request.post_data)

    page.on("request", keep)
    return bodies


def _section(page: Page, title: str) -> Locator:
    return page.get_by_role("region", name=re.compile("^" + re.escape(title) + r" \d"))


def test_drift_sorts_names_into_four_sections_without_reading_a_value(console: Console, api: Api) -> None:
    here, there = api.workspace("drift-staging"), api.workspace("drift-prod")
    values = {
        "here-only": "value-only-in-staging-7f3a",
        "there-only": "value-only-in-prod-91cc",
        "here-diff": "staging flavour of the key 22d1",
        "there-diff": "prod flavour of the key 0b4e",
        "same": "identical everywhere 5e77",
    }
    console.never_kept.extend(values.values())
    api.secret(here, "ONLY_IN_STAGING", values["here-only"])
    api.secret(there, "ONLY_IN_PROD", values["there-only"])
    api.secret(here, "PAYMENT_KEY", values["here-diff"])
    api.secret(there, "PAYMENT_KEY", values["there-diff"])
    api.secret(here, "SHARED_SALT", values["same"])
    api.secret(there, "SHARED_SALT", values["same"])

    page = console.page
    bodies = _graphql_bodies(page)
    console.sign_in(api.token)
    console.go(here, "drift")
    page.get_by_label("Compare with").select_option(there)

    expected = {
        f"Only in {here}": "ONLY_IN_STAGING",
        f"Only in {there}": "ONLY_IN_PROD",
        "Different values": "PAYMENT_KEY",
        "Same values": "SHARED_SALT",
    }
    for title, name in expected.items():
        section = _section(page, title)
        expect(section).to_be_visible(timeout=WAIT_MS)
        expect(section.get_by_role("heading")).to_have_text(f"{title} 1")
        expect(section.get_by_role("listitem")).to_have_count(1)
        expect(section.get_by_role("listitem")).to_contain_text(name)
    different = _section(page, "Different values")
    expect(different.get_by_role("link", name=f"PAYMENT_KEY in {there} v1")).to_have_attribute(
        "href", re.compile(rf"^#/w/{there}/secret/")
    )

    page.get_by_label("Filter by name").fill("payment")
    expect(_section(page, "Different values").get_by_role("heading")).to_have_text("Different values 1")
    expect(_section(page, "Same values").get_by_role("heading")).to_have_text("Same values 0 of 1")
    expect(_section(page, "Same values").get_by_text("none")).to_be_visible()
    page.get_by_label("Filter by name").fill("")
    expect(_section(page, "Same values").get_by_role("heading")).to_have_text("Same values 1")

    console.screenshot("drift")
    console.check_accessibility("the drift screen")

    content = page.content()
    assert not [key for key, value in values.items() if value in content]
    assert not [body for body in bodies if "secretValue" in body], "drift sent a value read"
    assert any("secretDigests" in body for body in bodies)
    for workspace_id in (here, there):
        assert api.audit(workspace_id, "ACCESSED") == [], f"drift read a value of {workspace_id}"
        compared = {event["details"]["name"] for event in api.audit(workspace_id, "COMPARED")}
        assert compared, f"the digests of {workspace_id} were not recorded as compared"


def test_drift_says_which_side_is_forbidden(console: Console, api: Api) -> None:
    readable, listable = api.workspace("drift-readable"), api.workspace("drift-listable")
    api.secret(readable, "SOME_KEY", "drift-forbidden-value-61a0")
    api.secret(listable, "SOME_KEY", "drift-forbidden-value-61a0")
    _, token = api.principal_with_token(
        "drift half reader",
        [{"workspaceId": readable, "role": "READER"}, {"workspaceId": listable, "role": "VIEWER"}],
    )
    console.sign_in(token)
    console.go(readable, "drift")
    page = console.page
    page.get_by_label("Compare with").select_option(listable)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not allowed", timeout=WAIT_MS)
    expect(alert).to_contain_text(f"comparing the values of {listable}")
    expect(page.get_by_text("Drift needs a READER role")).to_be_visible()
    expect(page.get_by_role("region", name=re.compile("^Only in"))).to_have_count(0)
    console.check_accessibility("the drift screen with one side forbidden")
