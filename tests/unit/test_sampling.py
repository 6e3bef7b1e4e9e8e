"""Which top-level nodes an XPath filter can select: only those are sampled, so a filter on one
interface does not rebuild the whole operational datastore every period."""

from __future__ import annotations

import pytest

from mso.namespaces import HARDWARE, INTERFACES, qn
from mso.sampling import EVERYTHING, selection_of, xpath_top_level
from mso.subscription_model import FilterSpec

NS = {"if": INTERFACES, "hw": HARDWARE}
IF_TOP, HW_TOP = qn(INTERFACES, "interfaces"), qn(HARDWARE, "hardware")


@pytest.mark.parametrize(("expression", "tops"), [
    ("/if:interfaces/if:interface[if:name='1/0/2']", {IF_TOP}),
    ("/if:interfaces/if:interface[if:name='a|b' or if:name='2/0/2']/if:statistics/if:in-octets", {IF_TOP}),
    ("/if:interfaces | /hw:hardware/hw:component", {IF_TOP, HW_TOP}),
    ("/if:interfaces/if:interface[if:statistics/if:in-octets > 5]", {IF_TOP}),
    (" / if:interfaces [1]", {IF_TOP}),
])
def test_absolute_paths_name_their_top_level_nodes(expression: str, tops: set[str]) -> None:
    assert xpath_top_level(expression, NS) == tops


@pytest.mark.parametrize("expression", [
    "//if:name", "/*", "/if:interfaces/..", "/if:interfaces/ancestor::*", "count(/if:interfaces)",
    "/if:interfaces[count(/hw:hardware/hw:component) > 1]", "/if:interfaces/if:interface[if:name = /hw:x]",
    "if:interfaces", "/x:unbound",
])
def test_anything_that_can_reach_other_top_level_nodes_means_everything(expression: str) -> None:
    assert xpath_top_level(expression, NS) is None


def test_a_selection_from_an_xpath_spec_carries_its_tops() -> None:
    spec = FilterSpec("xpath", xpath="/if:interfaces/if:interface", namespaces=(("if", INTERFACES),))

    assert selection_of(spec).tags == {IF_TOP}
    assert selection_of(None) is EVERYTHING
