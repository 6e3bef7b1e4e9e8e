"""XML namespaces of the protocols and YANG modules mso speaks (facts from the RFCs/drafts)."""

NETCONF_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
NOTIFICATION = "urn:ietf:params:xml:ns:netconf:notification:1.0"
NETCONF_MONITORING = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
YANG_LIBRARY = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
DATASTORES = "urn:ietf:params:xml:ns:yang:ietf-datastores"
NMDA = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda"
SUBSCRIBED_NOTIFICATIONS = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YANG_PUSH = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
YANG_PATCH = "urn:ietf:params:xml:ns:yang:ietf-yang-patch"
MSO = "urn:ietf:params:xml:ns:yang:ietf-multiple-stream-originators"
INTERFACES = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
HARDWARE = "urn:ietf:params:xml:ns:yang:ietf-hardware"
IANA_HARDWARE = "urn:ietf:params:xml:ns:yang:iana-hardware"
IANA_IF_TYPE = "urn:ietf:params:xml:ns:yang:iana-if-type"
NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
UDP_NOTIF_TRANSPORT = "urn:ietf:params:xml:ns:yang:ietf-udp-notif-transport"  # defines encode-cbor
SUBSCRIBED_NOTIF_RECEIVERS = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notif-receivers"
DISTRIBUTED_NOTIF = "urn:ietf:params:xml:ns:yang:ietf-distributed-notif"
NOTIF_ENVELOPE = "urn:ietf:params:xml:ns:yang:ietf-yp-notification"
NETCONF_NOTIFICATIONS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"  # RFC 6470
DISTRIBUTED_EXPORT = "urn:mso:yang:mso-distributed-export"  # mso's own module
NRM = "urn:mso:yang:mso-3gpp-nrm"  # mso's 3GPP-style root (SubNetwork)
MESSAGE_BUS = "urn:mso:yang:mso-3gpp-message-bus"
LOGGING = "urn:mso:yang:mso-3gpp-logging"
NETCONF_SERVER = "urn:mso:yang:mso-netconf-server"  # the Master's own netconf-state counters

BASE_1_0 = "urn:ietf:params:netconf:base:1.0"
BASE_1_1 = "urn:ietf:params:netconf:base:1.1"


def qn(namespace: str, name: str) -> str:
    """Clark notation ``{namespace}name`` as lxml uses it."""
    return f"{{{namespace}}}{name}"
