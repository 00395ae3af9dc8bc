// The guest payload's control-flow edges as a set of (FROM, TO) pairs an LBR entry can hold: the exact-match
// detector of guest branches in host samples (docs/reference.md §9.7). An address range alone would also count
// host entries that happen to fall into the guest's identity-mapped low addresses; an exact edge match cannot.

/// The LBR entries the guest payload can produce.
public struct GuestEdgeSet: Hashable, Sendable, Codable {
    struct Pair: Hashable, Sendable { var from: UInt64; var to: UInt64 }
    private var pairs: Set<Pair> = []
    private var retSites: Set<UInt64> = []
    private var returnPoints: Set<UInt64> = []

    /// - Parameter edges: every branch, call and ret of the payload: a ret has `isRet` (its TO is whichever
    ///   call's return point it returns to), a call its `returnPoint`.
    public init(edges: [(from: UInt64, to: UInt64, returnPoint: UInt64, isRet: Bool)]) {
        for e in edges {
            if e.isRet { retSites.insert(e.from) } else { pairs.insert(Pair(from: e.from, to: e.to)) }
            if e.returnPoint != 0 { returnPoints.insert(e.returnPoint) }
        }
    }

    /// Whether an LBR entry FROM -> TO is one of the payload's edges.
    public func contains(from: UInt64, to: UInt64) -> Bool {
        pairs.contains(Pair(from: from, to: to)) || (retSites.contains(from) && returnPoints.contains(to))
    }

    /// Number of distinct edges (branches and calls; rets counted once per site).
    public var count: Int { pairs.count + retSites.count }
}

extension GuestEdgeSet {
    private enum CodingKeys: String, CodingKey { case edges, retSites, returnPoints }

    /// Encoded as sorted lists (a capture's session carries the table the detector matched against):
    /// `edges` `[[from, to]]`, `retSites` and `returnPoints` `[address]`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(pairs.sorted { ($0.from, $0.to) < ($1.from, $1.to) }.map { [$0.from, $0.to] }, forKey: .edges)
        try c.encode(retSites.sorted(), forKey: .retSites)
        try c.encode(returnPoints.sorted(), forKey: .returnPoints)
    }

    /// At most `maxEdges` entries per list; a pair must have exactly two addresses.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let edges = try c.decode([[UInt64]].self, forKey: .edges)
        let rets = try c.decode([UInt64].self, forKey: .retSites)
        let points = try c.decode([UInt64].self, forKey: .returnPoints)
        guard edges.count <= Self.maxEdges, rets.count <= Self.maxEdges, points.count <= Self.maxEdges else {
            throw DecodingError.dataCorruptedError(forKey: .edges, in: c, debugDescription: "more than \(Self.maxEdges) guest edges")
        }
        for e in edges {
            guard e.count == 2 else {
                throw DecodingError.dataCorruptedError(forKey: .edges, in: c, debugDescription: "a guest edge is not [from, to]")
            }
            pairs.insert(Pair(from: e[0], to: e[1]))
        }
        retSites = Set(rets)
        returnPoints = Set(points)
    }

    /// The most edges a decoded set may hold (the payload has a few hundred).
    public static let maxEdges = 65_536
}
