import ContractKit
import Glibc
public import Hummingbird
public import NIOCore

/// A request context with the peer's address (a reverse proxy's, when there is one): what the
/// console and the verification service need for their limits per client.
public struct PeerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's address.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Who is asking, for a limit per client of a web service: the address a reverse proxy wrote in
/// its header, else the peer's, keyed so that one client holds one key (``key(_:)``). The
/// console's sign-in and the verification service's rate limit both count by it.
public enum ClientAddress {
    /// The key of the client of a request: the last entry of `forwarded` (the value of the
    /// proxy's header when one is configured: the entry the proxy wrote, not one the client sent
    /// ahead of it) when it is an IP address (a port or brackets around it are dropped, so that
    /// a client is not a new one at each connection); else `peer`; else `unknown`.
    public static func key(peer: String?, forwarded: String?) -> String {
        if let forwarded, let last = forwarded.split(separator: ",", omittingEmptySubsequences: false).last,
            let address = ipAddress(String(last.prefix(80)))
        {
            return key(address)
        }
        return key(peer ?? "unknown")
    }

    /// `text` as an IP address: trimmed, without `[…]` and a port (`[::1]:443`, `1.2.3.4:5678`);
    /// nil when it is none.
    static func ipAddress(_ text: String) -> String? {
        var address = text.trimmingSpaces()
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            address = String(address[address.index(after: address.startIndex)..<close])
        } else if address.filter({ $0 == ":" }).count == 1, let colon = address.firstIndex(of: ":") {
            address = String(address[..<colon])
        }
        var buffer = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET, address, &buffer) == 1 || inet_pton(AF_INET6, address, &buffer) == 1 else { return nil }
        return address
    }

    /// An IPv4 address as it is; an IPv6 address as its first 64 bits; an IPv4 address mapped
    /// into IPv6 (`::ffff:a.b.c.d`, how a socket listening on `::` sees an IPv4 client) as the
    /// IPv4 address. Its first 64 bits are zero for every IPv4 client, so keyed as IPv6 they
    /// all shared one key, which one client could use up for everyone.
    public static func key(_ address: String) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard address.contains(":"), inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return bytes.suffix(4).map(String.init).joined(separator: ".")
        }
        return Hex.lowercase(bytes.prefix(8)) + "::/64"
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
