"""What a filter may cost, judged from its text: the shapes that scan all data for every node
are costly, everything else linear; the size limits hold whatever the shape."""

import pytest
from lxml import etree

from mso.filter_limits import (
    FilterLimits,
    FilterTooLarge,
    check_subscription_xpath,
    check_subtree,
    xpath_cost,
)
from mso.filters import FilterError

IF = {"if": "urn:ietf:params:xml:ns:yang:ietf-interfaces"}


@pytest.mark.parametrize("expression", [
    "//*[//*[//*[1]]]",
    "//*[count(//*) > 0]",
    "/if:interfaces/if:interface[if:name = /if:interfaces/if:interface[1]/if:name]",
    "//if:interface[following::if:interface]",
    "//if:interface[preceding::*]",
    "//*[.//*[.//*]]",  # a descendant search inside a nested predicate
    " | ".join(["//if:name"] * 17),
    "//*[(//*)]",
])
def test_shapes_that_scan_all_data_per_node_are_costly(expression):
    cost = xpath_cost(expression)
    assert cost.costly and "relative to the node tested" in cost.hint


@pytest.mark.parametrize("expression", [
    "/if:interfaces/if:interface[if:name='1/0/1']/if:statistics",
    "//if:interface[.//if:name = '1/0/1']",  # relative descendants, one predicate deep
    "//if:interface[../if:interface[if:enabled = 'true']]",
    "/if:interfaces/if:interface[following-sibling::if:interface]",
    "//if:name[contains(., '//')]",  # a literal is not a path
    "//*[ancestor::if:interfaces]",
    " | ".join(["//if:name"] * 16),
    "/if:interfaces/if:interface[count(if:name) > 0]",
    "/if:interfaces/if:interface[2 * 3 = 6]",
])
def test_paths_relative_to_the_node_tested_are_linear(expression):
    assert not xpath_cost(expression).costly


def test_size_and_nesting_are_limited_whatever_the_shape():
    limits = FilterLimits(max_xpath_length=40, max_xpath_nesting=2)
    with pytest.raises(FilterTooLarge, match="41 characters long; at most 40") as long:
        xpath_cost("/" + "a" * 40, limits)
    assert long.value.error_tag == "too-big"
    with pytest.raises(FilterTooLarge, match="nests brackets more than 2"):
        xpath_cost("/a[b[c(1)]]", limits)
    assert not xpath_cost("/a[b[c]]", limits).costly


def test_subtree_filters_are_limited_in_size_and_depth():
    limits = FilterLimits(max_subtree_nodes=5, max_subtree_depth=3)
    wide = etree.fromstring("<f><a>" + "<b/>" * 5 + "</a></f>")
    deep = etree.fromstring("<f><a><b><c><d/></c></b></a></f>")
    with pytest.raises(FilterTooLarge, match="more than 5 elements"):
        check_subtree(list(wide), limits)
    with pytest.raises(FilterTooLarge, match="more than 3 levels"):
        check_subtree(list(deep), limits)
    check_subtree(list(etree.fromstring("<f><a><b><c/></b></a><a/></f>")), limits)


def test_a_subscription_filter_must_be_linear_prefixed_and_compilable():
    check_subscription_xpath("/if:interfaces/if:interface", IF)
    for expression, words in (("//if:interface[count(//*) > 0]", "scans the whole data"),
                              ("/interfaces", "no prefix"), ("/if:interfaces[", "invalid XPath")):
        with pytest.raises(FilterError, match=words):
            check_subscription_xpath(expression, IF)
