"""Who is connecting: the user that owns the client end of a loopback TCP connection.

On a shared host (The Littlest JupyterHub runs every learner's server as its own uid on one
machine, one loopback) any user could reach any sandbox. A sandbox therefore admits a
connection only from the user the kernel runs as. On Linux the kernel lists every TCP socket
of this network namespace in ``/proc/net/tcp`` (IPv4) and ``/proc/net/tcp6`` (IPv6), with the
uid that created it: the client's socket is the row whose local address is the peer address
the server sees and whose remote address is the server's own. Nothing is added to requests,
so httpx, curl, sqlmap, Burp and the learner's browser (directly, or through
jupyter-server-proxy, which runs as the learner) work unchanged.

The same row is asked of the kernel directly first, by its four addresses, over the
``NETLINK_SOCK_DIAG`` socket that ``ss`` uses (about 0.1 ms, open to every user): reading
``/proc/net/tcp`` walks the kernel's whole connection hash table, 7–13 ms per read measured
here (262,144 buckets), whatever the number of connections. The table is the fallback.

Where there is no such table (macOS, Windows, a sandboxed kernel that hides it) every
connection is admitted: the sandbox still listens on 127.0.0.1 only.

Escape hatches for instructors who proxy on purpose: ``LABKIT_ALLOW_UIDS=1001,alice`` (more
users, by uid or name) and ``LABKIT_ALLOW_ANY_USER=1`` (no check at all).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ALLOW_ANY_ENV",
    "ALLOW_UIDS_ENV",
    "allowed",
    "allowed_uids",
    "describe_access",
    "find_socket_uid",
    "peer_uid",
]

ALLOW_UIDS_ENV = "LABKIT_ALLOW_UIDS"
ALLOW_ANY_ENV = "LABKIT_ALLOW_ANY_USER"
PROC_NET = Path("/proc/net")
_TIME_WAIT = "06"  # a closed connection's leftover: its uid column is always 0

Address = tuple[str, int] | tuple[str, int, int, int]  # what getpeername/getsockname return


def _hex4(ip: ipaddress.IPv4Address) -> str:
    """The kernel prints the raw network-order word as a host-order integer."""
    return f"{struct.unpack('=I', ip.packed)[0]:08X}"


def _hex6(ip: ipaddress.IPv6Address) -> str:
    return "".join(f"{word:08X}" for word in struct.unpack("=4I", ip.packed))


def _forms(host: str) -> list[tuple[str, str]]:
    """(table, hex address) pairs under which ``host`` may be listed.

    An IPv4 address is in ``tcp``, or in ``tcp6`` IPv4-mapped (a dual-stack socket);
    ``::ffff:a.b.c.d`` is the same as ``a.b.c.d``.
    """
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        mapped = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + ip.packed)
        return [("tcp", _hex4(ip)), ("tcp6", _hex6(mapped))]
    return [("tcp6", _hex6(ip))]


def find_socket_uid(table: str, local: str, remote: str) -> int | None:
    """The uid column of the row ``local -> remote`` of a ``/proc/net/tcp{,6}`` text.

    ``local``/``remote`` are as the table prints them (``0100007F:1F90``); TIME_WAIT rows
    (no owner left) are skipped. None when no live row matches.
    """
    needle = f": {local} {remote} "
    start = table.find(needle)
    while start != -1:
        end = table.find("\n", start)
        fields = table[start + 2 : end if end != -1 else len(table)].split()
        if len(fields) >= 7 and fields[2] != _TIME_WAIT:
            try:
                return int(fields[6])
            except ValueError:
                return None
        start = table.find(needle, start + 1)
    return None


@dataclass(frozen=True)
class _Lookup:
    client_uid: int | None  # owner of the client's socket, None if not listed
    listed: bool  # the server's own end is listed: the table describes this connection


def _proc_lookup(server: Address, client: Address, read: Callable[[str], str | None]) -> _Lookup:
    server_forms, client_forms = _forms(server[0]), _forms(client[0])
    listed = False
    for table in ("tcp", "tcp6"):
        pairs = [(s, c) for t1, s in server_forms for t2, c in client_forms if t1 == t2 == table]
        if not pairs:
            continue
        text = read(table)
        if text is None:
            continue
        for s_hex, c_hex in pairs:
            s_addr, c_addr = f"{s_hex}:{server[1]:04X}", f"{c_hex}:{client[1]:04X}"
            uid = find_socket_uid(text, c_addr, s_addr)
            if uid is not None:
                return _Lookup(uid, True)
            listed = listed or find_socket_uid(text, s_addr, c_addr) is not None
    return _Lookup(None, listed)


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF
_TCP_TIME_WAIT = 6


def _packed(host: str) -> tuple[int, bytes]:
    """(address family, 16 bytes) for ``inet_diag_sockid``; IPv4-mapped becomes IPv4."""
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    return family, ip.packed.ljust(16, b"\0")


def _diag_uid(local: Address, remote: Address) -> int | None:
    """The uid of the TCP socket ``local -> remote``, asked of the kernel by its addresses
    (``inet_diag_req_v2`` without a dump: one hash lookup). None: no such live socket.
    Raises OSError where sock_diag is unavailable."""
    family, src = _packed(local[0])
    family_remote, dst = _packed(remote[0])
    if family != family_remote:
        return None
    request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
    request += struct.pack(">HH", local[1], remote[1]) + src + dst
    request += struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    header = struct.pack("=LHHLL", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(1.0)
        nl.sendto(header + request, (0, 0))
        reply = nl.recv(8192)
    if len(reply) < 16:
        raise OSError("short sock_diag reply")
    (kind,) = struct.unpack_from("=H", reply, 4)
    if kind == _NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", reply, 16)
        if error == 0 or -error == 2:  # ENOENT: no such socket
            return None
        raise OSError(-error, os.strerror(-error))
    if len(reply) < 16 + 72:
        raise OSError("short inet_diag_msg")
    state = reply[17]
    (uid,) = struct.unpack_from("=I", reply, 16 + 64)
    return None if state == _TCP_TIME_WAIT else uid


def _diag_lookup(server: Address, client: Address) -> _Lookup | None:
    """:class:`_Lookup` through sock_diag; None where the kernel offers no sock_diag."""
    if not hasattr(socket, "AF_NETLINK"):
        return None
    try:
        uid = _diag_uid(client, server)
        if uid is not None:
            return _Lookup(uid, True)
        return _Lookup(None, _diag_uid(server, client) is not None)
    except (OSError, ValueError):
        return None


def _lookup(server: Address, client: Address) -> _Lookup:
    found = _diag_lookup(server, client)
    if found is None or (found.client_uid is None and not found.listed):
        found = _proc_lookup(server, client, _read_table)
    return found


def _read_table(name: str) -> str | None:
    try:
        return (PROC_NET / name).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def peer_uid(server_addr: Address, client_addr: Address) -> int | None:
    """The uid of the process that opened ``client_addr`` -> ``server_addr``.

    None where it cannot be told: no ``/proc/net/tcp`` (macOS, Windows), or the client's
    socket is not in this network namespace (another host).
    """
    return _lookup(server_addr, client_addr).client_uid


def allowed_uids() -> set[int]:
    """This process's uid and those named in ``LABKIT_ALLOW_UIDS`` (uids or user names)."""
    uids = {os.getuid()}
    for item in os.environ.get(ALLOW_UIDS_ENV, "").replace(" ", "").split(","):
        if item.isdigit():
            uids.add(int(item))
        elif item:
            try:
                import pwd

                uids.add(pwd.getpwnam(item).pw_uid)
            except (ImportError, KeyError):
                pass
    return uids


def _any_user() -> bool:
    return os.environ.get(ALLOW_ANY_ENV, "").strip().lower() in {"1", "true", "yes"}


def _user_name(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def describe_access() -> str:
    """One line for ``labkit serve``: who may connect, and how to let others in."""
    how = f"{ALLOW_UIDS_ENV}=uid,... or {ALLOW_ANY_ENV}=1"
    if _any_user():
        return f"any local user may connect ({ALLOW_ANY_ENV} is set)"
    if not hasattr(socket, "AF_NETLINK") and _read_table("tcp") is None:
        return "any local user may connect (this system does not say who owns a connection)"
    users = ", ".join(_user_name(uid) for uid in sorted(allowed_uids()))
    return f"only {users} may connect; other users get 403 (to allow more: {how})"


def _is_loopback(host: str) -> bool:
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def allowed(server_addr: Address | None, client_addr: Address | None) -> bool:
    """Whether the connection ``client_addr`` -> ``server_addr`` may reach a sandbox.

    Admitted: ``LABKIT_ALLOW_ANY_USER=1``; a client socket owned by :func:`allowed_uids`;
    no usable table (not Linux, the table does not list even the server's end, or it names
    another owner for the server's own end); a peer on another host (reachable only when
    ``labkit serve --host`` was given consent). Refused: another user's socket, or a loopback
    peer whose socket this namespace does not list.
    """
    if _any_user():
        return True
    if not (_is_ip_address(server_addr) and _is_ip_address(client_addr)):
        return True  # a Unix socket or an unknown transport: not a TCP neighbour
    assert server_addr is not None and client_addr is not None
    found = _lookup(server_addr, client_addr)
    if found.client_uid is not None:
        if found.client_uid in allowed_uids():
            return True
        # before refusing: does the table name *our* end's owner right? (a kernel that
        # misreports owners, e.g. as 0, must not lock the learner out of their own labs)
        ours = _lookup(client_addr, server_addr).client_uid  # the row server -> client
        return ours is not None and ours != os.getuid()
    if not found.listed:
        return True  # the table does not describe this connection: cannot tell, admit
    return not _is_loopback(client_addr[0])


def _is_ip_address(addr: object) -> bool:
    if not isinstance(addr, tuple) or len(addr) < 2 or not isinstance(addr[0], str):
        return False
    try:
        ipaddress.ip_address(addr[0].split("%", 1)[0])
    except ValueError:
        return False
    return True
