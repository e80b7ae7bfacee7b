"""Names for numbers: IP protocols, ethertypes, and service ports (from /etc/services)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from socket import AF_INET6, inet_ntoa, inet_ntop

from tuimon.capture.decode import V6

# IP protocol numbers under the names admins know (the netbase names for 58 and 41 are
# "ipv6-icmp" and "ipv6"; these read better in a table).
IP_PROTOCOLS = {
    0: "hopopt", 1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 27: "rdp", 33: "dccp",
    41: "ipv6-in-ip", 43: "ipv6-route", 44: "ipv6-frag", 46: "rsvp", 47: "gre", 50: "esp",
    51: "ah", 58: "icmpv6", 59: "ipv6-nonxt", 60: "ipv6-opts", 88: "eigrp", 89: "ospf",
    97: "etherip", 103: "pim", 108: "ipcomp", 112: "vrrp", 115: "l2tp", 132: "sctp",
    136: "udplite", 137: "mpls-in-ip",
}

ETHERTYPES = {
    0x0806: "arp", 0x8035: "rarp", 0x88CC: "lldp", 0x888E: "eapol", 0x8863: "pppoe-discovery",
    0x88F7: "ptp", 0x8809: "slow-protocols", 0x893A: "ieee1905", 0x22F0: "avtp",
    0x9000: "loopback", 0x88E5: "macsec", 0x8914: "fcoe-init", 0x8906: "fcoe",
}


def _read_table(path: str, want_protocol: bool) -> dict:
    table: dict = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) < 2:
                    continue
                if want_protocol:
                    if fields[1].isdigit():
                        table.setdefault(int(fields[1]), fields[0].lower())
                else:
                    port, _, proto = fields[1].partition("/")
                    if port.isdigit() and proto in ("tcp", "udp"):
                        table.setdefault((int(port), proto), fields[0].lower())
    except OSError:
        pass
    return table


class Names:
    """Looks names up; the system databases are read once."""

    def __init__(self, services_path: str = "/etc/services", protocols_path: str = "/etc/protocols"):
        self.services = _read_table(services_path, want_protocol=False)
        self._protocols = _read_table(protocols_path, want_protocol=True)
        self.apps: set[str] = set()  # application protocols the dissector has named so far

    def ip_protocol(self, number: int) -> str:
        name = IP_PROTOCOLS.get(number) or self._protocols.get(number)
        return name or f"ip-proto-{number}"

    def ip_protocol_numbers(self) -> dict[str, int]:
        """IP protocol name -> number, for every name this machine's database knows."""
        return {name: number for number, name in self._protocols.items()}

    def service(self, proto: int, sport, dport) -> str | None:
        """The service a TCP/UDP conversation is for: the lower of its ports that has a name."""
        transport = "tcp" if proto == 6 else "udp" if proto == 17 else None
        if transport is None or sport is None:
            return None
        services = self.services
        for port in sorted((sport, dport)):
            name = services.get((port, transport))
            if name:
                return name
        return None


# Port guesses for the application protocol, under Wireshark's names (the dissector's
# filter name: what ``frame.protocols`` says) so that a guess and a verdict read alike.
# Keyed by the /etc/services name, or by (name, transport) where the two differ.
PORT_APPS = {
    "http": "http", "www": "http", "http-alt": "http", "webcache": "http",
    "https": "tls", ("https", "udp"): "quic", "domain": "dns", "domain-s": "tls",
    "ssh": "ssh", "telnet": "telnet", "ftp": "ftp", "ftp-data": "ftp-data", "smtp": "smtp",
    "submission": "smtp", "submissions": "tls", "imap2": "imap", "imap": "imap", "imaps": "tls",
    "pop3": "pop", "pop3s": "tls", "ntp": "ntp", "snmp": "snmp", "snmp-trap": "snmp",
    "bootps": "dhcp", "bootpc": "dhcp", "tftp": "tftp", "ldap": "ldap", "ldaps": "tls",
    "microsoft-ds": "smb", "netbios-ns": "nbns", "netbios-dgm": "browser",
    "netbios-ssn": "nbss", "ms-wbt-server": "rdp", "sip": "sip", "sip-tls": "tls",
    "rtsp": "rtsp", "mdns": "mdns", "syslog": "syslog", "kerberos": "kerberos",
    "openvpn": "openvpn", "isakmp": "isakmp", "ipsec-nat-t": "udpencap", "mysql": "mysql",
    "postgresql": "pgsql", "xmpp-client": "xmpp", "xmpp-server": "xmpp", "bgp": "bgp",
    "l2tp": "l2tp", "radius": "radius", "radius-acct": "radius", "ircd": "irc",
    "nfs": "nfs", "sunrpc": "portmap", "redis": "resp", "mqtt": "mqtt", "socks": "socks",
    "epmap": "dcerpc", "ms-sql-s": "tds", "vnc": "vnc", "x11": "x11", "git": "git",
}


@lru_cache(maxsize=4096)
def port_app(service: str | None, proto: int) -> str | None:
    """The application protocol a service port suggests, under Wireshark's name."""
    if not service:
        return None
    return (PORT_APPS.get((service, "udp" if proto == 17 else "tcp"))
            or PORT_APPS.get(service) or service)


def ethertype_name(etype: int) -> str:
    if etype < 0:
        return "other"
    return ETHERTYPES.get(etype) or f"ethertype-0x{etype:04x}"


# The engine's one synthetic host: the hosts that left a full hosts table, added up
# (tuimon.core.engine, ``max_hosts``). No address int is negative.
OTHER_HOSTS = -1
OTHER_HOSTS_TEXT = "(other hosts)"


@lru_cache(maxsize=1 << 16)
def address_text(addr: int) -> str:
    """Canonical text of an address int from the decoder (IPv6 compressed);
    :data:`OTHER_HOSTS` is ``(other hosts)``."""
    if addr >= V6:
        a = addr ^ V6
        high = a >> 32
        if high == 0 or high == 0xFFFF or a >> 128:  # inet_ntop writes embedded IPv4 dotted
            return str(ipaddress.IPv6Address(a))
        return inet_ntop(AF_INET6, a.to_bytes(16, "big"))  # ipaddress's text, 5x faster
    if 0 <= addr < 1 << 32:
        return inet_ntoa(addr.to_bytes(4, "big"))  # what ipaddress writes, 4x faster
    if addr == OTHER_HOSTS:
        return OTHER_HOSTS_TEXT
    return str(ipaddress.IPv4Address(addr))  # (its error for what is no address)


def parse_address(text: str) -> int:
    """The inverse of :func:`address_text`."""
    ip = ipaddress.ip_address(text)
    return int(ip) | V6 if ip.version == 6 else int(ip)
