"""Data collection coordination (TS 23.288 §5A.2/§5A.3): which selectors contain or join which,
and the Master's decisions for polling jobs that ask for data (attach, widen, create, narrow,
end), on configurations as running holds them."""

from __future__ import annotations

import pytest
from lxml import etree

from mso.bus_instructions import DataSelection, SelectionStep, SelectionTest
from mso.namespaces import INTERFACES, NETCONF_BASE, qn
from mso.subscription_model import FilterSpec
from server.nrm import selectors
from server.nrm.coordination import (ALREADY_COLLECTED, NOT_COLLECTED, PARTLY_COVERED, Coordination, coordinate, plan,
                                     served_topic, system_jobs)
from server.nrm.message_bus_config import BusConfigError, check, read_bus_config
from tests.bus_support import bus_edit, data_polling_job, polling_job, reporting_job

IF = {"if": INTERFACES}
STATS = "/if:interfaces/if:interface[if:name='{}']/if:statistics/if:in-octets"
KEYS = {(qn(INTERFACES, "interfaces"), qn(INTERFACES, "interface")): (qn(INTERFACES, "name"),)}  # as the schema's


def selector(xpath: str, namespaces: dict[str, str] | None = None) -> selectors.Selector:
    return selectors.read(FilterSpec("xpath", xpath=xpath, namespaces=tuple(sorted((namespaces or IF).items()))))


def running(*jobs: str) -> etree._Element:
    config = etree.fromstring(bus_edit("nats://127.0.0.1:4222", *jobs)).find(f"{{{NETCONF_BASE}}}config")
    data = etree.Element(f"{{{NETCONF_BASE}}}data")
    data.extend(config)
    return data


def asking(job_id: str, port: str, period_cs: int = 100) -> str:
    return data_polling_job(job_id, job_id, f"{job_id}-secret", STATS.format(port), period_cs)


# --- selectors ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("outer", "inner", "expected"), [
    ("/if:interfaces", STATS.format("1/0/1"), True),  # a subtree contains what is below it
    ("/if:interfaces/if:interface[if:name='1/0/1' or if:name='1/0/2']", STATS.format("1/0/2"), True),
    (STATS.format("1/0/1"), STATS.format("1/0/1"), True),
    (STATS.format("1/0/1"), STATS.format("1/0/2"), False),
    (STATS.format("1/0/1"), "/if:interfaces/if:interface[if:name='1/0/1']", False),  # the wider is not contained
    ("/if:interfaces/if:interface", "/if:interfaces/if:interface[if:name='x'][if:type='y']", True),
    ("/if:interfaces/if:interface[if:type='y']", "/if:interfaces/if:interface[if:name='x']", False),
    ("/if:interfaces/if:interface[if:name='x' and if:type='y']", "/if:interfaces/if:interface[if:type='y'][if:name='x']",
     True),
    ("/if:interfaces/if:interface[if:name='x' or if:type='y']", "/if:interfaces/if:interface[if:name='x']", False),
])
def test_containment_is_read_from_the_structure(outer: str, inner: str, expected: bool) -> None:
    assert selectors.contains(selector(outer), selector(inner)) is expected


def test_prefixes_are_names_of_namespaces_not_names() -> None:
    other_prefix = selector("/i:interfaces/i:interface[i:name='1/0/1']", {"i": INTERFACES})
    assert selectors.contains(selector("/if:interfaces"), other_prefix)
    elsewhere = selector("/if:interfaces", {"if": "urn:example:not-interfaces"})
    assert not selectors.contains(elsewhere, other_prefix)


def test_an_opaque_selector_contains_only_its_equal_and_everything_contains_all() -> None:
    counted = "/if:interfaces/if:interface[count(if:statistics) > 0]"
    assert selectors.contains(selector(counted), selector(counted))
    assert not selectors.contains(selector(counted), selector(STATS.format("1/0/1")))
    assert not selectors.contains(selector("/if:interfaces"), selector(counted))  # never claimed
    assert selectors.contains(selectors.EVERYTHING, selector(counted))
    assert not selectors.contains(selector("/if:interfaces"), selectors.EVERYTHING)


def test_the_union_joins_the_values_of_one_key_and_nothing_else() -> None:
    joined = selectors.union(selector(STATS.format("1/0/2")), selector(STATS.format("1/0/1")))
    assert joined is not None and joined.spec is not None
    assert joined.spec.xpath == ("/if:interfaces/if:interface[if:name='1/0/1' or if:name='1/0/2']"
                                 "/if:statistics/if:in-octets")
    assert joined.spec.namespaces == (("if", INTERFACES),)
    assert selectors.contains(joined, selector(STATS.format("1/0/1")))
    assert selectors.contains(selectors.read(joined.spec), joined)  # the text reads back as the same selector
    assert selectors.union(selector("/if:interfaces"), selector(STATS.format("1/0/1"))) == selector("/if:interfaces")
    other_leaf = "/if:interfaces/if:interface[if:name='1/0/2']/if:statistics/if:out-octets"
    assert selectors.union(selector(STATS.format("1/0/1")), selector(other_leaf)) is None
    two_keys = "/if:interfaces/if:interface[if:name='1/0/2'][if:type='x']/if:statistics/if:in-octets"
    assert selectors.union(selector(STATS.format("1/0/1")), selector(two_keys)) is None


@pytest.mark.parametrize(("xpath", "expected"), [
    (STATS.format("1/0/1"), True),  # a key above the last step: every entry in a record carries it
    ("/if:interfaces/if:interface[if:name='1/0/1' or if:name='1/0/2']", True),
    ("/if:interfaces/if:interface[if:name='1/0/1'][if:type='x']", True),  # the last step's entries are whole
    ("/if:interfaces/if:interface[if:name='x' and if:enabled='true']/if:statistics", False),  # not a key, above
    ("/if:interfaces[if:interface='x']/if:interface", False),  # a container has no keys
    ("/if:interfaces/if:interface[if:type='ianaift:ethernetCsmacd']", False),  # prefix:name is module:name in JSON
    ("/if:interfaces/if:interface[count(if:statistics) > 0]", False),  # opaque
    ("/if:interfaces", True),
])
def test_a_selector_is_cuttable_when_every_record_it_is_cut_from_can_answer_its_tests(xpath: str,
                                                                                     expected: bool) -> None:
    assert selectors.cuttable(selector(xpath), KEYS) is expected


def test_a_selection_is_the_selectors_steps_by_namespace_with_their_tests() -> None:
    read = selector("/if:interfaces/if:interface[if:name='1/0/2' or if:name='1/0/1']/if:statistics")
    assert selectors.selection(read) == DataSelection(
        "/if:interfaces/if:interface[if:name='1/0/2' or if:name='1/0/1']/if:statistics",
        (SelectionStep(INTERFACES, "interfaces"),
         SelectionStep(INTERFACES, "interface", (SelectionTest(INTERFACES, "name", frozenset({"1/0/1", "1/0/2"})),)),
         SelectionStep(INTERFACES, "statistics")))
    with pytest.raises(ValueError, match="recognised"):
        selectors.selection(selector("/if:interfaces/if:interface[count(if:statistics) > 0]"))


# --- decisions -----------------------------------------------------------------------------------

def decide(*jobs: str, previous: Coordination = Coordination()) -> tuple[Coordination, dict]:
    config = read_bus_config(running(*jobs))
    check(config)
    decided = coordinate(previous, config, KEYS)
    assert coordinate(decided, config, KEYS) == decided  # deciding again changes nothing
    return decided, {job.id: (job.selector.xpath if job.selector else None, job.period_cs)
                     for job in system_jobs(decided, config, KEYS)}


def statuses(coordination: Coordination) -> dict[str, tuple[str, str]]:
    return {job: (a.job, a.status) for job, a in coordination.assignments.items()}


def test_a_request_an_operators_job_covers_is_attached_to_it_and_nothing_is_created() -> None:
    operator = reporting_job("ports", "ports", "/if:interfaces/if:interface[if:name='1/0/1' or if:name='2/0/1']",
                             period_cs=200)
    decided, created = decide(operator, asking("a", "1/0/1", period_cs=400))
    assert statuses(decided) == {"a": ("ports", ALREADY_COLLECTED)} and created == {}
    config = read_bus_config(running(operator, asking("a", "1/0/1", period_cs=400)))
    assert served_topic(decided, config, config.polling[0]) == "ports"


def test_a_period_that_is_not_a_multiple_of_the_collections_is_not_covered() -> None:
    operator = reporting_job("ports", "ports", "/if:interfaces", period_cs=200)
    decided, created = decide(operator, asking("a", "1/0/1", period_cs=300))
    assert statuses(decided) == {"a": ("sys-1", NOT_COLLECTED)}
    assert created == {"sys-1": (STATS.format("1/0/1"), 300)}


def test_create_then_widen_then_attach_then_narrow_then_end() -> None:
    first, created = decide(asking("a", "1/0/1"))
    assert statuses(first) == {"a": ("sys-1", NOT_COLLECTED)}
    assert created == {"sys-1": (STATS.format("1/0/1"), 100)}

    second, created = decide(asking("a", "1/0/1"), asking("b", "1/0/2", period_cs=50), previous=first)
    assert statuses(second) == {"a": ("sys-1", NOT_COLLECTED), "b": ("sys-1", PARTLY_COVERED)}
    both = "/if:interfaces/if:interface[if:name='1/0/1' or if:name='1/0/2']/if:statistics/if:in-octets"
    assert created == {"sys-1": (both, 50)}  # widened, and as often as the more frequent request asks

    third, created = decide(asking("a", "1/0/1"), asking("b", "1/0/2", period_cs=50), asking("c", "1/0/2", 200),
                            previous=second)
    assert statuses(third)["c"] == ("sys-1", ALREADY_COLLECTED) and created == {"sys-1": (both, 50)}

    fourth, created = decide(asking("a", "1/0/1"), asking("c", "1/0/2", 200), previous=third)
    assert created == {"sys-1": (both, 100)}  # b gone: collected as often as a and c need, no more
    fifth, created = decide(asking("a", "1/0/1"), previous=fourth)
    assert created == {"sys-1": (STATS.format("1/0/1"), 100)}  # narrowed
    ended, created = decide(polling_job("p", "p", "p-secret", ["t"]), reporting_job("t", "t", "/if:interfaces"),
                            previous=fifth)
    assert created == {} and ended.assignments == {}
    again, created = decide(asking("a", "1/0/1"), previous=ended)
    assert created == {"sys-2": (STATS.format("1/0/1"), 100)}  # a new collection, never a reused name


def test_a_request_that_fitted_only_through_one_that_left_is_decided_again() -> None:
    first, _ = decide(asking("a", "1/0/1", 200), asking("b", "1/0/1", 100), asking("c", "1/0/1", 300))
    assert {job: a.job for job, a in first.assignments.items()} == {"a": "sys-1", "b": "sys-1", "c": "sys-1"}
    second, created = decide(asking("a", "1/0/1", 200), asking("c", "1/0/1", 300), previous=first)
    assert statuses(second) == {"a": ("sys-1", NOT_COLLECTED), "c": ("sys-2", NOT_COLLECTED)}
    assert created == {"sys-1": (STATS.format("1/0/1"), 200), "sys-2": (STATS.format("1/0/1"), 300)}


def test_a_request_that_changes_or_loses_its_operators_job_is_decided_again() -> None:
    operator = reporting_job("ports", "ports", STATS.format("1/0/1"))
    first, _ = decide(operator, asking("a", "1/0/1"))
    assert statuses(first) == {"a": ("ports", ALREADY_COLLECTED)}
    narrowed = reporting_job("ports", "ports", STATS.format("1/0/9"))
    second, created = decide(narrowed, asking("a", "1/0/1"), previous=first)
    assert statuses(second) == {"a": ("sys-1", NOT_COLLECTED)} and created == {"sys-1": (STATS.format("1/0/1"), 100)}
    third, created = decide(narrowed, asking("a", "1/0/2"), previous=second)
    assert statuses(third) == {"a": ("sys-2", NOT_COLLECTED)}  # another request, another decision


def test_an_operators_job_is_never_widened() -> None:
    operator = reporting_job("ports", "ports", STATS.format("1/0/1"))
    decided, created = decide(operator, asking("a", "1/0/2"))
    assert statuses(decided) == {"a": ("sys-1", NOT_COLLECTED)} and list(created) == ["sys-1"]


def test_decisions_survive_being_written_and_read() -> None:
    decided, _ = decide(asking("a", "1/0/1"), asking("b", "1/0/2"))
    assert Coordination.from_json(decided.to_json()) == decided


NOT_CUTTABLE = "/if:interfaces/if:interface[if:name='{}' and if:enabled='true']/if:statistics"


def test_a_request_a_worker_cannot_cut_exactly_keeps_a_collection_of_exactly_its_own() -> None:
    """Never attached to a wider collection (its share could not be cut from it), nor to an
    operator's job even an equal one (the operator may change it under the request)."""
    uncuttable = data_polling_job("u", "u", "u-secret", NOT_CUTTABLE.format("1/0/1"), 100)
    wide = reporting_job("ports", "ports", "/if:interfaces/if:interface[if:name='1/0/1']")
    equal = reporting_job("same", "same", NOT_CUTTABLE.format("1/0/1"))
    decided, created = decide(wide, equal, uncuttable)
    assert statuses(decided) == {"u": ("sys-1", NOT_COLLECTED)}
    assert created == {"sys-1": (NOT_CUTTABLE.format("1/0/1"), 100)}
    # a wider request does not widen it, nor it another's
    decided, created = decide(uncuttable, data_polling_job("w", "w", "w-secret", "/if:interfaces", 100),
                              previous=decided)
    assert statuses(decided) == {"u": ("sys-1", NOT_COLLECTED), "w": ("sys-2", NOT_COLLECTED)}
    decided, created = decide(data_polling_job("w", "w", "w-secret", "/if:interfaces", 100), uncuttable)
    assert statuses(decided) == {"w": ("sys-1", NOT_COLLECTED), "u": ("sys-2", NOT_COLLECTED)}
    # the same selector shares it, uncut; one it contains has the same test above its last step, so is
    # not cuttable either, and not the same: a collection of its own
    twin = data_polling_job("t", "t", "t-secret", NOT_CUTTABLE.format("1/0/1"), 200)
    inside = data_polling_job("i", "i", "i-secret", NOT_CUTTABLE.format("1/0/1") + "/if:in-octets", 100)
    decided, created = decide(uncuttable, twin, inside)
    assert {job: a.job for job, a in decided.assignments.items()} == {"u": "sys-1", "t": "sys-1", "i": "sys-2"}
    config = read_bus_config(running(uncuttable, twin))
    bus_plan = plan(decided, config, KEYS)
    assert [bus_plan.instructions(job).selection for job in config.polling] == [None, None]


def test_a_request_served_by_a_wider_collection_is_cut_to_its_own_selector_on_its_own_subject() -> None:
    operator = reporting_job("ports", "ports", "/if:interfaces/if:interface[if:name='1/0/1' or if:name='1/0/2']")
    config = read_bus_config(running(operator, asking("a", "1/0/1"), polling_job("p", "p", "p-secret", ["ports"])))
    bus_plan = plan(Coordination(), config, KEYS)
    asked, named = config.polling
    assert bus_plan.shaped(asked) and not bus_plan.shaped(named)  # the named topic is read as it is
    instructions = bus_plan.instructions(asked)
    assert instructions.topic == "ports"
    assert instructions.selection == selectors.selection(selector(STATS.format("1/0/1")))
    assert bus_plan.instructions(named) is None
    # the cut is the request's own whatever the collection: widening it changes nothing the worker is told
    widened = plan(Coordination(), read_bus_config(running(asking("a", "1/0/1"), asking("b", "1/0/2"))), KEYS)
    alone = plan(Coordination(), read_bus_config(running(asking("a", "1/0/1"))), KEYS)
    assert widened.instructions(widened.config.polling[0]) == alone.instructions(alone.config.polling[0])


# --- what the configuration may say ------------------------------------------------------------------

@pytest.mark.parametrize(("jobs", "path_end", "words"), [
    ((polling_job("p", "c", "secret-1", []),), "[mbus:id='p']/mbus:attributes", "names topics or asks for data"),
    ((reporting_job("t", "t", "/if:interfaces"),
      data_polling_job("p", "c", "secret-1", STATS.format("1/0/1"), topics=["t"])), "/mbus:dataSelector", "not both"),
    ((reporting_job("t", "t", "/if:interfaces"), reporting_job("u", "u", "/if:interfaces"),
      polling_job("p", "c", "secret-1", ["t", "u"]).replace(
          "</attributes>", "<formatInstruct><consTrigNotif>true</consTrigNotif></formatInstruct></attributes>")),
     "/mbus:formatInstruct", "one topic"),
    ((reporting_job("sys-1", "t", "/if:interfaces"),), "[mbus:id='sys-1']", "the server creates"),
    ((reporting_job("a", "sys-1", "/if:interfaces"),), "/mbus:topic", "the server creates"),
    ((data_polling_job("p", "c", "secret-1", STATS.format("1/0/1"), instructions=(
        "<formatInstruct><reportingOptions><notifyPeriod>5</notifyPeriod><notifyPeriodInc>5</notifyPeriodInc>"
        "</reportingOptions></formatInstruct>")),), "/mbus:notifyPeriodInc", "exclude each other"),
    ((data_polling_job("p", "c", "secret-1", STATS.format("1/0/1"), instructions=(
        "<formatInstruct><reportingOptions><minClubbedNotif>5</minClubbedNotif><maxClubbedNotif>2</maxClubbedNotif>"
        "</reportingOptions></formatInstruct>")),), "/mbus:maxClubbedNotif", "greater than"),
    ((data_polling_job("p", "c", "secret-1", STATS.format("1/0/1"), instructions=(
        "<formatInstruct><reportingOptions><notifyWindow><startTime>2026-12-01T03:00:00Z</startTime>"
        "<stopTime>2026-12-01T02:00:00Z</stopTime></notifyWindow></reportingOptions></formatInstruct>")),),
     "/mbus:notifyWindow/mbus:stopTime", "not after"),
    ((data_polling_job("p", "c", "secret-1", STATS.format("1/0/1"), instructions=(
        "<procInstructs><procInterval>10</procInterval><paramProcInstructs><name>interfaces/interface</name>"
        "<sumAttrs>MIN_MAX</sumAttrs></paramProcInstructs></procInstructs>")),),
     "[mbus:name='interfaces/interface']/mbus:name", "qualified by its module"),
])
def test_instructions_and_requests_that_cannot_be_followed_are_refused(jobs: tuple[str, ...], path_end: str,
                                                                      words: str) -> None:
    with pytest.raises(BusConfigError) as raised:
        check(read_bus_config(running(*jobs)))
    assert raised.value.error_tag == "invalid-value"
    assert raised.value.path.endswith(path_end) and words in raised.value.message
