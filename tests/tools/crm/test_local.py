"""The embedded CRM: phone matching on normalised numbers, in a real SQLite file and in a real PostgreSQL."""

import json

import pytest

from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.base import CallNote
from voicebot.tools.crm.local import LocalCRM


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    """Where the CRM's tables are: its own SQLite file, or the database of store.url."""
    if request.param == "sqlite":
        return tmp_path / "crm.sqlite3"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
async def crm(database):
    crm = LocalCRM(database, "http://bot.example")
    crm.seed_demo()
    yield crm
    await crm.close()


async def test_seeding_twice_changes_nothing(crm, database):
    crm.seed_demo()  # two nodes starting at once on one database both seed it
    again = LocalCRM(database)
    again.seed_demo()
    assert [c.id for c, _ in crm.list_customers()] == [c.id for c, _ in again.list_customers()]
    assert sum(len(cases) for _, cases in crm.list_customers()) == 4
    await again.close()


async def test_finds_demo_customer_by_any_format_of_their_number(crm):
    for raw in ["+14155552671", "4155552671", "(415) 555-2671"]:
        match = await crm.find_customer(normalize_ani(raw))
        assert match is not None and match.customer.name == "Jane Doe" and not match.ambiguous


async def test_latest_case_is_the_newest_open_one(crm):
    match = await crm.find_customer(normalize_ani("+14155552671"))
    case = await crm.latest_case(match.customer)
    assert case.number == "CAS-01234" and case.is_open


async def test_customer_with_only_closed_cases_has_no_latest_case(crm):
    match = await crm.find_customer(normalize_ani("+442071838750"))
    assert match.customer.first_name == "Priya"
    assert await crm.latest_case(match.customer) is None


async def test_unknown_and_withheld_numbers_find_nobody(crm):
    assert await crm.find_customer(normalize_ani("+12125550123")) is None
    assert await crm.find_customer(normalize_ani("anonymous")) is None


async def test_shared_numbers_pick_the_oldest_customer_and_say_so(crm):
    crm.add_customer(name="Jane's Flatmate", phones=["+1 (415) 555-2671"], id="cust-zz")
    match = await crm.find_customer(normalize_ani("+14155552671"))
    assert match.customer.id == "cust-jane" and match.candidates == 2 and match.ambiguous


async def test_notes_are_stored_against_the_case(crm):
    match = await crm.find_customer(normalize_ani("+14155552671"))
    case = await crm.latest_case(match.customer)
    await crm.add_note(
        CallNote(call_id="CA1", subject="s", body="caller: hi", customer_id=match.customer.id, case_id=case.id)
    )
    assert [n["body"] for n in crm.notes(case.id)] == ["caller: hi"]


def test_add_case_needs_an_existing_customer(crm):
    with pytest.raises(LookupError):
        crm.add_case(phone="+12125550123", number="CAS-9", title="x")


def test_add_customer_rejects_non_numbers(crm):
    with pytest.raises(ValueError):
        crm.add_customer(name="X", phones=["not a phone"])


def test_import_json_and_csv(tmp_path, database):
    crm = LocalCRM(database)
    data = tmp_path / "c.json"
    data.write_text(
        json.dumps(
            {
                "customers": [
                    {
                        "name": "Ann Lee",
                        "phones": ["+16175550100"],
                        "cases": [{"number": "T-1", "title": "Broken", "status": "Open"}],
                    }
                ]
            }
        )
    )
    assert crm.import_file(data) == (1, 1)
    csv = tmp_path / "c.csv"
    csv.write_text(
        "phone,name,email,case_number,case_title,case_status\n"
        "+16175550101,Bo Chen,bo@example.com,T-2,Late,New\n+16175550101,Bo Chen,,T-3,Lost,Closed\n"
    )
    assert crm.import_file(csv) == (1, 2)
    names = {c.name: sorted(x.number for x in cases) for c, cases in crm.list_customers()}
    assert names == {"Ann Lee": ["T-1"], "Bo Chen": ["T-2", "T-3"]}


def test_urls_point_at_the_embedded_pages(crm):
    caller = normalize_ani("+12125550123")
    assert crm.new_case_url(None, caller) == "http://bot.example/crm/cases/new?phone=%2B12125550123"
